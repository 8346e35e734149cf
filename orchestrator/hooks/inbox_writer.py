"""A per-process batch writer for the conference-event inbox.

Why batching: a webhook may be acknowledged only once its row is committed (design §5), and a
commit on PostgreSQL waits for the write-ahead log to reach the disk (measured here: ~4 ms per
commit). One transaction per request would cap a web process at a few hundred events per second
however fast the rest is. Senders post concurrently (event_sync fires every join and leave of every
room; JaaS retries), so the writer collects whatever requests are waiting and commits them
together: one multi-row ``INSERT … ON CONFLICT DO NOTHING``, one commit, then every request in the
batch gets its answer. Under load batches grow by themselves (requests
accumulate while the previous commit is in flight); when idle a batch is one row and waits for
nobody, so there is no linger delay to tune.

By default one writer task commits while the next batch gathers; more (``writers``) can run side
by side on separate pooled connections, which helps only when the database is far away.

Guarantees, as the receivers rely on them:

- ``write`` returns only after the row's transaction committed (a duplicate dedupe key is a
  successful no-op: ``ON CONFLICT DO NOTHING``).
- If the database is unreachable, slow beyond ``write_timeout`` or the queue is full, every
  waiting request gets ``InboxUnavailable`` (the receivers answer 503, so the sender retries). A
  timed-out batch may still commit later; the retry is then a duplicate, which is harmless.
- A row the database refuses (which the receivers' checks should make impossible) does not fail
  its neighbours: the batch is retried row by row and only that request gets ``InboxRowRefused``.

On PostgreSQL the batch is one parameter, an array of ``conference_event_inbox_row`` records
(migration 0002), to ``INSERT … SELECT * FROM unnest($1)``: a single statement whatever the batch
size, prepared once, with no per-row statement work (measured: half the time of ``executemany``
for 50 rows). Records rather than one array per column, because asyncpg inspects every element
of an array in Python-level code (about 30 isinstance checks per row for fourteen arrays) but
encodes a record's fields directly: 21–23 instead of 23–31 µs of CPU per row. It runs in
autocommit mode: one statement is atomic by itself and the server has flushed its commit before
it answers, so a batch is one round trip. SQLite, an in-process library with no round trip to
save, gets a plain ``executemany`` in a transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import orjson
from sqlalchemy import Table
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orchestrator.hooks.inbox import InboxRow
from orchestrator.models import ConferenceEvent

__all__ = ["InboxRowRefused", "InboxUnavailable", "InboxWriter"]

_LOGGER = logging.getLogger(__name__)

_TABLE: Table = ConferenceEvent.__table__  # type: ignore[assignment]

# The batch is one array of ``conference_event_inbox_row`` records (a type made by migration 0002
# with these fields in this order; ``_records`` builds them), unnested into rows by the server.
# Instants arrive aware (TIMESTAMPTZ) and are stored as naive UTC, as models.UTCDateTime does.
_PG_INSERT_BATCH = """
    INSERT INTO conference_events (
        deployment_id, source, dedupe_key, state, kind, room_name, meeting_key, person_id,
        connection_id, occurred_at, headers, body, error, received_at
    )
    SELECT r.deployment_id, r.source, r.dedupe_key, r.state, r.kind, r.room_name, r.meeting_key,
           r.person_id, r.connection_id, r.occurred_at AT TIME ZONE 'UTC', r.headers, r.body,
           r.error, r.received_at AT TIME ZONE 'UTC'
    FROM unnest($1::conference_event_inbox_row[]) AS r
    ON CONFLICT DO NOTHING
"""

# What "the database refused this row" looks like, through SQLAlchemy (SQLite) and from asyncpg
# directly (PostgreSQL): constraint violations (class 23) and bad data (class 22).
_REFUSED: tuple[type[Exception], ...] = (
    IntegrityError,
    DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.DataError,
)


class InboxUnavailable(Exception):
    """The inbox cannot take the event now (database down or slow, queue full, shutting down)."""


class InboxRowRefused(Exception):
    """The database refused this one row (its neighbours in the batch were stored)."""


_Item = tuple[InboxRow, "asyncio.Future[None]"]


class InboxWriter:
    """Collects inbox rows from concurrent requests and commits them in batches (module docstring).

    ``on_commit`` is called (on the event loop, without awaiting anything) after every committed
    batch that contained a pending row; the receivers use it to nudge the workers.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = 500,
        writers: int | None = None,
        write_timeout: float = 10.0,
        max_queued: int = 20_000,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._postgres = engine.dialect.name == "postgresql"
        if writers is None:
            # One: while its batch is in flight (one round trip that includes the WAL flush)
            # the next requests queue up and form the next batch. More writers split the
            # waiting requests into smaller batches, which costs CPU per event in this process
            # and in PostgreSQL (measured at ~5,000 events/s: 20.4 rows per batch, 179 µs and
            # 61 µs per event with one writer; 13.9 rows, 196 µs and 75 µs with two); they pay
            # off only when the database is far away. SQLite has one connection for the whole
            # app and no round trip to overlap.
            writers = 1
        if max_batch < 1 or writers < 1 or max_queued < 1:
            raise ValueError("max_batch, writers and max_queued must be positive")
        self._engine = engine
        self._max_batch = max_batch
        self._writers = writers
        self._write_timeout = write_timeout
        self._max_queued = max_queued
        self._on_commit = on_commit
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._accepting = False
        self.batches = 0  # committed batches, for tests and benchmarks
        self.rows = 0

    @property
    def running(self) -> bool:
        return self._accepting

    async def start(self) -> None:
        if self._tasks:
            raise RuntimeError("the inbox writer is already running")
        self._accepting = True
        self._tasks = [
            asyncio.create_task(self._run(), name=f"inbox-writer-{n}") for n in range(self._writers)
        ]

    async def stop(self) -> None:
        """Stops taking rows, writes what is queued, and ends the writer tasks."""
        self._accepting = False
        for _ in self._tasks:
            self._queue.put_nowait(None)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        _LOGGER.info(
            "inbox writer stopped: %d rows in %d batches (%.1f rows per batch)",
            self.rows,
            self.batches,
            self.rows / self.batches if self.batches else 0.0,
        )

    async def write(self, row: InboxRow) -> None:
        """Returns once ``row`` is committed; raises ``InboxUnavailable`` or ``InboxRowRefused``."""
        if not self._accepting:
            raise InboxUnavailable("the service is shutting down")
        if self._queue.qsize() >= self._max_queued:
            # Back-pressure: the database is not keeping up; 503 now beats a timeout later.
            raise InboxUnavailable("too many events are waiting to be stored")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((row, future))
        await future

    async def _run(self) -> None:
        lane = _Lane(self._engine, hold=self._postgres)
        try:
            while True:
                item = await self._queue.get()
                if item is None:
                    return
                batch = [item]
                stop_after = False
                while len(batch) < self._max_batch:
                    try:
                        more = self._queue.get_nowait()
                    except asyncio.QueueEmpty:
                        break
                    if more is None:
                        # Finish this batch first, then end (stop() queued one sentinel per writer).
                        stop_after = True
                        break
                    batch.append(more)
                await self._commit(lane, batch)
                if stop_after:
                    return
        finally:
            await lane.close()

    async def _commit(self, lane: _Lane, batch: list[_Item]) -> None:
        # A consistent order of keys across concurrent batches: two batches that both carry the
        # same redelivered events then wait for each other instead of deadlocking.
        batch.sort(key=lambda item: (item[0].deployment_id, item[0].dedupe_key))
        rows = [row for row, _ in batch]
        try:
            await self._insert(lane, rows)
        except _REFUSED as e:
            _LOGGER.warning(
                "inbox batch of %d refused (%s); retrying row by row", len(rows), type(e).__name__
            )
            await self._commit_one_by_one(lane, batch)
            return
        except Exception as e:  # unreachable, timed out, broken connection: nothing is known stored
            self._fail(batch, e)
            return
        self.batches += 1
        self.rows += len(rows)
        for _, future in batch:
            if not future.done():
                future.set_result(None)
        self._committed(rows)

    async def _commit_one_by_one(self, lane: _Lane, batch: list[_Item]) -> None:
        stored: list[InboxRow] = []
        for row, future in batch:
            try:
                await self._insert(lane, [row])
            except _REFUSED as e:
                _LOGGER.error(
                    "inbox refused an event (source %s, dedupe key %.60s): %s",
                    row.source,
                    row.dedupe_key,
                    type(e).__name__,
                )
                if not future.done():
                    future.set_exception(InboxRowRefused(type(e).__name__))
            except Exception as e:
                self._fail([(row, future)], e)
            else:
                stored.append(row)
                if not future.done():
                    future.set_result(None)
        if stored:
            self.batches += 1
            self.rows += len(stored)
            self._committed(stored)

    def _fail(self, batch: Sequence[_Item], error: BaseException) -> None:
        _LOGGER.error("inbox unavailable, %d event(s) answered 503: %s", len(batch), type(error).__name__)
        for _, future in batch:
            if not future.done():
                future.set_exception(InboxUnavailable(type(error).__name__))

    def _committed(self, rows: Sequence[InboxRow]) -> None:
        if self._on_commit is not None and any(row.state == "pending" for row in rows):
            try:
                self._on_commit()
            except Exception:  # a notification failure must not turn stored events into errors
                _LOGGER.exception("inbox on_commit callback failed")

    async def _insert(self, lane: _Lane, rows: Sequence[InboxRow]) -> None:
        async with asyncio.timeout(self._write_timeout):
            for attempt in (1, 2):
                reused = lane.holding
                conn = await lane.connection()
                try:
                    if self._postgres:
                        await (await lane.driver()).execute(_PG_INSERT_BATCH, _records(rows))
                    else:
                        await conn.execute(sqlite_insert(_TABLE).on_conflict_do_nothing(), _values(rows))
                        await conn.commit()
                except _REFUSED:
                    await lane.failed()
                    raise
                except Exception:
                    await lane.failed()
                    # A connection kept from an earlier batch may have died while idle (a
                    # database restart terminates it); one retry on a fresh connection tells a
                    # dead connection from a dead database. Safe: the insert is idempotent.
                    if reused and attempt == 1:
                        continue
                    raise
                except BaseException:
                    await lane.failed()
                    raise
                finally:
                    await lane.release()
                return


class _Lane:
    """The connection one writer task uses.

    On PostgreSQL each writer keeps its pooled connection between batches: checking one out per
    batch would cost a pre-ping round trip every time (the engine pings on checkout), which is a
    large share of a batch's time. A connection that failed is invalidated and the next batch
    connects afresh, so a database restart costs the batches in flight and nothing more. SQLite's
    engine has a single pooled connection that the rest of the app needs too, so there it is
    checked out per batch and returned at once.
    """

    def __init__(self, engine: AsyncEngine, *, hold: bool) -> None:
        self._engine = engine
        self._hold = hold
        self._conn: AsyncConnection | None = None
        self._driver: asyncpg.Connection | None = None

    @property
    def holding(self) -> bool:
        """Whether a connection from an earlier batch is kept (and may have gone stale)."""
        return self._conn is not None

    async def connection(self) -> AsyncConnection:
        if self._conn is None:
            conn = await self._engine.connect()
            if self._hold:
                # PostgreSQL: the batch is a single INSERT, which is atomic on its own. In
                # autocommit mode the server commits it (WAL flushed) before it answers, so the
                # batch costs one round trip instead of three (BEGIN, INSERT, COMMIT), with the
                # same durability.
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            self._conn = conn
        return self._conn

    async def driver(self) -> asyncpg.Connection:
        """PostgreSQL: the asyncpg connection under the held one.

        The batch insert goes to it directly: one statement, nothing for SQLAlchemy's execution
        machinery (compilation cache, result processing, greenlet switches) to add but CPU time,
        which at thousands of events per second was a tenth of the web process. The connection
        stays checked out from SQLAlchemy's pool, which still connects, pings and disposes of it.
        """
        if self._driver is None:
            raw = await (await self.connection()).get_raw_connection()
            self._driver = raw.driver_connection
        return self._driver

    async def failed(self) -> None:
        self._driver = None
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            # Whatever state the connection is in after an error or a timeout (mid-query, say),
            # it is not reused: invalidating drops it without a round trip that could hang.
            await conn.invalidate()
        with contextlib.suppress(Exception):
            await conn.close()

    async def release(self) -> None:
        if not self._hold and self._conn is not None:
            self._driver = None
            conn, self._conn = self._conn, None
            await conn.close()

    async def close(self) -> None:
        self._driver = None
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


def _json_text(value: Any) -> str:
    # orjson: several times faster than json.dumps, at one document per event.
    return orjson.dumps(value).decode()


def _records(rows: Sequence[InboxRow]) -> list[tuple[Any, ...]]:
    """The rows as ``conference_event_inbox_row`` records, fields in the type's order."""
    return [
        (
            r.deployment_id,
            r.source,
            r.dedupe_key,
            r.state,
            r.kind,
            r.room_name,
            r.meeting_key,
            r.person_id,
            r.connection_id,
            r.occurred_at,
            _json_text(r.headers),
            r.body,
            r.error,
            r.received_at,
        )
        for r in rows
    ]


def _values(rows: Sequence[InboxRow]) -> list[dict[str, Any]]:
    return [row.as_values() for row in rows]
