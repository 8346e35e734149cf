"""One event type for what both webhook formats tell us.

Self-hosted prosody ``event_sync`` and JaaS webhooks describe the same things (a room was created
or destroyed, an occupant joined or left) in different shapes, with timestamps in seconds or
milliseconds, with or without an idempotency key. Parsers turn both into ``ConferenceEvent`` so
that attendance is computed by one piece of code.

Identity: ``person_id`` is the token's ``context.user.id`` (our pseudonym) or ``None`` for
occupants without a token id (recorder, SIP gateway, guests). ``connection_id`` identifies one
connection (``occupant_jid`` / ``participantJid``); it changes on every reconnect.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from enum import StrEnum

__all__ = ["ConferenceEvent", "EventKind", "Occupant"]


class EventKind(StrEnum):
    ROOM_CREATED = "room_created"
    ROOM_DESTROYED = "room_destroyed"
    OCCUPANT_JOINED = "occupant_joined"
    OCCUPANT_LEFT = "occupant_left"
    LOBBY_JOINED = "lobby_joined"
    LOBBY_LEFT = "lobby_left"
    # Any other type: stored, acknowledged and ignored.
    OTHER = "other"


@dataclasses.dataclass(frozen=True, slots=True)
class Occupant:
    """One connection as listed in event_sync's ``all_occupants`` at room destruction."""

    person_id: str | None
    connection_id: str
    joined_at: dt.datetime
    left_at: dt.datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class ConferenceEvent:
    source: str  # "event_sync" | "jaas"
    kind: EventKind
    raw_type: str  # the sender's own name for the event type
    # JaaS idempotencyKey, or a synthetic key for event_sync built from the event's content,
    # so that a redelivered event has the same key.
    dedupe_key: str
    room_name: str  # the main room's name (lowercase), never a breakout's id
    # The meeting: JaaS sessionId; event_sync the lowercase main-room JID for every event (occupant
    # events carry no created_at, so a key including it could not join them to their room). A room
    # reused later shares the key; room events carry room_created_at to tell instances apart.
    meeting_key: str
    occurred_at: dt.datetime  # aware, UTC
    person_id: str | None = None
    person_name: str = ""
    connection_id: str | None = None
    joined_at: dt.datetime | None = None  # event_sync occupant events carry their own times
    left_at: dt.datetime | None = None
    is_breakout: bool = False
    breakout_room_id: str | None = None
    moderator: bool = False
    disconnect_reason: str | None = None
    room_created_at: dt.datetime | None = None
    room_destroyed_at: dt.datetime | None = None
    occupants: tuple[Occupant, ...] = ()
