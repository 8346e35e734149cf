"""The per-request question "is this feed secret valid, and which version of its data is current?"

Calendar clients poll feeds all day, and almost every poll finds nothing changed. One SQL
statement answers both halves of the question from indexed lookups: the secret's row and its
owner, and for every group in the feed's scope the group's ``schedule_version`` and
``updated_at`` (plus, for a parent, the enrolment's dates). The tuple of those values, with the
owner's language and a coordinator's choice of groups, is the feed's *data version*: equal
versions mean equal feed bytes.

That rests on one rule the other areas keep: **every change a calendar shows bumps the group's
``schedule_version``** (and ``updated_at``). Scheduling does it in ``_schedule_changed`` for
every series and session change, the groups area when a group's name or KiTa changes.
Enrolments and the owner's language are read directly. Counting the sessions themselves on every
poll was measured too and tripled the statement's cost (three correlated aggregates per group);
the contract makes it unnecessary.

The statement runs on a connection of its own, straight on the driver (sqlite3 or asyncpg)
and outside any transaction: measured on the development machine, an SQLAlchemy ``AsyncSession``
round trip on SQLite costs 0.5-2.5 ms (``BEGIN IMMEDIATE``, pool checkout and reset, several
thread hops), the statement itself on sqlite3 tens of microseconds, which is what a feed
answered with 304 can afford. Everything that writes, and rendering on a version change, still goes
through the service's engine and use cases.

An unknown secret and a revoked one run the same statement and end in the same ``None``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import sqlite3
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy.engine import make_url

__all__ = ["FeedReader", "Probe", "interpret", "make_reader"]

# One branch per kind of owner, each starting from the secret's unique index; a secret of any
# other kind (an admin's, a personal link's) matches no branch and yields no row.
_SQL = """
SELECT s.id, s.revoked_at, s.created_at, s.parent_id, s.staff_user_id, s.group_ids,
       p.language, p.erased_at, NULL, 'parent',
       g.id, g.schedule_version, g.updated_at, g.archived, e.enrolled_at, e.left_at
FROM access_secrets s
JOIN parents p ON p.id = s.parent_id
LEFT JOIN enrolments e ON e.parent_id = p.id
LEFT JOIN groups g ON g.id = e.group_id
WHERE s.secret_hash = :h AND s.purpose = 'feed'
UNION ALL
SELECT s.id, s.revoked_at, s.created_at, s.parent_id, s.staff_user_id, s.group_ids,
       u.language, NULL, u.active, u.role,
       g.id, g.schedule_version, g.updated_at, g.archived, NULL, NULL
FROM access_secrets s
JOIN staff_users u ON u.id = s.staff_user_id AND u.role = 'facilitator'
LEFT JOIN group_facilitators f ON f.staff_user_id = u.id
LEFT JOIN groups g ON g.id = f.group_id
WHERE s.secret_hash = :h AND s.purpose = 'feed'
UNION ALL
SELECT s.id, s.revoked_at, s.created_at, s.parent_id, s.staff_user_id, s.group_ids,
       u.language, NULL, u.active, u.role,
       g.id, g.schedule_version, g.updated_at, g.archived, NULL, NULL
FROM access_secrets s
JOIN staff_users u ON u.id = s.staff_user_id AND u.role = 'coordinator'
LEFT JOIN groups g ON g.centre_id = u.centre_id
WHERE s.secret_hash = :h AND s.purpose = 'feed'
"""

# Column positions in a result row.
_ID, _REVOKED, _CREATED, _PARENT, _STAFF, _CHOSEN = range(6)
_LANG, _ERASED, _ACTIVE, _KIND = range(6, 10)
_GID, _G_VERSION, _G_UPDATED, _G_ARCHIVED, _JOINED, _LEFT = range(10, 16)
_GROUP_COLUMNS = slice(_GID, _LEFT + 1)
_STAMPS = (_G_UPDATED, _JOINED, _LEFT)


@dataclasses.dataclass(frozen=True, slots=True)
class Probe:
    """What one probe found for a valid feed secret."""

    secret_id: int
    kind: str
    """parent | facilitator | coordinator"""
    owner_id: int
    language: str
    version: tuple[Any, ...]
    """Equal for equal feed data; compared, never interpreted."""
    last_modified: dt.datetime
    """The latest change the rows record (aware UTC)."""


def _instant(value: object) -> dt.datetime:
    # asyncpg returns naive datetimes (UTC by our convention), sqlite3 the text SQLAlchemy stored
    # ("2026-12-01 08:00:00.000000").
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, dt.datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _chosen_groups(value: object) -> tuple[int, ...]:
    if isinstance(value, str):
        value = json.loads(value) if value else []
    if not isinstance(value, list):
        return ()
    return tuple(sorted({int(v) for v in value if isinstance(v, int | str) and str(v).isdigit()}))


def _first(values: tuple[Any, ...]) -> Any:
    return values[0]


def interpret(rows: Sequence[Sequence[Any]]) -> Probe | None:
    """The probe result, or None for an unknown, revoked or orphaned secret (indistinguishable)."""
    if not rows:
        return None
    head = rows[0]
    if head[_REVOKED] is not None or head[_ERASED] is not None:
        return None
    kind = str(head[_KIND])
    if kind == "parent":
        owner_id = int(head[_PARENT])
    elif head[_ACTIVE]:
        owner_id = int(head[_STAFF])
    else:
        return None
    # Sorted: the order of UNION ALL rows is not defined, the version must not depend on it.
    groups = tuple(sorted((tuple(row[_GROUP_COLUMNS]) for row in rows if row[_GID] is not None), key=_first))
    # All stamps of one backend have one type and, on SQLite, one fixed-width text form, so the
    # latest is found before parsing (parsing every value cost more than the rest of this).
    stamps = [row[index] for row in rows for index in _STAMPS if row[index] is not None]
    stamps.append(head[_CREATED])
    chosen = _chosen_groups(head[_CHOSEN]) if kind == "coordinator" else ()
    return Probe(
        secret_id=int(head[_ID]),
        kind=kind,
        owner_id=owner_id,
        language=str(head[_LANG]),
        version=(kind, head[_LANG], chosen, groups),
        last_modified=_instant(max(stamps)),
    )


class FeedReader(Protocol):
    """Runs the probe statement on a connection of its own."""

    async def probe(self, secret_hash: str) -> Probe | None: ...

    async def close(self) -> None: ...


class _Interpreter:
    """`interpret`, remembered for the last few thousand distinct results.

    A polled feed returns the same rows every time; looking them up costs a tuple hash, reading
    them again (timestamps, JSON, sorting) several times that.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._seen: dict[tuple[tuple[Any, ...], ...], Probe | None] = {}

    def __call__(self, rows: Sequence[Sequence[Any]]) -> Probe | None:
        key = tuple(tuple(row) for row in rows)
        try:
            return self._seen[key]
        except KeyError:
            pass
        if len(self._seen) >= self._size:
            self._seen.clear()
        probe = self._seen[key] = interpret(rows)
        return probe


class _SQLiteReader:
    """One sqlite3 connection, read-only and in autocommit mode, queried on the event loop.

    Deliberately synchronous: the statement reads a few index pages of a local file and returns
    in tens of microseconds, less than handing it to a thread and back costs (aiosqlite, or
    ``asyncio.to_thread``: measured at 5-8 times the query itself on the development machine,
    worse when both cores are busy). In WAL mode a reader never waits for the service's writer,
    so the call does not block on a lock either; ``busy_timeout`` only caps the rare wait during
    WAL recovery.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None
        self._interpret = _Interpreter()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA busy_timeout=250")
        # Belt and braces: this connection must never write.
        connection.execute("PRAGMA query_only=ON")
        self._connection = connection
        return connection

    async def probe(self, secret_hash: str) -> Probe | None:
        connection = self._connection or self._connect()
        return self._interpret(connection.execute(_SQL, {"h": secret_hash}).fetchall())

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class _PostgresReader:
    """A few asyncpg connections handed out from a free list.

    Not an ``asyncpg.Pool``: its acquire and release (timeouts, a proxy object per checkout, a
    reset query) cost about as much as the statement itself, measured on the development
    machine. The statement leaves no session state behind (no transaction, no settings), so a
    connection can go back to the list as it is. A connection that fails is dropped; the next
    request opens a new one.
    """

    def __init__(self, dsn: str, *, max_size: int = 4) -> None:
        self._dsn = dsn
        self._max_size = max_size
        self._free: asyncio.LifoQueue[Any] = asyncio.LifoQueue()
        self._open = 0
        self._sql = _SQL.replace(":h", "$1")
        self._interpret = _Interpreter()

    async def _take(self) -> Any:
        if self._free.empty() and self._open < self._max_size:
            import asyncpg

            self._open += 1
            try:
                return await asyncpg.connect(self._dsn)
            except BaseException:
                self._open -= 1
                raise
        return await self._free.get()

    async def probe(self, secret_hash: str) -> Probe | None:
        connection = await self._take()
        try:
            rows = await connection.fetch(self._sql, secret_hash)
        except BaseException:
            self._open -= 1
            connection.terminate()
            raise
        self._free.put_nowait(connection)
        return self._interpret(rows)

    async def close(self) -> None:
        while not self._free.empty():
            await self._free.get_nowait().close()
            self._open -= 1


def make_reader(database_url: str) -> FeedReader:
    """A reader for the service's database (SQLite file or PostgreSQL)."""
    url = make_url(database_url.replace("postgres://", "postgresql://", 1))
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError("feeds need a database file, not an in-memory SQLite database")
        return _SQLiteReader(url.database)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return _PostgresReader(dsn)
