"""Webhook ingestion benchmark: one web process, concurrent senders, every acknowledgement verified.

What it does:

1. creates and migrates a PostgreSQL database of its own and adds a self-hosted and a JaaS
   deployment;
2. for each of ``--rounds`` rounds, starts a **bare** aiohttp server (a handler that reads the
   body and answers 200) in a child process and drives it with the load below, for the ratio;
   then starts the **real** service (``create_app`` through ``orchestrator.web.server.run``,
   as ``rucksack serve`` runs it: uvloop, start-up heap frozen, access log off) in a child
   process and drives it with the same load;
3. the load: ``--events`` webhooks, each sent once over ``--concurrency`` keep-alive
   connections, event_sync occupant joins/leaves with their bearer secret and signed JaaS
   participant events, with a share of byte-identical redeliveries (``--duplicates``). The load
   generator is ``wrk`` (Debian package ``wrk``) with ``bench/ingest.lua``, in a process of its
   own; without wrk, aiohttp senders in this process (which then compete with the server for
   the two cores);
4. stops the service gracefully, then checks that **every** event that got a 2xx is in the
   database, and reports per round events/s, latency percentiles, the CPU the web process,
   PostgreSQL and the load generator spent per event, and the ratio to the bare handler.

Run: ``python -m bench.ingest`` (see ``--help``); needs PostgreSQL at ``--admin-url``. Jobs go to
the Redis broker at ``--broker`` (a database of its own, flushed afterwards) as in production;
``--broker none`` records them in memory instead.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa

from bench.common import DEFAULT_ADMIN_URL, ChildServer, cpu_seconds, create_database, drop_database, summary

DB_NAME = "rucksack_bench_ingest"
ES_SLUG = "bench-meet"
ES_SECRET = "bench-event-sync-secret-0123456789abcdef"  # noqa: S105 - a throwaway benchmark secret
JAAS_SLUG = "bench-jaas"
JAAS_SECRET = "whsec_0123456789abcdef0123456789abcdef"  # noqa: S105 - a throwaway benchmark secret
APP_ID = "vpaas-magic-cookie-0123456789abcdef0123456789abcdef"


@dataclass(frozen=True)
class Shot:
    path: str
    body: bytes
    headers: dict[str, str]
    key: str  # the dedupe key the service derives from this body


@dataclass
class Result:
    label: str
    sent: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    acked: set[str] = field(default_factory=set)
    server_cpu: float = 0.0
    database_cpu: float | None = None
    load_generator_cpu: float | None = None
    wrk: dict[str, Any] | None = None  # wrk's own figures, when wrk was the load generator
    # Whether ``acked`` is exactly the acknowledged events (else a superset: see drive_wrk).
    acked_exact: bool = True

    def latency_summary(self) -> dict[str, float]:
        if self.wrk is not None:
            return {
                f"{name}_ms": self.wrk[f"{name}_us"] / 1000 for name in ("p50", "p90", "p99", "max", "mean")
            }
        return summary(self.latencies)

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed else 0.0


# --- load ---------------------------------------------------------------------------------------


def _event_sync_shot(rng: random.Random, room: str, n: int) -> Shot:
    from integrations.jitsi import parse_event_sync

    joined_at = 1_795_840_080 + n
    occupant = {
        "id": f"p-{rng.getrandbits(64):016x}",
        "name": "Ayşe",
        "occupant_jid": f"{uuid.UUID(int=rng.getrandbits(128))}@meet.example.org/{n:x}",
        "joined_at": joined_at,
    }
    endpoint = "occupant/joined"
    name = "muc-occupant-joined"
    if n % 2:
        endpoint, name = "occupant/left", "muc-occupant-left"
        occupant["left_at"] = joined_at + 1800
    body = json.dumps(
        {
            "event_name": name,
            "room_name": room,
            "room_jid": f"{room}@conference.meet.example.org",
            "is_breakout": False,
            "active_occupants_count": 1 + n % 12,
            "occupant": occupant,
        }
    ).encode()
    key = parse_event_sync(endpoint, body).dedupe_key
    return Shot(
        f"/hooks/jitsi/{ES_SLUG}/events/{endpoint}",
        body,
        {"Authorization": f"Bearer {ES_SECRET}", "Content-Type": "application/json"},
        key,
    )


def _jaas_shot(rng: random.Random, room: str, n: int) -> Shot:
    key = str(uuid.UUID(int=rng.getrandbits(128)))
    body = json.dumps(
        {
            "idempotencyKey": key,
            "customerId": "0123456789abcdef0123456789abcdef",
            "appId": APP_ID,
            "sessionId": str(uuid.UUID(int=rng.getrandbits(128))),
            "fqn": f"{APP_ID}/{room}",
            "eventType": "PARTICIPANT_JOINED" if n % 2 == 0 else "PARTICIPANT_LEFT",
            "timestamp": 1_795_840_080_345 + n,
            "data": {
                "moderator": "false",
                "name": "Ayşe",
                "id": f"p-{rng.getrandbits(64):016x}",
                "participantJid": f"{uuid.UUID(int=rng.getrandbits(128))}@8x8.vc",
                "participantId": f"{rng.getrandbits(32):08x}",
                "isBreakout": False,
            },
        }
    ).encode()
    t = str(int(time.time()))
    mac = hmac.new(JAAS_SECRET.encode(), t.encode() + b"." + body, hashlib.sha256).digest()
    signature = f"t={t},v1={base64.b64encode(mac).decode()}"
    return Shot(
        f"/hooks/jaas/{JAAS_SLUG}",
        body,
        {"X-Jaas-Signature": signature, "Content-Type": "application/json"},
        key,
    )


def make_shots(count: int, fmt: str, duplicates: float, seed: int) -> list[Shot]:
    """``count`` requests: unique events plus a share of byte-identical redeliveries."""
    rng = random.Random(seed)
    rooms = [f"rs-bench{n:04d}-{rng.getrandbits(48):012x}" for n in range(100)]
    shots: list[Shot] = []
    for n in range(count):
        if shots and rng.random() < duplicates:
            shots.append(rng.choice(shots))
            continue
        use_jaas = fmt == "jaas" or (fmt == "mixed" and n % 2 == 1)
        room = rooms[n % len(rooms)]
        shots.append(_jaas_shot(rng, room, n) if use_jaas else _event_sync_shot(rng, room, n))
    return shots


async def drive(base_url: str, shots: Sequence[Shot], concurrency: int, label: str) -> Result:
    result = Result(label)
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    index = 0

    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as session:

        async def sender() -> None:
            nonlocal index
            while index < len(shots):
                shot = shots[index]
                index += 1
                started = time.perf_counter()
                try:
                    async with session.post(shot.path, data=shot.body, headers=shot.headers) as resp:
                        await resp.read()
                        status = resp.status
                except (aiohttp.ClientError, TimeoutError):
                    status = 0
                result.latencies.append(time.perf_counter() - started)
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if 200 <= status < 300:
                    result.acked.add(shot.key)

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        result.elapsed = time.perf_counter() - started
    result.sent = len(shots)
    return result


def _raw_request(shot: Shot, host: str) -> bytes:
    head = [f"POST {shot.path} HTTP/1.1", f"Host: {host}"]
    head += [f"{name}: {value}" for name, value in shot.headers.items()]
    head.append(f"Content-Length: {len(shot.body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + shot.body


def drive_wrk(base_url: str, shots: Sequence[Shot], args: argparse.Namespace, label: str) -> Result:
    """The same load from ``wrk``: one thread, ``--concurrency`` connections, each shot sent once.

    ``bench/ingest.lua`` stops wrk when every shot is answered. When all answers were 2xx, every
    shot was acknowledged, so ``acked`` is exact; otherwise (wrk counts answers by class only) it
    is every shot sent, a superset: all of them stored still proves every acknowledged one is.
    """
    host = base_url.removeprefix("http://")
    with tempfile.NamedTemporaryFile("wb", suffix=".requests", delete=False) as f:
        for shot in shots:
            raw = _raw_request(shot, host)
            f.write(b"%d\n" % len(raw) + raw)
        requests_file = f.name
    marker = Path(requests_file + ".done")
    try:
        # -d is only a cap: once every shot is answered the script creates the marker and wrk is
        # interrupted (SIGINT makes it stop and report).
        command = ["wrk", "-t1", "-c", str(args.concurrency), "-d", "600s", "--timeout", "30s"]
        command += ["-s", str(Path(__file__).with_name("ingest.lua")), base_url, "--", requests_file]
        command.append(str(marker))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as wrk:
            while wrk.poll() is None and not marker.exists():
                time.sleep(0.05)
            wrk.send_signal(signal.SIGINT)
            output, _ = wrk.communicate(timeout=60)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        os.unlink(requests_file)
        marker.unlink(missing_ok=True)
    line = next((ln for ln in output.splitlines() if ln.startswith("WRK-RESULT ")), None)
    if line is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    figures = json.loads(line.removeprefix("WRK-RESULT "))
    result = Result(label)
    result.sent = figures["answered_2xx"] + figures["answered_other"]
    result.elapsed = (figures["all_answered_us"] or figures["duration_us"]) / 1e6
    result.wrk = figures
    result.load_generator_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    errors = sum(figures["errors"][k] for k in ("connect", "read", "write", "timeout"))
    result.statuses = {200: figures["answered_2xx"]}
    if figures["answered_other"]:
        result.statuses[-1] = figures["answered_other"]  # wrk reports classes, not codes
    if errors:
        result.statuses[0] = errors
    result.acked = {shot.key for shot in shots[: figures["sent"]]}
    result.acked_exact = figures["answered_2xx"] == len(shots) and not errors
    return result


# --- servers ------------------------------------------------------------------------------------


def postgres_cpu_seconds() -> float | None:
    """CPU time of every PostgreSQL process on this machine (backends, WAL writer, checkpointer),
    or ``None`` when the server is elsewhere or its processes cannot be read."""
    total = 0.0
    found = False
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() != "postgres":
                    continue
            total += cpu_seconds(int(entry))
            found = True
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return total if found else None


def start_server(
    kind: str, database_url: str, broker: str, *, loop: str = "uvloop", writers: int | None = None
) -> ChildServer:
    arguments = ["--database-url", database_url, "--broker", broker, "--loop", loop]
    if writers:
        arguments += ["--writers", str(writers)]
    # Stopped with SIGINT: run_app shuts down gracefully; the inbox writer drains before the engine goes.
    return ChildServer("bench.ingest", kind, arguments, ready_path="/healthz")


def serve(
    kind: str, port: int, database_url: str, broker: str, *, loop: str = "uvloop", writers: int | None = None
) -> None:
    import asyncio

    from aiohttp import web

    from orchestrator.web import server

    # Both servers run on the loop production uses (orchestrator.web.server), or both on asyncio's.
    event_loop = server.new_event_loop() if loop == "uvloop" else asyncio.new_event_loop()

    if kind == "bare":

        async def handler(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(body=b'{"status":"stored"}', content_type="application/json")

        app = web.Application()
        app.router.add_post("/hooks/{tail:.+}", handler)
        web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, loop=event_loop)
        return

    from orchestrator.jobs import CeleryJobs, JobQueue, RecordingJobs
    from orchestrator.settings import load_settings
    from orchestrator.web.app import create_app

    settings = load_settings(
        {},
        data_dir=tempfile.mkdtemp(prefix="rucksack-bench-"),
        database={"url": database_url},
        broker={"url": "" if broker == "none" else broker, "embedded_worker": False},
    )
    jobs: JobQueue = RecordingJobs() if broker == "none" else CeleryJobs(broker)
    import logging

    # The writer reports its batch sizes when it stops.
    logging.basicConfig(level=logging.WARNING, format="server: %(message)s")
    logging.getLogger("orchestrator.hooks.inbox_writer").setLevel(logging.INFO)
    app = create_app(settings, jobs=jobs)
    if writers:
        from orchestrator.hooks.views import INBOX_OPTIONS

        app[INBOX_OPTIONS] = {"writers": writers}
    # As `rucksack serve` runs it (orchestrator.web.server), on the chosen loop.
    server.run(app, host="127.0.0.1", port=port, access_log=None, print=None, loop=event_loop)


# --- the run ------------------------------------------------------------------------------------


def seed(database_url: str) -> None:
    from orchestrator.db import make_sync_engine, sync_sessions, transaction
    from orchestrator.models import Centre, JitsiDeployment

    engine = make_sync_engine(database_url)
    with transaction(sync_sessions(engine)) as db:
        centre = Centre(name="KI Benchstadt", slug="ki-bench")
        db.add(centre)
        db.flush()
        db.add_all(
            [
                JitsiDeployment(
                    centre_id=centre.id,
                    slug=ES_SLUG,
                    name="Bench Jitsi",
                    kind="self_hosted",
                    domain="meet.example.org",
                    base_url="https://meet.example.org",
                    app_id="rucksack",
                    signing_secret="bench-app-secret-0123456789abcdef",  # noqa: S106 - throwaway
                    webhook_secret=ES_SECRET,
                ),
                JitsiDeployment(
                    centre_id=centre.id,
                    slug=JAAS_SLUG,
                    name="Bench JaaS",
                    kind="jaas",
                    domain="8x8.vc",
                    base_url="https://8x8.vc",
                    app_id=APP_ID,
                    signing_secret="unused",  # noqa: S106 - JaaS signing is not benchmarked
                    webhook_secret=JAAS_SECRET,
                ),
            ]
        )
    engine.dispose()


def stored_keys(database_url: str) -> tuple[set[str], int]:
    from orchestrator.db import make_sync_engine

    engine = make_sync_engine(database_url)
    with engine.connect() as conn:
        keys = set(conn.scalars(sa.text("SELECT dedupe_key FROM conference_events")))
        rows = conn.scalar(sa.text("SELECT count(*) FROM conference_events")) or 0
    engine.dispose()
    return keys, rows


async def run_target(
    kind: str, database_url: str, broker: str, args: argparse.Namespace, *, seed: int
) -> Result:
    server = start_server(kind, database_url, broker, loop=args.loop, writers=args.writers)
    try:
        await server.ready()
        # Warm-up (connections, prepared statements, caches); these events are real too and are
        # verified with the rest.
        warm = make_shots(args.warmup, args.format, 0.0, seed=seed + 1)
        warm_result = await drive(server.url, warm, args.concurrency, kind + "-warmup")
        shots = make_shots(args.events, args.format, args.duplicates, seed=seed)
        cpu_before = server.cpu()
        database_before = postgres_cpu_seconds()
        if args.tool == "wrk":
            result = await asyncio.to_thread(drive_wrk, server.url, shots, args, kind)
        else:
            result = await drive(server.url, shots, args.concurrency, kind)
        result.server_cpu = server.cpu() - cpu_before
        database_after = postgres_cpu_seconds()
        if database_before is not None and database_after is not None:
            result.database_cpu = database_after - database_before
        result.acked |= warm_result.acked
        return result
    finally:
        server.stop()


def _per_event(name: str, seconds: float | None, events: int) -> dict[str, float]:
    return {} if seconds is None or not events else {name: round(seconds / events * 1e6, 1)}


def _figures(result: Result) -> dict[str, object]:
    return {
        "events_per_s": round(result.rate),
        **{k: round(v, 2) for k, v in result.latency_summary().items()},
        "statuses": result.statuses,
        "server_cpu_us_per_event": round(result.server_cpu / result.sent * 1e6, 1) if result.sent else None,
        **_per_event("postgres_cpu_us_per_event", result.database_cpu, result.sent),
        **_per_event("load_generator_cpu_us_per_event", result.load_generator_cpu, result.sent),
    }


def _meets_target(app: Result) -> bool:
    return app.rate >= 5000 and app.latency_summary()["p99_ms"] <= 50


def report(
    rounds: Sequence[tuple[Result, Result]], missing: int, rows: int, acked: int, args: argparse.Namespace
) -> dict[str, object]:
    out: dict[str, object] = {
        "tool": args.tool,
        "events": args.events,
        "concurrency": args.concurrency,
        "format": args.format,
        "duplicates": args.duplicates,
        "loop": args.loop,
        "broker": args.broker,
        "rounds": [
            {
                "app": _figures(app),
                "bare": _figures(bare),
                "ratio_app_to_bare": round(app.rate / bare.rate, 3) if bare.rate else None,
            }
            for bare, app in rounds
        ],
        "acknowledged_unique": acked,
        "acknowledged_exact": all(app.acked_exact for _, app in rounds),
        "rows_in_database": rows,
        "acknowledged_missing_in_database": missing,
    }
    print(json.dumps(out, indent=2))
    print()
    for number, (bare, app) in enumerate(rounds, 1):
        figures = app.latency_summary()
        print(
            f"round {number}: service {app.rate:,.0f} events/s, p50 {figures['p50_ms']:.1f} ms, "
            f"p99 {figures['p99_ms']:.1f} ms, {app.server_cpu / app.sent * 1e6:.0f} µs server CPU per "
            f"event; bare aiohttp {bare.rate:,.0f} req/s (ratio {app.rate / bare.rate:.2f}) "
            f"-> {'met' if _meets_target(app) else 'missed'}"
        )
    met = sum(_meets_target(app) for _, app in rounds)
    median = sorted(app.rate for _, app in rounds)[len(rounds) // 2]
    print(
        f"target (>= 5,000 events/s with p99 <= 50 ms, every acknowledged event stored): met in {met} "
        f"of {len(rounds)} rounds; median {median:,.0f} events/s; acknowledged but missing: {missing}"
    )
    return out


async def main_async(args: argparse.Namespace) -> int:
    database_url = args.database_url or create_database(args.admin_url, DB_NAME)
    broker = args.broker
    try:
        seed(database_url)
        if args.writer_only:
            await writer_only(database_url, args)
            return 0
        # Bare and service alternate, so that each round's ratio compares the same minutes of a
        # machine whose speed drifts (shared hardware).
        rounds: list[tuple[Result, Result]] = []
        for number in range(args.rounds):
            round_seed = args.seed + 100 * number
            bare = await run_target("bare", database_url, broker, args, seed=round_seed)
            app = await run_target("app", database_url, broker, args, seed=round_seed)
            rounds.append((bare, app))
        keys, rows = stored_keys(database_url)
        acked: set[str] = set().union(*(app.acked for _, app in rounds))
        missing = len(acked - keys)
        out = report(rounds, missing, rows, len(acked), args)
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=2))  # noqa: ASYNC240 - after the measurement
        return 0 if missing == 0 else 1
    finally:
        if broker != "none":
            import redis

            redis.Redis.from_url(broker).flushdb()
        if not args.keep and not args.database_url:
            drop_database(args.admin_url, DB_NAME)


async def writer_only(database_url: str, args: argparse.Namespace) -> None:
    """The ``InboxWriter`` on its own: rows prepared in advance, ``--concurrency`` producers that
    each await their row's commit before writing the next, as request handlers do."""
    from integrations.jitsi import parse_jaas
    from orchestrator.db import make_async_engine
    from orchestrator.hooks.inbox import InboxRow
    from orchestrator.hooks.inbox_writer import InboxWriter

    engine = make_async_engine(database_url)
    async with engine.connect() as conn:
        deployment_id = (
            await conn.execute(sa.text("SELECT id FROM jitsi_deployments WHERE kind = 'jaas'"))
        ).scalar_one()
    shots = make_shots(args.events, "jaas", 0.0, seed=args.seed + 7)
    rows = [
        InboxRow.for_event(parse_jaas(s.body), deployment_id=deployment_id, body=s.body, headers={})
        for s in shots
    ]
    writer = InboxWriter(engine, **({"writers": args.writers} if args.writers else {}))
    await writer.start()
    pending = iter(rows)
    latencies: list[float] = []

    async def producer() -> None:
        for row in pending:
            started = time.perf_counter()
            await writer.write(row)
            latencies.append(time.perf_counter() - started)

    cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(producer() for _ in range(args.concurrency)))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    await writer.stop()
    await engine.dispose()
    figures = summary(latencies)
    print(
        f"inbox writer alone: {len(rows) / elapsed:,.0f} rows/s, {writer.batches} batches "
        f"(mean {writer.rows / max(writer.batches, 1):.1f} rows), p50 {figures['p50_ms']:.1f} ms, "
        f"p99 {figures['p99_ms']:.1f} ms, {cpu / len(rows) * 1e6:.0f} µs CPU per row"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest",
        description="Webhook ingestion benchmark against one web process on PostgreSQL "
        "(see docs/performance.md).",
    )
    parser.add_argument(
        "--events",
        type=int,
        default=60_000,
        help="webhook requests per server and round, each sent once (default 60000)",
    )
    parser.add_argument("--concurrency", type=int, default=50, help="concurrent senders (default 50)")
    parser.add_argument(
        "--format",
        choices=("event_sync", "jaas", "mixed"),
        default="mixed",
        help="which webhooks to send (default: mixed, half each)",
    )
    parser.add_argument(
        "--duplicates", type=float, default=0.05, help="share of redelivered events (default 0.05)"
    )
    parser.add_argument(
        "--tool",
        choices=("wrk", "aiohttp"),
        default="wrk" if shutil.which("wrk") else "aiohttp",
        help="load generator: wrk (Debian package wrk; the default when installed) in a process of "
        "its own, or aiohttp senders in this process (which then competes with the server for CPU)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="bare-then-service rounds, each reported (default 3)"
    )
    parser.add_argument("--warmup", type=int, default=2000, help="warm-up requests per server (default 2000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the generated events")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("RUCKSACK_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL),
        help="PostgreSQL URL with the right to create databases",
    )
    parser.add_argument("--database-url", help="use this migrated database instead of creating one")
    parser.add_argument(
        "--broker",
        default="redis://127.0.0.1:6379/15",
        help="Redis URL for the jobs (flushed afterwards), or 'none' (default redis://127.0.0.1:6379/15)",
    )
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="event loop of both servers (default uvloop, as `rucksack serve` runs) and of the "
        "aiohttp senders",
    )
    parser.add_argument(
        "--writers",
        type=int,
        help="parallel inbox writer tasks in the service (default: the service's own, one task)",
    )
    parser.add_argument(
        "--writer-only",
        action="store_true",
        help="measure the inbox batch writer alone (no HTTP): --concurrency producers, --events rows",
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--serve", choices=("app", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.database_url, args.broker, loop=args.loop, writers=args.writers)
        return 0
    if args.loop == "uvloop":
        from orchestrator.web.server import new_event_loop

        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            return runner.run(main_async(args))
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
