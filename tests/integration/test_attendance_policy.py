"""A changed attendance policy, applied to sessions already recorded (centre settings and API)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from orchestrator.attendance import services
from orchestrator.errors import Forbidden, InvalidInput, NotFound
from orchestrator.groups import services as groups
from orchestrator.models import Attendance, AuditEntry
from tests import factories
from tests.support import csrf_token, login

EARLIER = dt.datetime(2026, 11, 3, 8, 0, tzinfo=dt.UTC)  # Tuesday 09:00 in Berlin
LATER = dt.datetime(2026, 11, 17, 8, 0, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
MIN = dt.timedelta(minutes=1)


@dataclasses.dataclass
class Centre:
    centre: Any
    coordinator: Any
    facilitator: Any
    earlier: Any  # a session before the day the policy is applied from
    later: Any
    anna_earlier: Attendance
    anna: Attendance  # 35 of 90 minutes: partial under "45 minutes", present under "30"
    ayse: Attendance  # the same, corrected to excused by staff
    mariam: Attendance  # present, joined 15 minutes late
    other: Attendance  # another centre's partial row


def arrange(db: Any) -> Centre:
    """A centre on the default policy (present from 45 minutes or half, late after 10)."""
    centre = factories.centre(db)
    coordinator = factories.user(db, "coordinator", centre)
    facilitator = factories.user(db, "facilitator", centre)
    group = factories.group(db, centre, facilitators=[facilitator])
    anna, ayse, mariam = (
        factories.parent(db, centre, groups=[group], display_name=n) for n in ("Anna", "Ayşe", "Mariam")
    )
    earlier = factories.session(db, group, starts_at=EARLIER, finalised_at=EARLIER + 120 * MIN)
    later = factories.session(db, group, starts_at=LATER, finalised_at=LATER + 120 * MIN)
    factories.session(db, group, starts_at=LATER + dt.timedelta(days=1), status="cancelled")

    def row(session: Any, parent: Any, minutes: int, status: str, late_by: int = 0, **kw: Any) -> Attendance:
        a = factories.attendance_row(db, session, parent, status=status, minutes=minutes, **kw)
        a.first_join = session.starts_at + late_by * MIN
        a.last_leave = a.first_join + minutes * MIN
        a.late = late_by > 10
        # Leaving 35 minutes into 90 is leaving early under any of these policies.
        a.left_early = a.last_leave < session.ends_at - 10 * MIN
        return a

    anna_earlier = row(earlier, anna, 35, "partial")
    anna_row = row(later, anna, 35, "partial")
    ayse_row = row(later, ayse, 35, "partial", override_status="excused")
    mariam_row = row(later, mariam, 75, "present", late_by=15)
    other_centre = factories.centre(db)
    other_group = factories.group(db, other_centre)
    outsider = factories.parent(db, other_centre, groups=[other_group])
    other_session = factories.session(db, other_group, starts_at=LATER, finalised_at=LATER + 120 * MIN)
    other = row(other_session, outsider, 35, "partial")
    db.commit()
    return Centre(
        centre, coordinator, facilitator, earlier, later, anna_earlier, anna_row, ayse_row, mariam_row, other
    )


def loosen_policy(db: Any, w: Centre) -> None:
    """Present from 30 minutes, late only after 20."""
    groups.update_centre(
        db,
        actor=factories.staff_actor(db, w.coordinator),
        centre_id=w.centre.id,
        present_min_minutes=30,
        late_after_minutes=20,
    )
    db.commit()


def reapply(db: Any, w: Centre, user: Any, since: dt.date) -> services.PolicyReapplied:
    return services.reapply_policy(
        db, actor=factories.staff_actor(db, user), centre_id=w.centre.id, since=since, now=NOW
    )


def judged(db: Any, row: Attendance) -> tuple[str, bool, bool, str | None]:
    db.refresh(row)
    return row.computed_status, row.late, row.left_early, row.override_status


def test_the_rules_apply_to_sessions_from_the_chosen_day_and_corrections_stay(db):
    w = arrange(db)
    loosen_policy(db, w)
    # Changing the rules alone leaves what is recorded as it was judged.
    assert judged(db, w.anna) == ("partial", False, True, None)

    done = reapply(db, w, w.coordinator, dt.date(2026, 11, 10))
    db.commit()
    # One session since 10 November is held (the cancelled one has no attendance).
    assert (done.sessions, done.changed) == (1, 3)
    assert judged(db, w.anna) == ("present", False, True, None)
    # Ayşe's correction still decides; the computed status beneath it follows the rules.
    assert judged(db, w.ayse) == ("present", False, True, "excused")
    assert judged(db, w.mariam) == ("present", False, False, None)
    assert w.mariam.computed_minutes == 75
    # Before the chosen day, and in another centre, nothing changed.
    assert judged(db, w.anna_earlier) == ("partial", False, True, None)
    assert judged(db, w.other) == ("partial", False, True, None)
    [entry] = db.scalars(select(AuditEntry).where(AuditEntry.action == "attendance.policy_reapplied")).all()
    assert entry.centre_id == w.centre.id
    assert entry.actor_id == w.coordinator.id
    assert entry.detail["since"] == "2026-11-10"
    assert entry.detail["changed"] == 3
    assert entry.detail["policy"]["present_min_minutes"] == 30

    # Again: nothing left to change.
    again = reapply(db, w, w.coordinator, dt.date(2026, 11, 1))
    db.commit()
    assert (again.sessions, again.changed) == (2, 1)  # Anna's earlier session now too
    assert judged(db, w.anna_earlier) == ("present", False, True, None)


def test_only_the_centres_coordinators_may_and_never_for_the_future(db):
    w = arrange(db)
    loosen_policy(db, w)
    stranger = factories.user(db, "coordinator", factories.centre(db))
    db.commit()
    since = dt.date(2026, 11, 1)
    with pytest.raises(Forbidden):
        reapply(db, w, w.facilitator, since)
    with pytest.raises(NotFound):
        reapply(db, w, stranger, since)
    with pytest.raises(InvalidInput) as refused:
        reapply(db, w, w.coordinator, dt.date(2026, 11, 29))
    assert refused.value.field == "since"
    db.rollback()
    assert judged(db, w.anna) == ("partial", False, True, None)
    assert (
        db.scalars(select(AuditEntry).where(AuditEntry.action == "attendance.policy_reapplied")).all() == []
    )


async def test_the_coordinator_applies_the_rules_from_the_centre_page(client, db):
    w = arrange(db)
    loosen_policy(db, w)
    await login(client, w.coordinator.email)
    page = await client.get("/centre")
    assert "Anwesenheitsregeln auf vergangene Treffen anwenden" in await page.text()
    csrf = await csrf_token(client, "/centre")
    # A day in the future is refused on the page, with the reason at the field.
    refused = await client.post("/centre/attendance-policy", data={"csrf_token": csrf, "since": "2999-01-01"})
    assert refused.status == 422
    assert "Wählen Sie einen Tag, der nicht in der Zukunft liegt." in await refused.text()
    assert judged(db, w.anna)[0] == "partial"
    db.commit()
    done = await client.post(
        "/centre/attendance-policy", data={"csrf_token": csrf, "since": "2026-11-01"}, allow_redirects=False
    )
    assert done.status == 303
    assert done.headers["Location"] == "/centre?done=reapplied&n=4"
    shown = await client.get(done.headers["Location"])
    assert "Die Anwesenheitsregeln wurden angewendet: 4 Einträge geändert." in await shown.text()
    assert judged(db, w.anna)[0] == "present"
    assert judged(db, w.anna_earlier)[0] == "present"


async def test_the_api_applies_the_rules_with_a_write_token(client, db):
    w = arrange(db)
    loosen_policy(db, w)
    _, writer = factories.api_token(db, w.coordinator)
    _, reader = factories.api_token(db, w.coordinator, scopes=["read"])
    db.commit()
    path = f"/api/v1/centres/{w.centre.id}/attendance/reapply-policy"
    body = {"since": "2026-11-10"}
    assert (await client.post(path, json=body)).status == 401
    assert (await client.post(path, json=body, headers={"Authorization": f"Bearer {reader}"})).status == 403
    bad = await client.post(path, json={"since": "yesterday"}, headers={"Authorization": f"Bearer {writer}"})
    assert bad.status == 422
    done = await client.post(path, json=body, headers={"Authorization": f"Bearer {writer}"})
    assert done.status == 200, await done.text()
    assert await done.json() == {"sessions": 1, "changed": 3}
    assert judged(db, w.anna)[0] == "present"
    db.commit()  # end the read: on SQLite every transaction takes the write lock
    other = f"/api/v1/centres/{w.other.session_id + 10_000}/attendance/reapply-policy"
    assert (await client.post(other, json=body, headers={"Authorization": f"Bearer {writer}"})).status == 404
    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert (
        doc["paths"]["/api/v1/centres/{centre_id}/attendance/reapply-policy"]["post"]["x-required-scope"]
        == "write"
    )
