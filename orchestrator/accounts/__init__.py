"""Centres, staff users, logins, API tokens."""
