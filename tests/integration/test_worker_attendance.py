"""End to end with a real Celery worker on Redis: webhooks over HTTP -> worker -> attendance in the API."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import update

from orchestrator.jobs import CeleryJobs
from orchestrator.models import ConferenceEvent, utcnow
from orchestrator.web.app import create_app
from tests.integration.test_attendance_streams import (
    World,
    delivered,
    event_sync_session,
    jaas_session,
    make_world,
    post,
)

pytestmark = [pytest.mark.redis, pytest.mark.slow]


async def poll_attendance(client, world: World, *, until, seconds: float = 60.0) -> dict[str, Any]:
    """Polls the API (without blocking the loop) until ``until(people)`` holds."""
    people: dict[str, Any] = {}
    for _ in range(int(seconds / 0.2)):
        resp = await client.get(
            f"/api/v1/sessions/{world.session_id}/attendance",
            headers={"Authorization": f"Bearer {world.token}"},
        )
        assert resp.status == 200, await resp.text()
        people = {p["display_name"]: p for p in (await resp.json())["people"]}
        if until(people):
            return people
        await asyncio.sleep(0.2)
    pytest.fail(f"attendance did not appear: {people}")


def app_on(settings, broker_url: str):
    with_broker = settings.replace(broker=dataclasses.replace(settings.broker, url=broker_url))
    return create_app(with_broker, jobs=CeleryJobs(broker_url))


async def test_events_posted_over_http_are_processed_by_the_worker(
    aiohttp_client, db, settings, worker, redis_broker_url
):
    world = make_world(db, settings)
    client = await aiohttp_client(app_on(settings, redis_broker_url))
    await post(client, world, delivered(event_sync_session(), seed=11, duplicates=4))

    people = await poll_attendance(client, world, until=lambda p: p.get("Ayşe", {}).get("minutes") == 59)
    assert (people["Ayşe"]["status"], people["Maria"]["minutes"], people["Leyla"]["role"]) == (
        "present",
        20,
        "facilitator",
    )
    assert people["Selin"]["status"] == "absent"

    # A second meeting format through the same worker: the JaaS stream replaces nothing it should not.
    await post(client, world, jaas_session())
    await poll_attendance(client, world, until=lambda p: p["Maria"]["minutes"] > 20)
    assert "rucksack.process_events" in worker.log()


async def test_events_stored_while_the_broker_is_down_are_caught_up_by_the_sweeper(
    aiohttp_client, db, db_factory, settings, worker, redis_broker_url
):
    world = make_world(db, settings)
    # Nothing listens on port 1: every job sent by the web tier is lost (and only logged).
    client = await aiohttp_client(app_on(settings, "redis://127.0.0.1:1/0"))
    await post(client, world, event_sync_session())
    with db_factory() as change:
        # The events have waited longer than the sweeper's 30 seconds.
        change.execute(update(ConferenceEvent).values(received_at=utcnow() - dt.timedelta(minutes=2)))
        change.commit()
    # Beat would send this every minute; here it is sent once, to the real worker.
    CeleryJobs(redis_broker_url).send("rucksack.sweep_inbox")
    people = await poll_attendance(client, world, until=lambda p: p.get("Ayşe", {}).get("minutes") == 59)
    assert people["Maria"]["minutes"] == 20
    assert "pending event(s) older than" in worker.log()
