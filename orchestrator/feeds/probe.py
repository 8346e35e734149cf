"""The per-request question "is this feed secret valid, and which version of its data is current?"

Calendar clients poll feeds all day, and almost every poll finds nothing changed. One SQL
statement answers both halves of the question from indexed lookups: the secret's row and its
owner, and per group in the feed's scope the numbers that every visible change moves
(``Group.schedule_version`` and ``updated_at``; per group the count, latest ``updated_at`` and
sum of ``sequence`` of its sessions and of its series; for parents their enrolment dates). The
tuple of those values is the feed's *data version*; equal versions mean equal feed bytes.

The statement runs on a connection of its own, straight on the driver (aiosqlite or asyncpg)
and outside any transaction: measured on the development machine, an SQLAlchemy ``AsyncSession``
round trip on SQLite costs 0.5-2.5 ms (``BEGIN IMMEDIATE``, pool checkout and reset, several
thread hops), one aiosqlite ``execute_fetchall`` about 0.1 ms, which is what a feed answered
with 304 can afford. Everything that writes, and rendering on a version change, still goes
through the service's engine and use cases.

An unknown secret and a revoked one run the same statement and end in the same ``None``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy.engine import make_url

__all__ = ["FeedReader", "Probe", "interpret", "make_reader"]

FEED_KINDS = ("parent", "facilitator", "coordinator")

_SQL = """
WITH sec AS (
    SELECT id, revoked_at, created_at, parent_id, staff_user_id, group_ids
    FROM access_secrets
    WHERE secret_hash = :h AND purpose = 'feed'
),
own AS (
    SELECT e.group_id AS gid, e.enrolled_at AS joined, e.left_at AS left_at
    FROM enrolments e JOIN sec ON e.parent_id = sec.parent_id
    UNION ALL
    SELECT f.group_id, NULL, NULL
    FROM sec
    JOIN staff_users fu ON fu.id = sec.staff_user_id AND fu.role = 'facilitator'
    JOIN group_facilitators f ON f.staff_user_id = fu.id
    UNION ALL
    SELECT g.id, NULL, NULL
    FROM sec
    JOIN staff_users cu ON cu.id = sec.staff_user_id AND cu.role = 'coordinator'
    JOIN groups g ON g.centre_id = cu.centre_id
)
SELECT
    sec.id, sec.revoked_at, sec.created_at, sec.parent_id, sec.staff_user_id, sec.group_ids,
    p.language, p.erased_at, u.language, u.active, u.role, u.centre_id,
    own.gid, own.joined, own.left_at, g.schedule_version, g.updated_at, g.archived,
    (SELECT COUNT(*) FROM sessions x WHERE x.group_id = own.gid),
    (SELECT MAX(x.updated_at) FROM sessions x WHERE x.group_id = own.gid),
    (SELECT SUM(x.sequence) FROM sessions x WHERE x.group_id = own.gid),
    (SELECT COUNT(*) FROM series r WHERE r.group_id = own.gid),
    (SELECT MAX(r.updated_at) FROM series r WHERE r.group_id = own.gid),
    (SELECT SUM(r.sequence) FROM series r WHERE r.group_id = own.gid)
FROM sec
LEFT JOIN parents p ON p.id = sec.parent_id
LEFT JOIN staff_users u ON u.id = sec.staff_user_id
LEFT JOIN own ON 1 = 1
LEFT JOIN groups g ON g.id = own.gid
ORDER BY own.gid
"""

# Column positions in a result row.
_ID, _REVOKED, _CREATED, _PARENT, _STAFF, _CHOSEN = range(6)
_P_LANG, _P_ERASED, _U_LANG, _U_ACTIVE, _U_ROLE, _U_CENTRE = range(6, 12)
_GID, _JOINED, _LEFT, _G_VERSION, _G_UPDATED, _G_ARCHIVED = range(12, 18)
_S_COUNT, _S_UPDATED, _S_SEQ, _R_COUNT, _R_UPDATED, _R_SEQ = range(18, 24)
_GROUP_COLUMNS = slice(_GID, _R_SEQ + 1)
_STAMPS = (_CREATED, _JOINED, _LEFT, _G_UPDATED, _S_UPDATED, _R_UPDATED)


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


def _instant(value: object) -> dt.datetime | None:
    # asyncpg returns naive datetimes (UTC by our convention), sqlite3 the ISO text SQLAlchemy
    # stored ("2026-12-01 08:00:00.000000").
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        moment = dt.datetime.fromisoformat(value)
    else:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _chosen_groups(value: object) -> tuple[int, ...]:
    if isinstance(value, str):
        value = json.loads(value) if value else []
    if not isinstance(value, list):
        return ()
    return tuple(sorted({int(v) for v in value if isinstance(v, int | str) and str(v).isdigit()}))


def interpret(rows: Sequence[Sequence[Any]]) -> Probe | None:
    """The probe result, or None for an unknown, revoked or orphaned secret (indistinguishable)."""
    if not rows:
        return None
    head = rows[0]
    if head[_REVOKED] is not None:
        return None
    if head[_PARENT] is not None:
        if head[_P_LANG] is None or head[_P_ERASED] is not None:
            return None
        kind, owner_id, language = "parent", int(head[_PARENT]), str(head[_P_LANG])
    else:
        role = head[_U_ROLE]
        if role not in ("facilitator", "coordinator") or not head[_U_ACTIVE]:
            return None
        kind, owner_id, language = str(role), int(head[_STAFF]), str(head[_U_LANG])
    groups = tuple(tuple(row[_GROUP_COLUMNS]) for row in rows if row[_GID] is not None)
    stamps = [stamp for row in rows for index in _STAMPS if (stamp := _instant(row[index])) is not None]
    chosen = _chosen_groups(head[_CHOSEN]) if kind == "coordinator" else ()
    return Probe(
        secret_id=int(head[_ID]),
        kind=kind,
        owner_id=owner_id,
        language=language,
        version=(kind, language, chosen, groups),
        last_modified=max(stamps),
    )


class FeedReader(Protocol):
    """Runs the probe statement on a connection of its own."""

    async def probe(self, secret_hash: str) -> Probe | None: ...

    async def close(self) -> None: ...


class _SQLiteReader:
    """One aiosqlite connection, read-only and in autocommit mode.

    In WAL mode a reader never blocks the service's writer and sees every committed write at
    its next statement. aiosqlite runs the connection's statements one after the other on its
    own thread, so concurrent requests simply queue there.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._connection: Any = None
        self._lock = asyncio.Lock()

    async def _connect(self) -> Any:
        import aiosqlite

        async with self._lock:
            if self._connection is None:
                connection = await aiosqlite.connect(self._path, isolation_level=None)
                await connection.execute("PRAGMA busy_timeout=10000")
                # Belt and braces: this connection must never write.
                await connection.execute("PRAGMA query_only=ON")
                self._connection = connection
        return self._connection

    async def probe(self, secret_hash: str) -> Probe | None:
        connection = self._connection or await self._connect()
        rows = await connection.execute_fetchall(_SQL, {"h": secret_hash})
        return interpret(list(rows))

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None


class _PostgresReader:
    """A small asyncpg pool whose connections skip the reset query on release.

    Our statement leaves no session state behind (no transaction, no settings, no LISTEN), so
    the ``RESET ALL``/``UNLISTEN`` round trip asyncpg makes on every release would be pure cost.
    """

    def __init__(self, dsn: str, *, max_size: int = 4) -> None:
        self._dsn = dsn
        self._max_size = max_size
        self._pool: Any = None
        self._lock = asyncio.Lock()
        self._sql = _SQL.replace(":h", "$1")

    async def _connect(self) -> Any:
        import asyncpg

        class _NoResetConnection(asyncpg.Connection):  # type: ignore[misc]
            def get_reset_query(self) -> str:
                return ""

        async with self._lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn, min_size=1, max_size=self._max_size, connection_class=_NoResetConnection
                )
        return self._pool

    async def probe(self, secret_hash: str) -> Probe | None:
        pool = self._pool or await self._connect()
        rows = await pool.fetch(self._sql, secret_hash)
        return interpret(rows)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def make_reader(database_url: str) -> FeedReader:
    """A reader for the service's database (SQLite file or PostgreSQL)."""
    url = make_url(database_url.replace("postgres://", "postgresql://", 1))
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError("feeds need a database file, not an in-memory SQLite database")
        return _SQLiteReader(url.database)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return _PostgresReader(dsn)
