"""Retention with the clock injected, and a parent's export and erasure (use cases, pages, API, CLI).

One centre with the default periods (raw events 30 days, contact data cycle end + 90 days,
attendance 5 × 366 days) and two parents in one group, so that every check can also say that the
other parent's data is untouched and never appears in an export.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from orchestrator import models as m
from orchestrator.cli import main
from orchestrator.privacy import services as privacy
from tests import factories
from tests.support import csrf_token, login

CONSENT = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
S1 = dt.datetime(2026, 10, 6, 7, 0, tzinfo=dt.UTC)
S2 = dt.datetime(2026, 10, 13, 7, 0, tzinfo=dt.UTC)


@dataclasses.dataclass
class World:
    centre: m.Centre
    group: m.Group
    coordinator: m.StaffUser
    anna: m.Parent
    bora: m.Parent
    sessions: list[m.Session]
    anna_pseudonym: str


def arrange(db: Any) -> World:
    centre = factories.centre(db)
    deployment = factories.deployment(db, centre)
    coordinator = factories.user(db, "coordinator", centre, language="en")
    group = factories.group(db, centre, deployment_id=deployment.id)
    anna = factories.parent(
        db,
        centre,
        groups=[group],
        display_name="Anna Beispiel",
        language="tr",
        email="anna@example.org",
        email_consent_at=CONSENT,
        phone="0151 1111111",
        sms_consent_at=CONSENT,
    )
    bora = factories.parent(
        db,
        centre,
        groups=[group],
        display_name="Bora Zeuge",
        language="ar",
        phone="0171 2222222",
        sms_consent_at=CONSENT,
    )
    sessions = [factories.session(db, group, starts_at=s) for s in (S1, S2)]
    for session in sessions:
        for parent, status, minutes in ((anna, "present", 80), (bora, "partial", 20)):
            db.add(
                m.Attendance(
                    session_id=session.id,
                    parent_id=parent.id,
                    computed_status=status,
                    computed_minutes=minutes,
                    override_reason="phoned in" if parent is anna else "",
                )
            )
            db.add(
                m.PresenceInterval(
                    session_id=session.id,
                    person_key=parent.pseudonym,
                    parent_id=parent.id,
                    joined_at=session.starts_at,
                    left_at=session.starts_at + dt.timedelta(minutes=minutes),
                )
            )
            db.add(
                m.SessionVisit(session_id=session.id, parent_id=parent.id, kind="join", at=session.starts_at)
            )
            db.add(
                m.ConferenceEvent(
                    deployment_id=deployment.id,
                    source="event_sync",
                    dedupe_key=f"{session.id}-{parent.pseudonym}",
                    state="processed",
                    kind="occupant_joined",
                    room_name=session.room_name,
                    person_id=parent.pseudonym,
                    occurred_at=session.starts_at,
                    normalised={"kind": "occupant_joined", "person": parent.pseudonym},
                    body=json.dumps({"name": parent.display_name, "id": parent.pseudonym}).encode(),
                    received_at=session.starts_at,
                    session_id=session.id,
                )
            )
        db.add(
            m.Notification(
                idempotency_key=f"reminder:{session.id}:1:60:p{anna.id}:email",
                centre_id=centre.id,
                kind="reminder",
                channel="email",
                parent_id=anna.id,
                session_id=session.id,
                address="anna@example.org",
                language="tr",
                subject="Hatırlatma",
                body="Rucksack [[link]]",
                state="sent",
                attempts=1,
                created_at=session.starts_at - dt.timedelta(hours=1),
                sent_at=session.starts_at - dt.timedelta(hours=1),
            )
        )
    db.add(
        m.AuditEntry(
            actor_id=coordinator.id,
            actor_label="Coordinator",
            centre_id=centre.id,
            action="parent.update",
            object_type="parent",
            object_id=str(anna.id),
            detail={"display_name": "Anna Beispiel", "changed": ["phone"]},
            at=CONSENT,
        )
    )
    db.commit()
    return World(centre, group, coordinator, anna, bora, sessions, anna.pseudonym)


def count(db: Any, model: Any, *where: Any) -> int:
    value = db.scalar(select(func.count()).select_from(model).where(*where)) or 0
    db.commit()
    return int(value)


def reload(db: Any, obj: Any) -> Any:
    db.expire_all()
    fresh = db.get(type(obj), obj.id)
    db.commit()
    return fresh


def attendance_figures(db: Any) -> list[tuple[int, str, int]]:
    rows = db.execute(
        select(m.Attendance.session_id, m.Attendance.computed_status, m.Attendance.computed_minutes).order_by(
            m.Attendance.session_id, m.Attendance.computed_status
        )
    ).all()
    db.commit()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def retain(db: Any, now: dt.datetime) -> list[privacy.CentreRetention]:
    result = privacy.apply_retention(db, now=now)
    db.commit()
    return result


# -- retention -------------------------------------------------------------------------------


def test_raw_events_and_delivery_records_go_after_30_days(db):
    w = arrange(db)
    figures = attendance_figures(db)
    [first] = retain(db, S1 + dt.timedelta(days=29))
    assert (first.events_deleted, first.notifications_deleted) == (0, 0)
    [second] = retain(db, S1 + dt.timedelta(days=31))
    assert second.events_deleted == 2
    assert second.notifications_deleted == 1
    assert count(db, m.ConferenceEvent) == 2
    retain(db, S2 + dt.timedelta(days=31))
    assert count(db, m.ConferenceEvent) == 0
    assert count(db, m.Notification) == 0
    # Attendance, intervals and the people themselves are untouched.
    assert attendance_figures(db) == figures
    assert count(db, m.PresenceInterval) == 4
    assert reload(db, w.anna).display_name == "Anna Beispiel"
    runs = db.scalars(select(m.AuditEntry).where(m.AuditEntry.action == "retention.run")).all()
    assert len(runs) == 3
    assert runs[1].detail["events_deleted"] == 2


def test_queued_notifications_are_never_deleted_by_retention(db):
    w = arrange(db)
    db.execute(m.Notification.__table__.update().values(state="queued"))
    db.commit()
    retain(db, S2 + dt.timedelta(days=60))
    assert count(db, m.Notification, m.Notification.parent_id == w.anna.id) == 2


def test_contact_data_and_name_link_end_at_cycle_end_plus_grace(db):
    w = arrange(db)
    later_group = factories.group(
        db, w.centre, cycle_start=dt.date(2027, 9, 1), cycle_end=dt.date(2028, 6, 30)
    )
    db.add(m.Enrolment(parent_id=w.bora.id, group_id=later_group.id))
    db.commit()
    figures = attendance_figures(db)
    # Cycle end 30 June 2027 + 90 days = 28 September 2027: still kept on that day.
    [kept] = retain(db, dt.datetime(2027, 9, 28, 20, 0, tzinfo=dt.UTC))
    assert kept.parents_anonymised == 0
    [result] = retain(db, dt.datetime(2027, 9, 29, 8, 0, tzinfo=dt.UTC))
    assert result.parents_anonymised == 1  # Anna; Bora is in next year's group
    anna = reload(db, w.anna)
    assert anna.display_name.startswith("anon-")
    assert "Anna" not in anna.display_name
    assert (anna.phone, anna.email, anna.sms_consent_at, anna.email_consent_at) == (None, None, None, None)
    assert anna.pseudonym != w.anna_pseudonym
    assert anna.pseudonym.startswith("x-")
    assert anna.erased_at is not None
    # The old pseudonym maps to nobody any more; the intervals now carry the new one.
    assert count(db, m.PresenceInterval, m.PresenceInterval.person_key == w.anna_pseudonym) == 0
    assert count(db, m.PresenceInterval, m.PresenceInterval.person_key == anna.pseudonym) == 2
    assert count(db, m.AccessSecret, m.AccessSecret.parent_id == anna.id) == 0
    # Audit details that quoted her name are blanked; the entry itself stays.
    entry = db.scalar(select(m.AuditEntry).where(m.AuditEntry.action == "parent.update"))
    assert entry.detail == {"display_name": "[erased]", "changed": ["phone"]}
    db.commit()
    # Counts stay: same rows, same figures, still attributed to the (now anonymous) record.
    assert attendance_figures(db) == figures
    assert count(db, m.Attendance, m.Attendance.parent_id == anna.id) == 2
    bora = reload(db, w.bora)
    assert bora.display_name == "Bora Zeuge"
    assert bora.phone == "0171 2222222"
    # A second run changes nothing more.
    [again] = retain(db, dt.datetime(2027, 9, 30, 8, 0, tzinfo=dt.UTC))
    assert again.parents_anonymised == 0


def test_attendance_is_anonymised_after_its_period_and_aggregates_stay(db):
    w = arrange(db)
    figures = attendance_figures(db)
    period = dt.timedelta(days=w.centre.attendance_retention_days)
    [none] = retain(db, S1 + period - dt.timedelta(hours=1))
    assert none.attendance_anonymised == 0
    [first] = retain(db, S1 + period + dt.timedelta(hours=1))
    assert first.attendance_anonymised == 2  # both parents, first session only
    assert (
        count(db, m.Attendance, m.Attendance.parent_id.is_(None), m.Attendance.anonymised_at.is_not(None))
        == 2
    )
    assert (
        count(
            db, m.Attendance, m.Attendance.session_id == w.sessions[1].id, m.Attendance.parent_id.is_not(None)
        )
        == 2
    )
    assert count(db, m.Attendance, m.Attendance.override_reason != "", m.Attendance.parent_id.is_(None)) == 0
    assert (
        count(
            db,
            m.PresenceInterval,
            m.PresenceInterval.session_id == w.sessions[0].id,
            m.PresenceInterval.parent_id.is_not(None),
        )
        == 0
    )
    assert (
        count(
            db,
            m.SessionVisit,
            m.SessionVisit.session_id == w.sessions[0].id,
            m.SessionVisit.parent_id.is_not(None),
        )
        == 0
    )
    # Headcounts and minutes per session are what they were.
    assert attendance_figures(db) == figures


def test_links_sent_in_messages_are_revoked_after_a_while(db):
    w = arrange(db)
    secret, _ = factories.access_secret(db, parent=w.anna)
    handout, _ = factories.access_secret(db, parent=w.anna)
    db.add(
        m.AuditEntry(
            action="notification.link",
            actor_label="notifications",
            centre_id=w.centre.id,
            object_type="access_secret",
            object_id=str(secret.id),
            detail={"notification_id": 1, "parent_id": w.anna.id},
            at=S1,
        )
    )
    db.commit()
    [early] = retain(db, S1 + dt.timedelta(days=privacy.MESSAGE_LINK_DAYS - 1))
    assert early.links_revoked == 0
    [result] = retain(db, S1 + dt.timedelta(days=privacy.MESSAGE_LINK_DAYS + 1))
    assert result.links_revoked == 1
    assert reload(db, secret).revoked_at is not None
    assert reload(db, handout).revoked_at is None  # the printed handout's link stays


# -- export ----------------------------------------------------------------------------------


def test_export_contains_everything_about_one_parent_and_nothing_of_others(db):
    w = arrange(db)
    factories.access_secret(db, parent=w.anna)
    db.commit()
    data = privacy.export_parent(db, actor=None, parent_id=w.anna.id, actor_label="test")
    db.commit()
    text = json.dumps(data, ensure_ascii=False)
    assert data["format"] == privacy.EXPORT_FORMAT
    assert data["parent"]["display_name"] == "Anna Beispiel"
    assert data["parent"]["email"] == "anna@example.org"
    assert data["parent"]["phone"] == "0151 1111111"
    assert data["parent"]["pseudonym"] == w.anna_pseudonym
    assert [e["group_id"] for e in data["enrolments"]] == [w.group.id]
    assert [a["minutes"] for a in data["attendance"]] == [80, 80]
    assert [a["override_reason"] for a in data["attendance"]] == ["phoned in", "phoned in"]
    assert len(data["presence_intervals"]) == 2
    assert len(data["session_visits"]) == 2
    assert len(data["notifications"]) == 2
    assert data["notifications"][0]["address"] == "anna@example.org"
    assert len(data["links"]) == 1
    assert set(data["links"][0]) == {"id", "purpose", "created_at", "revoked_at"}
    assert len(data["conference_events"]) == 2
    assert [e["action"] for e in data["audit_entries"]] == ["parent.update"]
    # Nothing of Bora: not her name, number, pseudonym, nor her 20 minutes.
    for foreign in ("Bora", "0171 2222222", w.bora.pseudonym, '"minutes": 20'):
        assert foreign not in text
    # No secret hashes.
    secret_hashes = db.scalars(select(m.AccessSecret.secret_hash)).all()
    db.commit()
    assert not any(h in text for h in secret_hashes)
    audit = db.scalars(select(m.AuditEntry).where(m.AuditEntry.action == "privacy.export")).all()
    assert len(audit) == 1
    assert audit[0].object_id == str(w.anna.id)
    assert audit[0].detail["attendance"] == 2


# -- erasure ---------------------------------------------------------------------------------


def test_erase_then_export_shows_nothing_personal_and_aggregates_stay(db):
    w = arrange(db)
    factories.access_secret(db, parent=w.anna)
    db.commit()
    figures = attendance_figures(db)
    result = privacy.erase_parent(db, actor=None, parent_id=w.anna.id, actor_label="test")
    db.commit()
    assert not result.already_erased
    assert result.counts["attendance_anonymised"] == 2
    data = privacy.export_parent(db, actor=None, parent_id=w.anna.id, actor_label="test")
    db.commit()
    text = json.dumps(data, ensure_ascii=False)
    for personal in ("Anna", "anna@example.org", "0151 1111111", w.anna_pseudonym, "phoned in"):
        assert personal not in text, personal
    assert data["parent"]["phone"] is None
    assert data["parent"]["email"] is None
    assert data["parent"]["language"] == w.centre.default_language
    for key in (
        "attendance",
        "presence_intervals",
        "session_visits",
        "notifications",
        "links",
        "conference_events",
    ):
        assert data[key] == [], key
    # Aggregates: the same rows with the same statuses and minutes, two of them without a person.
    assert attendance_figures(db) == figures
    assert count(db, m.Attendance, m.Attendance.parent_id.is_(None)) == 2
    # Bora is untouched.
    assert count(db, m.Attendance, m.Attendance.parent_id == w.bora.id) == 2
    assert count(db, m.ConferenceEvent, m.ConferenceEvent.person_id == w.bora.pseudonym) == 2
    assert count(db, m.ConferenceEvent, m.ConferenceEvent.person_id == w.anna_pseudonym) == 0
    # Erasing again is harmless.
    assert privacy.erase_parent(db, actor=None, parent_id=w.anna.id).already_erased
    db.commit()
    actions = db.scalars(select(m.AuditEntry.action).where(m.AuditEntry.object_id == str(w.anna.id))).all()
    assert actions.count("privacy.erase") == 2


async def test_erased_parents_link_no_longer_opens(db, client):
    w = arrange(db)
    _, secret = factories.access_secret(db, parent=w.anna)
    db.commit()
    assert (await client.get(f"/p/{secret}")).status == 200
    privacy.erase_parent(db, actor=None, parent_id=w.anna.id)
    db.commit()
    assert (await client.get(f"/p/{secret}")).status == 404


# -- pages, API, CLI -------------------------------------------------------------------------


async def test_privacy_page_export_and_erase_as_audited_coordinator_actions(db, client):
    w = arrange(db)
    await login(client, w.coordinator.email)
    page = await client.get(f"/parents/{w.anna.id}/privacy")
    assert page.status == 200
    assert "Anna Beispiel" in await page.text()
    csrf = await csrf_token(client, f"/parents/{w.anna.id}/privacy")
    download = await client.post(f"/parents/{w.anna.id}/privacy/export", data={"csrf_token": csrf})
    assert download.status == 200
    assert "attachment" in download.headers["Content-Disposition"]
    exported = json.loads(await download.read())
    assert exported["parent"]["display_name"] == "Anna Beispiel"
    # Without the confirmation nothing is erased.
    refused = await client.post(f"/parents/{w.anna.id}/privacy/erase", data={"csrf_token": csrf})
    assert refused.status == 422
    assert reload(db, w.anna).erased_at is None
    # Without the CSRF token neither.
    forged = await client.post(f"/parents/{w.anna.id}/privacy/erase", data={"confirm": "yes"})
    assert forged.status == 403
    done = await client.post(
        f"/parents/{w.anna.id}/privacy/erase",
        data={"csrf_token": csrf, "confirm": "yes"},
        allow_redirects=False,
    )
    assert done.status == 303
    assert reload(db, w.anna).erased_at is not None
    audit = db.execute(
        select(m.AuditEntry.action, m.AuditEntry.actor_id).where(m.AuditEntry.action.like("privacy.%"))
    ).all()
    db.commit()
    assert sorted(audit) == [("privacy.erase", w.coordinator.id), ("privacy.export", w.coordinator.id)]


async def test_api_export_and_erase_stay_within_the_centre(db, client):
    w = arrange(db)
    other_centre = factories.centre(db)
    stranger = factories.user(db, "coordinator", other_centre)
    facilitator = factories.user(db, "facilitator", w.centre)
    db.commit()
    await login(client, stranger.email)
    assert (await client.get(f"/api/v1/parents/{w.anna.id}/export")).status == 404
    await client.post("/logout", headers={"X-CSRF-Token": await csrf_token(client)})
    await login(client, facilitator.email)
    assert (await client.get(f"/api/v1/parents/{w.anna.id}/export")).status == 403
    await client.post("/logout", headers={"X-CSRF-Token": await csrf_token(client, "/facilitator")})
    await login(client, w.coordinator.email)
    export = await client.get(f"/api/v1/parents/{w.anna.id}/export")
    assert export.status == 200
    assert (await export.json())["parent"]["id"] == w.anna.id
    csrf = await csrf_token(client, f"/parents/{w.anna.id}/privacy")
    erased = await client.post(f"/api/v1/parents/{w.anna.id}/erase", headers={"X-CSRF-Token": csrf})
    assert erased.status == 200, await erased.text()
    body = await erased.json()
    assert body["parent_id"] == w.anna.id
    assert body["counts"]["attendance_anonymised"] == 2


def test_cli_export_and_erase(db, settings, monkeypatch, capsys, tmp_path):
    w = arrange(db)
    monkeypatch.setenv("RUCKSACK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RUCKSACK_DATA_DIR", str(tmp_path))
    out = tmp_path / "anna.json"
    assert main(["export-parent", "--parent-id", str(w.anna.id), "--output", str(out)]) == 0
    assert out.stat().st_mode & 0o777 == 0o600
    assert json.loads(out.read_text())["parent"]["email"] == "anna@example.org"
    assert main(["erase-parent", "--parent-id", str(w.anna.id)]) == 2
    assert "--yes" in capsys.readouterr().err
    assert main(["erase-parent", "--parent-id", str(w.anna.id), "--yes"]) == 0
    assert "erased parent" in capsys.readouterr().out
    assert main(["export-parent", "--parent-id", str(w.anna.id)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["parent"]["email"] is None
    assert printed["attendance"] == []
    assert main(["export-parent", "--parent-id", "999999"]) == 2
    # A use case's refusal reads in English, like the rest of the command line, although the
    # service's default language is German.
    monkeypatch.setenv("RUCKSACK_NEW_PASSWORD", "short")
    capsys.readouterr()
    assert main(["create-user", "--email", "x@example.org", "--name", "X", "--role", "admin"]) == 2
    assert capsys.readouterr().err == "rucksack: the password needs at least 10 characters\n"
    labels = db.scalars(select(m.AuditEntry.actor_label).where(m.AuditEntry.action.like("privacy.%"))).all()
    db.commit()
    assert labels
    assert all(label.startswith("command line (") for label in labels)


@pytest.mark.parametrize("parent_id", [0, 424242])
def test_unknown_parent(db, parent_id):
    with pytest.raises(privacy.NotFound):
        privacy.export_parent(db, actor=None, parent_id=parent_id)
