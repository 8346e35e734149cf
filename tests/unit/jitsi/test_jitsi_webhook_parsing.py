"""Parsing event_sync and JaaS bodies into ConferenceEvent: the reference payloads and bad input."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from integrations.jitsi import (
    EVENT_SYNC_ENDPOINTS,
    ConferenceEvent,
    EventKind,
    Occupant,
    PayloadError,
    parse_event_sync,
    parse_jaas,
)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
ROOM = "rs-7k2p9xq4m1c8d3f6-0001"
ROOM_JID = "rs-7k2p9xq4m1c8d3f6-0001@conference.meet.example.org"
AYSE = "p-3f9c2a61d0b84e57"
AYSE_JID = "d67aefd4-95f9-4159-a28e-48b8a83ceac5@meet.example.org/bg2pLJlPT7n0"
AYSE_JID_2 = "4a4a4a4a-1111-4222-8333-444455556666@meet.example.org/Hh7Jk2Lm"
BREAKOUT = "5f0c2a7e-3c1b-4d8e-9a51-0d2f6b7c8e91"
SESSION = "7d1e4f2a-0b6c-4e8d-9f10-2a3b4c5d6e7f"
APP_ID = "vpaas-magic-cookie-0123456789abcdef0123456789abcdef"
JAAS_JID = "9b2d4c1e-77aa-4f0e-b1c2-3d4e5f607182@8x8.vc"


def s(seconds: int) -> dt.datetime:
    return EPOCH + dt.timedelta(seconds=seconds)


def ms(millis: int) -> dt.datetime:
    return EPOCH + dt.timedelta(milliseconds=millis)


def endpoint_for(filename: str) -> str:
    return next(e for e in EVENT_SYNC_ENDPOINTS if filename.startswith(e.replace("/", "-")))


# Golden keys: a change here would make a redelivery after a deploy look like a new event.
EVENT_SYNC_EXPECTED: dict[str, ConferenceEvent] = {
    "room-created.json": ConferenceEvent(
        source="event_sync",
        kind=EventKind.ROOM_CREATED,
        raw_type="muc-room-created",
        dedupe_key="es:5738e3bdef32451f6ba055496d901050d3b472f32a6112e7871533ecd1fce93c",
        room_name=ROOM,
        meeting_key=ROOM_JID,
        occurred_at=s(1795840072),
        room_created_at=s(1795840072),
    ),
    "room-destroyed-nobody-joined.json": ConferenceEvent(
        source="event_sync",
        kind=EventKind.ROOM_DESTROYED,
        raw_type="muc-room-destroyed",
        dedupe_key="es:b7a712d3444943f17cd7697c4e6a12dded79effa8de5be2fdd5c1c4bce6ec14b",
        room_name=ROOM,
        meeting_key=ROOM_JID,
        occurred_at=s(1795840075),
        room_created_at=s(1795840072),
        room_destroyed_at=s(1795840075),
        occupants=(),
    ),
    "room-destroyed.json": ConferenceEvent(
        source="event_sync",
        kind=EventKind.ROOM_DESTROYED,
        raw_type="muc-room-destroyed",
        dedupe_key="es:bc663089949673710d2ea39c6c1a1f20af360079e1089b9625ce72b32e72aefb",
        room_name=ROOM,
        meeting_key=ROOM_JID,
        occurred_at=s(1795843700),
        room_created_at=s(1795840072),
        room_destroyed_at=s(1795843700),
        occupants=(
            Occupant(person_id=AYSE, connection_id=AYSE_JID, joined_at=s(1795840080), left_at=s(1795841900)),
            Occupant(
                person_id=AYSE, connection_id=AYSE_JID_2, joined_at=s(1795841840), left_at=s(1795843620)
            ),
        ),
    ),
    "occupant-joined.json": ConferenceEvent(
        source="event_sync",
        kind=EventKind.OCCUPANT_JOINED,
        raw_type="muc-occupant-joined",
        dedupe_key="es:104adc5651945711273d3ff521e769bf1bdcd82c428d7b7b1c343335d07071f5",
        room_name=ROOM,
        meeting_key=ROOM_JID,
        occurred_at=s(1795840080),
        person_id=AYSE,
        person_name="Ayşe",
        connection_id=AYSE_JID,
        joined_at=s(1795840080),
    ),
    "occupant-left.json": ConferenceEvent(
        source="event_sync",
        kind=EventKind.OCCUPANT_LEFT,
        raw_type="muc-occupant-left",
        dedupe_key="es:4cdd9c3b3507edc7021bbbefabb4c858d58af1a0b2b5e8f20fec53d411008378",
        room_name=ROOM,
        meeting_key=ROOM_JID,
        occurred_at=s(1795843620),
        person_id=AYSE,
        person_name="Ayşe",
        connection_id=AYSE_JID,
        joined_at=s(1795840080),
        left_at=s(1795843620),
    ),
    "occupant-joined-breakout.json": ConferenceEvent(
        source="event_sync",
        kind=EventKind.OCCUPANT_JOINED,
        raw_type="muc-occupant-joined",
        dedupe_key="es:ad1a699c67b6e86afd01c1f768ee576aa7797b1f48d3613dc0c57c74a64848d2",
        room_name=ROOM,  # the main room, never the breakout's id
        meeting_key=ROOM_JID,
        occurred_at=s(1795841000),
        person_id=AYSE,
        person_name="Ayşe",
        connection_id=AYSE_JID,
        joined_at=s(1795841000),
        is_breakout=True,
        breakout_room_id=BREAKOUT,
    ),
    "occupant-joined-recorder-no-id.json": ConferenceEvent(
        source="event_sync",
        kind=EventKind.OCCUPANT_JOINED,
        raw_type="muc-occupant-joined",
        dedupe_key="es:db9e8ecf78f3cf8bb3e6eae902efa6a557157a7caae1c34a0db98698febb0f3e",
        room_name=ROOM,
        meeting_key=ROOM_JID,
        occurred_at=s(1795840100),
        person_id=None,  # a bot: no token id, not a parent
        person_name="",
        connection_id="recorder@recorder.meet.example.org/a1b2c3",
        joined_at=s(1795840100),
    ),
}

JAAS_EXPECTED: dict[str, ConferenceEvent] = {
    "room-created.json": ConferenceEvent(
        source="jaas",
        kind=EventKind.ROOM_CREATED,
        raw_type="ROOM_CREATED",
        dedupe_key="0b6e2c71-7a51-4f0e-9b1e-6f2d1c0a9e01",
        room_name=ROOM,
        meeting_key=SESSION,
        occurred_at=ms(1795840072123),
        room_created_at=ms(1795840072123),
    ),
    "room-destroyed.json": ConferenceEvent(
        source="jaas",
        kind=EventKind.ROOM_DESTROYED,
        raw_type="ROOM_DESTROYED",
        dedupe_key="c9d8e7f6-1111-4a2b-9c3d-abcdefabcdef",
        room_name=ROOM,
        meeting_key=SESSION,
        occurred_at=ms(1795843700777),
        room_destroyed_at=ms(1795843700777),
    ),
    "participant-joined.json": ConferenceEvent(
        source="jaas",
        kind=EventKind.OCCUPANT_JOINED,
        raw_type="PARTICIPANT_JOINED",
        dedupe_key="2f6c1b8e-6a0e-4a53-9d6e-3c0b9a1f2e11",
        room_name=ROOM,
        meeting_key=SESSION,
        occurred_at=ms(1795840080345),
        person_id=AYSE,
        person_name="Ayşe",
        connection_id=JAAS_JID,
        joined_at=ms(1795840080345),
    ),
    "participant-left-connection-lost.json": ConferenceEvent(
        source="jaas",
        kind=EventKind.OCCUPANT_LEFT,
        raw_type="PARTICIPANT_LEFT",
        dedupe_key="b0a7c3d2-55e1-4c0f-8a9b-112233445566",
        room_name=ROOM,
        meeting_key=SESSION,
        occurred_at=ms(1795841900001),
        person_id=AYSE,
        person_name="Ayşe",
        connection_id=JAAS_JID,
        left_at=ms(1795841900001),
        disconnect_reason="unknown",
    ),
    "participant-joined-lobby.json": ConferenceEvent(
        source="jaas",
        kind=EventKind.LOBBY_JOINED,
        raw_type="PARTICIPANT_JOINED_LOBBY",
        dedupe_key="5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716",
        room_name=ROOM,
        meeting_key=SESSION,
        occurred_at=ms(1795840070000),
        person_id=AYSE,
        person_name="Ayşe",
        connection_id=JAAS_JID,
    ),
}


def load(payloads_dir: Path, source: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((payloads_dir / source / name).read_text("utf-8"))
    return data


def encode(data: object) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


# --- the reference payloads -----------------------------------------------------------------------


def test_every_reference_payload_has_an_expectation(payloads_dir: Path) -> None:
    assert {p.name for p in (payloads_dir / "event_sync").glob("*.json")} == set(EVENT_SYNC_EXPECTED)
    assert {p.name for p in (payloads_dir / "jaas").glob("*.json")} == set(JAAS_EXPECTED)


@pytest.mark.parametrize("name", sorted(EVENT_SYNC_EXPECTED))
def test_event_sync_reference_payload(payloads_dir: Path, name: str) -> None:
    body = (payloads_dir / "event_sync" / name).read_bytes()
    event = parse_event_sync(endpoint_for(name), body)
    assert event == EVENT_SYNC_EXPECTED[name]
    assert event.occurred_at.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("name", sorted(JAAS_EXPECTED))
def test_jaas_reference_payload(payloads_dir: Path, name: str) -> None:
    event = parse_jaas((payloads_dir / "jaas" / name).read_bytes())
    assert event == JAAS_EXPECTED[name]
    assert event.occurred_at.utcoffset() == dt.timedelta(0)


def test_jaas_signature_vector_body_parses(signature_vector: dict[str, Any]) -> None:
    event = parse_jaas(signature_vector["raw_body"].encode("utf-8"))
    assert event.kind is EventKind.OCCUPANT_JOINED
    assert event.room_name == "sampleappromanticshiftsstripas"
    assert event.moderator is True
    assert event.person_id == "auth0|5f903d7a77f3b4006eb8e67d"
    assert event.occurred_at == ms(1632490058278)


def test_event_sync_dedupe_key_recipe(payloads_dir: Path) -> None:
    # The documented recipe, spelled out once: sha256 over the identifying fields as JSON.
    material = ["event_sync", "room/created", ROOM_JID, False, None, "2026-11-28T04:27:52+00:00"]
    digest = hashlib.sha256(json.dumps(material, separators=(",", ":")).encode()).hexdigest()
    event = parse_event_sync("room/created", (payloads_dir / "event_sync" / "room-created.json").read_bytes())
    assert event.dedupe_key == f"es:{digest}"


# --- event_sync details ---------------------------------------------------------------------------


def test_empty_all_occupants_may_also_arrive_as_a_list(payloads_dir: Path) -> None:
    data = load(payloads_dir, "event_sync", "room-destroyed-nobody-joined.json")
    data["all_occupants"] = []
    assert parse_event_sync("room/destroyed", encode(data)).occupants == ()


def test_all_occupants_order_does_not_matter(payloads_dir: Path) -> None:
    data = load(payloads_dir, "event_sync", "room-destroyed.json")
    reversed_data = {**data, "all_occupants": list(reversed(data["all_occupants"]))}
    assert parse_event_sync("room/destroyed", encode(reversed_data)) == parse_event_sync(
        "room/destroyed", encode(data)
    )


def test_all_occupants_without_id_or_left_at(payloads_dir: Path) -> None:
    data = load(payloads_dir, "event_sync", "room-destroyed.json")
    data["all_occupants"] = [
        {"occupant_jid": "jibri@recorder.meet.example.org/x", "joined_at": 1795840100, "id": ""}
    ]
    (occupant,) = parse_event_sync("room/destroyed", encode(data)).occupants
    assert occupant == Occupant(
        person_id=None,
        connection_id="jibri@recorder.meet.example.org/x",
        joined_at=s(1795840100),
        left_at=None,
    )


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), ("true", True), (False, False), ("false", False)]
)
def test_moderator_from_include_user_info(payloads_dir: Path, value: object, expected: bool) -> None:
    data = load(payloads_dir, "event_sync", "occupant-joined.json")
    data["occupant"]["moderator"] = value
    assert parse_event_sync("occupant/joined", encode(data)).moderator is expected


def test_room_names_and_jids_are_lowercased(payloads_dir: Path) -> None:
    data = load(payloads_dir, "event_sync", "occupant-joined.json")
    data["room_name"] = ROOM.upper()
    data["room_jid"] = ROOM_JID.upper()
    event = parse_event_sync("occupant/joined", encode(data))
    assert (event.room_name, event.meeting_key) == (ROOM, ROOM_JID)


def test_breakout_room_id_only_counts_in_breakout_rooms(payloads_dir: Path) -> None:
    data = load(payloads_dir, "event_sync", "occupant-joined-breakout.json")
    data["is_breakout"] = False
    assert parse_event_sync("occupant/joined", encode(data)).breakout_room_id is None


def test_left_at_on_a_join_is_ignored(payloads_dir: Path) -> None:
    data = load(payloads_dir, "event_sync", "occupant-joined.json")
    data["occupant"]["left_at"] = 1795840999
    event = parse_event_sync("occupant/joined", encode(data))
    assert (event.occurred_at, event.left_at) == (s(1795840080), None)


def test_fractional_seconds_are_kept(payloads_dir: Path) -> None:
    data = load(payloads_dir, "event_sync", "room-created.json")
    data["created_at"] = 1795840072.5
    assert parse_event_sync("room/created", encode(data)).occurred_at == s(1795840072) + dt.timedelta(
        milliseconds=500
    )


def test_all_meeting_keys_of_one_meeting_agree(payloads_dir: Path) -> None:
    keys = {
        parse_event_sync(endpoint_for(name), (payloads_dir / "event_sync" / name).read_bytes()).meeting_key
        for name in EVENT_SYNC_EXPECTED
    }
    assert keys == {ROOM_JID}


# --- JaaS details ---------------------------------------------------------------------------------


def test_unknown_jaas_event_type_is_other_with_its_envelope(payloads_dir: Path) -> None:
    data = load(payloads_dir, "jaas", "room-created.json")
    data["eventType"] = "RECORDING_UPLOADED"
    data["data"] = {"preAuthenticatedLink": "https://example.invalid/x", "anything": [1, {"nested": None}]}
    event = parse_jaas(encode(data))
    assert event == ConferenceEvent(
        source="jaas",
        kind=EventKind.OTHER,
        raw_type="RECORDING_UPLOADED",
        dedupe_key="0b6e2c71-7a51-4f0e-9b1e-6f2d1c0a9e01",
        room_name=ROOM,
        meeting_key=SESSION,
        occurred_at=ms(1795840072123),
    )


def test_lobby_left_is_recognised(payloads_dir: Path) -> None:
    data = load(payloads_dir, "jaas", "participant-joined-lobby.json")
    data["eventType"] = "PARTICIPANT_LEFT_LOBBY"
    assert parse_jaas(encode(data)).kind is EventKind.LOBBY_LEFT


@pytest.mark.parametrize(("value", "expected"), [(True, True), ("true", True), (False, False), (None, False)])
def test_jaas_moderator_bool_or_string(payloads_dir: Path, value: object, expected: bool) -> None:
    data = load(payloads_dir, "jaas", "participant-joined.json")
    data["data"]["moderator"] = value
    assert parse_jaas(encode(data)).moderator is expected


@pytest.mark.parametrize("value", ["", None])
def test_jaas_participant_without_token_id(payloads_dir: Path, value: object) -> None:
    data = load(payloads_dir, "jaas", "participant-joined.json")
    data["data"]["id"] = value
    assert parse_jaas(encode(data)).person_id is None


def test_jaas_breakout(payloads_dir: Path) -> None:
    data = load(payloads_dir, "jaas", "participant-joined.json")
    data["data"].update(isBreakout=True, breakoutRoomId=BREAKOUT)
    event = parse_jaas(encode(data))
    assert (event.is_breakout, event.breakout_room_id, event.room_name) == (True, BREAKOUT, ROOM)


def test_jaas_room_name_is_lowercased(payloads_dir: Path) -> None:
    data = load(payloads_dir, "jaas", "room-created.json")
    data["fqn"] = f"{APP_ID}/{ROOM.upper()}"
    assert parse_jaas(encode(data)).room_name == ROOM


# --- dedupe keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EVENT_SYNC_EXPECTED))
def test_redelivery_gets_the_same_key(payloads_dir: Path, name: str) -> None:
    raw = (payloads_dir / "event_sync" / name).read_bytes()
    data = json.loads(raw)
    # Same event re-encoded: key order shuffled (prosody's tables are unordered) and re-spaced.
    reordered = json.dumps(dict(reversed(list(data.items()))), indent=2).encode()
    keys = {parse_event_sync(endpoint_for(name), body).dedupe_key for body in (raw, raw, reordered)}
    assert len(keys) == 1


def test_every_reference_event_has_its_own_key(payloads_dir: Path) -> None:
    keys = [
        parse_event_sync(endpoint_for(n), (payloads_dir / "event_sync" / n).read_bytes())
        for n in EVENT_SYNC_EXPECTED
    ]
    keys += [parse_jaas((payloads_dir / "jaas" / n).read_bytes()) for n in JAAS_EXPECTED]
    assert len({event.dedupe_key for event in keys}) == len(keys)


def _variants(payloads_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """Pairs of events that look alike but are different events."""
    joined = load(payloads_dir, "event_sync", "occupant-joined.json")
    left = load(payloads_dir, "event_sync", "occupant-left.json")
    created = load(payloads_dir, "event_sync", "room-created.json")
    destroyed = load(payloads_dir, "event_sync", "room-destroyed.json")
    out: list[tuple[str, dict[str, Any]]] = [("occupant/joined", joined), ("occupant/left", left)]
    rejoined = copy.deepcopy(joined)
    rejoined["occupant"]["joined_at"] += 60  # the same connection back from a breakout room
    out.append(("occupant/joined", rejoined))
    other_connection = copy.deepcopy(joined)
    other_connection["occupant"]["occupant_jid"] = AYSE_JID_2  # a reconnect, same second
    out.append(("occupant/joined", other_connection))
    in_breakout = copy.deepcopy(joined)
    in_breakout.update(is_breakout=True, breakout_room_id=BREAKOUT)
    out.append(("occupant/joined", in_breakout))
    in_other_breakout = copy.deepcopy(in_breakout)
    in_other_breakout["breakout_room_id"] = "0b0b0b0b-0000-4000-8000-000000000000"
    out.append(("occupant/joined", in_other_breakout))
    recount = copy.deepcopy(joined)
    recount["active_occupants_count"] = 3
    out.append(("occupant/joined", recount))
    other_room = copy.deepcopy(joined)
    other_room["room_jid"] = "rs-other@conference.meet.example.org"
    out.append(("occupant/joined", other_room))
    left_later = copy.deepcopy(left)
    left_later["occupant"]["left_at"] += 1
    out.append(("occupant/left", left_later))
    out.append(("room/created", created))
    recreated = {**created, "created_at": created["created_at"] + 3600}  # the room reused
    out.append(("room/created", recreated))
    breakout_created = {**created, "is_breakout": True, "breakout_room_id": BREAKOUT}
    out.append(("room/created", breakout_created))
    out.append(("room/destroyed", destroyed))
    out.append(("room/destroyed", {**destroyed, "destroyed_at": destroyed["destroyed_at"] + 5}))
    return out


def test_different_events_get_different_keys(payloads_dir: Path) -> None:
    variants = _variants(payloads_dir)
    keys = [parse_event_sync(endpoint, encode(data)).dedupe_key for endpoint, data in variants]
    assert len(set(keys)) == len(variants)


def test_jaas_key_is_the_idempotency_key(payloads_dir: Path) -> None:
    raw = (payloads_dir / "jaas" / "participant-joined.json").read_bytes()
    assert parse_jaas(raw).dedupe_key == parse_jaas(raw).dedupe_key == "2f6c1b8e-6a0e-4a53-9d6e-3c0b9a1f2e11"


# --- refused bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"{'a': 1}", "not valid JSON"),
        (b'{"a": NaN}', "not valid JSON: unexpected character"),
        (b'{"a": -Infinity}', "not valid JSON: no digit after sign"),
        (b"\xff\xfe\xfa", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON: depth limit exceeded"),
        (b'{"a": ' + b"9" * 5000 + b"}", "not valid JSON"),
        (b"[]", "must be a JSON object, got array"),
        (b'"room"', "must be a JSON object, got string"),
        (b"null", "must be a JSON object, got null"),
        (b"42", "must be a JSON object, got number"),
        (b"true", "must be a JSON object, got boolean"),
    ],
)
def test_unparseable_bodies(body: bytes, reason: str) -> None:
    for parse in (lambda b: parse_event_sync("room/created", b), parse_jaas):
        with pytest.raises(PayloadError, match=reason) as raised:
            parse(body)
        assert raised.value.reason == str(raised.value)
        assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    "endpoint", ["occupant/kicked", "/room/created", "events/room/created", "ROOM/CREATED", ""]
)
def test_unknown_endpoint(payloads_dir: Path, endpoint: str) -> None:
    with pytest.raises(PayloadError, match="unknown event_sync endpoint"):
        parse_event_sync(endpoint, (payloads_dir / "event_sync" / "room-created.json").read_bytes())


def test_event_name_must_match_the_endpoint(payloads_dir: Path) -> None:
    body = (payloads_dir / "event_sync" / "occupant-left.json").read_bytes()
    with pytest.raises(
        PayloadError, match="'muc-occupant-left' does not belong to endpoint 'occupant/joined'"
    ):
        parse_event_sync("occupant/joined", body)


def _set(data: dict[str, Any], path: str, value: object) -> None:
    *parents, last = path.split(".")
    target: Any = data
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    key: Any = int(last) if isinstance(target, list) else last
    if value is _DELETE:
        del target[key]
    else:
        target[key] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("name", "path", "value", "reason"),
    [
        ("occupant-joined.json", "event_name", _DELETE, "^event_name: missing$"),
        ("occupant-joined.json", "room_name", _DELETE, "^room_name: missing$"),
        ("occupant-joined.json", "room_jid", None, "^room_jid: missing$"),
        ("occupant-joined.json", "is_breakout", _DELETE, "^is_breakout: missing$"),
        ("occupant-joined.json", "occupant", _DELETE, "^occupant: missing$"),
        ("occupant-joined.json", "occupant.occupant_jid", _DELETE, "^occupant.occupant_jid: missing$"),
        ("occupant-joined.json", "occupant.joined_at", _DELETE, "^occupant.joined_at: missing$"),
        ("occupant-left.json", "occupant.left_at", _DELETE, "^occupant.left_at: missing$"),
        ("room-created.json", "created_at", _DELETE, "^created_at: missing$"),
        ("room-destroyed.json", "created_at", _DELETE, "^created_at: missing$"),
        ("room-destroyed.json", "destroyed_at", _DELETE, "^destroyed_at: missing$"),
        ("room-destroyed.json", "all_occupants", _DELETE, "^all_occupants: missing$"),
        (
            "room-destroyed.json",
            "all_occupants.0.occupant_jid",
            _DELETE,
            r"^all_occupants\[0\]\.occupant_jid: missing$",
        ),
        (
            "room-destroyed.json",
            "all_occupants.1.joined_at",
            _DELETE,
            r"^all_occupants\[1\]\.joined_at: missing$",
        ),
        ("occupant-joined.json", "room_name", 5, "^room_name: expected a string, got number$"),
        ("occupant-joined.json", "room_name", "", "^room_name: must not be empty$"),
        ("occupant-joined.json", "is_breakout", "false", "^is_breakout: expected a boolean, got string$"),
        ("occupant-joined.json", "occupant", "x", "^occupant: expected an object, got string$"),
        ("occupant-joined.json", "occupant", [], "^occupant: expected an object, got array$"),
        (
            "occupant-joined.json",
            "occupant.joined_at",
            "1795840080",
            "^occupant.joined_at: expected a number of seconds, got string$",
        ),
        (
            "occupant-joined.json",
            "occupant.joined_at",
            True,
            "^occupant.joined_at: expected a number of seconds, got boolean$",
        ),
        ("occupant-joined.json", "occupant.joined_at", -1, "is not a Unix time in seconds"),
        ("occupant-joined.json", "occupant.joined_at", 1e300, "is not a Unix time in seconds"),
        ("occupant-joined.json", "occupant.id", 42, "^occupant.id: expected a string, got number$"),
        ("occupant-joined.json", "occupant.name", ["A"], "^occupant.name: expected a string, got array$"),
        ("occupant-joined.json", "occupant.moderator", "yes", "^occupant.moderator: expected true, false"),
        ("occupant-joined.json", "occupant.moderator", 1, "^occupant.moderator: expected true, false"),
        (
            "occupant-joined.json",
            "active_occupants_count",
            -1,
            "^active_occupants_count: expected a non-negative",
        ),
        (
            "occupant-joined.json",
            "active_occupants_count",
            "2",
            "^active_occupants_count: expected a non-negative",
        ),
        (
            "occupant-joined-breakout.json",
            "breakout_room_id",
            _DELETE,
            "^breakout_room_id: missing although is_breakout is true$",
        ),
        (
            "room-destroyed.json",
            "all_occupants",
            {"a": {}},
            r"^all_occupants: expected an array \(or \{\} when empty\)",
        ),
        ("room-destroyed.json", "all_occupants", "none", r"^all_occupants: expected an array"),
        (
            "room-destroyed.json",
            "all_occupants.0",
            1,
            r"^all_occupants\[0\]: expected an object, got number$",
        ),
        (
            "room-destroyed.json",
            "all_occupants.0.left_at",
            "later",
            r"^all_occupants\[0\]\.left_at: expected a number",
        ),
    ],
)
def test_event_sync_field_errors(
    payloads_dir: Path, name: str, path: str, value: object, reason: str
) -> None:
    data = load(payloads_dir, "event_sync", name)
    _set(data, path, value)
    with pytest.raises(PayloadError, match=reason):
        parse_event_sync(endpoint_for(name), encode(data))


@pytest.mark.parametrize(
    ("name", "path", "value", "reason"),
    [
        ("participant-joined.json", "idempotencyKey", _DELETE, "^idempotencyKey: missing$"),
        ("participant-joined.json", "idempotencyKey", "", "^idempotencyKey: must not be empty$"),
        ("participant-joined.json", "eventType", _DELETE, "^eventType: missing$"),
        ("participant-joined.json", "appId", _DELETE, "^appId: missing$"),
        ("participant-joined.json", "sessionId", None, "^sessionId: missing$"),
        ("participant-joined.json", "fqn", _DELETE, "^fqn: missing$"),
        ("participant-joined.json", "timestamp", _DELETE, "^timestamp: missing$"),
        ("participant-joined.json", "data", _DELETE, "^data: missing$"),
        ("participant-joined.json", "eventType", 7, "^eventType: expected a string, got number$"),
        (
            "participant-joined.json",
            "timestamp",
            "1795840080345",
            "^timestamp: expected a number of milliseconds, got string$",
        ),
        ("participant-joined.json", "timestamp", 10**20, "is not a Unix time in milliseconds"),
        ("participant-joined.json", "customerId", 5, "^customerId: expected a string, got number$"),
        ("participant-joined.json", "fqn", "vpaas-magic-cookie-other/rs-a", "is not '<appId>/<room>'"),
        ("participant-joined.json", "fqn", f"{APP_ID}/", "is not '<appId>/<room>'"),
        ("participant-joined.json", "fqn", ROOM, "is not '<appId>/<room>'"),
        ("participant-joined.json", "data", [], "^data: expected an object, got array$"),
        ("participant-joined.json", "data.participantJid", _DELETE, "^data.participantJid: missing$"),
        (
            "participant-joined-lobby.json",
            "data.participantJid",
            5,
            "^data.participantJid: expected a string",
        ),
        ("participant-joined.json", "data.moderator", "maybe", "^data.moderator: expected true, false"),
        (
            "participant-joined.json",
            "data.isBreakout",
            "false",
            "^data.isBreakout: expected a boolean, got string$",
        ),
        ("participant-joined.json", "data.id", 12345, "^data.id: expected a string, got number$"),
        (
            "participant-left-connection-lost.json",
            "data.disconnectReason",
            0,
            "^data.disconnectReason: expected",
        ),
        ("room-created.json", "data.isBreakout", 1, "^data.isBreakout: expected a boolean, got number$"),
    ],
)
def test_jaas_field_errors(payloads_dir: Path, name: str, path: str, value: object, reason: str) -> None:
    data = load(payloads_dir, "jaas", name)
    _set(data, path, value)
    with pytest.raises(PayloadError, match=reason):
        parse_jaas(encode(data))


def test_unknown_jaas_type_still_needs_its_envelope(payloads_dir: Path) -> None:
    data = load(payloads_dir, "jaas", "room-created.json")
    data["eventType"] = "SOMETHING_NEW"
    del data["sessionId"]
    with pytest.raises(PayloadError, match=r"^sessionId: missing$"):
        parse_jaas(encode(data))


def test_parsed_event_is_a_frozen_value(payloads_dir: Path) -> None:
    event = parse_jaas((payloads_dir / "jaas" / "participant-joined.json").read_bytes())
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.person_id = "someone-else"  # type: ignore[misc]
