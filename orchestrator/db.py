"""Engines and sessions for the web tier (async) and the workers and CLI (sync).

Use cases are plain functions over a *sync* ``sqlalchemy.orm.Session``. The web tier runs them
through ``AsyncSession.run_sync`` (SQLAlchemy's greenlet bridge: the event loop is never blocked
and asyncpg/aiosqlite do the I/O); workers and the CLI call them with a sync session from a
per-process engine. One implementation of each use case serves both.

SQLite gets WAL, ``synchronous=NORMAL``, a busy timeout, foreign keys, ``BEGIN IMMEDIATE`` for
every transaction (a read-then-write transaction otherwise fails at once with "database is
locked" under concurrent writers), and one pooled connection in the async engine (measured: p99
from ~865 ms to ~39 ms under load).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "async_url",
    "make_async_engine",
    "make_sync_engine",
    "run",
    "sync_url",
    "transaction",
]

T = TypeVar("T")


def _normalise(url: str) -> str:
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://") :]
    return url


def async_url(url: str) -> str:
    u = make_url(_normalise(url))
    if u.get_backend_name() == "sqlite":
        return u.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    return u.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def sync_url(url: str) -> str:
    u = make_url(_normalise(url))
    if u.get_backend_name() == "sqlite":
        return u.set(drivername="sqlite+pysqlite").render_as_string(hide_password=False)
    return u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling is turned off so that we can issue BEGIN IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _configure_sqlite(engine: Engine) -> None:
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)


def make_async_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    aurl = async_url(url)
    if aurl.startswith("sqlite"):
        engine = create_async_engine(aurl, echo=echo, pool_size=1, max_overflow=0, pool_timeout=60)
        _configure_sqlite(engine.sync_engine)
        return engine
    return create_async_engine(aurl, echo=echo, pool_size=10, max_overflow=10, pool_pre_ping=True)


def make_sync_engine(url: str, *, echo: bool = False) -> Engine:
    surl = sync_url(url)
    if surl.startswith("sqlite"):
        engine = create_engine(surl, echo=echo)
        _configure_sqlite(engine)
        return engine
    return create_engine(surl, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=5)


def async_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def sync_sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A sync session committed on success and rolled back on any exception."""
    with factory() as session, session.begin():
        yield session


async def run(
    factory: async_sessionmaker[AsyncSession], fn: Callable[..., T], /, *args: Any, **kwargs: Any
) -> T:
    """Run the sync use case ``fn(session, *args, **kwargs)`` in one committed transaction."""
    async with factory() as session, session.begin():
        return await session.run_sync(fn, *args, **kwargs)
