"""The coordinator's set-up: centres, staff, Jitsi deployments, groups, parents and enrolments.

``services`` holds the use cases (shared by pages, API, CLI and workers), ``validation`` and
``csv_import`` the pure checks behind them, ``views`` the pages and ``api`` the JSON API.
"""
