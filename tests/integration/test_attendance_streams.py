"""Realistic webhook streams, posted over HTTP, processed by the task, read back from the API.

Each stream is built from the reference payloads (``shared/reference/payloads``) with the ids of
this test's people and times moved to a session on 2026-10-10, 04:30–05:30 UTC (the payloads'
own day, 49 days earlier, so the session lies in the past whenever the tests run). Streams are
delivered reordered and with duplicates, processed by calling ``rucksack.process_events``
directly, and every person's minutes are checked exactly.

The centre's policy is the default: present from 45 minutes or 50 % of the scheduled 60 minutes,
late after 10 minutes, early when leaving more than 10 minutes before the end. Presence counts
from 15 minutes before the start to 30 minutes after the end.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import random
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from orchestrator.accounts import services as accounts
from orchestrator.models import Centre, ConferenceEvent, Group, Session
from tests import factories

ROOM = "rs-7k2p9xq4m1c8d3f6-0001"
ROOM_JID = f"{ROOM}@conference.meet.example.org"
BREAKOUT = "5f0c2a7e-3c1b-4d8e-9a51-0d2f6b7c8e91"
APP_ID = "vpaas-magic-cookie-0123456789abcdef0123456789abcdef"
JAAS_SESSION = "7d1e4f2a-0b6c-4e8d-9f10-2a3b4c5d6e7f"
AYSE, MARIA, SELIN, LEADER = (
    "p-3f9c2a61d0b84e57",
    "p-8e21b7c04a9d3f16",
    "p-0d4c7e1a9b2f6e35",
    "f-b1d9e6c2f07a4835",
)
ES_SECRET = "event-sync-secret-0123456789abcdef"
JAAS_SECRET = "whsec_0123456789abcdef0123456789abcdef"

SHIFT = -49 * 86400  # seconds: the payloads' day moved 7 weeks back
START = 1795840200 + SHIFT  # 2026-10-10T04:30:00Z


def at(clock: str) -> int:
    """Unix seconds of a wall-clock time (UTC) on the session's day, e.g. ``at("04:28:00")``."""
    h, m, s = (int(part) for part in clock.split(":"))
    return START + (h * 3600 + m * 60 + s) - (4 * 3600 + 30 * 60)


def at_ms(clock: str, millis: int = 0) -> int:
    return at(clock) * 1000 + millis


# --- building the streams from the reference payloads -------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Delivery:
    source: str  # event_sync | jaas
    endpoint: str  # event_sync endpoint; "" for JaaS
    body: bytes


class EventSync:
    """event_sync bodies shaped like ``payloads/event_sync/*.json``."""

    def __init__(self, room: str = ROOM) -> None:
        self.room = room
        self.jid = f"{room}@conference.meet.example.org"
        self.count = itertools.count(1)

    def _room(self, name: str, breakout: str | None) -> dict[str, Any]:
        data = factories.reference_payload(f"event_sync/{name}.json")
        data.update(room_name=self.room, room_jid=self.jid, is_breakout=breakout is not None)
        data.pop("breakout_room_id", None)
        if breakout is not None:
            data["breakout_room_id"] = breakout
        return data

    def created(self, created: str, *, breakout: str | None = None) -> Delivery:
        data = self._room("room-created", breakout)
        data["created_at"] = at(created)
        return Delivery("event_sync", "room/created", json.dumps(data).encode())

    def joined(self, person: str | None, jid: str, joined: str, *, breakout: str | None = None) -> Delivery:
        name = "occupant-joined-breakout" if breakout else "occupant-joined"
        data = self._room(name, breakout)
        occupant: dict[str, Any] = {"occupant_jid": jid, "joined_at": at(joined)}
        if person is not None:
            occupant.update(id=person, name="Ayşe")
        data["occupant"] = occupant
        data["active_occupants_count"] = next(self.count) % 9 + 1
        return Delivery("event_sync", "occupant/joined", json.dumps(data).encode())

    def left(
        self, person: str | None, jid: str, joined: str, left: str, *, breakout: str | None = None
    ) -> Delivery:
        data = self._room("occupant-left", breakout)
        occupant: dict[str, Any] = {"occupant_jid": jid, "joined_at": at(joined), "left_at": at(left)}
        if person is not None:
            occupant.update(id=person, name="Ayşe")
        data["occupant"] = occupant
        data["active_occupants_count"] = next(self.count) % 9
        return Delivery("event_sync", "occupant/left", json.dumps(data).encode())

    def destroyed(
        self,
        created: str,
        destroyed: str,
        occupants: list[tuple[str | None, str, str, str | None]],
        *,
        breakout: str | None = None,
    ) -> Delivery:
        data = self._room("room-destroyed", breakout)
        data.update(created_at=at(created), destroyed_at=at(destroyed))
        roster: list[dict[str, Any]] = []
        for person, jid, joined, left in occupants:
            entry: dict[str, Any] = {"occupant_jid": jid, "joined_at": at(joined)}
            if left is not None:
                entry["left_at"] = at(left)
            if person is not None:
                entry.update(id=person, name="Ayşe")
            roster.append(entry)
        # Prosody sends an empty occupant list as {} (payloads/room-destroyed-nobody-joined.json).
        data["all_occupants"] = roster or {}
        return Delivery("event_sync", "room/destroyed", json.dumps(data).encode())


class Jaas:
    """JaaS bodies shaped like ``payloads/jaas/*.json``."""

    def __init__(self, room: str = ROOM, session_id: str = JAAS_SESSION, seed: int = 7) -> None:
        self.room = room
        self.session_id = session_id
        self.rng = random.Random(seed)

    def _event(self, name: str, event_type: str, stamp: int, room: str | None) -> dict[str, Any]:
        data = factories.reference_payload(f"jaas/{name}.json")
        data.update(
            idempotencyKey=str(uuid.UUID(int=self.rng.getrandbits(128))),
            sessionId=self.session_id,
            fqn=f"{APP_ID}/{room or self.room}",
            eventType=event_type,
            timestamp=stamp,
        )
        return data

    def room_event(self, event_type: str, stamp: int, *, breakout: str | None = None) -> Delivery:
        name = "room-created" if event_type == "ROOM_CREATED" else "room-destroyed"
        data = self._event(name, event_type, stamp, None)
        data["data"]["isBreakout"] = breakout is not None
        if breakout:
            data["data"]["breakoutRoomId"] = breakout
        return Delivery("jaas", "", json.dumps(data).encode())

    def participant(
        self,
        event_type: str,
        person: str | None,
        jid: str,
        stamp: int,
        *,
        breakout: str | None = None,
        reason: str = "left",
        room: str | None = None,
    ) -> Delivery:
        name = (
            "participant-left-connection-lost" if event_type == "PARTICIPANT_LEFT" else "participant-joined"
        )
        data = self._event(name, event_type, stamp, room)
        details = data["data"]
        details.update(participantJid=jid, participantId=jid[:8], isBreakout=breakout is not None)
        if person is None:
            details.pop("id")
            details["name"] = "Jigasi"
        else:
            details["id"] = person
        if breakout:
            details["breakoutRoomId"] = breakout
        if event_type == "PARTICIPANT_LEFT":
            details["disconnectReason"] = reason
        else:
            details.pop("disconnectReason", None)
        return Delivery("jaas", "", json.dumps(data).encode())


def delivered(stream: list[Delivery], *, seed: int, duplicates: int) -> list[Delivery]:
    """The stream as a weak sender delivers it: shuffled, with ``duplicates`` redeliveries."""
    rng = random.Random(seed)
    out = list(stream) + [rng.choice(stream) for _ in range(duplicates)]
    rng.shuffle(out)
    return out


# --- the world these streams happen in -----------------------------------------------------------------


@dataclasses.dataclass
class World:
    session_id: int
    es_slug: str
    jaas_slug: str
    token: str
    parents: dict[str, int]
    leader_id: int


@pytest.fixture
def world(db, settings) -> World:
    return make_world(db, settings)


def make_world(db, settings) -> World:
    """A centre with both deployments, a group with its leader and three enrolled parents, and
    the 60-minute session in the payloads' room; the tasks are pointed at the test database."""
    from workers.app import configure

    configure(settings)  # the tasks below run in this process, on the test database
    centre = factories.centre(db)
    es = factories.deployment(db, centre, webhook_secret=ES_SECRET)
    jaas = factories.deployment(
        db,
        centre,
        kind="jaas",
        domain="8x8.vc",
        base_url="https://8x8.vc",
        app_id=APP_ID,
        webhook_secret=JAAS_SECRET,
    )
    leader = factories.user(db, "facilitator", centre, display_name="Leyla")
    leader.pseudonym = LEADER
    coordinator = factories.user(db, "coordinator", centre)
    group = factories.group(db, centre, facilitators=[leader], deployment_id=es.id)
    session = factories.session(
        db, group, starts_at=dt.datetime.fromtimestamp(START, dt.UTC), minutes=60, room_name=ROOM
    )
    parents = {}
    for name, pseudonym in (("Ayşe", AYSE), ("Maria", MARIA), ("Selin", SELIN)):
        parent = factories.parent(db, centre, display_name=name)
        parent.pseudonym = pseudonym
        factories.enrol(db, parent, group, enrolled_at=dt.datetime(2026, 9, 1, tzinfo=dt.UTC))
        parents[name] = parent.id
    _, token = accounts.create_api_token(db, user_id=coordinator.id, name="tests", scopes=["read"])
    db.commit()
    return World(session.id, es.slug, jaas.slug, token, parents, leader.id)


async def post(client, world: World, deliveries: list[Delivery]) -> None:
    for d in deliveries:
        if d.source == "event_sync":
            resp = await client.post(
                f"/hooks/jitsi/{world.es_slug}/events/{d.endpoint}",
                data=d.body,
                headers={"Authorization": f"Bearer {ES_SECRET}", "Content-Type": "application/json"},
            )
        else:
            resp = await client.post(
                f"/hooks/jaas/{world.jaas_slug}",
                data=d.body,
                headers={"X-Jaas-Signature": factories.jaas_signature(JAAS_SECRET, d.body)},
            )
        assert resp.status == 200, await resp.text()


def process() -> dict[str, Any]:
    from workers.tasks import process_events

    result: dict[str, Any] = process_events()
    return result


async def attendance(client, world: World) -> dict[str, Any]:
    resp = await client.get(
        f"/api/v1/sessions/{world.session_id}/attendance", headers={"Authorization": f"Bearer {world.token}"}
    )
    assert resp.status == 200, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


def by_name(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["display_name"]: p for p in data["people"]}


def summary(person: dict[str, Any]) -> tuple[Any, ...]:
    return (person["role"], person["minutes"], person["status"], person["late"], person["left_early"])


def clock(value: str | None) -> str | None:
    return None if value is None else dt.datetime.fromisoformat(value).strftime("%H:%M:%S")


# --- self-hosted (event_sync) -------------------------------------------------------------------------------


def event_sync_session() -> list[Delivery]:
    """A whole session: leader, Ayşe with a breakout move and back and a reconnect, Maria late
    with her leave lost (the room's roster at destruction has it), a recorder without an id."""
    es = EventSync()
    a1 = "d67aefd4-95f9-4159-a28e-48b8a83ceac5@meet.example.org/bg2pLJlPT7n0"
    a2 = "4a4a4a4a-1111-4222-8333-444455556666@meet.example.org/Hh7Jk2Lm"
    m1 = "0c3f9a2e-5d71-4b8e-a6f0-7e2d1c4b9a58@meet.example.org/Qx4vN8rT"
    f1 = "7a1e9c44-2b6d-4f3a-8e51-9c0d2e7f6a13@meet.example.org/Fz2kP9wL"
    rec = "recorder@recorder.meet.example.org/a1b2c3"
    return [
        es.created("04:27:52"),
        es.joined(LEADER, f1, "04:27:55"),
        es.joined(AYSE, a1, "04:28:00"),
        es.joined(None, rec, "04:28:20"),
        # Breakout move: a leave from the main room, a join in the breakout room, and back.
        es.created("04:43:00", breakout=BREAKOUT),
        es.left(AYSE, a1, "04:28:00", "04:43:20"),
        es.joined(AYSE, a1, "04:43:20", breakout=BREAKOUT),
        es.joined(MARIA, m1, "04:45:30"),
        es.left(AYSE, a1, "04:43:20", "04:50:00", breakout=BREAKOUT),
        es.joined(AYSE, a1, "04:50:00"),
        es.destroyed("04:43:00", "04:50:30", [(AYSE, a1, "04:43:20", "04:50:00")], breakout=BREAKOUT),
        # Reconnect: the new connection joins while the old one lingers for a minute.
        es.joined(AYSE, a2, "04:57:20"),
        es.left(AYSE, a1, "04:50:00", "04:58:20"),
        # Maria's leave at 05:05:30 never arrives.
        es.left(AYSE, a2, "04:57:20", "05:27:00"),
        es.left(LEADER, f1, "04:27:55", "05:28:00"),
        es.destroyed(
            "04:27:52",
            "05:28:20",
            [
                (LEADER, f1, "04:27:55", "05:28:00"),
                (AYSE, a1, "04:28:00", "04:43:20"),
                (AYSE, a1, "04:50:00", "04:58:20"),
                (AYSE, a2, "04:57:20", "05:27:00"),
                (MARIA, m1, "04:45:30", "05:05:30"),
                (None, rec, "04:28:20", None),
            ],
        ),
    ]


@pytest.mark.parametrize("seed", [1, 2])
async def test_event_sync_session_reordered_and_duplicated(client, db, world, seed):
    stream = event_sync_session()
    await post(client, world, delivered(stream, seed=seed, duplicates=6))
    result = process()
    assert result["claimed"] == len(stream)  # duplicates never reached the inbox twice
    assert result["unmatched"] == result["errors"] == 0

    data = await attendance(client, world)
    people = by_name(data)
    # 04:28:00–05:27:00 without a gap: main room, breakout, main room, reconnect overlap united.
    assert summary(people["Ayşe"]) == ("parent", 59, "present", False, False)
    assert (clock(people["Ayşe"]["first_join"]), clock(people["Ayşe"]["last_leave"])) == (
        "04:28:00",
        "05:27:00",
    )
    assert any(i["in_breakout"] for i in people["Ayşe"]["intervals"])
    # 04:45:30–05:05:30 from the roster: 20 minutes, late and early.
    assert summary(people["Maria"]) == ("parent", 20, "partial", True, True)
    assert clock(people["Maria"]["last_leave"]) == "05:05:30"
    assert summary(people["Selin"]) == ("parent", 0, "absent", False, False)
    # The leader: 04:27:55–05:28:00, counted separately, never as a parent.
    assert summary(people["Leyla"]) == ("facilitator", 60, "present", False, False)
    # The recorder (no token id) is an unidentified occupant, closed at destruction.
    assert data["unidentified_occupants"] == 1
    assert len(data["people"]) == 4


async def test_leaving_early_has_its_own_tolerance(client, db, world):
    # Maria leaves at 05:05:30, 24.5 minutes before the end: early with the default 10 minutes,
    # not with 30. Her lateness (15.5 minutes, late tolerance 10) is judged on its own.
    session = db.get(Session, world.session_id)
    centre = db.get(Centre, db.get(Group, session.group_id).centre_id)
    centre.early_leave_minutes = 30
    db.commit()
    await post(client, world, event_sync_session())
    process()
    people = by_name(await attendance(client, world))
    assert summary(people["Maria"]) == ("parent", 20, "partial", True, False)
    assert summary(people["Ayşe"]) == ("parent", 59, "present", False, False)


async def test_the_worker_keeps_each_event_as_parsed_when_it_claims_it(client, db, world):
    stream = event_sync_session()
    await post(client, world, stream)
    stored = db.scalars(select(ConferenceEvent).order_by(ConferenceEvent.id)).all()
    assert all(row.normalised is None for row in stored)  # nothing parsed on the request path
    # A body the parser refuses by now (as if the parser had changed since it was stored).
    broken = next(row for row in stored if row.kind == "occupant_joined")
    broken.body = b'{"event_name": "muc-occupant-joined"}'
    db.commit()

    result = process()
    assert result["errors"] == 1
    assert result["claimed"] == len(stream)
    db.expire_all()
    for row in db.scalars(select(ConferenceEvent).order_by(ConferenceEvent.id)):
        if row.id == broken.id:
            assert row.state == "error"
            assert row.normalised is None
            assert row.error.startswith("cannot be parsed: room_name: missing")
            continue
        assert row.state == "processed"
        assert row.normalised is not None
        assert (row.normalised["kind"], row.normalised["dedupe_key"]) == (row.kind, row.dedupe_key)
        assert "person_name" not in row.normalised  # the typed name is not kept in the parsed form
    db.rollback()


async def test_event_sync_room_destroyed_and_created_again_within_the_session(client, db, world):
    es = EventSync()
    a1, a2, f1, f2 = (
        "a1@meet.example.org/1",
        "a2@meet.example.org/2",
        "f1@meet.example.org/1",
        "f2@meet.example.org/2",
    )
    stream = [
        es.created("04:28:30"),
        es.joined(LEADER, f1, "04:29:00"),
        es.joined(AYSE, a1, "04:30:00"),
        # The room goes away (jicofo restart): no leave events; the roster lists the leader only,
        # so Ayşe's connection is closed by the destruction itself.
        es.destroyed("04:28:30", "04:50:00", [(LEADER, f1, "04:29:00", "04:50:00")]),
        # The same room is created again and everyone comes back.
        es.created("04:52:00"),
        es.joined(LEADER, f2, "04:52:10"),
        es.joined(AYSE, a2, "04:52:30"),
        es.left(AYSE, a2, "04:52:30", "05:25:30"),
        es.left(LEADER, f2, "04:52:10", "05:29:00"),
        es.destroyed(
            "04:52:00", "05:29:30", [(LEADER, f2, "04:52:10", "05:29:00"), (AYSE, a2, "04:52:30", "05:25:30")]
        ),
    ]
    await post(client, world, delivered(stream, seed=3, duplicates=3))
    process()
    people = by_name(await attendance(client, world))
    # 04:30:00–04:50:00 (20 min) + 04:52:30–05:25:30 (33 min).
    assert summary(people["Ayşe"]) == ("parent", 53, "present", False, False)
    assert [(clock(i["joined_at"]), clock(i["left_at"])) for i in people["Ayşe"]["intervals"]] == [
        ("04:30:00", "04:50:00"),
        ("04:52:30", "05:25:30"),
    ]
    # 04:29:00–04:50:00 (21 min) + 04:52:10–05:29:00 (36 min 50 s) = 57 min 50 s.
    assert summary(people["Leyla"]) == ("facilitator", 57, "present", False, False)
    assert summary(people["Maria"])[1:3] == (0, "absent")


async def test_event_sync_missing_leave_is_closed_by_finalisation(client, db, world, db_factory):
    es = EventSync()
    stream = [
        es.created("04:29:00"),
        es.joined(AYSE, "a1@meet.example.org/1", "04:35:00"),
        # Nothing else arrives: no leave, no destruction (prosody restarted).
    ]
    await post(client, world, stream)
    process()
    from workers.tasks import finalise_session

    done = finalise_session(world.session_id)
    assert done["found"]
    assert done["ended_now"]
    people = by_name(await attendance(client, world))
    # Closed at the end of the counting window: 05:30 + 30 min; 04:35:00–06:00:00 = 85 min.
    assert summary(people["Ayşe"]) == ("parent", 85, "present", False, False)
    assert clock(people["Ayşe"]["last_leave"]) == "06:00:00"
    with db_factory() as check:
        session = check.get(Session, world.session_id)
        assert session.finalised_at is not None
        assert session.status == "ended"  # nobody had ended it: finalisation did
        first = session.finalised_at
    # Finalising again changes nothing (idempotent, the first finalisation time is kept).
    again = finalise_session(world.session_id)
    assert again["found"]
    assert not again["ended_now"]
    with db_factory() as check:
        assert check.get(Session, world.session_id).finalised_at == first
    assert summary(by_name(await attendance(client, world))["Ayşe"])[1] == 85


# --- JaaS --------------------------------------------------------------------------------------------


def jaas_session() -> list[Delivery]:
    """The same kind of session on JaaS: lobby, breakout move and back (``switch_room``), a lost
    connection with a reconnect, a late parent, a dial-in gateway without an id, and a leave
    stamped after the room's destruction."""
    j = Jaas()
    a1, a2, m1 = "9b2d4c1e-77aa-4f0e-b1c2-3d4e5f607182@8x8.vc", "2f4e6a8c-0b1d@8x8.vc", "5a7c9e1b@8x8.vc"
    f1, bot = "7a1e9c44-2b6d@8x8.vc", "c0ffee00-1234-4abc-9def-0123456789ab@8x8.vc"
    lobby = "11111111-2222@8x8.vc"
    return [
        j.room_event("ROOM_CREATED", at_ms("04:27:52", 123)),
        # Waiting in the lobby is not attendance (a lobby connection of its own).
        j.participant("PARTICIPANT_JOINED_LOBBY", AYSE, lobby, at_ms("04:27:50")),
        j.participant("PARTICIPANT_LEFT_LOBBY", AYSE, lobby, at_ms("04:28:00")),
        j.participant("PARTICIPANT_JOINED", LEADER, f1, at_ms("04:28:00")),
        j.participant("PARTICIPANT_JOINED", AYSE, a1, at_ms("04:28:00", 345)),
        j.participant("PARTICIPANT_JOINED", None, bot, at_ms("04:29:00")),
        j.participant("PARTICIPANT_LEFT", AYSE, a1, at_ms("04:43:20"), reason="switch_room"),
        j.participant("PARTICIPANT_JOINED", AYSE, a1, at_ms("04:43:20", 500), breakout=BREAKOUT),
        j.participant("PARTICIPANT_JOINED", MARIA, m1, at_ms("04:44:00")),
        j.participant(
            "PARTICIPANT_LEFT", AYSE, a1, at_ms("04:50:00"), breakout=BREAKOUT, reason="switch_room"
        ),
        j.participant("PARTICIPANT_JOINED", AYSE, a1, at_ms("04:50:00", 500)),
        j.participant("PARTICIPANT_JOINED", AYSE, a2, at_ms("04:57:20")),
        j.participant("PARTICIPANT_LEFT", AYSE, a1, at_ms("04:58:20", 1), reason="unknown"),
        j.participant("PARTICIPANT_LEFT", None, bot, at_ms("05:00:00")),
        j.participant("PARTICIPANT_LEFT", MARIA, m1, at_ms("05:20:00")),
        j.participant("PARTICIPANT_LEFT", AYSE, a2, at_ms("05:27:00")),
        j.room_event("ROOM_DESTROYED", at_ms("05:28:20", 777)),
        j.participant("PARTICIPANT_LEFT", LEADER, f1, at_ms("05:29:00")),
    ]


@pytest.mark.parametrize("seed", [1, 2])
async def test_jaas_session_reordered_and_duplicated(client, db, world, seed):
    stream = jaas_session()
    await post(client, world, delivered(stream, seed=seed, duplicates=6))
    result = process()
    assert result["claimed"] == len(stream)
    assert result["unmatched"] == result["errors"] == 0
    data = await attendance(client, world)
    people = by_name(data)
    # 04:28:00.345–05:27:00 less the two half-second breakout hops: 58 min 58.655 s.
    assert summary(people["Ayşe"]) == ("parent", 58, "present", False, False)
    # 04:44:00–05:20:00: 36 minutes is 60 % of the slot; late, but not early (exactly 10 min).
    assert summary(people["Maria"]) == ("parent", 36, "present", True, False)
    # The leader's leave is stamped after the destruction: the destruction (05:28:20.777) ends it.
    assert summary(people["Leyla"]) == ("facilitator", 60, "present", False, False)
    assert people["Leyla"]["last_leave"].startswith(
        dt.datetime.fromtimestamp(at("05:28:20"), dt.UTC).isoformat()[:19]
    )
    assert summary(people["Selin"])[1:3] == (0, "absent")
    assert data["unidentified_occupants"] == 1


async def test_jaas_breakout_event_for_an_unknown_room_is_matched_through_its_meeting(
    client, world, db_factory
):
    """A JaaS breakout room that reports its own name is placed by the meeting's ``sessionId``,
    even when it arrives before anything from the main room."""
    j = Jaas()
    a1 = "9b2d4c1e-77aa-4f0e-b1c2-3d4e5f607182@8x8.vc"
    breakout_first = [
        j.participant("PARTICIPANT_JOINED", AYSE, a1, at_ms("04:40:00"), breakout=BREAKOUT, room=BREAKOUT),
        j.participant("PARTICIPANT_LEFT", AYSE, a1, at_ms("05:00:00"), breakout=BREAKOUT, room=BREAKOUT),
    ]
    await post(client, world, breakout_first)
    assert process()["unmatched"] == 2
    main_room = [
        j.room_event("ROOM_CREATED", at_ms("04:29:00")),
        j.participant("PARTICIPANT_JOINED", AYSE, a1, at_ms("04:30:00")),
        j.participant("PARTICIPANT_LEFT", AYSE, a1, at_ms("04:40:00"), reason="switch_room"),
    ]
    await post(client, world, main_room)
    assert process()["unmatched"] == 0
    with db_factory() as check:
        assert {r.state for r in check.scalars(select(ConferenceEvent))} == {"processed"}
    people = by_name(await attendance(client, world))
    # 04:30–04:40 in the main room, 04:40–05:00 in the breakout room.
    assert summary(people["Ayşe"])[1:3] == (30, "present")


async def test_events_of_an_unknown_room_are_kept_unmatched_and_placed_when_the_session_appears(
    client, db, world, db_factory
):
    from workers.tasks import sweep_inbox

    es = EventSync(room="rs-unknownroom0000000000-0001")
    await post(client, world, [es.joined(AYSE, "a1@meet.example.org/1", "04:31:00")])
    assert process()["unmatched"] == 1
    with db_factory() as check:
        (row,) = check.scalars(select(ConferenceEvent))
        assert (row.state, row.session_id) == ("unmatched", None)
        # The room turns out to be a session's after all (say, created by a late import).
        check.get(Session, world.session_id).room_name = "rs-unknownroom0000000000-0001"
        check.commit()
    assert sweep_inbox()["rematched"] == 1
    people = by_name(await attendance(client, world))
    assert people["Ayşe"]["first_join"] is not None
