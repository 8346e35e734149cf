"""Room names: unguessable, lowercase, and free of anything that identifies a group or a KiTa.

Jitsi lowercases room names on the wire and drops some characters; generating only
``[a-z0-9-]`` keeps our name and Jitsi's identical, so tokens (``room`` claim) and webhooks
(``room_name``) can be matched by plain string comparison.
"""

from __future__ import annotations

import base64
import re
import secrets

__all__ = ["ROOM_NAME_PATTERN", "is_valid_room_name", "new_room_name"]

ROOM_NAME_PATTERN = re.compile(r"^[a-z0-9-]+$")
# 20 random bytes = 160 bits, written as 32 base32 characters.
_RANDOM_BYTES = 20


def new_room_name(prefix: str = "rs") -> str:
    """A fresh room name like ``rs-<32 random base32 characters>`` (160 bits of randomness)."""
    if not ROOM_NAME_PATTERN.fullmatch(prefix):
        raise ValueError(f"room name prefix {prefix!r} must match {ROOM_NAME_PATTERN.pattern}")
    random_part = base64.b32encode(secrets.token_bytes(_RANDOM_BYTES)).decode("ascii").lower()
    return f"{prefix}-{random_part}"


def is_valid_room_name(name: str) -> bool:
    # fullmatch, not match: with match, "$" also matches before a trailing newline.
    return bool(ROOM_NAME_PATTERN.fullmatch(name)) and len(name) <= 100
