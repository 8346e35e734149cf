"""Shared test set-up: databases on both backends, settings, the app client, logins.

Tests that take ``database_url`` run once on SQLite and once on PostgreSQL. Outside CI a missing
PostgreSQL server skips the PostgreSQL half with a message saying how to run it; in CI
(``CI=true``) it fails instead, because those tests must run there.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import make_sync_engine, sync_sessions
from orchestrator.jobs import RecordingJobs
from orchestrator.migrate import upgrade
from orchestrator.models import Base
from orchestrator.settings import Settings, load_settings

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
POSTGRES_ADMIN_URL = os.environ.get(
    "RUCKSACK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = [b for b in os.environ.get("RUCKSACK_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]
SHARED_DIR = Path(
    os.environ.get("RUCKSACK_SHARED_DIR", Path(__file__).resolve().parents[1].parent / "shared")
)
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


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
