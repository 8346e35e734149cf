"""The inbox batch writer on its own, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from orchestrator.db import make_async_engine
from orchestrator.hooks.inbox import InboxRow
from orchestrator.hooks.inbox_writer import InboxRowRefused, InboxUnavailable, InboxWriter
from orchestrator.models import ConferenceEvent
from tests import factories


@pytest.fixture
def deployment_id(db) -> int:
    centre = factories.centre(db)
    deployment = factories.deployment(db, centre)
    db.commit()
    return deployment.id


@pytest.fixture
async def engine(database_url):
    engine = make_async_engine(database_url)
    yield engine
    await engine.dispose()


def row(deployment_id: int, key: str, *, state: str = "pending") -> InboxRow:
    return InboxRow(
        deployment_id=deployment_id,
        source="jaas",
        dedupe_key=key,
        state=state,
        body=b'{"idempotencyKey": "' + key.encode() + b'"}',
        headers={"content-type": "application/json"},
        kind="occupant_joined",
        room_name="rs-room",
        meeting_key="meeting",
    )


def stored_keys(db) -> list[str]:
    db.expire_all()
    keys = sorted(db.scalars(select(ConferenceEvent.dedupe_key)))
    db.rollback()  # SQLite: a read transaction would hold the writer lock
    return keys


async def test_concurrent_writes_share_commits(engine, db, deployment_id):
    commits = []
    writer = InboxWriter(engine, on_commit=lambda: commits.append(1))
    await writer.start()
    await asyncio.gather(*(writer.write(row(deployment_id, f"k{n:03d}")) for n in range(200)))
    await writer.stop()
    assert stored_keys(db) == [f"k{n:03d}" for n in range(200)]
    assert writer.rows == 200
    assert writer.batches < 200  # requests that waited together were committed together
    assert len(commits) == writer.batches


async def test_duplicates_in_and_across_batches_are_one_row(engine, db, deployment_id):
    writer = InboxWriter(engine)
    await writer.start()
    await asyncio.gather(*(writer.write(row(deployment_id, "same")) for _ in range(10)))
    await writer.write(row(deployment_id, "same"))
    await writer.stop()
    assert stored_keys(db) == ["same"]


async def test_a_row_the_database_refuses_does_not_fail_its_neighbours(engine, db, deployment_id):
    writer = InboxWriter(engine, writers=1)
    await writer.start()
    good = [writer.write(row(deployment_id, f"good-{n}")) for n in range(5)]
    # No such deployment: a foreign-key violation inside the batch.
    bad = writer.write(row(deployment_id + 1000, "orphan"))
    results = await asyncio.gather(*good, bad, return_exceptions=True)
    await writer.stop()
    assert results[:5] == [None] * 5
    assert isinstance(results[5], InboxRowRefused)
    assert stored_keys(db) == [f"good-{n}" for n in range(5)]


async def test_an_unreachable_database_answers_unavailable(deployment_id):
    # Nothing listens on port 1: every connection attempt is refused at once.
    engine = make_async_engine("postgresql://rucksack@127.0.0.1:1/rucksack")
    writer = InboxWriter(engine)
    await writer.start()
    results = await asyncio.gather(
        *(writer.write(row(deployment_id, f"k{n}")) for n in range(3)), return_exceptions=True
    )
    await writer.stop()
    await engine.dispose()
    assert all(isinstance(r, InboxUnavailable) for r in results)


async def test_back_pressure_and_shutdown(engine, db, deployment_id):
    writer = InboxWriter(engine, writers=1, max_queued=1)
    with pytest.raises(InboxUnavailable):
        await writer.write(row(deployment_id, "before-start"))
    await writer.start()
    results = await asyncio.gather(
        writer.write(row(deployment_id, "first")),
        writer.write(row(deployment_id, "second")),
        return_exceptions=True,
    )
    assert results[0] is None
    assert isinstance(results[1], InboxUnavailable)  # the queue was full: 503 now, not a timeout later
    # Stopping drains what is queued; afterwards nothing is taken.
    pending = asyncio.gather(*(writer.write(row(deployment_id, f"late-{n}")) for n in range(1)))
    await asyncio.sleep(0)
    await writer.stop()
    await pending
    with pytest.raises(InboxUnavailable):
        await writer.write(row(deployment_id, "after-stop"))
    assert stored_keys(db) == ["first", "late-0"]


async def test_only_batches_with_pending_events_nudge_the_workers(engine, db, deployment_id):
    nudges = []
    writer = InboxWriter(engine, on_commit=lambda: nudges.append(1))
    await writer.start()
    await writer.write(row(deployment_id, "bad-body", state="rejected"))
    await writer.write(row(deployment_id, "unknown-type", state="ignored"))
    assert nudges == []
    await writer.write(row(deployment_id, "event"))
    await writer.stop()
    assert nudges == [1]
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(ConferenceEvent)) == 3
    db.rollback()
