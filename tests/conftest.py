"""Shared test set-up: databases on both backends, settings, the app client, logins.

Tests that take ``database_url`` run once on SQLite and once on PostgreSQL. Outside CI a missing
PostgreSQL server skips the PostgreSQL half with a message saying how to run it; in CI
(``CI=true``) it fails instead, because those tests must run there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import make_sync_engine, sync_sessions
from orchestrator.jobs import RecordingJobs
from orchestrator.migrate import upgrade
from orchestrator.models import Base
from orchestrator.settings import Settings, load_settings

T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
POSTGRES_ADMIN_URL = os.environ.get(
    "RUCKSACK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = [b for b in os.environ.get("RUCKSACK_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]
REFERENCE_PAYLOADS = Path(__file__).resolve().parent / "data" / "reference-payloads"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """Argon2 with its smallest cost in tests: a login costs ~1 ms instead of ~0.2 s.

    The production parameters are argon2-cffi's defaults; what is tested here is that passwords
    are hashed and verified through it, not how expensive that is.
    """
    from argon2 import PasswordHasher

    from orchestrator import security

    original = security._hasher
    security._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    yield
    security._hasher = original


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize(
            "backend",
            [pytest.param(b, marks=[pytest.mark.postgres] if b == "postgresql" else []) for b in BACKENDS],
            scope="session",
        )


def skip_or_fail(reason: str) -> None:
    """Skip outside CI, fail in CI: a service test must never silently skip there."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must run this test)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    admin = make_sync_engine(POSTGRES_ADMIN_URL)
    name = f"rucksack_test_{os.getpid()}"
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as e:
        admin.dispose()
        skip_or_fail(
            f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({e.orig.__class__.__name__}); start it "
            "(pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set "
            "RUCKSACK_TEST_POSTGRES_URL"
        )
    url = re.sub(r"/[^/]*$", f"/{name}", POSTGRES_ADMIN_URL)
    upgrade(url)
    yield url
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database on ``backend`` for this test."""
    if backend == "sqlite":
        path = tmp_path / "rucksack.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    engine = make_sync_engine(url)
    with engine.begin() as conn:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        {},
        data_dir=str(tmp_path),
        database={"url": database_url},
        broker={"url": "memory://", "embedded_worker": False},
        web={"base_url": "https://rucksack.example.org"},
    )


@pytest.fixture
def db_factory(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """Sync sessions on the test database, for arranging data and checking results."""
    engine = make_sync_engine(settings.database_url)
    yield sync_sessions(engine)
    engine.dispose()


@pytest.fixture
def db(db_factory: sessionmaker[Session]) -> Iterator[Session]:
    """One sync session; commit explicitly (``db.commit()``) before the app reads the data."""
    with db_factory() as session:
        yield session


@pytest.fixture
def jobs() -> RecordingJobs:
    return RecordingJobs()


@pytest.fixture
async def client(aiohttp_client, settings: Settings, jobs: RecordingJobs) -> object:  # type: ignore[no-untyped-def]
    from orchestrator.web.app import create_app

    app = create_app(settings, jobs=jobs)
    return await aiohttp_client(app)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


REDIS_URL = os.environ.get("RUCKSACK_TEST_REDIS_URL", "redis://127.0.0.1:6379")


@pytest.fixture(scope="session")
def redis_base_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as e:
        skip_or_fail(
            f"Redis is not reachable at {REDIS_URL} ({e}); start it "
            "(redis-server --daemonize yes --port 6379) or set RUCKSACK_TEST_REDIS_URL"
        )
    return REDIS_URL


@pytest.fixture
def redis_broker_url(redis_base_url: str) -> Iterator[str]:
    """A Redis database of its own for this test (flushed before and after)."""
    import random

    import redis

    # Parallel test processes (pytest-xdist) take disjoint database numbers: gw0 1-7, gw1 8-14, ...
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
    url = f"{redis_base_url}/{(worker * 7) % 14 + random.randint(1, 7)}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


class WorkerProcess:
    """A real ``celery worker`` child process on the test's database and broker."""

    def __init__(
        self, settings: Settings, broker_url: str, data_dir: Path, extra_env: dict[str, str] | None = None
    ):
        self.settings = settings
        self.broker_url = broker_url
        self.env = dict(os.environ)
        self.env.update(
            {
                "RUCKSACK_DATABASE_URL": settings.database_url,
                "RUCKSACK_BROKER_URL": broker_url,
                "RUCKSACK_DATA_DIR": str(data_dir),
                "RUCKSACK_WEB_BASE_URL": settings.web.base_url,
            }
        )
        self.env.update(extra_env or {})
        self.log_path = data_dir / "worker.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
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
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def worker(settings: Settings, redis_broker_url: str, tmp_path: Path) -> Iterator[WorkerProcess]:
    """A started worker process; ``worker.jobs`` sends tasks to it through Redis."""
    proc = WorkerProcess(settings, redis_broker_url, tmp_path)
    proc.start()
    yield proc
    proc.stop()


def wait_for(
    predicate: Callable[[], T | None], *, timeout: float = 30.0, interval: float = 0.2, what: str = ""
) -> T:
    """Polls ``predicate`` until it returns something truthy; fails with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)
