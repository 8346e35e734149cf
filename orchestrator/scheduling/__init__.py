"""Scheduling: a group's recurring series in local time, the sessions materialised from them,
single-session changes (cancel, restore, move, edit, "this and following") and closure days.

``recurrence`` expands rules (pure), ``services`` holds the use cases, ``views`` the pages and
``api`` the JSON API.
"""
