"""Processing benchmark: a centre's day of webhook events turned into attendance by one worker.

The day: ``--sessions`` sessions (default 100), each with ``--people`` people (default 12: a
group leader and eleven parents), each person producing eight events (join; a breakout move and
back: leave, join breakout, leave breakout, join; a reconnect: join, old connection's leave;
the final leave), plus the room's created and destroyed events. Half the sessions come from
self-hosted event_sync, half from JaaS. The events are parsed as the receivers parse them and put
into the inbox as pending rows (not timed).

Timed: the processing use case exactly as the ``rucksack.process_events`` task runs it, in this
process with a sync session: claim up to 5,000 pending events per transaction, match them to
sessions, recompute every affected session from all its events, write intervals and attendance;
until nothing is pending. Checked afterwards: every event processed, one attendance row per
person, and the expected minutes.

``--celery REDIS_URL`` also runs the same day through a real ``celery worker`` child process
(solo pool) and reports the time from sending the job to the last event processed, so the Celery
overhead (broker round trip, worker start-up excluded) can be read off.

Run: ``python -m bench.process`` (see ``--help``); PostgreSQL at ``--admin-url``, or
``--sqlite`` for the embedded database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa

from bench.common import DEFAULT_ADMIN_URL, create_database, drop_database
from integrations.jitsi import ConferenceEvent

DB_NAME = "rucksack_bench_process"
DAY = dt.datetime(2026, 10, 13, 6, 0, tzinfo=dt.UTC)  # a Tuesday, long past
APP_ID = "vpaas-magic-cookie-0123456789abcdef0123456789abcdef"
LENGTH_MINUTES = 90


def _event_sync(endpoint: str, room: str, **fields: object) -> tuple[str, bytes]:
    names = {
        "room/created": "muc-room-created",
        "room/destroyed": "muc-room-destroyed",
        "occupant/joined": "muc-occupant-joined",
        "occupant/left": "muc-occupant-left",
    }
    body = {
        "event_name": names[endpoint],
        "room_name": room,
        "room_jid": f"{room}@conference.meet.example.org",
        "is_breakout": False,
        **fields,
    }
    return endpoint, json.dumps(body).encode()


def _jaas(event_type: str, room: str, meeting: str, stamp: float, key: str, data: dict[str, object]) -> bytes:
    return json.dumps(
        {
            "idempotencyKey": key,
            "customerId": "0123456789abcdef0123456789abcdef",
            "appId": APP_ID,
            "sessionId": meeting,
            "fqn": f"{APP_ID}/{room}",
            "eventType": event_type,
            "timestamp": int(stamp * 1000),
            "data": data,
        }
    ).encode()


def session_events(
    index: int, room: str, people: Sequence[str], start: dt.datetime
) -> list[tuple[ConferenceEvent, bytes]]:
    """The webhooks of one session: each parsed (``integrations.jitsi.ConferenceEvent``), with its body."""
    from integrations.jitsi import parse_event_sync, parse_jaas

    t0 = start.timestamp()
    breakout = f"breakout-{index:04d}"
    if index % 2 == 0:
        es = [_event_sync("room/created", room, created_at=int(t0 - 300))]
        roster = []
        for n, person in enumerate(people):
            a, b = f"{person}-a@meet.example.org/1", f"{person}-b@meet.example.org/2"
            join, move, back, again, old_left, end = (
                int(t0 - 120 + n * 7),
                int(t0 + 1800),
                int(t0 + 2700),
                int(t0 + 3600),
                int(t0 + 3660),
                int(t0 + 5280 - n * 11),
            )
            es += [
                _event_sync(
                    "occupant/joined", room, occupant={"id": person, "occupant_jid": a, "joined_at": join}
                ),
                _event_sync(
                    "occupant/left",
                    room,
                    occupant={"id": person, "occupant_jid": a, "joined_at": join, "left_at": move},
                ),
                _event_sync(
                    "occupant/joined",
                    room,
                    is_breakout=True,
                    breakout_room_id=breakout,
                    occupant={"id": person, "occupant_jid": a, "joined_at": move},
                ),
                _event_sync(
                    "occupant/left",
                    room,
                    is_breakout=True,
                    breakout_room_id=breakout,
                    occupant={"id": person, "occupant_jid": a, "joined_at": move, "left_at": back},
                ),
                _event_sync(
                    "occupant/joined", room, occupant={"id": person, "occupant_jid": a, "joined_at": back}
                ),
                _event_sync(
                    "occupant/joined", room, occupant={"id": person, "occupant_jid": b, "joined_at": again}
                ),
                _event_sync(
                    "occupant/left",
                    room,
                    occupant={"id": person, "occupant_jid": a, "joined_at": back, "left_at": old_left},
                ),
                _event_sync(
                    "occupant/left",
                    room,
                    occupant={"id": person, "occupant_jid": b, "joined_at": again, "left_at": end},
                ),
            ]
            roster.append({"id": person, "occupant_jid": b, "joined_at": again, "left_at": end})
        es.append(
            _event_sync(
                "room/destroyed",
                room,
                created_at=int(t0 - 300),
                destroyed_at=int(t0 + 5400),
                all_occupants=roster,
            )
        )
        return [(parse_event_sync(endpoint, body), body) for endpoint, body in es]

    meeting = f"meeting-{index:04d}"
    keys = iter(range(1_000_000))
    bodies = [
        _jaas("ROOM_CREATED", room, meeting, t0 - 300, f"{meeting}-{next(keys)}", {"isBreakout": False})
    ]
    for n, person in enumerate(people):
        a, b = f"{person}-a@8x8.vc", f"{person}-b@8x8.vc"

        def p(
            event_type: str,
            jid: str,
            stamp: float,
            *,
            person: str = person,
            leader: bool = n == 0,
            **extra: object,
        ) -> bytes:
            data: dict[str, object] = {"id": person, "name": "x", "participantJid": jid, "moderator": leader}
            data.update(extra)
            return _jaas(event_type, room, meeting, stamp, f"{meeting}-{next(keys)}", data)

        bodies += [
            p("PARTICIPANT_JOINED", a, t0 - 120 + n * 7),
            p("PARTICIPANT_LEFT", a, t0 + 1800, disconnectReason="switch_room"),
            p("PARTICIPANT_JOINED", a, t0 + 1800.5, isBreakout=True, breakoutRoomId=breakout),
            p(
                "PARTICIPANT_LEFT",
                a,
                t0 + 2700,
                isBreakout=True,
                breakoutRoomId=breakout,
                disconnectReason="switch_room",
            ),
            p("PARTICIPANT_JOINED", a, t0 + 2700.5),
            p("PARTICIPANT_JOINED", b, t0 + 3600),
            p("PARTICIPANT_LEFT", a, t0 + 3660, disconnectReason="unknown"),
            p("PARTICIPANT_LEFT", b, t0 + 5280 - n * 11, disconnectReason="left"),
        ]
    bodies.append(
        _jaas("ROOM_DESTROYED", room, meeting, t0 + 5400, f"{meeting}-{next(keys)}", {"isBreakout": False})
    )
    return [(parse_jaas(body), body) for body in bodies]


def seed(database_url: str, sessions: int, people: int) -> tuple[int, dict[str, int]]:
    """The centre, its groups and sessions, and the pending inbox; returns (events, expectations)."""
    from orchestrator.db import make_sync_engine, sync_sessions, transaction
    from orchestrator.hooks.inbox import InboxRow
    from orchestrator.models import (
        Centre,
        ConferenceEvent,
        Enrolment,
        Group,
        GroupFacilitator,
        JitsiDeployment,
        Parent,
        Session,
        StaffUser,
    )

    engine = make_sync_engine(database_url)
    factory = sync_sessions(engine)
    rows: list[dict[str, object]] = []
    with transaction(factory) as db:
        centre = Centre(name="KI Benchstadt", slug="ki-bench")
        db.add(centre)
        db.flush()
        es = JitsiDeployment(
            centre_id=centre.id,
            slug="bench-meet",
            name="Meet",
            kind="self_hosted",
            domain="meet.example.org",
            base_url="https://meet.example.org",
            app_id="rucksack",
            signing_secret="s" * 32,
            webhook_secret="w" * 32,
        )
        jaas = JitsiDeployment(
            centre_id=centre.id,
            slug="bench-jaas",
            name="JaaS",
            kind="jaas",
            domain="8x8.vc",
            base_url="https://8x8.vc",
            app_id=APP_ID,
            signing_secret="s" * 32,
            webhook_secret="whsec_" + "w" * 32,
        )
        db.add_all([es, jaas])
        db.flush()
        for s in range(sessions):
            group = Group(
                centre_id=centre.id,
                name=f"Gruppe {s}",
                cycle_start=dt.date(2026, 9, 1),
                cycle_end=dt.date(2027, 6, 30),
            )
            db.add(group)
            db.flush()
            leader = StaffUser(
                centre_id=centre.id,
                email=f"leader{s}@example.org",
                display_name=f"Leader {s}",
                role="facilitator",
                password_hash="x",  # noqa: S106 - nobody logs in
                pseudonym=f"f-bench-{s:04d}",
            )
            db.add(leader)
            db.flush()
            db.add(GroupFacilitator(group_id=group.id, staff_user_id=leader.id))
            ids = [leader.pseudonym]
            for n in range(people - 1):
                parent = Parent(
                    centre_id=centre.id, display_name=f"Parent {s}-{n}", pseudonym=f"p-bench-{s:04d}-{n:02d}"
                )
                db.add(parent)
                db.flush()
                db.add(
                    Enrolment(
                        parent_id=parent.id,
                        group_id=group.id,
                        enrolled_at=dt.datetime(2026, 9, 1, tzinfo=dt.UTC),
                    )
                )
                ids.append(parent.pseudonym)
            start = DAY + dt.timedelta(minutes=(s % 10) * 60)
            room = f"rs-bench-{s:04d}-0123456789abcdef"
            db.add(
                Session(
                    group_id=group.id,
                    starts_at=start,
                    ends_at=start + dt.timedelta(minutes=LENGTH_MINUTES),
                    room_name=room,
                )
            )
            deployment_id = es.id if s % 2 == 0 else jaas.id
            for event, body in session_events(s, room, ids, start):
                # The real body: the worker parses it when it claims the row.
                row = InboxRow.for_event(event, deployment_id=deployment_id, body=body, headers={})
                rows.append(row.as_values())
        db.flush()
        db.execute(sa.insert(ConferenceEvent), rows)
    engine.dispose()
    return len(rows), {}


def process_in_process(database_url: str) -> tuple[float, int, int]:
    """The task's loop, in this process; returns (seconds, events claimed, transactions)."""
    from orchestrator.attendance.processing import ProcessResult, process_pending_events
    from orchestrator.db import make_sync_engine, sync_sessions, transaction
    from orchestrator.models import utcnow

    engine = make_sync_engine(database_url)
    factory = sync_sessions(engine)
    with engine.connect() as warm:  # connect outside the timing, as a running worker would be
        warm.execute(sa.text("SELECT 1"))
    total = ProcessResult()
    rounds = 0
    started = time.perf_counter()
    while True:
        with transaction(factory) as db:
            result = process_pending_events(
                db, now=utcnow(), finalise_grace=dt.timedelta(minutes=30), limit=5000
            )
        rounds += 1
        total.add(result)
        if result.claimed < 5000:
            break
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed, total.claimed, rounds


def reset(database_url: str) -> None:
    from orchestrator.db import make_sync_engine

    engine = make_sync_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM presence_intervals"))
        conn.execute(sa.text("DELETE FROM attendance"))
        conn.execute(
            sa.text("UPDATE conference_events SET state = 'pending', session_id = NULL, processed_at = NULL")
        )
    engine.dispose()


def check(database_url: str, sessions: int, people: int) -> dict[str, object]:
    from orchestrator.db import make_sync_engine

    engine = make_sync_engine(database_url)
    with engine.connect() as conn:
        query = sa.text("SELECT state, count(*) FROM conference_events GROUP BY state")
        states: dict[str, int] = {state: count for state, count in conn.execute(query)}  # noqa: C416 - a Result is no mapping
        rows = conn.scalar(sa.text("SELECT count(*) FROM attendance")) or 0
        minutes = sorted(
            set(conn.scalars(sa.text("SELECT computed_minutes FROM attendance WHERE role = 'parent'")))
        )
    engine.dispose()
    assert states == {"processed": sum(states.values())}, states
    assert rows == sessions * people, rows
    return {
        "states": states,
        "attendance_rows": rows,
        "parent_minutes_seen": [*minutes[:3], "…", *minutes[-3:]],
    }


def run_celery(database_url: str, broker: str) -> float:
    """The same day through a real worker process; seconds from sending the job to done."""
    import redis

    from orchestrator.db import make_sync_engine
    from orchestrator.jobs import CeleryJobs

    redis.Redis.from_url(broker).flushdb()
    data_dir = tempfile.mkdtemp(prefix="rucksack-bench-")
    env = dict(
        os.environ, RUCKSACK_DATABASE_URL=database_url, RUCKSACK_BROKER_URL=broker, RUCKSACK_DATA_DIR=data_dir
    )
    log = Path(data_dir) / "worker.log"
    with log.open("ab") as out:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "workers.app",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    engine = make_sync_engine(database_url)
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise RuntimeError("the worker did not start:\n" + log.read_text(errors="replace"))
            time.sleep(0.1)
        started = time.perf_counter()
        CeleryJobs(broker).send("rucksack.process_events")
        while True:
            with engine.connect() as conn:
                pending = conn.scalar(
                    sa.text("SELECT count(*) FROM conference_events WHERE state = 'pending'")
                )
            if pending == 0 and "succeeded" in log.read_text(errors="replace"):
                break
            time.sleep(0.05)
        return time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        engine.dispose()
        redis.Redis.from_url(broker).flushdb()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.process",
        description="Processing benchmark: a centre's day of webhook events into attendance "
        "(docs/performance.md).",
    )
    parser.add_argument("--sessions", type=int, default=100, help="sessions in the day (default 100)")
    parser.add_argument(
        "--people", type=int, default=12, help="people per session, leader included (default 12)"
    )
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("RUCKSACK_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL),
        help="PostgreSQL URL with the right to create databases",
    )
    parser.add_argument("--sqlite", action="store_true", help="use an SQLite file instead of PostgreSQL")
    parser.add_argument(
        "--celery", metavar="REDIS_URL", help="also process through a real worker on this Redis database"
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args(argv)

    if args.sqlite:
        from orchestrator.migrate import upgrade

        path = Path(tempfile.mkdtemp(prefix="rucksack-bench-")) / "bench.sqlite3"
        database_url = f"sqlite:///{path}"
        upgrade(database_url)
    else:
        database_url = create_database(args.admin_url, DB_NAME)
    try:
        started = time.perf_counter()
        events, _ = seed(database_url, args.sessions, args.people)
        seeding = time.perf_counter() - started
        print(
            f"seeded {args.sessions} sessions, {args.people} people each, {events} events in {seeding:.1f} s"
        )
        elapsed, claimed, rounds = process_in_process(database_url)
        result = check(database_url, args.sessions, args.people)
        print(
            f"in-process: {claimed} events, {args.sessions} sessions in {elapsed:.2f} s "
            f"({claimed / elapsed:,.0f} events/s, {rounds} transaction(s)) "
            f"-> target <= 10 s {'MET' if elapsed <= 10 else 'MISSED'}"
        )
        print(json.dumps(result, default=str))
        if args.celery:
            reset(database_url)
            through_worker = run_celery(database_url, args.celery)
            check(database_url, args.sessions, args.people)
            print(
                f"celery worker (solo pool, Redis): {through_worker:.2f} s from sending the job to the last "
                f"event processed; overhead over in-process {through_worker - elapsed:+.2f} s"
            )
        return 0
    finally:
        if not args.keep and not args.sqlite:
            drop_database(args.admin_url, DB_NAME)


if __name__ == "__main__":
    sys.exit(main())
