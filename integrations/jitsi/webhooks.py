"""Conference webhooks: who may send them, and what they say, as ``ConferenceEvent``.

Two senders report room and occupant events. Self-hosted Jitsi uses the prosody ``event_sync``
component: it POSTs JSON to ``{api_prefix}/events/<endpoint>`` with a static
``Authorization: Bearer <secret>`` header (no signature, no event id; timestamps in seconds).
JaaS signs each webhook with ``X-Jaas-Signature: t=<seconds>,v1=<base64 HMAC-SHA256>`` and gives
every event an ``idempotencyKey`` (timestamps in milliseconds). Both deliver at least once and
out of order, so every parsed event carries a ``dedupe_key`` that is equal for redeliveries and
different for different events.

Verification answers only "is this request from our sender?"; parsing answers "what happened?"
and raises ``PayloadError`` with a precise reason for anything malformed. Neither touches storage.

Meeting identity (``meeting_key``): JaaS gives a ``sessionId`` per meeting. event_sync has none,
and only room events carry the room's ``created_at``; occupant events carry the room JID alone.
We therefore use the lowercase main-room JID as ``meeting_key`` for *every* event_sync event, so
occupant and room events of one meeting share a key, and carry ``room_created_at`` separately on
room events. A room reused for a second meeting instance has the same key: consumers tell the
instances apart by time (an occupant's ``joined_at`` falls between a room's ``created_at`` and
``destroyed_at``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from typing import Any, NoReturn

import orjson

from integrations.jitsi.events import ConferenceEvent, EventKind, Occupant

__all__ = [
    "EVENT_SYNC_ENDPOINTS",
    "JAAS_SIGNATURE_HEADER",
    "PayloadError",
    "SignatureError",
    "parse_event_sync",
    "parse_jaas",
    "verify_bearer",
    "verify_jaas_signature",
]

JAAS_SIGNATURE_HEADER = "X-Jaas-Signature"

# endpoint (the path after ".../events/") -> the event_name its bodies carry, and our kind.
_EVENT_SYNC: Mapping[str, tuple[str, EventKind]] = {
    "room/created": ("muc-room-created", EventKind.ROOM_CREATED),
    "room/destroyed": ("muc-room-destroyed", EventKind.ROOM_DESTROYED),
    "occupant/joined": ("muc-occupant-joined", EventKind.OCCUPANT_JOINED),
    "occupant/left": ("muc-occupant-left", EventKind.OCCUPANT_LEFT),
}
EVENT_SYNC_ENDPOINTS: tuple[str, ...] = tuple(_EVENT_SYNC)

_JAAS_KINDS: Mapping[str, EventKind] = {
    "ROOM_CREATED": EventKind.ROOM_CREATED,
    "ROOM_DESTROYED": EventKind.ROOM_DESTROYED,
    "PARTICIPANT_JOINED": EventKind.OCCUPANT_JOINED,
    "PARTICIPANT_LEFT": EventKind.OCCUPANT_LEFT,
    "PARTICIPANT_JOINED_LOBBY": EventKind.LOBBY_JOINED,
    "PARTICIPANT_LEFT_LOBBY": EventKind.LOBBY_LEFT,
}

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# 9999-12-31T23:59:59Z, the largest instant a datetime holds; anything later is not a timestamp.
_MAX_SECONDS = 253_402_300_799
# A JaaS `t` is a Unix time in seconds; twelve digits reach past the year 33000.
_MAX_T_DIGITS = 12


class PayloadError(ValueError):
    """A webhook body that cannot be understood; ``reason`` says exactly what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignatureError(Exception):
    """A JaaS webhook whose signature header is missing, malformed, wrong or stale.

    Deliberately not a ``ValueError``: a forged request is an authentication failure (401/403),
    not a malformed payload (400), and must not be caught as one.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- verification -------------------------------------------------------------------------------


def verify_bearer(authorization_header: str | None, secret: str) -> bool:
    """Whether ``authorization_header`` is ``Bearer <secret>``, compared in constant time.

    The scheme is case-insensitive (RFC 7235); the credentials must match exactly. An empty
    ``secret`` is a configuration error and raises ``ValueError`` rather than accepting an empty
    header.
    """
    if not secret:
        raise ValueError("the event_sync bearer secret must not be empty")
    if authorization_header is None:
        return False
    scheme, separator, credentials = authorization_header.strip().partition(" ")
    if not separator or scheme.lower() != "bearer":
        return False
    # compare_digest needs bytes for non-ASCII text; surrogatepass keeps any str encodable.
    return hmac.compare_digest(
        credentials.strip().encode("utf-8", "surrogatepass"), secret.encode("utf-8", "surrogatepass")
    )


def verify_jaas_signature(
    header: str | None,
    raw_body: bytes,
    secret: str,
    *,
    now: int,
    tolerance_seconds: int = 300,
) -> None:
    """Checks a JaaS ``X-Jaas-Signature`` header against the raw request body; raises ``SignatureError``.

    The header is ``t=<unix seconds>,v1=<base64>[,v1=…][,<other scheme>=…]``: split on ``,``, each
    element on its first ``=``. The expected ``v1`` is the standard base64 of
    HMAC-SHA256(key = the whole endpoint secret including its ``whsec_`` prefix,
    message = ``t + "." + raw body``), compared in constant time with every ``v1`` given. Other
    schemes are ignored, and a header with no ``v1`` at all is refused (so nobody can downgrade us
    to a scheme we do not check). ``t`` must lie within ``tolerance_seconds`` of ``now``, which
    limits replays of a captured request.
    """
    if not secret:
        raise ValueError("the JaaS webhook secret must not be empty")
    if tolerance_seconds < 0:
        raise ValueError("tolerance_seconds must not be negative")
    if header is None or not header.strip():
        raise SignatureError(f"missing {JAAS_SIGNATURE_HEADER} header")

    timestamp: str | None = None
    signatures: list[str] = []
    for element in header.split(","):
        name, separator, value = element.strip().partition("=")
        if not separator or not name:
            raise SignatureError(f"malformed signature header element {_preview(element)}")
        if name == "t":
            if timestamp is not None:
                raise SignatureError("signature header carries more than one t")
            timestamp = value
        elif name == "v1":
            if not value:
                raise SignatureError("signature header carries an empty v1")
            signatures.append(value)
        # Any other scheme (v0, a future v2, …) is not ours to judge: ignored, never trusted.

    if timestamp is None:
        raise SignatureError("signature header has no t (timestamp)")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= _MAX_T_DIGITS):
        raise SignatureError(f"signature timestamp t={_preview(timestamp)} is not Unix seconds")
    if not signatures:
        raise SignatureError("signature header has no v1 signature (other schemes are not accepted)")

    # The timestamp is signed as sent (its exact text), so a changed t breaks the signature.
    message = timestamp.encode("ascii") + b"." + raw_body
    expected = base64.b64encode(hmac.digest(secret.encode("utf-8"), message, "sha256"))
    matched = False
    for candidate in signatures:
        # No early exit: every candidate is compared, so timing does not reveal which one matched.
        matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "surrogatepass"))
    if not matched:
        raise SignatureError("no v1 signature matches the body")

    # Checked after the signature so that this reason is only ever given for authentic requests.
    skew = now - int(timestamp)
    if abs(skew) > tolerance_seconds:
        raise SignatureError(
            f"signature timestamp is {abs(skew)} s {'old' if skew > 0 else 'in the future'}"
            f" (tolerance {tolerance_seconds} s)"
        )


# --- event_sync ---------------------------------------------------------------------------------


def parse_event_sync(endpoint: str, body: bytes) -> ConferenceEvent:
    """Parses an event_sync body POSTed to ``{api_prefix}/events/<endpoint>``.

    ``endpoint`` is one of ``EVENT_SYNC_ENDPOINTS``; the body's ``event_name`` must match it.
    ``dedupe_key`` is a SHA-256 over the endpoint and the fields that identify the event (room,
    breakout, connection, its timestamps, the occupant count): a redelivery, which event_sync sends
    byte for byte, gets the same key, and two events differ in at least one of these fields.
    """
    try:
        expected_name, kind = _EVENT_SYNC[endpoint]
    except KeyError:
        raise PayloadError(
            f"unknown event_sync endpoint {endpoint!r}; expected one of {', '.join(EVENT_SYNC_ENDPOINTS)}"
        ) from None
    data = _load_object(body)

    event_name = _required_str(data, "event_name")
    if event_name != expected_name:
        raise PayloadError(f"event_name {event_name!r} does not belong to endpoint {endpoint!r}")
    room_name = _required_str(data, "room_name").lower()
    room_jid = _required_str(data, "room_jid").lower()
    is_breakout = _required_bool(data, "is_breakout")
    breakout_room_id = _optional_str(data, "breakout_room_id")
    if is_breakout and breakout_room_id is None:
        raise PayloadError("breakout_room_id: missing although is_breakout is true")
    if not is_breakout:
        # Only breakout rooms carry this; a stray value on a main-room event identifies nothing.
        breakout_room_id = None

    identity: list[Any] = [endpoint, room_jid, is_breakout, breakout_room_id]
    common: dict[str, Any] = {
        "source": "event_sync",
        "kind": kind,
        "raw_type": event_name,
        "room_name": room_name,
        "meeting_key": room_jid,
        "is_breakout": is_breakout,
        "breakout_room_id": breakout_room_id,
    }

    if kind is EventKind.ROOM_CREATED:
        created_at = _required_seconds(data, "created_at")
        identity.append(created_at.isoformat())
        return ConferenceEvent(
            **common, dedupe_key=_digest(identity), occurred_at=created_at, room_created_at=created_at
        )

    if kind is EventKind.ROOM_DESTROYED:
        created_at = _required_seconds(data, "created_at")
        destroyed_at = _required_seconds(data, "destroyed_at")
        identity += [created_at.isoformat(), destroyed_at.isoformat()]
        return ConferenceEvent(
            **common,
            dedupe_key=_digest(identity),
            occurred_at=destroyed_at,
            room_created_at=created_at,
            room_destroyed_at=destroyed_at,
            occupants=_all_occupants(data),
        )

    occupant = _required_object(data, "occupant")
    connection_id = _required_str(occupant, "occupant_jid", "occupant.")
    joined_at = _required_seconds(occupant, "joined_at", "occupant.")
    left_at = _required_seconds(occupant, "left_at", "occupant.") if kind is EventKind.OCCUPANT_LEFT else None
    count = _optional_count(data, "active_occupants_count")
    identity += [connection_id, joined_at.isoformat(), left_at.isoformat() if left_at else None, count]
    return ConferenceEvent(
        **common,
        dedupe_key=_digest(identity),
        occurred_at=left_at or joined_at,
        person_id=_person_id(occupant, "id", "occupant."),
        person_name=_optional_str(occupant, "name", "occupant.", allow_empty=True) or "",
        connection_id=connection_id,
        joined_at=joined_at,
        left_at=left_at,
        moderator=_flag(occupant, "moderator", "occupant."),
    )


def _all_occupants(data: Mapping[str, Any]) -> tuple[Occupant, ...]:
    if "all_occupants" not in data:
        raise PayloadError("all_occupants: missing")
    raw = data["all_occupants"]
    # Prosody's JSON encoder cannot tell an empty Lua table from an empty object: no occupants
    # arrive as {}.
    if isinstance(raw, dict) and not raw:
        return ()
    if not isinstance(raw, list):
        raise PayloadError(f"all_occupants: expected an array (or {{}} when empty), got {_json_type(raw)}")
    occupants = []
    for index, item in enumerate(raw):
        path = f"all_occupants[{index}]."
        if not isinstance(item, dict):
            raise PayloadError(f"{path[:-1]}: expected an object, got {_json_type(item)}")
        occupants.append(
            Occupant(
                person_id=_person_id(item, "id", path),
                connection_id=_required_str(item, "occupant_jid", path),
                joined_at=_required_seconds(item, "joined_at", path),
                left_at=_optional_seconds(item, "left_at", path),
            )
        )
    # Prosody lists them in hash-table order; a fixed order makes equal bodies parse equal.
    occupants.sort(key=lambda o: (o.joined_at, o.connection_id))
    return tuple(occupants)


# One encoder for every key: json.dumps with options builds a new encoder per call.
_IDENTITY_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True)


def _digest(identity: list[Any]) -> str:
    material = _IDENTITY_ENCODER.encode(["event_sync", *identity])
    return "es:" + hashlib.sha256(material.encode("ascii")).hexdigest()


# --- JaaS ---------------------------------------------------------------------------------------


def parse_jaas(body: bytes) -> ConferenceEvent:
    """Parses a JaaS webhook body (verify its signature first).

    The envelope (``idempotencyKey``, ``appId``, ``eventType``, ``sessionId``, ``timestamp`` in
    milliseconds, ``fqn`` = ``<appId>/<room>``, ``data``) is validated for every event type; event
    types we do not use become ``EventKind.OTHER``. ``dedupe_key`` is the ``idempotencyKey``,
    ``meeting_key`` the ``sessionId`` (shared by a meeting and its breakout rooms).
    """
    data = _load_object(body)
    idempotency_key = _required_str(data, "idempotencyKey")
    event_type = _required_str(data, "eventType")
    app_id = _required_str(data, "appId")
    session_id = _required_str(data, "sessionId")
    fqn = _required_str(data, "fqn")
    occurred_at = _required_millis(data, "timestamp")
    _optional_str(data, "customerId")  # not used, but a wrong type means a body we misunderstand
    details = _required_object(data, "data")

    prefix = app_id + "/"
    if not fqn.startswith(prefix) or len(fqn) == len(prefix):
        raise PayloadError(f"fqn {fqn!r} is not '<appId>/<room>' for appId {app_id!r}")

    kind = _JAAS_KINDS.get(event_type, EventKind.OTHER)
    envelope: dict[str, Any] = {
        "source": "jaas",
        "kind": kind,
        "raw_type": event_type,
        "dedupe_key": idempotency_key,
        "room_name": fqn[len(prefix) :].lower(),
        "meeting_key": session_id,
        "occurred_at": occurred_at,
    }
    if kind is EventKind.OTHER:
        # Stored and acknowledged, never interpreted: its `data` has a shape we do not know.
        return ConferenceEvent(**envelope)

    is_breakout = _optional_bool(details, "isBreakout", "data.")
    envelope["is_breakout"] = is_breakout
    # Only breakout rooms carry this; a stray value on a main-room event identifies nothing.
    envelope["breakout_room_id"] = _optional_str(details, "breakoutRoomId", "data.") if is_breakout else None
    if kind is EventKind.ROOM_CREATED:
        return ConferenceEvent(**envelope, room_created_at=occurred_at)
    if kind is EventKind.ROOM_DESTROYED:
        return ConferenceEvent(**envelope, room_destroyed_at=occurred_at)

    # Participant events, in the main room or its lobby.
    return ConferenceEvent(
        **envelope,
        person_id=_person_id(details, "id", "data."),
        # The name may be what was typed at pre-join: display only, never identity.
        person_name=_optional_str(details, "name", "data.", allow_empty=True) or "",
        connection_id=_required_str(details, "participantJid", "data."),
        moderator=_flag(details, "moderator", "data."),
        joined_at=occurred_at if kind is EventKind.OCCUPANT_JOINED else None,
        left_at=occurred_at if kind is EventKind.OCCUPANT_LEFT else None,
        disconnect_reason=(
            _optional_str(details, "disconnectReason", "data.") if kind is EventKind.OCCUPANT_LEFT else None
        ),
    )


# --- JSON field access with precise reasons -----------------------------------------------------


def _load_object(body: bytes) -> dict[str, Any]:
    # orjson: strict RFC 8259 (no NaN/Infinity, valid UTF-8 only, integers within 64 bits, nesting
    # limited), and a fifth of the standard library's time, which matters at thousands of
    # webhooks per second. Its error names the position and what it refused.
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("body is not UTF-8 text") from None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise PayloadError(f"body must be a JSON object, got {_json_type(value)}")
    return value


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _missing(path: str, key: str) -> NoReturn:
    raise PayloadError(f"{path}{key}: missing")


def _wrong_type(path: str, key: str, expected: str, value: object) -> NoReturn:
    raise PayloadError(f"{path}{key}: expected {expected}, got {_json_type(value)}")


# Each accessor checks the well-formed case first (one lookup, one exact type test) and only
# then works out which reason to give: webhooks arrive by the thousand per second and are
# almost always well formed.


def _required_object(data: Mapping[str, Any], key: str, path: str = "") -> dict[str, Any]:
    value = data.get(key)
    if type(value) is dict:
        return value
    if value is None:
        _missing(path, key)
    if not isinstance(value, dict):
        _wrong_type(path, key, "an object", value)
    return value


def _required_str(data: Mapping[str, Any], key: str, path: str = "") -> str:
    value = data.get(key)
    if type(value) is str and value:
        return value
    if value is None:
        _missing(path, key)
    if not isinstance(value, str):
        _wrong_type(path, key, "a string", value)
    raise PayloadError(f"{path}{key}: must not be empty")


def _optional_str(
    data: Mapping[str, Any], key: str, path: str = "", *, allow_empty: bool = False
) -> str | None:
    """The string at ``key``; ``None`` when absent, null or (unless ``allow_empty``) empty."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        _wrong_type(path, key, "a string", value)
    if not value and not allow_empty:
        return None
    return value


def _person_id(data: Mapping[str, Any], key: str, path: str) -> str | None:
    # Occupants without a token id (recorder, SIP gateway, transcriber) have no person behind them.
    return _optional_str(data, key, path)


def _required_bool(data: Mapping[str, Any], key: str, path: str = "") -> bool:
    value = data.get(key)
    if value is True or value is False:
        return value
    if value is None:
        _missing(path, key)
    _wrong_type(path, key, "a boolean", value)


def _optional_bool(data: Mapping[str, Any], key: str, path: str = "") -> bool:
    value = data.get(key)
    if value is None:
        return False
    if value is True or value is False:
        return value
    _wrong_type(path, key, "a boolean", value)


def _flag(data: Mapping[str, Any], key: str, path: str) -> bool:
    """A flag that tokens (and therefore webhooks) carry as ``true`` or as the string ``"true"``."""
    value = data.get(key)
    if value is None or value is False or value == "false":
        return False
    if value is True or value == "true":
        return True
    raise PayloadError(f'{path}{key}: expected true, false, "true" or "false", got {_json_type(value)}')


def _optional_count(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise PayloadError(f"{key}: expected a non-negative integer, got {_json_type(value)} {value!r:.40}")
    return value


def _number(data: Mapping[str, Any], key: str, path: str, unit: str) -> int | float:
    value = data.get(key)
    if type(value) is int:
        return value
    if value is None:
        _missing(path, key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        _wrong_type(path, key, f"a number of {unit}", value)
    if not math.isfinite(value):
        raise PayloadError(f"{path}{key}: not a finite number")
    return value


def _required_seconds(data: Mapping[str, Any], key: str, path: str = "") -> dt.datetime:
    seconds = _number(data, key, path, "seconds")
    if not 0 <= seconds <= _MAX_SECONDS:
        raise PayloadError(f"{path}{key}: {seconds!r:.40} is not a Unix time in seconds")
    return _EPOCH + dt.timedelta(seconds=seconds)


def _optional_seconds(data: Mapping[str, Any], key: str, path: str = "") -> dt.datetime | None:
    if data.get(key) is None:
        return None
    return _required_seconds(data, key, path)


def _required_millis(data: Mapping[str, Any], key: str, path: str = "") -> dt.datetime:
    millis = _number(data, key, path, "milliseconds")
    if not 0 <= millis <= _MAX_SECONDS * 1000:
        raise PayloadError(f"{path}{key}: {millis!r:.40} is not a Unix time in milliseconds")
    # timedelta arithmetic is exact for integer milliseconds; fromtimestamp(ms / 1000) would go
    # through a float and could land a microsecond off.
    return _EPOCH + dt.timedelta(milliseconds=millis)


def _preview(text: str) -> str:
    """A short repr for error reasons: headers are attacker-controlled and may be huge."""
    return repr(text[:40] + ("…" if len(text) > 40 else ""))
