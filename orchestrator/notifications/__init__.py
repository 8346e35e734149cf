"""Notifications: reminders, change notices and "the session has started", by e-mail and SMS.

Rows in ``notifications`` are the source of truth. Use cases create them (queued, or recorded in
the outbox when a person gave no consent for any channel) in the caller's transaction;
``orchestrator.notifications.delivery`` claims due rows one by one, sends them through the
configured channel and records the outcome. A channel that is not configured turns a row into an
outbox entry, so nothing is ever dropped silently.
"""
