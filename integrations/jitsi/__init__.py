"""Jitsi integration: room names, room tokens and join URLs, webhook verification and parsing.

A pure library: it takes plain data and returns plain data, and imports nothing of the service.
"""
