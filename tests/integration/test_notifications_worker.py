"""Reminders through a real Celery worker on Redis into a real SMTP server.

The worker is a ``celery worker`` child process configured only through the environment, as in
production (``RUCKSACK_MAIL_HOST`` and friends); the SMTP server is aiosmtpd in this process.
Beat is stood in for by sending its job twice; a redelivered delivery job is stood in for by
sending ``rucksack.deliver_notifications`` with the same ids again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from orchestrator import models as m
from orchestrator.i18n import format_local_datetime, gettext, language_scope
from orchestrator.jobs import CeleryJobs
from tests import factories
from tests.conftest import WorkerProcess, wait_for
from tests.integration.test_notifications import CONSENT, body_of, smtp_server

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def mail_worker(settings, redis_broker_url: str, tmp_path: Path) -> Iterator[tuple[WorkerProcess, object]]:
    with smtp_server() as (sink, port):
        proc = WorkerProcess(
            settings,
            redis_broker_url,
            tmp_path,
            extra_env={
                "RUCKSACK_MAIL_HOST": "127.0.0.1",
                "RUCKSACK_MAIL_PORT": str(port),
                "RUCKSACK_MAIL_STARTTLS": "false",
                "RUCKSACK_MAIL_SSL": "false",
                "RUCKSACK_MAIL_FROM_ADDRESS": "rucksack@ki-test.example",
            },
        )
        proc.start()
        try:
            yield proc, sink
        finally:
            proc.stop()


def succeeded(worker: WorkerProcess, task: str) -> int:
    return sum(
        1 for line in worker.log().splitlines() if f"Task {task}[" in line and " succeeded in " in line
    )


def test_reminder_mails_through_a_real_worker(db, db_factory, mail_worker, redis_broker_url):
    worker, sink = mail_worker
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    starts_at = now + dt.timedelta(hours=23, minutes=30)  # the 24-hour reminder is due
    centre = factories.centre(db)
    facilitator = factories.user(db, "facilitator", centre, language="en")
    group = factories.group(db, centre, facilitators=[facilitator])
    anna = factories.parent(
        db,
        centre,
        groups=[group],
        display_name="Anna",
        language="de",
        email="anna@example.org",
        email_consent_at=CONSENT,
    )
    olena = factories.parent(
        db,
        centre,
        groups=[group],
        display_name="Olena",
        language="uk",
        email="olena@example.org",
        email_consent_at=CONSENT,
    )
    # An address but no consent: no mail, an outbox entry.
    factories.parent(db, centre, groups=[group], display_name="Nora", language="ar", email="nora@example.org")
    session = factories.session(db, group, starts_at=starts_at)
    other_group = factories.group(db, centre)
    factories.parent(
        db,
        centre,
        groups=[other_group],
        display_name="Zeynep",
        language="tr",
        email="zeynep@example.org",
        email_consent_at=CONSENT,
    )
    factories.session(db, other_group, starts_at=starts_at, status="cancelled")
    db.commit()

    jobs = CeleryJobs(redis_broker_url)
    # Beat fires twice (two ticks, or two beats by mistake).
    jobs.send("rucksack.queue_reminders")
    jobs.send("rucksack.queue_reminders")
    wait_for(
        lambda: len(sink.messages) >= 3,
        timeout=150,
        what=f"three reminder mails (worker log:\n{worker.log()})",
    )
    wait_for(lambda: succeeded(worker, "rucksack.queue_reminders") == 2, timeout=60, what="both beat runs")

    def settled() -> list[m.Notification]:
        with db_factory() as check:
            rows = list(check.scalars(select(m.Notification).order_by(m.Notification.id)))
        return rows if rows and all(r.state != "queued" for r in rows) else []

    rows = wait_for(settled, timeout=60, what="every notification settled")
    assert sorted((r.address, r.state) for r in rows) == sorted(
        [
            ("", "recorded"),
            ("anna@example.org", "sent"),
            ("olena@example.org", "sent"),
            (facilitator.email, "sent"),
        ]
    )
    assert all(r.session_id == session.id for r in rows)

    recipients = sorted(msg["To"] for msg in sink.messages)
    assert recipients == sorted(["anna@example.org", "olena@example.org", facilitator.email])
    for address, language in (
        ("anna@example.org", "de"),
        ("olena@example.org", "uk"),
        (facilitator.email, "en"),
    ):
        [mail] = sink.to(address)
        assert mail["Content-Language"] == language
        with language_scope(language):
            local = format_local_datetime(starts_at, "Europe/Berlin")
            greeting = gettext("Your Rucksack group meets online soon.")
        assert local in body_of(mail), (language, body_of(mail))
        assert " ".join(local.split()) in " ".join(mail["Subject"].split())
        # The text itself is in the recipient's language (from the gettext catalogs).
        assert greeting in body_of(mail)
    # Berlin wall-clock time, not UTC.
    berlin = starts_at.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M")
    assert berlin in body_of(sink.to("anna@example.org")[0])
    assert "/p/" in body_of(sink.to("anna@example.org")[0])
    assert "zeynep@example.org" not in recipients  # her session is cancelled

    # The delivery job is redelivered (acks_late after a lost acknowledgement) and beat fires again.
    jobs.send("rucksack.deliver_notifications", [r.id for r in rows])
    jobs.send("rucksack.deliver_notifications")
    jobs.send("rucksack.queue_reminders")
    wait_for(
        lambda: succeeded(worker, "rucksack.queue_reminders") == 3, timeout=60, what="the third beat run"
    )
    wait_for(
        lambda: succeeded(worker, "rucksack.deliver_notifications") >= 3,
        timeout=60,
        what="the repeated deliveries",
    )
    assert len(sink.messages) == 3
    with db_factory() as check:
        assert len(check.scalars(select(m.Notification)).all()) == 4
    assert anna.id
    assert olena.id
