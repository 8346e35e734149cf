"""Conference: launching, ending and joining a session's Jitsi room.

A facilitator *launches* a session (it becomes live and they enter the room as moderator), parents
*join* it through our join endpoint, which decides from the session's state and the clock what
they see (a countdown, a waiting page, the room, or a page saying why not) and, only when the
session is live, mints a fresh room token. ``decisions`` is that choice as a pure function;
``deployments`` turns a stored Jitsi deployment into what the token library needs; ``services``
holds the use cases and ``views`` the facilitator pages and the API.
"""
