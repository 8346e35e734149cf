"""A real Celery worker process on Redis runs a real task against the test database."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from orchestrator.jobs import CeleryJobs
from orchestrator.models import Series, Session
from tests import factories
from tests.conftest import wait_for

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def test_worker_materialises_a_series_sent_through_redis(db, db_factory, worker, redis_broker_url):
    centre = factories.centre(db)
    # Materialising creates only future sessions: a cycle of 13 weeks starting next week.
    first = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=7)
    group = factories.group(db, centre, cycle_start=first, cycle_end=first + dt.timedelta(weeks=12))
    series = Series(
        group_id=group.id,
        title="Rucksack",
        rrule="FREQ=WEEKLY",
        dtstart_local=dt.datetime.combine(first, dt.time(9, 0)),
        duration_minutes=90,
        timezone="Europe/Berlin",
        until=group.cycle_end,
        uid="series-worker-test@rucksack",
    )
    db.add(series)
    db.commit()

    CeleryJobs(redis_broker_url).send("rucksack.materialise_series", series.id)

    def count() -> int:
        with db_factory() as check:
            return (
                check.scalar(select(func.count()).select_from(Session).where(Session.series_id == series.id))
                or 0
            )

    wait_for(lambda: count() == 13, timeout=60, what="13 sessions")
    # Sending the same job again changes nothing: the task is idempotent.
    CeleryJobs(redis_broker_url).send("rucksack.materialise_series", series.id)
    CeleryJobs(redis_broker_url).send("rucksack.materialise_all_series")
    wait_for(
        lambda: (
            "materialise_all_series" in worker.log()
            and "succeeded" in worker.log().split("materialise_all_series")[-1]
        ),
        timeout=60,
        what="the second run",
    )
    assert count() == 13
