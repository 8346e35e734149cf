"""Fault tests: a worker killed in the middle of a batch, and the broker gone while webhooks arrive.

Each test starts its **own** ``redis-server`` on a spare port and its own worker, so stopping
them never touches the machine's shared Redis or PostgreSQL. The expected attendance comes from a
twin session: the same stream of webhooks (same times, same shape, other people) processed once
without any fault. "Processed exactly once in effect" then means: every event of the faulty run
is processed, and the attendance and presence intervals are identical to the twin's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from orchestrator import models as m
from orchestrator.jobs import CeleryJobs
from orchestrator.web.app import create_app
from tests import factories
from tests.conftest import WorkerProcess, skip_or_fail

pytestmark = [pytest.mark.redis, pytest.mark.slow]

SECRET = "fault-test-webhook-secret-0123456789"
START = dt.datetime(2026, 10, 10, 4, 30, tzinfo=dt.UTC)
PARENTS = 12


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnRedis:
    """A private redis-server without persistence: stopping it loses every queued job."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            skip_or_fail("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary or "redis-server"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("own redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    redis = OwnRedis()
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


# -- the webhook stream ----------------------------------------------------------------------


def at(minutes: float) -> int:
    return int((START + dt.timedelta(minutes=minutes)).timestamp())


def _base(room: str, event: str) -> dict[str, Any]:
    return {
        "event_name": event,
        "room_name": room,
        "room_jid": f"{room}@conference.meet.example.org",
        "is_breakout": False,
    }


def stream(room: str, people: list[str]) -> list[tuple[str, bytes]]:
    """(endpoint, body) for a 60-minute session: staggered joins, reconnects with overlapping
    duplicates, early leavers, and a few redeliveries of the same webhook."""
    events: list[tuple[str, dict[str, Any]]] = [
        ("room/created", {**_base(room, "muc-room-created"), "created_at": at(-5)})
    ]
    roster = []
    for i, person in enumerate(people):
        joined = -2 + 3 * i
        connections = [(joined, 25 + i)]
        if i % 2 == 0:  # a reconnect that overlaps the first connection by a minute
            connections.append((24 + i, 60 - i))
        if i % 3 == 0:  # and a phone joining as well for a while
            connections.append((30, 40))
        for n, (came, went) in enumerate(connections):
            jid = f"{uuid.UUID(int=i * 10 + n)}@meet.example.org/c{n}"
            occupant = {"id": person, "name": "X", "occupant_jid": jid, "joined_at": at(came)}
            events.append(
                (
                    "occupant/joined",
                    {**_base(room, "muc-occupant-joined"), "occupant": occupant, "active_occupants_count": 2},
                )
            )
            left = {**occupant, "left_at": at(went)}
            events.append(
                (
                    "occupant/left",
                    {**_base(room, "muc-occupant-left"), "occupant": left, "active_occupants_count": 1},
                )
            )
            roster.append(left)
    events.append(
        (
            "room/destroyed",
            {
                **_base(room, "muc-room-destroyed"),
                "created_at": at(-5),
                "destroyed_at": at(62),
                "all_occupants": roster,
            },
        )
    )
    deliveries = [(endpoint, json.dumps(body).encode()) for endpoint, body in events]
    # Redeliveries (the sender retried after a timeout): same bodies again.
    return deliveries + deliveries[3:9]


@dataclasses.dataclass
class Side:
    session_id: int
    room: str
    parent_ids: list[int]
    deliveries: list[tuple[str, bytes]]


@dataclasses.dataclass
class World:
    slug: str
    twin: Side
    faulty: Side


def arrange(db: Any) -> World:
    centre = factories.centre(db)
    deployment = factories.deployment(db, centre, webhook_secret=SECRET)
    sides = []
    for label in ("twin", "faulty"):
        group = factories.group(db, centre, deployment_id=deployment.id, name=f"Gruppe {label}")
        parents = [
            factories.parent(db, centre, groups=[group], display_name=f"{label} {i}") for i in range(PARENTS)
        ]
        session = factories.session(db, group, starts_at=START, minutes=60)
        sides.append(
            Side(
                session.id,
                session.room_name,
                [p.id for p in parents],
                stream(session.room_name, [p.pseudonym for p in parents]),
            )
        )
    db.commit()
    return World(deployment.slug, sides[0], sides[1])


async def post(client: Any, world: World, deliveries: list[tuple[str, bytes]]) -> None:
    for endpoint, body in deliveries:
        started = time.monotonic()
        response = await client.post(
            f"/hooks/jitsi/{world.slug}/events/{endpoint}",
            data=body,
            headers={"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"},
        )
        assert response.status == 200, await response.text()
        # Acknowledged promptly even when the broker is gone.
        assert time.monotonic() - started < 5


def snapshot(db_factory: Any, side: Side) -> dict[str, Any]:
    """The attendance of a session in terms that do not depend on who the people are."""
    index = {pid: i for i, pid in enumerate(side.parent_ids)}
    with db_factory() as db:
        rows = db.scalars(select(m.Attendance).where(m.Attendance.session_id == side.session_id)).all()
        intervals = db.execute(
            select(
                m.PresenceInterval.parent_id, m.PresenceInterval.joined_at, m.PresenceInterval.left_at
            ).where(m.PresenceInterval.session_id == side.session_id)
        ).all()
        states = dict(
            db.execute(
                select(m.ConferenceEvent.state, func.count())
                .where(m.ConferenceEvent.room_name == side.room)
                .group_by(m.ConferenceEvent.state)
            ).all()
        )
    return {
        "attendance": sorted(
            (
                index.get(a.parent_id, -1),
                a.computed_status,
                a.computed_minutes,
                a.first_join,
                a.last_leave,
                a.late,
                a.left_early,
            )
            for a in rows
        ),
        "intervals": sorted((index.get(pid, -1), joined, left) for pid, joined, left in intervals),
        "events": states,
    }


def make_reader(settings: Any) -> Any:
    """An engine for polling progress that never take SQLite's write lock.

    The service's engines begin every transaction with BEGIN IMMEDIATE (right for writers); a
    test polling every few milliseconds with such transactions would starve the worker it is
    watching. A plain engine reads in deferred transactions, which WAL never blocks.
    """
    from sqlalchemy import create_engine

    from orchestrator.db import sync_url

    return create_engine(sync_url(settings.database_url))


def processed(db_factory: Any, side: Side) -> int:
    with db_factory() as db:
        return int(
            db.scalar(
                select(func.count())
                .select_from(m.ConferenceEvent)
                .where(m.ConferenceEvent.room_name == side.room, m.ConferenceEvent.state != "pending")
            )
            or 0
        )


def stored(db_factory: Any, side: Side) -> int:
    with db_factory() as db:
        return int(
            db.scalar(
                select(func.count())
                .select_from(m.ConferenceEvent)
                .where(m.ConferenceEvent.room_name == side.room)
            )
            or 0
        )


def process_in_this_process(settings: Any) -> None:
    from workers.app import configure
    from workers.tasks import process_events

    configure(settings)
    process_events()


async def until(predicate: Any, *, seconds: float, what: str, interval: float = 0.2) -> Any:
    """Polls without blocking the event loop (the app under test runs on it)."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds}s waiting for {what}")
        await asyncio.sleep(interval)


def expected(db_factory: Any, world: World) -> dict[str, Any]:
    twin = snapshot(db_factory, world.twin)
    assert twin["events"] == {"processed": len(set(world.twin.deliveries))}
    assert len(twin["attendance"]) == PARENTS
    assert {row[1] for row in twin["attendance"]} >= {"present", "partial"}
    return twin


# -- the tests -------------------------------------------------------------------------------


async def test_worker_killed_mid_batch_processes_every_event_once_in_effect(
    db, db_factory, settings, client, own_redis, tmp_path: Path
):
    world = arrange(db)
    await post(client, world, world.twin.deliveries)
    process_in_this_process(settings)
    twin = expected(db_factory, world)

    # The faulty session's events are stored (the test app sends no jobs), then processed by a
    # real worker one event per transaction, so that a kill lands in the middle of the batch.
    await post(client, world, world.faulty.deliveries)
    total = stored(db_factory, world.faulty)
    assert total == len(set(world.faulty.deliveries))
    worker = WorkerProcess(settings, own_redis.url, tmp_path)
    jobs = CeleryJobs(own_redis.url)
    worker.start()
    reader_engine = make_reader(settings)
    reader = sessionmaker(reader_engine)
    try:
        await until(lambda: "ready." in worker.log(), seconds=120, what="the worker to start")
        for _ in range(total):
            jobs.send("rucksack.process_events", 1)
        await until(
            lambda: 0 < processed(reader, world.faulty) < total,
            seconds=60,
            interval=0.01,
            what=f"processing under way (worker log:\n{worker.log()})",
        )
        worker.stop(kill=True)  # SIGKILL: no clean shutdown, the running task is lost mid-way
        at_kill = processed(db_factory, world.faulty)
        assert 0 < at_kill < total, "the kill must land in the middle of the batch"
        # Nothing moves while no worker runs.
        await asyncio.sleep(1)
        assert processed(db_factory, world.faulty) == at_kill

        worker.start()
        # What beat does every minute: the sweeper finds the pending events again (and the
        # queued jobs that survived in Redis are worked off as well).
        jobs.send("rucksack.sweep_inbox")
        jobs.send("rucksack.process_events")
        await until(
            lambda: processed(db_factory, world.faulty) == total,
            seconds=90,
            what=f"every event processed after the restart (worker log:\n{worker.log()})",
        )
    finally:
        worker.stop()
        reader_engine.dispose()
    faulty = snapshot(db_factory, world.faulty)
    assert faulty["events"] == {"processed": total}
    # Both sessions are at the same time with the same stream: the rows must be equal as they are.
    assert faulty["attendance"] == twin["attendance"]
    assert faulty["intervals"] == twin["intervals"]


async def test_broker_down_while_webhooks_arrive_then_the_sweeper_catches_up(
    db, db_factory, settings, client, aiohttp_client, own_redis, tmp_path: Path
):
    world = arrange(db)
    await post(client, world, world.twin.deliveries)
    process_in_this_process(settings)
    twin = expected(db_factory, world)

    # The web tier of this test sends its jobs to the private Redis, where a worker listens.
    app = create_app(settings, jobs=CeleryJobs(own_redis.url))
    web = await aiohttp_client(app)
    worker = WorkerProcess(settings, own_redis.url, tmp_path)
    worker.start()
    jobs = CeleryJobs(own_redis.url)
    try:
        await until(lambda: "ready." in worker.log(), seconds=120, what="the worker to start")
        half = len(world.faulty.deliveries) // 2
        first, second = world.faulty.deliveries[:half], world.faulty.deliveries[half:]
        await post(web, world, first)
        stored_first = len(set(first))
        await until(
            lambda: processed(db_factory, world.faulty) == stored_first,
            seconds=60,
            what=f"the first half processed through Redis (worker log:\n{worker.log()})",
        )

        own_redis.stop()
        # Webhooks keep coming: each is stored and acknowledged; the job cannot be sent.
        await post(web, world, second)
        total = len(set(world.faulty.deliveries))
        assert stored(db_factory, world.faulty) == total
        await asyncio.sleep(2)
        assert processed(db_factory, world.faulty) == stored_first

        own_redis.start()  # empty: every job sent before is gone
        # Beat runs the sweeper every minute; it re-sends processing for events pending for
        # more than 30 s. Send it as beat would until the worker has caught up.
        deadline = time.monotonic() + 120
        while processed(db_factory, world.faulty) < total:
            if time.monotonic() > deadline:
                pytest.fail(f"the sweeper did not catch up (worker log:\n{worker.log()})")
            jobs.send("rucksack.sweep_inbox")
            await asyncio.sleep(3)
    finally:
        worker.stop()
    faulty = snapshot(db_factory, world.faulty)
    assert faulty["events"] == {"processed": total}
    assert faulty["attendance"] == twin["attendance"]
    assert faulty["intervals"] == twin["intervals"]
