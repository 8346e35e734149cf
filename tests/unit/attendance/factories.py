"""Conference events built the way the webhook parsers build them, for the attendance tests.

Names, ids and timestamps follow the reference payloads (``shared/reference/payloads``): the room
``rs-7k2p9xq4m1c8d3f6-0001``, Ayşe's token id ``p-3f9c2a61d0b84e57`` and her occupant JIDs, the
recorder without an id, the breakout room ``5f0c2a7e-…``, the JaaS ``sessionId`` and app id.

The mapping mirrors ``integrations/jitsi/webhooks.py``:

- event_sync: Unix **seconds**; ``meeting_key`` is the main-room JID for every event; occupant
  events carry ``joined_at`` (and ``left_at`` on left); ``room_destroyed`` carries
  ``all_occupants`` as ``occupants``; breakout events carry the main room's name and JID.
- JaaS: Unix **milliseconds**; ``meeting_key`` is the ``sessionId`` (shared with breakouts);
  ``connection_id`` is ``participantJid``; a join has ``joined_at == occurred_at``, a leave
  ``left_at == occurred_at`` and no ``joined_at``.

Dedupe keys are derived from the content, so a redelivered event is equal to the original, as it
would be after parsing the same body twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from integrations.jitsi.events import ConferenceEvent, EventKind, Occupant
from orchestrator.attendance.compute import Policy, SessionAttendance, compute_attendance

ROOM = "rs-7k2p9xq4m1c8d3f6-0001"
ROOM_JID = f"{ROOM}@conference.meet.example.org"
BREAKOUT = "5f0c2a7e-3c1b-4d8e-9a51-0d2f6b7c8e91"

AYSE = "p-3f9c2a61d0b84e57"
AYSE_JID = "d67aefd4-95f9-4159-a28e-48b8a83ceac5@meet.example.org/bg2pLJlPT7n0"
AYSE_JID_2 = "4a4a4a4a-1111-4222-8333-444455556666@meet.example.org/Hh7Jk2Lm"
MARIA = "p-8e21b7c04a9d3f16"
MARIA_JID = "0c3f9a2e-5d71-4b8e-a6f0-7e2d1c4b9a58@meet.example.org/Qx4vN8rT"
FACILITATOR = "p-b1d9e6c2f07a4835"
FACILITATOR_JID = "7a1e9c44-2b6d-4f3a-8e51-9c0d2e7f6a13@meet.example.org/Fz2kP9wL"
RECORDER_JID = "recorder@recorder.meet.example.org/a1b2c3"

APP_ID = "vpaas-magic-cookie-0123456789abcdef0123456789abcdef"
JAAS_SESSION = "7d1e4f2a-0b6c-4e8d-9f10-2a3b4c5d6e7f"
JAAS_SESSION_2 = "a3c5e7f9-1b2d-4e6f-8a0c-2e4f6a8c0e1b"
AYSE_PJID = "9b2d4c1e-77aa-4f0e-b1c2-3d4e5f607182@8x8.vc"
AYSE_PJID_2 = "2f4e6a8c-0b1d-4c3e-9f5a-7b6c8d9e0f12@8x8.vc"
MARIA_PJID = "5a7c9e1b-3d5f-4a6c-8e0b-1d3f5a7c9e2d@8x8.vc"
JIGASI_PJID = "c0ffee00-1234-4abc-9def-0123456789ab@8x8.vc"

# The payloads' moments (Unix seconds): room created, Ayşe's first join, the recorder's join,
# her move to the breakout room, her reconnect, the first connection's leave, her last leave,
# room destroyed.
CREATED = 1795840072  # 2026-11-28T04:27:52Z
JOINED = 1795840080  # 04:28:00
RECORDER_JOINED = 1795840100  # 04:28:20
TO_BREAKOUT = 1795841000  # 04:43:20
RECONNECTED = 1795841840  # 04:57:20
FIRST_LEFT = 1795841900  # 04:58:20
LAST_LEFT = 1795843620  # 05:27:00
DESTROYED = 1795843700  # 05:28:20

# The session these events belong to: 04:30-05:30 UTC, an online group of 60 minutes.
START = 1795840200
END = 1795843800
MIN = 60


def at(seconds: float) -> dt.datetime:
    """An aware UTC datetime from Unix seconds (as event_sync sends them)."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def at_ms(millis: int) -> dt.datetime:
    """An aware UTC datetime from Unix milliseconds (as JaaS sends them), exact like the parser."""
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=millis)


def policy(**overrides: int) -> Policy:
    """The centre defaults of the domain model (45 min or 50 %, late after 10, early 10)."""
    values = {
        "present_min_minutes": 45,
        "present_min_share": 50,
        "late_after_minutes": 10,
        "early_leave_minutes": 10,
    }
    values.update(overrides)
    return Policy(**values)


def compute(
    events: Iterable[ConferenceEvent],
    *,
    start: int = START,
    end: int = END,
    rules: Policy | None = None,
    now: dt.datetime | None = None,
    close_open_at: dt.datetime | None = None,
) -> SessionAttendance:
    """``compute_attendance`` for the session above; by default finalised long after it ended."""
    if now is None:
        now = at(end + 6 * 3600)
        if close_open_at is None:
            close_open_at = now
    return compute_attendance(
        events,
        scheduled_start=at(start),
        scheduled_end=at(end),
        policy=rules or policy(),
        now=now,
        close_open_at=close_open_at,
    )


def _key(*parts: object) -> str:
    return "es:" + hashlib.sha256(repr(parts).encode()).hexdigest()


# --- event_sync -----------------------------------------------------------------------------------


def es_created(created_at: int, *, breakout: str | None = None) -> ConferenceEvent:
    return ConferenceEvent(
        source="event_sync",
        kind=EventKind.ROOM_CREATED,
        raw_type="muc-room-created",
        dedupe_key=_key("created", breakout, created_at),
        room_name=ROOM,
        meeting_key=ROOM_JID,
        occurred_at=at(created_at),
        is_breakout=breakout is not None,
        breakout_room_id=breakout,
        room_created_at=at(created_at),
    )


def es_destroyed(
    created_at: int,
    destroyed_at: int,
    occupants: Sequence[tuple[str | None, str, int, int | None]] = (),
    *,
    breakout: str | None = None,
) -> ConferenceEvent:
    """``occupants``: ``all_occupants`` as (id, occupant_jid, joined_at, left_at) tuples."""
    listed = tuple(
        sorted(
            (
                Occupant(person, jid, at(joined), None if left is None else at(left))
                for person, jid, joined, left in occupants
            ),
            key=lambda o: (o.joined_at, o.connection_id),
        )
    )
    return ConferenceEvent(
        source="event_sync",
        kind=EventKind.ROOM_DESTROYED,
        raw_type="muc-room-destroyed",
        dedupe_key=_key("destroyed", breakout, created_at, destroyed_at),
        room_name=ROOM,
        meeting_key=ROOM_JID,
        occurred_at=at(destroyed_at),
        is_breakout=breakout is not None,
        breakout_room_id=breakout,
        room_created_at=at(created_at),
        room_destroyed_at=at(destroyed_at),
        occupants=listed,
    )


def es_joined(
    person: str | None, jid: str, joined_at: int, *, breakout: str | None = None
) -> ConferenceEvent:
    return ConferenceEvent(
        source="event_sync",
        kind=EventKind.OCCUPANT_JOINED,
        raw_type="muc-occupant-joined",
        dedupe_key=_key("joined", breakout, jid, joined_at),
        room_name=ROOM,
        meeting_key=ROOM_JID,
        occurred_at=at(joined_at),
        person_id=person,
        connection_id=jid,
        joined_at=at(joined_at),
        is_breakout=breakout is not None,
        breakout_room_id=breakout,
    )


def es_left(
    person: str | None, jid: str, joined_at: int, left_at: int, *, breakout: str | None = None
) -> ConferenceEvent:
    return ConferenceEvent(
        source="event_sync",
        kind=EventKind.OCCUPANT_LEFT,
        raw_type="muc-occupant-left",
        dedupe_key=_key("left", breakout, jid, joined_at, left_at),
        room_name=ROOM,
        meeting_key=ROOM_JID,
        occurred_at=at(left_at),
        person_id=person,
        connection_id=jid,
        joined_at=at(joined_at),
        left_at=at(left_at),
        is_breakout=breakout is not None,
        breakout_room_id=breakout,
    )


def es_stay(
    person: str | None, jid: str, joined_at: int, left_at: int, *, breakout: str | None = None
) -> list[ConferenceEvent]:
    """A join and its leave."""
    return [
        es_joined(person, jid, joined_at, breakout=breakout),
        es_left(person, jid, joined_at, left_at, breakout=breakout),
    ]


# --- JaaS -----------------------------------------------------------------------------------------


def _jaas(
    event_type: str,
    kind: EventKind,
    millis: int,
    session: str,
    breakout: str | None,
    **fields: Any,
) -> ConferenceEvent:
    key = uuid.uuid5(
        uuid.NAMESPACE_URL, repr((event_type, millis, session, breakout, sorted(fields.items())))
    )
    event = ConferenceEvent(
        source="jaas",
        kind=kind,
        raw_type=event_type,
        dedupe_key=str(key),
        room_name=ROOM,
        meeting_key=session,
        occurred_at=at_ms(millis),
        is_breakout=breakout is not None,
        breakout_room_id=breakout,
    )
    return dataclasses.replace(event, **fields)


def jaas_created(millis: int, *, session: str = JAAS_SESSION, breakout: str | None = None) -> ConferenceEvent:
    return _jaas(
        "ROOM_CREATED", EventKind.ROOM_CREATED, millis, session, breakout, room_created_at=at_ms(millis)
    )


def jaas_destroyed(
    millis: int, *, session: str = JAAS_SESSION, breakout: str | None = None
) -> ConferenceEvent:
    return _jaas(
        "ROOM_DESTROYED", EventKind.ROOM_DESTROYED, millis, session, breakout, room_destroyed_at=at_ms(millis)
    )


def jaas_joined(
    person: str | None,
    participant_jid: str,
    millis: int,
    *,
    session: str = JAAS_SESSION,
    breakout: str | None = None,
) -> ConferenceEvent:
    return _jaas(
        "PARTICIPANT_JOINED",
        EventKind.OCCUPANT_JOINED,
        millis,
        session,
        breakout,
        person_id=person,
        connection_id=participant_jid,
        joined_at=at_ms(millis),
    )


def jaas_left(
    person: str | None,
    participant_jid: str,
    millis: int,
    *,
    reason: str = "left",
    session: str = JAAS_SESSION,
    breakout: str | None = None,
) -> ConferenceEvent:
    return _jaas(
        "PARTICIPANT_LEFT",
        EventKind.OCCUPANT_LEFT,
        millis,
        session,
        breakout,
        person_id=person,
        connection_id=participant_jid,
        left_at=at_ms(millis),
        disconnect_reason=reason,
    )


def jaas_lobby(person: str, participant_jid: str, millis: int, *, left: bool = False) -> ConferenceEvent:
    if left:
        return _jaas(
            "PARTICIPANT_LEFT_LOBBY",
            EventKind.LOBBY_LEFT,
            millis,
            JAAS_SESSION,
            None,
            person_id=person,
            connection_id=participant_jid,
        )
    return _jaas(
        "PARTICIPANT_JOINED_LOBBY",
        EventKind.LOBBY_JOINED,
        millis,
        JAAS_SESSION,
        None,
        person_id=person,
        connection_id=participant_jid,
    )


def jaas_other(event_type: str, millis: int) -> ConferenceEvent:
    return _jaas(event_type, EventKind.OTHER, millis, JAAS_SESSION, None)
