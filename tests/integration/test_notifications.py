"""Notifications end to end against the database: reminders, notices, delivery, the outbox.

A real SMTP server (aiosmtpd, started here on a free port) receives the mails; the personal link
in a mail is followed through the app. The helpers at the top (``MailSink``, ``smtp_server``,
``arrange``) are shared with the other notification test modules.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from orchestrator import models as m
from orchestrator.notifications import delivery
from orchestrator.notifications import services as notifications
from orchestrator.notifications.channels import Channels, SmtpMailer
from tests import factories
from tests.support import csrf_token, login

BERLIN = ZoneInfo("Europe/Berlin")
CONSENT = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MailSink:
    """An aiosmtpd handler that keeps what it receives and refuses what it is told to."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: dict[str, str] = {}  # recipient -> SMTP reply, e.g. "550 no such user"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [msg for msg in self.messages if msg["To"] == address]


@contextmanager
def smtp_server() -> Iterator[tuple[MailSink, int]]:
    sink = MailSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[MailSink, int]]:
    with smtp_server() as running:
        yield running


def mail_channels(port: int) -> Channels:
    return Channels(
        mailer=SmtpMailer(
            host="127.0.0.1", port=port, from_address="rucksack@example.org", starttls=False, timeout=5
        ),
        sms=None,
    )


def body_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


@dataclasses.dataclass
class World:
    centre: m.Centre
    group: m.Group
    facilitator: m.StaffUser
    coordinator: m.StaffUser
    anna: m.Parent  # German, e-mail consent
    ayse: m.Parent  # Turkish, SMS consent (e-mail address without consent)
    amal: m.Parent  # Arabic, no consent at all
    session: m.Session


def arrange(db: Any, *, starts_at: dt.datetime) -> World:
    centre = factories.centre(db)
    deployment = factories.deployment(db, centre)
    facilitator = factories.user(db, "facilitator", centre, language="en")
    coordinator = factories.user(db, "coordinator", centre, language="en")
    group = factories.group(db, centre, facilitators=[facilitator], deployment_id=deployment.id)
    anna = factories.parent(
        db,
        centre,
        groups=[group],
        display_name="Anna",
        language="de",
        email="anna@example.org",
        email_consent_at=CONSENT,
    )
    ayse = factories.parent(
        db,
        centre,
        groups=[group],
        display_name="Ayşe",
        language="tr",
        phone="0151 2345678",
        sms_consent_at=CONSENT,
        email="ayse@example.org",
    )
    amal = factories.parent(db, centre, groups=[group], display_name="Amal", language="ar")
    session = factories.session(db, group, starts_at=starts_at)
    db.commit()
    return World(centre, group, facilitator, coordinator, anna, ayse, amal, session)


def rows(db: Any, **filters: Any) -> list[m.Notification]:
    # populate_existing rather than expire_all: an expired attribute of another object read later
    # would open a new transaction, and on SQLite every transaction takes the write lock.
    query = select(m.Notification).order_by(m.Notification.id).execution_options(populate_existing=True)
    for key, value in filters.items():
        query = query.where(getattr(m.Notification, key) == value)
    found = list(db.scalars(query))
    # End the read transaction: on SQLite it would hold the write lock the code under test needs.
    db.commit()
    return found


START = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)  # Tuesday 09:00 in Berlin


# -- reminders -------------------------------------------------------------------------------


def test_reminders_go_to_consented_channels_once_per_offset(db):
    w = arrange(db, starts_at=START)
    now = START - dt.timedelta(hours=23, minutes=59)
    created = notifications.queue_due_reminders(db, now=now)
    db.commit()
    assert len(created) == 4
    by_key = {r.idempotency_key: r for r in rows(db)}
    epoch = int(START.timestamp())
    assert set(by_key) == {
        f"reminder:{w.session.id}:{epoch}:1440:p{w.anna.id}:email",
        f"reminder:{w.session.id}:{epoch}:1440:p{w.ayse.id}:sms",
        f"reminder:{w.session.id}:{epoch}:1440:p{w.amal.id}:outbox",
        f"reminder:{w.session.id}:{epoch}:1440:s{w.facilitator.id}:email",
    }
    anna = by_key[f"reminder:{w.session.id}:{epoch}:1440:p{w.anna.id}:email"]
    assert (anna.state, anna.address, anna.language) == ("queued", "anna@example.org", "de")
    assert "Dienstag, 1. Dezember 2026" in anna.body
    assert "09:00" in anna.body
    ayse = by_key[f"reminder:{w.session.id}:{epoch}:1440:p{w.ayse.id}:sms"]
    assert (ayse.channel, ayse.address) == ("sms", "0151 2345678")
    assert "Salı" in ayse.body
    amal = by_key[f"reminder:{w.session.id}:{epoch}:1440:p{w.amal.id}:outbox"]
    assert (amal.state, amal.channel, amal.last_error) == ("recorded", "outbox", notifications.NO_CONSENT)

    # Beat fires again (and again a minute later): nothing new.
    assert notifications.queue_due_reminders(db, now=now) == []
    assert notifications.queue_due_reminders(db, now=now + dt.timedelta(minutes=1)) == []
    db.commit()
    # The 1-hour reminder is a new one per recipient and channel.
    assert len(notifications.queue_due_reminders(db, now=START - dt.timedelta(minutes=59))) == 4
    db.commit()
    assert len(rows(db)) == 8


def test_no_reminders_for_cancelled_live_or_past_sessions(db):
    w = arrange(db, starts_at=START)
    w.session.status = "cancelled"
    live = factories.session(db, w.group, starts_at=START + dt.timedelta(hours=2), status="live")
    db.commit()
    assert notifications.queue_due_reminders(db, now=START - dt.timedelta(minutes=30)) == []
    assert notifications.queue_due_reminders(db, now=START + dt.timedelta(minutes=1)) == []
    assert live.id
    assert rows(db) == []


def test_moved_session_gets_reminders_for_its_new_time_and_the_old_ones_are_withdrawn(db, smtp):
    sink, port = smtp
    w = arrange(db, starts_at=START)
    now = START - dt.timedelta(minutes=50)
    old = notifications.queue_due_reminders(db, now=now)
    db.commit()
    # Moved to the next day before the reminders went out.
    w.session.starts_at = START + dt.timedelta(days=1)
    w.session.ends_at = w.session.starts_at + dt.timedelta(minutes=90)
    w.session.sequence += 1
    db.commit()
    report = delivery.deliver(
        db_factory_of(db), channels=mail_channels(port), base_url="https://r.example", ids=old, now=now
    )
    assert report.sent == 0
    assert report.withdrawn == 2
    assert sink.messages == []
    assert all("moved" in r.last_error for r in rows(db, state="failed"))
    new_now = w.session.starts_at - dt.timedelta(hours=23)
    new = notifications.queue_due_reminders(db, now=new_now)
    db.commit()
    assert len(new) == 4
    assert all(
        f":{int(w.session.starts_at.timestamp())}:" in r.idempotency_key for r in rows(db) if r.id in new
    )


def db_factory_of(db: Any) -> Any:
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(db.get_bind(), expire_on_commit=False)


def test_reminders_follow_the_centres_offsets(db):
    w = arrange(db, starts_at=START)
    w.centre.reminder_offsets = [180]
    db.commit()
    assert notifications.queue_due_reminders(db, now=START - dt.timedelta(hours=23)) == []
    assert len(notifications.queue_due_reminders(db, now=START - dt.timedelta(hours=2, minutes=59))) == 4
    db.commit()
    assert {r.idempotency_key.split(":")[3] for r in rows(db)} == {"180"}


def test_left_and_erased_parents_get_nothing(db):
    w = arrange(db, starts_at=START)
    db.execute(
        m.Enrolment.__table__.update()
        .where(m.Enrolment.parent_id == w.anna.id)
        .values(left_at=START - dt.timedelta(days=3))
    )
    w.ayse.erased_at = START - dt.timedelta(days=2)
    db.commit()
    notifications.queue_due_reminders(db, now=START - dt.timedelta(hours=1))
    db.commit()
    assert {(r.parent_id, r.staff_user_id) for r in rows(db)} == {(w.amal.id, None), (None, w.facilitator.id)}


# -- immediate notices -----------------------------------------------------------------------


def test_cancellation_notice_is_idempotent_and_skips_the_actor(db):
    w = arrange(db, starts_at=START)
    now = START - dt.timedelta(days=2)
    w.session.status = "cancelled"
    w.session.sequence += 1
    db.flush()
    first = notifications.notify_session_changed(
        db, session_id=w.session.id, change="cancelled", now=now, actor_id=w.facilitator.id
    )
    again = notifications.notify_session_changed(db, session_id=w.session.id, change="cancelled", now=now)
    db.commit()
    # Anna (e-mail), Ayşe (SMS), Amal (outbox); the facilitator cancelled it and needs no notice,
    # and the second call (without actor) adds only the facilitator's.
    assert len(first) == 3
    assert len(again) == 1
    body = rows(db, parent_id=w.anna.id)[0].body
    assert "abgesagt" in body or "is cancelled" in body


def test_no_notice_for_a_session_that_is_over(db):
    w = arrange(db, starts_at=START)
    assert (
        notifications.notify_session_changed(
            db, session_id=w.session.id, change="moved", now=START + dt.timedelta(hours=3)
        )
        == []
    )


def test_unknown_change_is_refused(db):
    w = arrange(db, starts_at=START)
    with pytest.raises(notifications.InvalidInput):
        notifications.notify_session_changed(db, session_id=w.session.id, change="renamed")


def test_started_goes_to_parents_who_have_not_joined(db):
    w = arrange(db, starts_at=START)
    w.session.status = "live"
    w.session.launched_at = START - dt.timedelta(minutes=2)
    db.add(m.SessionVisit(session_id=w.session.id, parent_id=w.anna.id, kind="join", at=START))
    db.commit()
    created = notifications.notify_session_started(
        db, session_id=w.session.id, now=START + dt.timedelta(minutes=1)
    )
    db.commit()
    assert {r.parent_id for r in rows(db) if r.id in created} == {w.ayse.id, w.amal.id}
    assert all(r.staff_user_id is None for r in rows(db))
    assert (
        notifications.notify_session_started(db, session_id=w.session.id, now=START + dt.timedelta(minutes=2))
        == []
    )


def test_a_parent_excused_ahead_gets_no_reminder_and_no_started_notice(db):
    """She called in sick: the 1-hour reminder and "it has started, join now" would only nag."""
    w = arrange(db, starts_at=START)
    db.add(
        m.Attendance(
            session_id=w.session.id,
            parent_id=w.ayse.id,
            role="parent",
            computed_minutes=0,
            computed_status="absent",
            late=False,
            left_early=False,
            override_status="excused",
            override_reason="child ill, called in",
        )
    )
    db.commit()
    created = notifications.queue_due_reminders(db, now=START - dt.timedelta(minutes=59))
    db.commit()
    assert {r.parent_id for r in rows(db) if r.id in created} == {w.anna.id, w.amal.id, None}
    w.session.status = "live"
    w.session.launched_at = START
    db.commit()
    started = notifications.notify_session_started(db, session_id=w.session.id, now=START)
    db.commit()
    assert {r.parent_id for r in rows(db) if r.id in started} == {w.anna.id, w.amal.id}


# -- delivery --------------------------------------------------------------------------------


def test_delivery_sends_mail_with_a_working_personal_link(db, db_factory, smtp):
    sink, port = smtp
    w = arrange(db, starts_at=START)
    now = START - dt.timedelta(minutes=55)
    ids = notifications.queue_due_reminders(db, now=now)
    db.commit()
    report = delivery.deliver(
        db_factory, channels=mail_channels(port), base_url="https://r.example", ids=ids, now=now
    )
    # Anna and the facilitator by e-mail; Ayşe's SMS has no gateway here: outbox.
    assert (report.sent, report.recorded) == (2, 1)
    [mail] = sink.to("anna@example.org")
    assert mail["Content-Language"] == "de"
    assert mail["Auto-Submitted"] == "auto-generated"
    text = body_of(mail)
    assert "Dienstag, 1. Dezember 2026, 09:00" in text
    link = re.search(r"https://r\.example/p/([A-Za-z0-9_-]{32})/s/(\d+)", text)
    assert link
    assert int(link.group(2)) == w.session.id
    # Only the hash is stored; the body in the database still holds the mark, not the secret.
    assert link.group(1) not in rows(db, parent_id=w.anna.id)[0].body
    [staff_mail] = sink.to(w.facilitator.email)
    assert f"https://r.example/facilitator/sessions/{w.session.id}" in body_of(staff_mail)
    ayse = rows(db, parent_id=w.ayse.id)[0]
    assert (ayse.state, ayse.channel) == ("recorded", "outbox")
    assert "SMS is not set up" in ayse.last_error
    sent = rows(db, parent_id=w.anna.id)[0]
    assert (sent.state, sent.attempts, sent.sent_at) == ("sent", 1, now)
    # Delivering again sends nothing: the rows are settled.
    again = delivery.deliver(
        db_factory, channels=mail_channels(port), base_url="https://r.example", ids=ids, now=now
    )
    assert again.handled == 0
    assert len(sink.messages) == 2


async def test_the_link_in_the_mail_leads_into_the_room(db, db_factory, smtp, client):
    """Follow the link from the mail: once the session is live it redirects into Jitsi."""
    sink, port = smtp
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    w = arrange(db, starts_at=now + dt.timedelta(minutes=20))
    ids = notifications.queue_due_reminders(db, now=now)
    db.commit()
    delivery.deliver(db_factory, channels=mail_channels(port), base_url="https://r.example", ids=ids, now=now)
    [mail] = sink.to("anna@example.org")
    found = re.search(r"https://r\.example(/p/[A-Za-z0-9_-]{32}/s/(\d+))", body_of(mail))
    assert found
    assert int(found.group(2)) == w.session.id
    waiting = await client.get(found.group(1), allow_redirects=False)
    assert waiting.status == 200
    assert 'lang="de"' in await waiting.text()  # Anna's language
    session = db.get(m.Session, w.session.id)
    session.status, session.launched_at = "live", now
    db.commit()
    room = await client.get(found.group(1), allow_redirects=False)
    assert room.status in (302, 303), await room.text()
    assert room.headers["Location"].startswith("https://meet.example.org/")
    assert "jwt=" in room.headers["Location"] or "#" in room.headers["Location"]
    unknown = await client.get("/p/" + "A" * 32 + f"/s/{w.session.id}", allow_redirects=False)
    assert unknown.status == 404


def test_permanent_refusal_fails_without_retry_and_temporary_is_retried(db, db_factory, smtp):
    sink, port = smtp
    w = arrange(db, starts_at=START)
    sink.refuse["anna@example.org"] = "550 5.1.1 no such user"
    sink.refuse[w.facilitator.email] = "451 4.3.0 try again later"
    now = START - dt.timedelta(hours=20)
    ids = notifications.queue_due_reminders(db, now=now)
    db.commit()
    report = delivery.deliver(
        db_factory, channels=mail_channels(port), base_url="https://r.example", ids=ids, now=now
    )
    assert (report.failed, report.retrying) == (1, 1)
    anna = rows(db, parent_id=w.anna.id)[0]
    assert (anna.state, anna.attempts) == ("failed", 1)
    assert "550" in anna.last_error
    staff = rows(db, staff_user_id=w.facilitator.id)[0]
    assert (staff.state, staff.attempts) == ("queued", 1)
    assert staff.next_attempt_at == now + dt.timedelta(minutes=1)
    assert "451" in staff.last_error
    # A link minted for a message that was not delivered does not stay valid.
    assert db.scalar(select(func.count()).select_from(m.AccessSecret)) == 0
    db.commit()
    # Not yet due: nothing happens. Then the server recovers and the sweeper sends it.
    assert (
        delivery.deliver(
            db_factory, channels=mail_channels(port), base_url="https://r.example", now=now
        ).handled
        == 0
    )
    del sink.refuse[w.facilitator.email]
    later = now + dt.timedelta(minutes=1)
    assert (
        delivery.deliver(
            db_factory, channels=mail_channels(port), base_url="https://r.example", now=later
        ).sent
        == 1
    )
    staff = rows(db, staff_user_id=w.facilitator.id)[0]
    assert (staff.state, staff.attempts, staff.last_error) == ("sent", 2, "")
    assert len(sink.to(w.facilitator.email)) == 1


def test_a_server_that_is_down_never_loses_the_notification(db, db_factory):
    w = arrange(db, starts_at=START)
    now = START - dt.timedelta(hours=20)
    notifications.queue_due_reminders(db, now=now)
    db.commit()
    dead = mail_channels(free_port())  # nobody listens there
    moment = now
    for attempt in range(1, delivery.MAX_ATTEMPTS + 1):
        report = delivery.deliver(db_factory, channels=dead, base_url="https://r.example", now=moment)
        anna = rows(db, parent_id=w.anna.id)[0]
        assert anna.attempts == attempt
        assert "cannot connect" in anna.last_error
        if attempt < delivery.MAX_ATTEMPTS:
            assert anna.state == "queued"
            assert report.retrying == 2
            moment = anna.next_attempt_at
        else:
            assert anna.state == "failed"
            assert "gave up after 6 attempts" in anna.last_error


def test_two_deliveries_at_once_send_each_notification_once(db, db_factory, smtp):
    import threading

    sink, port = smtp
    arrange(db, starts_at=START)
    other = arrange(db, starts_at=START + dt.timedelta(minutes=5))
    now = START - dt.timedelta(minutes=30)
    notifications.queue_due_reminders(db, now=now)
    db.commit()
    assert other
    threads = [
        threading.Thread(
            target=delivery.deliver,
            kwargs={
                "factory": db_factory,
                "channels": mail_channels(port),
                "base_url": "https://r.example",
                "now": now,
            },
        )
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sink.messages) == 4
    assert len({msg["Message-ID"] for msg in sink.messages}) == 4
    assert {r.attempts for r in rows(db, state="sent")} == {1}


# -- the outbox page and the API -------------------------------------------------------------


async def test_outbox_page_lists_and_retries(db, client, jobs):
    w = arrange(db, starts_at=START)
    notifications.queue_due_reminders(db, now=START - dt.timedelta(hours=2))
    failed = rows(db, parent_id=w.anna.id)[0]
    failed.state, failed.last_error, failed.attempts = "failed", "recipient refused: 550 no such user", 1
    db.commit()
    await login(client, w.coordinator.email)
    page = await client.get("/notifications")
    assert page.status == 200
    html = await page.text()
    assert "Anna" in html
    assert "Amal" in html
    assert "550 no such user" in html
    assert "[[link]]" not in html
    filtered = await (await client.get("/notifications?state=recorded")).text()
    assert "Amal" in filtered
    assert "anna@example.org" not in filtered
    bad = await client.get("/notifications?state=nonsense")
    assert bad.status == 422

    csrf = await csrf_token(client, "/notifications")
    response = await client.post(
        f"/notifications/{failed.id}/retry",
        data={"csrf_token": csrf, "back": "state=failed"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"].startswith("/notifications?state=failed")
    assert ("rucksack.deliver_notifications", ([failed.id],)) in jobs.sent
    again = rows(db, id=failed.id)[0]
    assert (again.state, again.attempts, again.last_error) == ("queued", 0, "")
    audit = db.scalars(select(m.AuditEntry).where(m.AuditEntry.action == "notification.retry")).all()
    assert len(audit) == 1
    assert audit[0].detail["previous"]["state"] == "failed"


async def test_outbox_retry_uses_a_consent_given_since(db, client):
    w = arrange(db, starts_at=START)
    notifications.queue_due_reminders(db, now=START - dt.timedelta(hours=2))
    db.commit()
    amal = rows(db, parent_id=w.amal.id)[0]
    assert amal.state == "recorded"
    # No consent yet: it stays in the outbox.
    csrf = await login(client, w.coordinator.email)
    response = await client.post(
        f"/notifications/{amal.id}/retry", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert response.headers["Location"].endswith("notice=outbox")
    parent = db.get(m.Parent, w.amal.id)
    parent.phone, parent.sms_consent_at = "+49 171 555 0000", CONSENT
    db.commit()
    response = await client.post(
        f"/notifications/{amal.id}/retry", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert response.headers["Location"].endswith("notice=queued")
    row = rows(db, id=amal.id)[0]
    assert (row.state, row.channel, row.address) == ("queued", "sms", "+49 171 555 0000")
    assert len(row.body) < 300  # re-rendered as an SMS


async def test_api_lists_the_centres_notifications_only(db, client):
    w = arrange(db, starts_at=START)
    other = arrange(db, starts_at=START)
    notifications.queue_due_reminders(db, now=START - dt.timedelta(hours=2))
    db.commit()
    await login(client, w.coordinator.email)
    headers: dict[str, str] = {}
    response = await client.get("/api/v1/notifications?channel=outbox", headers=headers)
    assert response.status == 200, await response.text()
    data = await response.json()
    # Only Amal (no consent) is in the outbox; Ayşe's SMS is queued for delivery.
    assert data["total"] == 1
    assert [(item["recipient"], item["state"]) for item in data["items"]] == [("Amal", "recorded")]
    everything = await (await client.get("/api/v1/notifications", headers=headers)).json()
    assert everything["total"] == 4
    assert everything["counts"]["queued"] == 3
    ids_other = {r.id for r in rows(db, centre_id=other.centre.id)}
    assert not ids_other & {item["id"] for item in everything["items"]}
    assert all("[[link]]" not in item["body"] for item in everything["items"])


async def test_facilitators_cannot_see_the_outbox(db, client):
    w = arrange(db, starts_at=START)
    await login(client, w.facilitator.email)
    response = await client.get("/api/v1/notifications")
    assert response.status == 403


# -- the scheduling use cases write the notices ----------------------------------------------


def coordinator_actor(w: World) -> Any:
    from orchestrator.access import Actor

    return Actor(
        user_id=w.coordinator.id, role="coordinator", centre_id=w.centre.id, display_name="Koordination"
    )


def test_cancelling_moving_and_restoring_notify_in_the_same_transaction(db):
    from orchestrator.scheduling import services as scheduling

    w = arrange(db, starts_at=START)
    actor = coordinator_actor(w)
    now = START - dt.timedelta(days=2)
    scheduling.cancel_session(db, actor=actor, session_id=w.session.id, reason="Krankheit", now=now)
    db.commit()
    cancelled = rows(db, kind="cancelled")
    assert {(r.parent_id, r.staff_user_id, r.channel) for r in cancelled} == {
        (w.anna.id, None, "email"),
        (w.ayse.id, None, "sms"),
        (w.amal.id, None, "outbox"),
        (None, w.facilitator.id, "email"),
    }
    # The reason (free text, maybe about a person) is not copied into the messages.
    assert all("Krankheit" not in r.body for r in cancelled)
    scheduling.restore_session(db, actor=actor, session_id=w.session.id, now=now)
    db.commit()
    assert len(rows(db, kind="restored")) == 4
    scheduling.move_session(
        db, actor=actor, session_id=w.session.id, new_start_local=dt.datetime(2026, 12, 2, 10, 0), now=now
    )
    db.commit()
    [moved] = rows(db, kind="moved", parent_id=w.anna.id)
    assert "Dienstag, 1. Dezember 2026, 09:00" in moved.body  # the old time
    assert "Mittwoch, 2. Dezember 2026, 10:00" in moved.body  # the new time
    # A failed change writes no notice: the whole transaction is rolled back.
    with pytest.raises(notifications.InvalidInput):
        scheduling.move_session(
            db, actor=actor, session_id=w.session.id, new_start_local=dt.datetime(2026, 11, 1, 10, 0), now=now
        )
    db.rollback()
    assert len(rows(db, kind="moved")) == 4


def test_a_series_change_notifies_the_next_two_weeks_only(db):
    from orchestrator.scheduling import services as scheduling

    w = arrange(db, starts_at=START)
    actor = coordinator_actor(w)
    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
    series = scheduling.create_series(
        db, actor=actor, group_id=w.group.id, first_start_local=dt.datetime(2026, 11, 24, 15, 0), now=now
    )
    db.commit()
    scheduling.update_series(db, actor=actor, series_id=series.id, start_time=dt.time(16, 0), now=now)
    db.commit()
    moved = rows(db, kind="moved", parent_id=w.anna.id)
    # 24 November and 1 December: within two weeks of 20 November; later ones are left to the
    # calendars and the reminders.
    assert len(moved) == 2
    assert all("16:00" in r.body for r in moved)


def weekly_series(db: Any, w: World, now: dt.datetime) -> Any:
    """Tuesdays 15:00 in Berlin from 24 November, made by the coordinator."""
    from orchestrator.scheduling import services as scheduling

    series = scheduling.create_series(
        db,
        actor=coordinator_actor(w),
        group_id=w.group.id,
        first_start_local=dt.datetime(2026, 11, 24, 15, 0),
        now=now,
    )
    db.commit()
    return series


SERIES_NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
DEC_1_SERIES = dt.datetime(2026, 12, 1, 14, 0, tzinfo=dt.UTC)  # Tuesday 15:00 in Berlin


def test_sessions_a_series_change_removes_get_a_cancellation_notice(db, db_factory, smtp):
    from orchestrator.scheduling import services as scheduling

    sink, port = smtp
    w = arrange(db, starts_at=START)
    series = weekly_series(db, w, SERIES_NOW)
    removed_id = db.scalar(
        select(m.Session.id).where(m.Session.series_id == series.id, m.Session.starts_at == DEC_1_SERIES)
    )
    # The series now ends after its first session: 1 December on are deleted.
    change = scheduling.update_series(
        db, actor=coordinator_actor(w), series_id=series.id, until=dt.date(2026, 11, 25), now=SERIES_NOW
    )
    db.commit()
    assert change.summary.deleted > 2
    assert db.get(m.Session, removed_id) is None
    cancelled = rows(db, kind="cancelled")
    # Only 1 December lies within two weeks of 20 November: four recipients (the actor is not one).
    assert len(cancelled) == 4
    assert {r.session_id for r in cancelled} == {None}
    assert {r.parent_id for r in cancelled} == {w.anna.id, w.ayse.id, w.amal.id, None}
    [anna] = [r for r in cancelled if r.parent_id == w.anna.id]
    assert anna.idempotency_key.startswith(
        f"removed:{w.group.id}:{removed_id}:{int(DEC_1_SERIES.timestamp())}:"
    )
    assert "Dienstag, 1. Dezember 2026, 15:00" in anna.body

    report = delivery.deliver(
        db_factory, channels=mail_channels(port), base_url="https://r.example", now=SERIES_NOW
    )
    assert report.sent == 2  # Anna and the facilitator by e-mail
    text = body_of(sink.to("anna@example.org")[0])
    assert "Dienstag, 1. Dezember 2026, 15:00" in text
    # The session is gone: the link leads to Anna's page, not to a session.
    assert re.search(r"https://r\.example/p/[A-Za-z0-9_-]{32}\s", text + " ")
    assert "/s/" not in text
    assert f"https://r.example/facilitator/sessions/{removed_id}" not in body_of(
        sink.to(w.facilitator.email)[0]
    )


def test_a_removal_notice_is_withdrawn_when_the_session_comes_back_before_delivery(db, db_factory, smtp):
    from orchestrator.scheduling import services as scheduling

    sink, port = smtp
    w = arrange(db, starts_at=START)
    series = weekly_series(db, w, SERIES_NOW)
    actor = coordinator_actor(w)
    scheduling.update_series(
        db, actor=actor, series_id=series.id, until=dt.date(2026, 11, 25), now=SERIES_NOW
    )
    db.commit()
    # A slip: the series is extended again before the notices went out.
    later = SERIES_NOW + dt.timedelta(minutes=5)
    scheduling.update_series(db, actor=actor, series_id=series.id, until=dt.date(2027, 3, 31), now=later)
    db.commit()
    assert db.scalar(select(m.Session.id).where(m.Session.starts_at == DEC_1_SERIES)) is not None
    db.commit()  # end the read: on SQLite it would hold the lock delivery needs
    report = delivery.deliver(
        db_factory, channels=mail_channels(port), base_url="https://r.example", now=later
    )
    # Anna's and the facilitator's mails are withdrawn; SMS and outbox rows were never to be sent.
    assert (report.sent, report.withdrawn) == (0, 2)
    assert sink.messages == []
    assert all(
        r.last_error == "not sent: the group meets at that time after all" for r in rows(db, state="failed")
    )


def test_a_removal_notice_is_not_sent_once_its_time_has_passed_or_to_a_parent_who_left(db, db_factory, smtp):
    from orchestrator.scheduling import services as scheduling

    sink, port = smtp
    w = arrange(db, starts_at=START)
    series = weekly_series(db, w, SERIES_NOW)
    scheduling.update_series(
        db, actor=coordinator_actor(w), series_id=series.id, until=dt.date(2026, 11, 25), now=SERIES_NOW
    )
    db.execute(
        m.Enrolment.__table__.update()
        .where(m.Enrolment.parent_id == w.anna.id)
        .values(left_at=SERIES_NOW + dt.timedelta(hours=1))
    )
    db.commit()
    report = delivery.deliver(
        db_factory,
        channels=mail_channels(port),
        base_url="https://r.example",
        now=SERIES_NOW + dt.timedelta(hours=2),
    )
    assert report.sent == 1  # the facilitator
    assert sink.to("anna@example.org") == []
    [anna] = rows(db, parent_id=w.anna.id, kind="cancelled")
    assert anna.last_error == "not sent: the parent is no longer in the group"
    # A notice still queued when the session's time has come is not sent any more.
    stale = notifications.stale_reason(db, rows(db, parent_id=w.ayse.id)[0], DEC_1_SERIES)
    assert stale == "not sent: the session's time has passed"


def closed_on_1_december(db: Any) -> tuple[World, Any]:
    """The weekly series, and the coordinator closing Tuesday 1 December on 20 November."""
    from orchestrator.scheduling import services as scheduling

    w = arrange(db, starts_at=START)
    weekly_series(db, w, SERIES_NOW)
    change = scheduling.add_closure_day(
        db, actor=coordinator_actor(w), group_id=w.group.id, day=dt.date(2026, 12, 1), now=SERIES_NOW
    )
    db.commit()
    return w, change


def test_a_new_closure_day_tells_people_about_the_sessions_it_removes(db, db_factory, smtp):
    w, change = closed_on_1_december(db)
    assert change.summary.deleted == 1
    # The one-off session that morning stays (a coordinator decides about it), with no notice.
    assert [c.session.id for c in change.conflicts] == [w.session.id]
    cancelled = rows(db, kind="cancelled")
    assert len(cancelled) == 4
    [anna] = [r for r in cancelled if r.parent_id == w.anna.id]
    assert "Dienstag, 1. Dezember 2026, 15:00" in anna.body
    assert rows(db, kind="moved") == []


def test_a_closure_day_opened_again_tells_those_who_heard_of_the_removal(db, db_factory, smtp):
    from orchestrator.scheduling import services as scheduling

    sink, port = smtp
    w, closed = closed_on_1_december(db)
    actor = coordinator_actor(w)
    delivery.deliver(db_factory, channels=mail_channels(port), base_url="https://r.example", now=SERIES_NOW)
    assert len(sink.to("anna@example.org")) == 1  # the cancellation
    later = SERIES_NOW + dt.timedelta(hours=3)
    scheduling.remove_closure_day(db, actor=actor, closure_id=closed.closure.id, now=later)
    db.commit()
    back = db.scalar(select(m.Session).where(m.Session.starts_at == DEC_1_SERIES))
    assert back is not None
    restored = rows(db, kind="restored")
    assert len(restored) == 4
    assert {r.session_id for r in restored} == {back.id}
    [anna] = [r for r in restored if r.parent_id == w.anna.id]
    assert "Dienstag, 1. Dezember 2026, 15:00" in anna.body
    report = delivery.deliver(
        db_factory, channels=mail_channels(port), base_url="https://r.example", now=later
    )
    assert report.sent == 2
    # A session on a day nobody was told about gets no "after all": only 1 December had a notice.
    assert {r.session_id for r in rows(db, kind="restored")} == {back.id}


def test_a_closure_opened_again_before_its_notices_went_out_sends_nothing_after_all(db, db_factory, smtp):
    from orchestrator.scheduling import services as scheduling

    sink, port = smtp
    w, closed = closed_on_1_december(db)
    actor = coordinator_actor(w)
    later = SERIES_NOW + dt.timedelta(minutes=2)
    scheduling.remove_closure_day(db, actor=actor, closure_id=closed.closure.id, now=later)
    db.commit()
    # Only Amal's removal notice is settled (an outbox row, recorded at once for coordinators
    # to pass on), so only she is told that the session takes place after all.
    assert [r.parent_id for r in rows(db, kind="restored")] == [w.amal.id]
    report = delivery.deliver(
        db_factory, channels=mail_channels(port), base_url="https://r.example", now=later
    )
    # The cancellations by mail are withdrawn: Anna and the facilitator hear nothing at all.
    assert (report.sent, report.withdrawn) == (0, 2)
    assert sink.messages == []


async def test_cancelling_over_http_sends_the_delivery_job(db, client, jobs):
    w = arrange(db, starts_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=3))
    csrf = await login(client, w.coordinator.email)
    response = await client.post(
        f"/api/v1/sessions/{w.session.id}/cancel", json={"reason": ""}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status == 200, await response.text()
    assert ("rucksack.deliver_notifications", ()) in jobs.sent
    assert len(rows(db, kind="cancelled")) == 4
