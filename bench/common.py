"""Shared pieces of the ingestion and processing benchmarks: databases, percentiles, output.

Benchmarks create a database of their own (``rucksack_bench_<name>`` next to the admin URL's
database), migrate it, and drop it at the end unless ``--keep`` is given, so they never touch a
development or test database.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

import aiohttp
import sqlalchemy as sa

from orchestrator.db import make_sync_engine
from orchestrator.migrate import upgrade

__all__ = [
    "DEFAULT_ADMIN_URL",
    "ChildServer",
    "cpu_seconds",
    "create_database",
    "drop_database",
    "free_port",
    "percentile",
    "summary",
]

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _url_for(admin_url: str, name: str) -> str:
    return re.sub(r"/[^/]*$", f"/{name}", admin_url)


def create_database(admin_url: str, name: str) -> str:
    """A new, migrated PostgreSQL database ``name`` (dropped first if it exists); returns its URL."""
    admin = make_sync_engine(admin_url)
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    url = _url_for(admin_url, name)
    upgrade(url)
    return url


def drop_database(admin_url: str, name: str) -> None:
    admin = make_sync_engine(admin_url)
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) of already sorted values, nearest-rank."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def summary(latencies: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max/mean of latencies given in seconds, returned in milliseconds."""
    ordered = sorted(latencies)
    return {
        "p50_ms": percentile(ordered, 50) * 1000,
        "p90_ms": percentile(ordered, 90) * 1000,
        "p99_ms": percentile(ordered, 99) * 1000,
        "max_ms": (ordered[-1] if ordered else float("nan")) * 1000,
        "mean_ms": (statistics.fmean(ordered) if ordered else float("nan")) * 1000,
    }


# --- servers in child processes -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far (from ``/proc``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ChildServer:
    """``python -m <module> --serve <kind> --port <free port> <arguments>`` in a child process.

    ``ready()`` waits until ``ready_path`` answers (200 or 404: the server is up), ``cpu()`` reads
    its CPU time, ``stop()`` sends SIGINT so ``web.run_app`` shuts down gracefully.
    """

    def __init__(self, module: str, kind: str, arguments: Sequence[str], *, ready_path: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._ready_path = ready_path
        command = [sys.executable, "-m", module, "--serve", kind, "--port", str(self.port), *arguments]
        self.process = subprocess.Popen(command)

    async def ready(self) -> None:
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(self.url + self._ready_path) as resp:
                        if resp.status in (200, 404):
                            return
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the server did not start")
                await asyncio.sleep(0.1)

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
