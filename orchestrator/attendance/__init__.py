"""Attendance: who was in a session's video room, for how long, and what status that earns."""
