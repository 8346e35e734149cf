"""A parent who leaves a group and comes back: the time away is kept and not held against them.

Runs on SQLite and PostgreSQL. The group meets on Tuesdays from 1 September to 3 November 2026;
Petra is away from 30 September until she re-joins on 20 October, Quinn stays throughout.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select

from orchestrator.accounts import services as accounts
from orchestrator.attendance.processing import eligible_parents
from orchestrator.groups import services as groups
from orchestrator.models import AuditEntry, Enrolment, EnrolmentBreak
from orchestrator.privacy import services as privacy
from tests import factories as f
from tests.support import login

UTC = dt.UTC
LEFT = dt.datetime(2026, 9, 30, 12, 0, tzinfo=UTC)
REJOINED = dt.datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
TUESDAYS = [dt.datetime(2026, 9, 1, 15, 0, tzinfo=UTC) + dt.timedelta(weeks=k) for k in range(10)]


@dataclasses.dataclass
class Group:
    centre: object
    coordinator: object
    group: object
    petra: object
    quinn: object
    sessions: list
    token: str


@pytest.fixture
def away(db) -> Group:
    centre = f.centre(db)
    coordinator = f.user(db, "coordinator", centre, language="en")
    group = f.group(db, centre, name="Gruppe Sonne")
    sessions = [f.session(db, group, starts_at=start, status="ended") for start in TUESDAYS]
    petra = f.parent(db, centre, display_name="Petra")
    quinn = f.parent(db, centre, display_name="Quinn")
    f.enrol(db, petra, group, enrolled_at=TUESDAYS[0] - dt.timedelta(days=3), breaks=[(LEFT, REJOINED)])
    f.enrol(db, quinn, group, enrolled_at=TUESDAYS[0] - dt.timedelta(days=3))
    # Petra: 1-22 Sep present, 29 Sep nothing, 6 Oct present although away (she came anyway),
    # 13 Oct nothing (away), 20 and 27 Oct present, 3 Nov absent. Quinn: every session present.
    for k in (0, 1, 2, 3, 5, 7, 8):
        f.attendance_row(db, sessions[k], petra, status="present")
    f.attendance_row(db, sessions[9], petra, status="absent")
    for s in sessions:
        f.attendance_row(db, s, quinn, status="present")
    token = accounts.create_api_token(db, user_id=coordinator.id, name="test", scopes=["read"])[1]
    db.commit()
    return Group(centre, coordinator, group, petra, quinn, sessions, token)


async def get_json(client, url, token):
    resp = await client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200, await resp.text()
    return await resp.json()


def a_parent_who_left(db):
    """A coordinator's actor, and a parent who has just left their group."""
    centre = f.centre(db)
    group = f.group(db, centre)
    parent = f.parent(db, centre, groups=[group])
    actor = f.staff_actor(db, f.user(db, "coordinator", centre, language="en"))
    groups.leave_group(db, actor=actor, group_id=group.id, parent_id=parent.id)
    return actor, group, parent


def test_rejoining_keeps_the_time_away(db):
    actor, group, parent = a_parent_who_left(db)
    enrolment = db.scalar(select(Enrolment).where(Enrolment.parent_id == parent.id))
    assert enrolment.left_at is not None
    # As if they had left three weeks ago.
    enrolment.left_at = left_at = enrolment.left_at - dt.timedelta(weeks=3)
    db.flush()

    member, changed = groups.enrol_parent(db, actor=actor, group_id=group.id, parent_id=parent.id)
    assert changed
    assert member.left_at is None
    (kept,) = db.scalars(select(EnrolmentBreak).where(EnrolmentBreak.enrolment_id == enrolment.id)).all()
    assert kept.left_at == left_at
    assert left_at <= kept.rejoined_at <= dt.datetime.now(UTC)
    entry = db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry.action == "enrolment.rejoin"
    assert entry.detail == {"parent_id": parent.id, "left_at": left_at.isoformat()}

    # Enrolling a current member again changes nothing, and adds no break.
    _, changed = groups.enrol_parent(db, actor=actor, group_id=group.id, parent_id=parent.id)
    assert not changed
    assert len(db.scalars(select(EnrolmentBreak)).all()) == 1

    # The parent's data export says when they were away.
    data = privacy.export_parent(db, actor=actor, parent_id=parent.id)
    (exported,) = data["enrolments"]
    assert exported["left_at"] is None
    assert exported["breaks"] == [
        {"left_at": left_at.isoformat(), "rejoined_at": kept.rejoined_at.isoformat()}
    ]


def test_a_leave_undone_the_same_day_is_no_time_away(db):
    actor, group, parent = a_parent_who_left(db)
    _, changed = groups.enrol_parent(db, actor=actor, group_id=group.id, parent_id=parent.id)
    assert changed
    assert db.scalars(select(EnrolmentBreak)).all() == []
    entry = db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry.action == "enrolment.rejoin"


async def test_sessions_while_away_do_not_count_against_the_parent(client, away):
    m = await get_json(client, f"/api/v1/groups/{away.group.id}/attendance-matrix", away.token)
    parents = {x["display_name"]: x for x in m["parents"]}
    assert parents["Petra"]["cells"] == [
        "present",
        "present",
        "present",
        "present",
        "none",  # 29 Sep: she had not left yet
        "present",  # 6 Oct: away, but she took part, so it counts
        "not_enrolled",  # 13 Oct: away
        "present",
        "present",
        "absent",
    ]
    assert (parents["Petra"]["attended"], parents["Petra"]["held"]) == (7, 9)
    assert (parents["Quinn"]["attended"], parents["Quinn"]["held"]) == (10, 10)
    assert [x["expected"] for x in m["sessions"]] == [2, 2, 2, 2, 2, 2, 1, 2, 2, 2]

    summary = await get_json(client, f"/api/v1/parents/{away.petra.id}/attendance-summary", away.token)
    (group,) = summary["groups"]
    assert (group["line"]["attended"], group["line"]["held"]) == (7, 9)
    assert group["breaks"] == [{"left_at": "2026-09-30T12:00:00Z", "back_on": "2026-10-20"}]
    assert group["left_at"] is None

    # The centre report counts in SQL and must agree with the matrix.
    report = await get_json(client, f"/api/v1/centres/{away.centre.id}/report", away.token)
    (figures,) = [g["figures"] for g in report["groups"] if g["group"]["id"] == away.group.id]
    assert figures == m["summary"]
    assert figures["mean_parent_rate"] == pytest.approx((7 / 9 + 1) / 2)


def test_processing_expects_nobody_who_was_away(db, away):
    expected = [eligible_parents(db, s, away.group) for s in away.sessions]
    both, quinn = {away.petra.id, away.quinn.id}, {away.quinn.id}
    # 6 and 13 Oct fall in the break: an absent row for Petra would be made up.
    assert expected == [both] * 5 + [quinn, quinn] + [both] * 3


async def test_the_parent_page_says_when_they_were_away(client, away):
    await login(client, away.coordinator.email)
    resp = await client.get(f"/parents/{away.petra.id}/attendance")
    assert resp.status == 200
    text = " ".join((await resp.text()).split())
    assert "away from Sep 30, 2026 until Oct 20, 2026" in text
    assert "Sessions held while in the group</dt><dd>9</dd>" in text


async def test_the_group_page_and_api_say_since_when_they_are_back(client, away):
    members = await get_json(client, f"/api/v1/groups/{away.group.id}/parents", away.token)
    back = {m["display_name"]: m["back_since"] for m in members["items"]}
    assert back == {"Petra": "2026-10-20T09:00:00Z", "Quinn": None}

    await login(client, away.coordinator.email)
    resp = await client.get(f"/groups/{away.group.id}")
    assert resp.status == 200
    assert "back since Oct 20, 2026" in " ".join((await resp.text()).split())
