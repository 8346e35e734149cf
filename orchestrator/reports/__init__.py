"""Attendance reports: group matrix, per-parent summary, centre report, anonymous statistics.

``aggregate`` holds the definitions and counts (pure), ``services`` the use cases (access and
narrow queries), ``exports`` the CSV and XLSX files, ``chart`` the server-rendered SVG, and
``views`` the pages and API handlers.
"""
