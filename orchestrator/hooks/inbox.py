"""The conference-event inbox: what one webhook becomes as a row, and back.

Every webhook that passes authentication is stored as one ``conference_events`` row before it is
acknowledged (design §5 "Nothing lost"). The row keeps the raw body (for diagnosis and replay),
the few headers an audit needs (never ``Authorization``), and the columns the worker matches by
(room, meeting, person, time). The receiver parses the body to refuse what it cannot understand,
but stores no parsed form: that is work on the request path, which must stay cheap at thousands
of webhooks per second.

The worker, when it claims a pending row, parses the stored body again (``stored_event``) and
keeps the result as JSON in ``normalised``. Recomputations read that, so an event means what it
meant when first processed, whatever later changes the parser sees. ``event_to_json`` /
``event_from_json`` convert ``integrations.jitsi.ConferenceEvent`` to and from that JSON; the
display name a person typed is left out (data minimisation: identity is the token id, never the
name).

``InboxRow`` is a plain value built in the request handler; ``orchestrator.hooks.inbox_writer``
writes rows in batches.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

from integrations.jitsi import ConferenceEvent, EventKind, Occupant, parse_event_sync, parse_jaas
from orchestrator.models import utcnow

__all__ = [
    "AUDIT_HEADERS",
    "FIELD_LIMITS",
    "InboxRow",
    "StorageLimitError",
    "audit_headers",
    "check_storable",
    "event_from_json",
    "event_to_json",
    "rejected_key",
    "stored_event",
]

# Headers worth keeping with an event: what sent it and how it was signed. Never Authorization
# (the bearer secret), cookies, or the client's address (not needed; domain.md: no IP addresses).
AUDIT_HEADERS = ("content-type", "content-length", "user-agent", "x-jaas-signature", "x-request-id")
_MAX_HEADER_VALUE = 500

# Column widths of the inbox and of presence intervals. A value that does not fit must be refused
# at the door with a 400: inserted, it would fail the whole batch it was written with.
FIELD_LIMITS: Mapping[str, int] = {
    "dedupe_key": 200,
    "room_name": 200,
    "meeting_key": 300,
    "person_id": 200,
    "connection_id": 300,
}

_DEDUPE_KEY_LIMIT = FIELD_LIMITS["dedupe_key"]
_ROOM_NAME_LIMIT = FIELD_LIMITS["room_name"]
_MEETING_KEY_LIMIT = FIELD_LIMITS["meeting_key"]
_PERSON_ID_LIMIT = FIELD_LIMITS["person_id"]
_CONNECTION_ID_LIMIT = FIELD_LIMITS["connection_id"]

# Fields of presence rows and the event's own bookkeeping, checked alongside.
_BREAKOUT_ROOM_ID_LIMIT = 300
_RAW_TYPE_LIMIT = 300
_DISCONNECT_REASON_LIMIT = 200
_SMALLEST_LIMIT = min(
    *FIELD_LIMITS.values(), _BREAKOUT_ROOM_ID_LIMIT, _RAW_TYPE_LIMIT, _DISCONNECT_REASON_LIMIT
)

NORMALISED_VERSION = 1


class StorageLimitError(ValueError):
    """A parsed event the inbox cannot store faithfully (too long, or a NUL character)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclasses.dataclass(slots=True)
class InboxRow:
    """One ``conference_events`` row, as the receiver builds it and the batch writer inserts it."""

    deployment_id: int
    source: str  # event_sync | jaas
    dedupe_key: str
    state: str  # pending | ignored | rejected
    body: bytes
    headers: dict[str, str]
    kind: str = ""
    room_name: str = ""
    meeting_key: str = ""
    person_id: str | None = None
    connection_id: str | None = None
    occurred_at: dt.datetime | None = None
    error: str = ""
    received_at: dt.datetime = dataclasses.field(default_factory=utcnow)

    @classmethod
    def for_event(
        cls,
        event: ConferenceEvent,
        *,
        deployment_id: int,
        body: bytes,
        headers: dict[str, str],
    ) -> InboxRow:
        """A row for a parsed event: ``pending`` for the worker, ``ignored`` for unknown types."""
        return cls(
            deployment_id=deployment_id,
            source=event.source,
            dedupe_key=event.dedupe_key,
            state="ignored" if event.kind is EventKind.OTHER else "pending",
            body=body,
            headers=headers,
            kind=event.kind.value,
            room_name=event.room_name,
            meeting_key=event.meeting_key,
            person_id=event.person_id,
            connection_id=event.connection_id,
            occurred_at=event.occurred_at,
        )

    def as_values(self) -> dict[str, Any]:
        """Column -> value for a Core insert (every row has every key, as executemany needs)."""
        return {
            "deployment_id": self.deployment_id,
            "source": self.source,
            "dedupe_key": self.dedupe_key,
            "state": self.state,
            "kind": self.kind,
            "room_name": self.room_name,
            "meeting_key": self.meeting_key,
            "person_id": self.person_id,
            "connection_id": self.connection_id,
            "occurred_at": self.occurred_at,
            "headers": self.headers,
            "body": self.body,
            "error": self.error,
            "received_at": self.received_at,
        }


def rejected_key(source: str, what: str, body: bytes) -> str:
    """A dedupe key for a body we refused or could not interpret.

    JaaS retries every non-2xx answer; keying the stored copy by its content keeps one row per
    distinct bad body instead of one per retry.
    """
    digest = hashlib.sha256(source.encode() + b"\0" + what.encode() + b"\0" + body).hexdigest()
    return f"{source}-{what}:{digest}"


def audit_headers(headers: Mapping[str, str], **extra: str) -> dict[str, str]:
    """The headers kept with an event (``AUDIT_HEADERS``), shortened and made plain ASCII."""
    kept: dict[str, str] = {}
    for name in AUDIT_HEADERS:
        value = headers.get(name)
        if value is not None:
            kept[name] = _plain(value)
    for name, value in extra.items():
        kept[name] = _plain(value)
    return kept


def _plain(value: str) -> str:
    # Header values are attacker-controlled: bounded, and ASCII so any JSON column accepts them.
    if len(value) <= _MAX_HEADER_VALUE and value.isascii():
        return value  # what senders send: nothing to change
    return value[:_MAX_HEADER_VALUE].encode("ascii", "backslashreplace").decode("ascii")


def check_storable(event: ConferenceEvent) -> None:
    """Raises ``StorageLimitError`` if a field of ``event`` does not fit the inbox or presence rows.

    PostgreSQL refuses text containing NUL and strings longer than a ``VARCHAR(n)``; one such row
    would fail the whole batch it is written with, so it is refused here, with a reason.
    """
    # The usual event passes in one go: every field within the smallest limit, no NUL anywhere.
    fields = (
        event.dedupe_key,
        event.room_name,
        event.meeting_key,
        event.person_id or "",
        event.connection_id or "",
        event.breakout_room_id or "",
        event.raw_type,
        event.disconnect_reason or "",
    )
    if not event.occupants and max(map(len, fields)) <= _SMALLEST_LIMIT and "\x00" not in "".join(fields):
        return
    _check("dedupe_key", event.dedupe_key, _DEDUPE_KEY_LIMIT)
    _check("room_name", event.room_name, _ROOM_NAME_LIMIT)
    _check("meeting_key", event.meeting_key, _MEETING_KEY_LIMIT)
    _check("person_id", event.person_id, _PERSON_ID_LIMIT)
    _check("connection_id", event.connection_id, _CONNECTION_ID_LIMIT)
    _check("breakout_room_id", event.breakout_room_id, _BREAKOUT_ROOM_ID_LIMIT)
    _check("raw_type", event.raw_type, _RAW_TYPE_LIMIT)
    _check("disconnect_reason", event.disconnect_reason, _DISCONNECT_REASON_LIMIT)
    for index, occupant in enumerate(event.occupants):
        _check(f"occupants[{index}].id", occupant.person_id, FIELD_LIMITS["person_id"])
        _check(f"occupants[{index}].occupant_jid", occupant.connection_id, FIELD_LIMITS["connection_id"])


def _check(name: str, value: str | None, limit: int) -> None:
    if value is None or (len(value) <= limit and "\x00" not in value):
        return
    if len(value) > limit:
        raise StorageLimitError(f"{name}: longer than {limit} characters")
    if "\x00" in value:
        raise StorageLimitError(f"{name}: contains a NUL character")


# --- normalised JSON ----------------------------------------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _instant(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"stored instant {value!r} has no time zone")
    return parsed


def event_to_json(event: ConferenceEvent) -> dict[str, Any]:
    """The parsed event as JSON for ``normalised`` (without the typed display name)."""
    return {
        "v": NORMALISED_VERSION,
        "source": event.source,
        "kind": event.kind.value,
        "raw_type": event.raw_type,
        "dedupe_key": event.dedupe_key,
        "room_name": event.room_name,
        "meeting_key": event.meeting_key,
        "occurred_at": _iso(event.occurred_at),
        "person_id": event.person_id,
        "connection_id": event.connection_id,
        "joined_at": _iso(event.joined_at),
        "left_at": _iso(event.left_at),
        "is_breakout": event.is_breakout,
        "breakout_room_id": event.breakout_room_id,
        "moderator": event.moderator,
        "disconnect_reason": event.disconnect_reason,
        "room_created_at": _iso(event.room_created_at),
        "room_destroyed_at": _iso(event.room_destroyed_at),
        "occupants": [
            [o.person_id, o.connection_id, _iso(o.joined_at), _iso(o.left_at)] for o in event.occupants
        ],
    }


# event_sync posts each kind of event to its own endpoint; a stored row keeps the kind.
_EVENT_SYNC_ENDPOINT_OF_KIND: Mapping[str, str] = {
    EventKind.ROOM_CREATED.value: "room/created",
    EventKind.ROOM_DESTROYED.value: "room/destroyed",
    EventKind.OCCUPANT_JOINED.value: "occupant/joined",
    EventKind.OCCUPANT_LEFT.value: "occupant/left",
}


def stored_event(source: str, kind: str, body: bytes) -> ConferenceEvent:
    """The event a stored inbox row holds, parsed from its raw body; ``ValueError`` if it cannot be.

    The receivers parsed the same body before storing it, so this fails only if the parser has
    changed since in a way that refuses it.
    """
    if source == "jaas":
        return parse_jaas(body)
    if source == "event_sync" and (endpoint := _EVENT_SYNC_ENDPOINT_OF_KIND.get(kind)) is not None:
        return parse_event_sync(endpoint, body)
    raise ValueError(f"no parser for a stored {source!r} event of kind {kind!r}")


def event_from_json(data: Mapping[str, Any]) -> ConferenceEvent:
    """The event stored by ``event_to_json``; ``ValueError`` for anything else."""
    if data.get("v") != NORMALISED_VERSION:
        raise ValueError(f"normalised event has version {data.get('v')!r}, expected {NORMALISED_VERSION}")
    try:
        occurred_at = _instant(data["occurred_at"])
        if occurred_at is None:
            raise ValueError("normalised event has no occurred_at")
        occupants = []
        for person_id, connection_id, joined_at, left_at in data.get("occupants") or ():
            joined = _instant(joined_at)
            if joined is None:
                raise ValueError("normalised occupant has no joined_at")
            occupants.append(Occupant(person_id, connection_id, joined, _instant(left_at)))
        return ConferenceEvent(
            source=data["source"],
            kind=EventKind(data["kind"]),
            raw_type=data["raw_type"],
            dedupe_key=data["dedupe_key"],
            room_name=data["room_name"],
            meeting_key=data["meeting_key"],
            occurred_at=occurred_at,
            person_id=data.get("person_id"),
            connection_id=data.get("connection_id"),
            joined_at=_instant(data.get("joined_at")),
            left_at=_instant(data.get("left_at")),
            is_breakout=bool(data.get("is_breakout")),
            breakout_room_id=data.get("breakout_room_id"),
            moderator=bool(data.get("moderator")),
            disconnect_reason=data.get("disconnect_reason"),
            room_created_at=_instant(data.get("room_created_at")),
            room_destroyed_at=_instant(data.get("room_destroyed_at")),
            occupants=tuple(occupants),
        )
    except (KeyError, TypeError) as e:
        raise ValueError(f"normalised event is malformed: {e!r}") from None
