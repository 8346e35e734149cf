"""Calendar feed benchmark: one web process serving a parent's feed, driven from another process.

What it does, in one run:

1. creates a database of its own (an SQLite file, or a PostgreSQL database next to
   ``--admin-url``), migrates it, and makes the issue's case with the service's own use cases: a
   parent in two groups, each with a weekly series of 40 sessions (across a DST change), a few
   overrides (two sessions moved, one cancelled, one with a topic), and a feed secret;
2. starts a **bare** aiohttp server (a handler answering a fixed body) in a child process and
   drives it with the same load, for the ratio;
3. starts the **real** service (``create_app`` through ``orchestrator.web.server.run``, as
   ``rucksack serve`` runs it: uvloop, start-up heap frozen, access log off; the per-secret rate
   limit off: one secret is polled thousands of times a second here) in a child process,
   renders the feed once, checks it, then drives three phases against it: conditional requests
   answered **304**, full **200** answers with gzip (what calendar clients ask for) and full
   200 answers uncompressed;
4. reports responses/s, latency percentiles, the server process's CPU per response, the ratio
   to the bare handler, and whether the targets (>= 2,000/s as 304, >= 500/s as full 200) are met.

The load generator is ``wrk`` (Debian package ``wrk``) when installed, else an aiohttp client
with bounded concurrency in a separate process (``--tool``). Run ``python -m bench.feeds --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gzip
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from bench.common import DEFAULT_ADMIN_URL, ChildServer, create_database, drop_database, summary

DB_NAME = "rucksack_bench_feeds"
BENCH_SECRET = "bench-" + "0123456789abcdef" * 2
UTC = dt.UTC


# --- the data -----------------------------------------------------------------------------------


def seed(database_url: str) -> str:
    """The issue's parent feed; returns the feed secret."""
    from orchestrator.access import Actor
    from orchestrator.accounts import services as accounts
    from orchestrator.db import make_sync_engine, sync_sessions, transaction
    from orchestrator.models import AccessSecret, Enrolment, Group, JitsiDeployment, Parent, Session
    from orchestrator.scheduling import services as scheduling
    from orchestrator.security import hash_secret, new_pseudonym, new_secret

    secret = new_secret()
    engine = make_sync_engine(database_url)
    with transaction(sync_sessions(engine)) as db:
        centre = accounts.create_centre(db, name="KI Benchstadt", slug="ki-bench")
        # A throwaway database: the deployment's secret and the password protect nothing.
        db.add(
            JitsiDeployment(
                centre_id=centre.id, slug="bench-meet", name="Bench Jitsi", kind="self_hosted",
                domain="meet.example.org", base_url="https://meet.example.org", app_id="rucksack",
                signing_secret=BENCH_SECRET,
            )
        )  # fmt: skip
        user = accounts.create_user(
            db, email="coordinator@bench.example", display_name="Bench Coordinator", role="coordinator",
            password=BENCH_SECRET, centre_id=centre.id,
        )  # fmt: skip
        actor = Actor(
            user_id=user.id, role="coordinator", centre_id=centre.id, display_name=user.display_name
        )
        today = dt.datetime.now(UTC).date()
        # Forty weeks from ten weeks ago: past and future sessions, at least one DST change.
        first = dt.datetime.combine(today - dt.timedelta(days=today.weekday() - 1 + 70), dt.time(9, 30))
        pinned = first.replace(tzinfo=UTC) - dt.timedelta(days=7)
        parent = Parent(centre_id=centre.id, display_name="Ayşe", language="tr", pseudonym=new_pseudonym("p"))
        db.add(parent)
        for n, (name, weekday_offset) in enumerate((("Sonnenblumen", 0), ("Regenbogen", 2))):
            group = Group(
                centre_id=centre.id, name=name, site_name=f"KiTa {name}", languages=["tr", "ar"],
                cycle_start=first.date() - dt.timedelta(days=7),
                cycle_end=first.date() + dt.timedelta(weeks=45),
            )  # fmt: skip
            db.add(group)
            db.flush()
            db.add(Enrolment(parent_id=parent.id, group_id=group.id))
            start = first + dt.timedelta(days=weekday_offset, hours=5 * n)
            series = scheduling.create_series(
                db, actor=actor, group_id=group.id, first_start_local=start,
                until=start.date() + dt.timedelta(weeks=39), now=pinned,
            )  # fmt: skip
            sessions = list(
                db.query(Session).filter(Session.series_id == series.id).order_by(Session.starts_at)
            )
            assert len(sessions) == 40, len(sessions)
            # A few overrides, made the way coordinators make them.
            moved = sessions[20 + n]
            scheduling.move_session(
                db, actor=actor, session_id=moved.id,
                new_start_local=(moved.recurrence_local or start) + dt.timedelta(days=1, hours=2), now=pinned,
            )  # fmt: skip
            if n == 0:
                scheduling.cancel_session(
                    db, actor=actor, session_id=sessions[25].id, reason="Krank", now=pinned
                )
            else:
                scheduling.edit_session(
                    db, actor=actor, session_id=sessions[30].id, theme="Sprache", now=pinned
                )
        db.add(AccessSecret(purpose="feed", secret_hash=hash_secret(secret), parent_id=parent.id))
    engine.dispose()
    return secret


# --- servers ------------------------------------------------------------------------------------


BARE_BODY = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"


def serve(kind: str, port: int, database_url: str) -> None:
    from aiohttp import web

    from orchestrator.web import server

    if kind == "bare":

        async def handler(request: web.Request) -> web.Response:
            return web.Response(body=BARE_BODY, content_type="text/calendar")

        app = web.Application()
        app.router.add_get("/feeds/{name}", handler)
        # The same event loop as the service below, so the ratio compares handlers, not loops.
        web.run_app(
            app, host="127.0.0.1", port=port, access_log=None, print=None, loop=server.new_event_loop()
        )
        return

    from orchestrator.jobs import RecordingJobs
    from orchestrator.settings import load_settings
    from orchestrator.web.app import create_app

    settings = load_settings(
        {},
        data_dir=tempfile.gettempdir(),
        database={"url": database_url},
        broker={"url": "memory://", "embedded_worker": False},
        web={"base_url": "https://rucksack.example.org", "access_log": False},
        # One secret polled thousands of times a second: the limit would answer 429.
        feeds={"rate_limit_per_minute": 0},
    )
    # As `rucksack serve` runs it: uvloop, start-up heap frozen.
    server.run(
        create_app(settings, jobs=RecordingJobs()), host="127.0.0.1", port=port, access_log=None, print=None
    )


def start_server(kind: str, database_url: str) -> ChildServer:
    return ChildServer("bench.feeds", kind, ["--database-url", database_url], ready_path="/feeds/ready")


# --- load ---------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    requests: int = 0
    seconds: float = 0.0
    bytes_read: int = 0
    errors: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    wrk_percentiles: dict[str, float] = field(default_factory=dict)
    server_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def figures(self) -> dict[str, object]:
        out: dict[str, object] = {
            "responses_per_s": round(self.rate),
            "requests": self.requests,
            "bytes_per_response": round(self.bytes_read / self.requests) if self.requests else 0,
            "errors": self.errors,
            "server_cpu_us_per_response": round(self.server_cpu / self.requests * 1e6, 1)
            if self.requests
            else None,
        }
        if self.latencies:
            out.update({k: round(v, 2) for k, v in summary(self.latencies).items()})
        out.update(self.wrk_percentiles)
        if self.statuses:
            out["statuses"] = dict(self.statuses)
        return out


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}
_SIZES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def _wrk(url: str, headers: dict[str, str], args: argparse.Namespace, name: str) -> Phase:
    command = [
        "wrk",
        "-t",
        str(args.threads),
        "-c",
        str(args.concurrency),
        "-d",
        f"{args.duration}s",
        "--latency",
    ]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    phase = Phase(name)
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m), ([\d.]+)(B|KB|MB|GB) read", output)
    if total is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    phase.requests = int(total.group(1))
    phase.seconds = float(total.group(2)) * _UNITS[total.group(3)] / 1e3
    phase.bytes_read = int(float(total.group(4)) * _SIZES[total.group(5)])
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    phase.errors = (int(errors.group(1)) if errors else 0) + (
        sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    )
    for percent, value, unit in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)", output, re.MULTILINE):
        phase.wrk_percentiles[f"p{percent}_ms"] = round(float(value) * _UNITS[unit], 2)
    return phase


def _aiohttp_worker(
    url: str, headers: dict[str, str], concurrency: int, duration: float, queue: object
) -> None:
    async def run() -> tuple[int, int, list[float], dict[int, int]]:
        count = 0
        read = 0
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        deadline = time.monotonic() + duration
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:

            async def one() -> None:
                nonlocal count, read
                while time.monotonic() < deadline:
                    began = time.perf_counter()
                    async with session.get(url, headers=headers) as resp:
                        read += len(await resp.read())
                        statuses[resp.status] += 1
                    latencies.append(time.perf_counter() - began)
                    count += 1

            await asyncio.gather(*(one() for _ in range(concurrency)))
        return count, read, latencies, dict(statuses)

    queue.put(asyncio.run(run()))  # type: ignore[attr-defined]


def _aiohttp_load(url: str, headers: dict[str, str], args: argparse.Namespace, name: str) -> Phase:
    # In a process of its own, so the client does not share the server's core or event loop.
    queue: multiprocessing.Queue[tuple[int, int, list[float], dict[int, int]]] = multiprocessing.Queue()
    began = time.perf_counter()
    worker = multiprocessing.Process(
        target=_aiohttp_worker, args=(url, headers, args.concurrency, args.duration, queue)
    )
    worker.start()
    count, read, latencies, statuses = queue.get()
    worker.join()
    phase = Phase(name, requests=count, seconds=time.perf_counter() - began, bytes_read=read)
    phase.latencies = latencies
    phase.statuses = Counter(statuses)
    return phase


def load(
    server: ChildServer, path: str, headers: dict[str, str], args: argparse.Namespace, name: str
) -> Phase:
    before = server.cpu()
    if args.tool == "wrk":
        phase = _wrk(server.url + path, headers, args, name)
    else:
        phase = _aiohttp_load(server.url + path, headers, args, name)
    phase.server_cpu = server.cpu() - before
    print(f"  {name}: {phase.rate:,.0f} responses/s", flush=True)
    return phase


async def check(
    server: ChildServer, path: str, headers: dict[str, str], expected: int, samples: int = 50
) -> bytes:
    """The answers are what the phase claims to measure (wrk counts only non-2xx/3xx)."""
    body = b""
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        for _ in range(samples):
            async with session.get(server.url + path, headers=headers) as resp:
                if resp.status != expected:
                    raise RuntimeError(f"expected {expected}, got {resp.status} for {headers}")
                body = await resp.read()
    return body


# --- the run ------------------------------------------------------------------------------------


def render_time(database_url: str, secret: str) -> float:
    """Milliseconds to build and render this feed once (what a version change costs)."""
    from orchestrator.db import make_sync_engine, sync_sessions, transaction
    from orchestrator.feeds import services

    engine = make_sync_engine(database_url)
    with transaction(sync_sessions(engine)) as db:
        owner = services.owner_for_secret(db, secret)
        began = time.perf_counter()
        for _ in range(10):
            services.render(services.build_feed(db, owner=owner, secret=secret, base_url="https://r.example"))
        elapsed = (time.perf_counter() - began) / 10
    engine.dispose()
    return elapsed * 1e3


async def run(database_url: str, secret: str, args: argparse.Namespace) -> dict[str, object]:
    # Other work on the machine takes cores from both the server and the load generator; the
    # load average puts the figures in context.
    load_before = os.getloadavg()[0]
    path = f"/feeds/{secret}.ics"
    gz = {"Accept-Encoding": "gzip"}
    results: dict[str, Phase] = {}

    bare = start_server("bare", database_url)
    try:
        await bare.ready()
        print("bare aiohttp handler:", flush=True)
        await check(bare, path, gz, 200)
        results["bare"] = load(bare, path, gz, args, "bare 200")
    finally:
        bare.stop()

    app = start_server("app", database_url)
    try:
        await app.ready()
        print("service:", flush=True)
        plain = await check(app, path, {"Accept-Encoding": "identity"}, 200, samples=1)
        packed = await check(app, path, gz, 200, samples=5)
        if gzip.decompress(packed) != plain or not plain.startswith(b"BEGIN:VCALENDAR"):
            raise RuntimeError("the gzip and plain feeds differ")
        async with aiohttp.ClientSession() as session, session.get(app.url + path, headers=gz) as resp:
            etag = resp.headers["ETag"]
        conditional = {**gz, "If-None-Match": etag}
        await check(app, path, conditional, 304)
        results["304"] = load(app, path, conditional, args, "304 (If-None-Match)")
        results["200 gzip"] = load(app, path, gz, args, "200 gzip")
        results["200 plain"] = load(app, path, {"Accept-Encoding": "identity"}, args, "200 uncompressed")
        # Same feed after the load: nothing was rendered again (the ETag would change only with data).
        async with (
            aiohttp.ClientSession() as session,
            session.get(app.url + path, headers=conditional) as resp,
        ):
            if resp.status != 304:
                raise RuntimeError("the feed changed during the run")
    finally:
        app.stop()

    bare_rate = results["bare"].rate
    out: dict[str, object] = {
        "tool": args.tool,
        "backend": args.backend,
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "feed_bytes": len(plain),
        "feed_gzip_bytes": len(packed),
        "render_ms": round(render_time(database_url, secret), 1),
        "cpus": os.cpu_count(),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        **{name: phase.figures() for name, phase in results.items()},
        "ratio_304_to_bare": round(results["304"].rate / bare_rate, 3) if bare_rate else None,
        "ratio_200_gzip_to_bare": round(results["200 gzip"].rate / bare_rate, 3) if bare_rate else None,
    }
    met_304 = results["304"].rate >= 2000
    met_200 = results["200 gzip"].rate >= 500 and results["200 plain"].rate >= 500
    errors = sum(p.errors for p in results.values())
    out["targets_met"] = met_304 and met_200 and errors == 0
    print(json.dumps(out, indent=2))
    print(
        f"\n304: {results['304'].rate:,.0f}/s (target 2,000: {'MET' if met_304 else 'MISSED'}); "
        f"200 gzip: {results['200 gzip'].rate:,.0f}/s, 200 uncompressed: {results['200 plain'].rate:,.0f}/s "
        f"(target 500: {'MET' if met_200 else 'MISSED'}); bare aiohttp: {bare_rate:,.0f}/s; errors: {errors}"
    )
    return out


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    from orchestrator.migrate import upgrade

    workdir = tempfile.mkdtemp(prefix="rucksack-bench-feeds-")
    if args.backend == "sqlite":
        database_url = f"sqlite:///{workdir}/bench.sqlite3"
        upgrade(database_url)
    else:
        database_url = create_database(args.admin_url, DB_NAME)
    try:
        secret = seed(database_url)
        return await run(database_url, secret, args)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
            if args.backend == "postgresql":
                drop_database(args.admin_url, DB_NAME)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.feeds",
        description="Calendar feed benchmark: a parent's feed (2 groups x 40 sessions, a few overrides) "
        "served by one web process, as 304 and as full 200, next to a bare aiohttp handler "
        "(see docs/performance.md).",
    )
    parser.add_argument(
        "--backend", choices=("sqlite", "postgresql"), default="sqlite", help="database (default sqlite)"
    )
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("RUCKSACK_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL),
        help="PostgreSQL URL with the right to create databases (for --backend postgresql)",
    )
    parser.add_argument(
        "--tool",
        choices=("wrk", "aiohttp"),
        default="wrk" if shutil.which("wrk") else "aiohttp",
        help="load generator (default: wrk when installed, else an aiohttp client process)",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per phase (default 10)")
    parser.add_argument("--concurrency", type=int, default=32, help="open connections (default 32)")
    parser.add_argument(
        "--threads", type=int, default=1, help="wrk threads (default 1: the server has the other core)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--serve", choices=("app", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.database_url)
        return 0
    out = asyncio.run(main_async(args))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0 if out["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
