"""Centre report benchmark: a KiTa year of one centre, on SQLite and PostgreSQL.

The issue's target: "a centre report over a year (100 groups × 36 sessions × 10 parents)
renders in ≤ 1 s". One run:

1. builds the data set in a fresh database per backend (an SQLite file in a temporary directory;
   a PostgreSQL database ``rucksack_bench_reports`` next to ``--admin-url``), migrated with
   Alembic and filled with Core bulk inserts: one centre, ``--groups`` groups with a facilitator
   each, ``--parents`` parents per group, ``--sessions`` weekly sessions per group (a few
   cancelled), a parent attendance row per session and parent (present / partial / absent /
   excused, some corrected by hand, some anonymised after erasure) and a facilitator row per
   session;
2. times the use case ``orchestrator.reports.services.centre_report`` with a sync session (as a
   worker or the CLI would call it) and through the web tier's ``AsyncSession.run_sync`` bridge;
3. starts the real app (``create_app``) on a local port and times, over HTTP with a logged-in
   coordinator, the page ``/reports/centre``, the JSON API, the CSV and the XLSX export; and the
   admin's ``/api/v1/statistics`` over the same data;
4. prints min / median / max wall time of ``--runs`` repetitions (after one warm-up), the
   median CPU time of this process (the HTTP server runs in it too; PostgreSQL's own work is in
   its server processes), and before and after each backend a fixed pure-Python reference loop
   and the load average, so that a busy machine shows as such; then drops the PostgreSQL
   database unless ``--keep`` is given.

Run: ``python -m bench.reports`` (``--help`` for the options). Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from aiohttp import web

from orchestrator import models as m
from orchestrator.access import Actor
from orchestrator.accounts.services import start_login
from orchestrator.db import async_sessions, make_async_engine, make_sync_engine, run, sync_sessions
from orchestrator.jobs import RecordingJobs
from orchestrator.migrate import upgrade
from orchestrator.reports import services
from orchestrator.security import hash_password
from orchestrator.settings import load_settings
from orchestrator.web.app import create_app
from orchestrator.web.context import LOGIN_COOKIE

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = "rucksack_bench_reports"
YEAR_FROM = dt.date(2025, 8, 1)
YEAR_TO = dt.date(2026, 7, 31)
FIRST_SESSION = dt.datetime(2025, 9, 2, 7, 0, tzinfo=dt.UTC)  # Tuesdays, 09:00 CEST
PASSWORD = "bench password 0123"  # noqa: S105 - the benchmark's own throwaway accounts


# --- data set ---------------------------------------------------------------------------------


def build(url: str, *, groups: int, sessions: int, parents: int, seed: int) -> dict[str, int]:
    """Fills an empty, migrated database; returns the ids and counts the timings need."""
    rng = random.Random(seed)
    engine = make_sync_engine(url)
    now = m.utcnow()
    password_hash = hash_password(PASSWORD)
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        centre_id = conn.execute(
            sa.insert(m.Centre).returning(m.Centre.id),
            {"name": "KI Benchstadt", "slug": "ki-bench", "municipality": "Benchstadt"},
        ).scalar_one()

        def staff(role: str, n: int, centre: int | None) -> dict[str, Any]:
            return {
                "centre_id": centre,
                "email": f"{role}{n}@bench.example.org",
                "display_name": f"{role.title()} {n}",
                "role": role,
                "password_hash": password_hash,
                "pseudonym": f"f-bench-{role}-{n}",
            }

        conn.execute(sa.insert(m.StaffUser), [staff("coordinator", 0, centre_id), staff("admin", 0, None)])
        conn.execute(sa.insert(m.StaffUser), [staff("facilitator", i, centre_id) for i in range(groups)])
        ids = dict(conn.execute(sa.select(m.StaffUser.email, m.StaffUser.id)).all())
        conn.execute(
            sa.insert(m.Group),
            [
                {
                    "centre_id": centre_id,
                    "name": f"Gruppe {i + 1:03d}",
                    "site_name": f"KiTa {i + 1:03d}",
                    "languages": [["tr"], ["ar"], ["ru"], ["tr", "ar"], ["uk"], ["pl"]][i % 6],
                    "cycle_start": YEAR_FROM,
                    "cycle_end": YEAR_TO,
                }
                for i in range(groups)
            ],
        )
        group_ids = list(conn.execute(sa.select(m.Group.id).order_by(m.Group.id)).scalars())
        conn.execute(
            sa.insert(m.GroupFacilitator),
            [
                {"group_id": g, "staff_user_id": ids[f"facilitator{i}@bench.example.org"]}
                for i, g in enumerate(group_ids)
            ],
        )
        conn.execute(
            sa.insert(m.Parent),
            [
                {
                    "centre_id": centre_id,
                    "display_name": f"Elternteil {g}-{p}",
                    "language": "tr",
                    "pseudonym": f"p-bench-{g}-{p}",
                }
                for g in range(groups)
                for p in range(parents)
            ],
        )
        parent_ids = list(conn.execute(sa.select(m.Parent.id).order_by(m.Parent.id)).scalars())
        members = {g: parent_ids[i * parents : (i + 1) * parents] for i, g in enumerate(group_ids)}
        enrolments = []
        for g, ps in members.items():
            for p in ps:
                # Most joined at the start; some later, some left early.
                joined = FIRST_SESSION - dt.timedelta(days=7)
                if rng.random() < 0.1:
                    joined += dt.timedelta(weeks=rng.randint(2, 10))
                left = (
                    FIRST_SESSION + dt.timedelta(weeks=rng.randint(20, 30)) if rng.random() < 0.08 else None
                )
                enrolments.append({"parent_id": p, "group_id": g, "enrolled_at": joined, "left_at": left})
        conn.execute(sa.insert(m.Enrolment), enrolments)

        rows = []
        for i, g in enumerate(group_ids):
            for w in range(sessions):
                start = FIRST_SESSION + dt.timedelta(weeks=w, hours=i % 5)
                status = "cancelled" if rng.random() < 0.03 else "ended"
                rows.append(
                    {
                        "group_id": g,
                        "starts_at": start,
                        "ends_at": start + dt.timedelta(minutes=90),
                        "status": status,
                        "room_name": f"bench-{g}-{w}",
                        "launched_by_id": None
                        if status == "cancelled"
                        else ids[f"facilitator{i}@bench.example.org"],
                        "updated_at": now,
                    }
                )
        conn.execute(sa.insert(m.Session), rows)
        session_rows = conn.execute(
            sa.select(m.Session.id, m.Session.group_id, m.Session.status).order_by(m.Session.id)
        ).all()
        facilitator_of = {g: ids[f"facilitator{i}@bench.example.org"] for i, g in enumerate(group_ids)}

        attendance = []
        facilitators = []
        for sid, g, status in session_rows:
            for p in members[g]:
                r = rng.random()
                computed = "present" if r < 0.62 else "partial" if r < 0.72 else "absent"
                row: dict[str, Any] = {
                    "session_id": sid,
                    "parent_id": p,
                    "role": "parent",
                    "computed_status": computed,
                    "computed_minutes": {"present": 85, "partial": 30}.get(computed, 0),
                    # executemany needs the same keys in every row.
                    "override_status": None,
                    "override_minutes": None,
                    "override_reason": "",
                    "anonymised_at": None,
                    "updated_at": now,
                }
                if computed == "absent" and rng.random() < 0.3:
                    row.update(override_status="excused", override_reason="called in sick")
                elif rng.random() < 0.02:
                    row.update(override_status="present", override_minutes=90, override_reason="in person")
                attendance.append(row)
            if status != "cancelled" and rng.random() < 0.9:
                facilitators.append(
                    {
                        "session_id": sid,
                        "staff_user_id": facilitator_of[g],
                        "role": "facilitator",
                        "computed_status": "present",
                        "computed_minutes": rng.randint(80, 95),
                        "updated_at": now,
                    }
                )
        # A few erased parents: their rows stay, anonymised.
        for row in rng.sample(attendance, k=len(attendance) // 200):
            row["parent_id"] = None
            row["anonymised_at"] = now
        for offset in range(0, len(attendance), 5000):
            conn.execute(sa.insert(m.Attendance), attendance[offset : offset + 5000])
        conn.execute(sa.insert(m.Attendance), facilitators)
        counts.update(
            centre_id=centre_id,
            coordinator_id=ids["coordinator0@bench.example.org"],
            admin_id=ids["admin0@bench.example.org"],
            sessions=len(session_rows),
            attendance=len(attendance),
            facilitator_rows=len(facilitators),
        )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE"))
    engine.dispose()
    return counts


# --- timing -----------------------------------------------------------------------------------


Sample = tuple[float, float]  # (wall, CPU of this process) in seconds


def stats_ms(samples: list[Sample]) -> str:
    wall = [w * 1000 for w, _ in samples]
    cpu = [c * 1000 for _, c in samples]
    return (
        f"wall min {min(wall):7.1f}  median {statistics.median(wall):7.1f}  max {max(wall):7.1f} ms"
        f"   CPU median {statistics.median(cpu):7.1f} ms"
    )


def reference() -> str:
    """A fixed pure-Python workload and the load average, to tell a slow run from a busy machine."""
    t0, c0 = time.perf_counter(), time.process_time()
    total = 0
    for i in range(3_000_000):
        total += i
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"reference loop (3M additions) wall {wall * 1000:.0f} ms, CPU {cpu * 1000:.0f} ms; "
        f"load average {load}"
    )


def time_sync(url: str, actor: Actor, centre_id: int, runs: int) -> list[Sample]:
    engine = make_sync_engine(url)
    factory = sync_sessions(engine)
    samples = []
    for i in range(runs + 1):
        with factory() as db, db.begin():
            t0, c0 = time.perf_counter(), time.process_time()
            report = services.centre_report(
                db, actor=actor, centre_id=centre_id, date_from=YEAR_FROM, date_to=YEAR_TO
            )
            elapsed = (time.perf_counter() - t0, time.process_time() - c0)
        if i:
            samples.append(elapsed)
    engine.dispose()
    summary = report.figures.summary
    print(
        f"    report: {summary.groups} groups, {summary.sessions_held} sessions held, "
        f"{summary.participations} participations, {summary.families_reached} families reached"
    )
    return samples


async def time_async(url: str, actor: Actor, centre_id: int, runs: int) -> list[Sample]:
    engine = make_async_engine(url)
    factory = async_sessions(engine)
    samples = []
    for i in range(runs + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        await run(
            factory,
            services.centre_report,
            actor=actor,
            centre_id=centre_id,
            date_from=YEAR_FROM,
            date_to=YEAR_TO,
        )
        if i:
            samples.append((time.perf_counter() - t0, time.process_time() - c0))
    await engine.dispose()
    return samples


async def time_http(url: str, data_dir: Path, ids: dict[str, int], runs: int) -> dict[str, list[Sample]]:
    settings = load_settings(
        {},
        data_dir=str(data_dir),
        database={"url": url},
        broker={"url": "memory://", "embedded_worker": False},
    )
    app = create_app(settings, jobs=RecordingJobs())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"

    engine = make_sync_engine(url)
    with sync_sessions(engine)() as db, db.begin():
        coordinator = start_login(db, user_id=ids["coordinator_id"], hours=1)
        admin = start_login(db, user_id=ids["admin_id"], hours=1)
    engine.dispose()

    period = f"from={YEAR_FROM.isoformat()}&to={YEAR_TO.isoformat()}"
    centre = ids["centre_id"]
    targets: dict[str, tuple[str, str, Callable[[bytes], bool]]] = {
        "page /reports/centre": (coordinator, f"/reports/centre?{period}", lambda b: b"Gruppe 100" in b),
        "API JSON": (coordinator, f"/api/v1/centres/{centre}/report?{period}", lambda b: b'"summary"' in b),
        "CSV export": (
            coordinator,
            f"/api/v1/centres/{centre}/report?{period}&format=csv",
            lambda b: b";" in b or b"," in b,
        ),
        "XLSX export": (
            coordinator,
            f"/api/v1/centres/{centre}/report?{period}&format=xlsx",
            lambda b: b[:2] == b"PK",
        ),
        "admin statistics": (admin, f"/api/v1/statistics?{period}", lambda b: b'"tables"' in b),
    }
    results: dict[str, list[Sample]] = {}
    try:
        async with aiohttp.ClientSession() as http:
            for name, (token, path, check) in targets.items():
                samples = []
                for i in range(runs + 1):
                    t0, c0 = time.perf_counter(), time.process_time()
                    async with http.get(base + path, cookies={LOGIN_COOKIE: token}) as resp:
                        body = await resp.read()
                    elapsed = (time.perf_counter() - t0, time.process_time() - c0)
                    if resp.status != 200 or not check(body):
                        raise SystemExit(f"{name}: HTTP {resp.status}: {body[:300]!r}")
                    if i:
                        samples.append(elapsed)
                results[name] = samples
    finally:
        await runner.cleanup()
    return results


# --- databases --------------------------------------------------------------------------------


def postgres_database(admin_url: str) -> str:
    admin = make_sync_engine(admin_url)
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{DB_NAME}"'))
    finally:
        admin.dispose()
    return re.sub(r"/[^/]*$", f"/{DB_NAME}", admin_url)


def drop_postgres_database(admin_url: str) -> None:
    admin = make_sync_engine(admin_url)
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
    finally:
        admin.dispose()


def bench_backend(backend: str, args: argparse.Namespace, workdir: Path) -> None:
    print(f"\n== {backend} ==")
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'reports.sqlite3'}"
    else:
        url = postgres_database(args.admin_url)
    try:
        t0 = time.perf_counter()
        upgrade(url)
        ids = build(url, groups=args.groups, sessions=args.sessions, parents=args.parents, seed=args.seed)
        print(
            f"  data set: {args.groups} groups, {ids['sessions']} sessions, {ids['attendance']} parent "
            f"attendance rows, {ids['facilitator_rows']} facilitator rows "
            f"(built in {time.perf_counter() - t0:.1f} s)"
        )
        print(f"  {reference()}")
        actor = Actor(
            user_id=ids["coordinator_id"],
            role="coordinator",
            centre_id=ids["centre_id"],
            display_name="bench",
        )
        print(f"  use case, sync session      {stats_ms(time_sync(url, actor, ids['centre_id'], args.runs))}")
        samples = asyncio.run(time_async(url, actor, ids["centre_id"], args.runs))
        print(f"  use case, web tier (async)  {stats_ms(samples)}")
        http = asyncio.run(time_http(url, workdir, ids, args.runs))
        for name, samples in http.items():
            print(f"  HTTP {name:<23}{stats_ms(samples)}")
        print(f"  {reference()}")
    finally:
        if backend == "postgresql" and not args.keep:
            drop_postgres_database(args.admin_url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reports",
        description="Times the centre report over a KiTa year on SQLite and PostgreSQL "
        "(see the module docstring).",
    )
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--groups", type=int, default=100, help="groups in the centre (default 100)")
    parser.add_argument("--sessions", type=int, default=36, help="weekly sessions per group (default 36)")
    parser.add_argument("--parents", type=int, default=10, help="parents per group (default 10)")
    parser.add_argument("--runs", type=int, default=5, help="timed repetitions after one warm-up (default 5)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the data set")
    parser.add_argument(
        "--admin-url", default=DEFAULT_ADMIN_URL, help="PostgreSQL URL to create the database from"
    )
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database afterwards")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    print(
        f"centre report over a KiTa year ({YEAR_FROM} to {YEAR_TO}): {args.groups} groups × {args.sessions} "
        f"sessions × {args.parents} parents; {args.runs} runs after a warm-up"
    )
    with tempfile.TemporaryDirectory(prefix="rucksack-bench-reports-") as tmp:
        for backend in backends:
            bench_backend(backend, args, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
