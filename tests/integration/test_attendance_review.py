"""Reviewing attendance: the session view and API, corrections and manual entries, who may see what.

Runs on SQLite and PostgreSQL. Streams and people come from ``test_attendance_streams``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from typing import Any

import pytest
from sqlalchemy import delete as sa_delete
from sqlalchemy import select

from orchestrator.accounts import services as accounts
from orchestrator.attendance import services
from orchestrator.models import Attendance, AuditEntry, Centre, Session, utcnow
from tests import factories
from tests.integration.test_attendance_streams import (
    AYSE,
    ES_SECRET,
    LEADER,
    ROOM,
    EventSync,
    World,
    event_sync_session,
    make_world,
    post,
    process,
)
from tests.support import login


@pytest.fixture
def world(db, settings) -> World:
    return make_world(db, settings)


def token(db, user_id: int, *scopes: str) -> str:
    _, secret = accounts.create_api_token(db, user_id=user_id, name="review tests", scopes=list(scopes))
    db.commit()
    return secret


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def coordinator_of(db, world: World):
    from orchestrator.models import Group, StaffUser

    session = db.get(Session, world.session_id)
    group = db.get(Group, session.group_id)
    return db.scalar(
        select(StaffUser).where(StaffUser.centre_id == group.centre_id, StaffUser.role == "coordinator")
    )


async def people(client, world: World, secret: str) -> dict[str, dict[str, Any]]:
    resp = await client.get(f"/api/v1/sessions/{world.session_id}/attendance", headers=auth(secret))
    assert resp.status == 200, await resp.text()
    return {p["display_name"]: p for p in (await resp.json())["people"]}


# --- corrections ------------------------------------------------------------------------------------


async def test_a_correction_survives_reprocessing_and_is_audited(client, db, world, db_factory):
    await post(client, world, event_sync_session())
    process()
    coordinator = coordinator_of(db, world)
    writer = token(db, coordinator.id, "read", "write")
    maria = world.parents["Maria"]

    resp = await client.post(
        f"/api/v1/sessions/{world.session_id}/attendance/{maria}",
        json={"status": "present", "reason": "Her sister's phone dropped; she was there all along"},
        headers=auth(writer),
    )
    assert resp.status == 200, await resp.text()
    line = await resp.json()
    assert (line["status"], line["minutes"], line["computed_status"], line["computed_minutes"]) == (
        "present",
        20,
        "partial",
        20,
    )
    assert line["corrected"] is True
    assert line["corrected_by"] == coordinator.display_name
    assert line["correction_reason"].startswith("Her sister's phone")

    # More events arrive (Selin turns up late), and everything is processed again.
    es = EventSync()
    await post(client, world, [es.joined("p-0d4c7e1a9b2f6e35", "s1@meet.example.org/1", "05:00:00")])
    process()
    with db_factory() as check:
        from orchestrator.attendance.processing import recompute_session

        recompute_session(
            check, session_id=world.session_id, now=utcnow(), finalise_grace=dt.timedelta(minutes=30)
        )
        check.commit()
    after = await people(client, world, writer)
    assert (after["Maria"]["status"], after["Maria"]["computed_status"]) == ("present", "partial")
    assert after["Maria"]["corrected"] is True
    assert after["Selin"]["computed_minutes"] == 28  # 05:00:00 until the destruction at 05:28:20
    assert after["Selin"]["corrected"] is False

    # Clearing the correction restores what the events say; both steps are in the audit trail.
    resp = await client.delete(
        f"/api/v1/sessions/{world.session_id}/attendance/{maria}?reason=entered+by+mistake",
        headers=auth(writer),
    )
    assert resp.status == 200
    cleared = await resp.json()
    assert (cleared["status"], cleared["corrected"]) == ("partial", False)
    assert [c["action"] for c in cleared["corrections"]] == ["corrected", "cleared"]
    assert cleared["corrections"][0]["before"]["status"] == "partial"
    assert cleared["corrections"][0]["after"]["status"] == "present"
    assert cleared["corrections"][1]["reason"] == "entered by mistake"
    with db_factory() as check:
        entries = list(check.scalars(select(AuditEntry).where(AuditEntry.object_type == "attendance")))
        assert [e.action for e in entries] == ["attendance.corrected", "attendance.correction_cleared"]
        assert entries[0].actor_id == coordinator.id
        assert entries[0].detail["reason"].startswith("Her sister's phone")
        assert entries[0].detail["before"]["computed_minutes"] == 20
    # Nothing to clear any more.
    again = await client.delete(
        f"/api/v1/sessions/{world.session_id}/attendance/{maria}", headers=auth(writer)
    )
    assert again.status == 404


async def test_manual_entries_for_an_in_person_session(client, db, world, db_factory):
    coordinator = coordinator_of(db, world)
    writer = token(db, coordinator.id, "read", "write")
    before = await people(client, world, writer)
    # No webhook data at all: the enrolled parents are listed, not recorded yet.
    assert {name: p["status"] for name, p in before.items()} == {"Ayşe": None, "Maria": None, "Selin": None}

    base = f"/api/v1/sessions/{world.session_id}/attendance"
    resp = await client.post(
        f"{base}/{world.parents['Ayşe']}",
        json={"minutes": 60, "reason": "in person at the KiTa"},
        headers=auth(writer),
    )
    assert resp.status == 200, await resp.text()
    ayse = await resp.json()
    # Minutes alone get the status the centre's policy gives them.
    assert (ayse["status"], ayse["minutes"], ayse["computed_status"]) == ("present", 60, "absent")
    resp = await client.post(
        f"{base}/{world.parents['Selin']}",
        json={"status": "excused", "reason": "child ill, called in"},
        headers=auth(writer),
    )
    assert (await resp.json())["status"] == "excused"

    # Finalisation later creates the remaining rows; the manual entries stay as they are.
    from workers.tasks import finalise_session

    finalise_session(world.session_id)
    after = await people(client, world, writer)
    assert {n: (p["status"], p["minutes"]) for n, p in after.items() if p["role"] == "parent"} == {
        "Ayşe": ("present", 60),
        "Maria": ("absent", 0),
        "Selin": ("excused", 0),
    }
    # On the page a status entered without minutes shows no minutes, not a measured 0.
    await login(client, coordinator.email)
    page = await (await client.get(f"/sessions/{world.session_id}/attendance")).text()
    rows = re.findall(r'<tr id="parent-(\d+)">(.*?)</tr>', page, re.S)
    # The third cell of a parent's row: name (th), status, minutes.
    shown = {int(pid): re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[1] for pid, row in rows}
    assert shown[world.parents["Ayşe"]] == "60"
    assert shown[world.parents["Maria"]] == "0"  # absent: no one measured any presence
    assert "–" in shown[world.parents["Selin"]]
    assert "0" not in shown[world.parents["Selin"]]
    with db_factory() as check:
        (entry, _) = check.scalars(
            select(AuditEntry).where(AuditEntry.action == "attendance.corrected").order_by(AuditEntry.id)
        ).all()
        assert entry.detail["manual_entry"] is True


async def test_an_in_person_session_is_ticked_off_in_one_go(client, db, world, db_factory):
    """The group met at the KiTa: the facilitator ticks who came, gives one reason, and each of
    them gets a correction of their own, audited; nobody else changes."""
    coordinator = coordinator_of(db, world)
    db.commit()
    csrf = await login(client, coordinator.email)
    page_url = f"/sessions/{world.session_id}/attendance"
    page = await (await client.get(page_url)).text()
    assert f'action="{page_url}/present"' in page
    ayse, maria, selin = (world.parents[n] for n in ("Ayşe", "Maria", "Selin"))

    # Nobody ticked, or no reason: refused with the reason, nothing stored.
    for data in ({"reason": "vor Ort"}, {"parent_id": str(ayse), "reason": " "}):
        resp = await client.post(f"{page_url}/present", data={"csrf_token": csrf, **data})
        assert resp.status == 422
    # One parent the session does not know refuses the whole list.
    stranger = factories.parent(db, db.get(Centre, coordinator.centre_id))
    db.commit()
    resp = await client.post(
        f"{page_url}/present",
        data=[
            ("csrf_token", csrf),
            ("parent_id", str(ayse)),
            ("parent_id", str(stranger.id)),
            ("reason", "x"),
        ],
    )
    assert resp.status == 422
    with db_factory() as check:
        assert check.scalars(select(Attendance)).all() == []

    resp = await client.post(
        f"{page_url}/present",
        data=[
            ("csrf_token", csrf),
            ("parent_id", str(ayse)),
            ("parent_id", str(selin)),
            ("parent_id", str(selin)),  # a double tick counts once
            ("reason", "vor Ort in der KiTa"),
        ],
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"] == f"{page_url}#parents"
    with db_factory() as check:
        rows = {r.parent_id: r for r in check.scalars(select(Attendance))}
        assert {pid: (r.override_status, r.override_minutes) for pid, r in rows.items()} == {
            ayse: ("present", None),
            selin: ("present", None),
        }
        entries = check.scalars(select(AuditEntry).where(AuditEntry.object_type == "attendance")).all()
        assert sorted(e.detail["parent_id"] for e in entries) == sorted([ayse, selin])
        assert {e.detail["reason"] for e in entries} == {"vor Ort in der KiTa"}
    # The form now offers only Maria, who is still unrecorded.
    page = await (await client.get(page_url)).text()
    form = page[page.index(f'action="{page_url}/present"') :]
    form = form[: form.index("</form>")]
    assert re.findall(r'name="parent_id" value="(\d+)"', form) == [str(maria)]


async def test_before_the_start_a_parent_can_be_excused_and_nothing_else(client, db, world, db_factory):
    """A mother calls the day before: the facilitator records her as excused. Presence and minutes
    wait for the session to start, and the page offers only what the service takes."""
    session = db.get(Session, world.session_id)
    session.starts_at = utcnow() + dt.timedelta(days=1)
    session.ends_at = session.starts_at + dt.timedelta(minutes=90)
    coordinator = coordinator_of(db, world)
    # Ayşe is in the room already (joins count from shortly before the start): no excuse for her.
    early = world.parents["Ayşe"]
    db.add(
        Attendance(
            session_id=world.session_id,
            parent_id=early,
            role="parent",
            computed_minutes=2,
            computed_status="present",
            late=False,
            left_early=False,
        )
    )
    db.commit()
    csrf = await login(client, coordinator.email)
    page_url = f"/sessions/{world.session_id}/attendance"
    page = await (await client.get(page_url)).text()
    assert "Ein Elternteil, der sich abgemeldet hat, kann schon jetzt entschuldigt werden." in page
    rows = dict(re.findall(r'<tr id="parent-(\d+)">(.*?)</tr>', page, re.S))
    assert len(rows) == 3
    assert "Vorab entschuldigen" not in rows.pop(str(early))
    for row in rows.values():
        assert "Vorab entschuldigen" in row
        assert '<input type="hidden" name="status" value="excused">' in row
        assert 'name="minutes"' not in row
        # Nothing recorded yet: no minutes shown rather than a measured-looking 0.
        assert "–" in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[1]

    selin = world.parents["Selin"]
    resp = await client.post(
        f"{page_url}/{selin}",
        data={"csrf_token": csrf, "status": "excused", "reason": "Kind krank, hat angerufen"},
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    page = await (await client.get(page_url)).text()
    row = dict(re.findall(r'<tr id="parent-(\d+)">(.*?)</tr>', page, re.S))[str(selin)]
    assert "entschuldigt" in row
    assert "Kind krank, hat angerufen" in row

    # Anything else before the start is refused with the reason, and changes nothing.
    resp = await client.post(
        f"{page_url}/{world.parents['Maria']}",
        data={"csrf_token": csrf, "status": "present", "reason": "x"},
    )
    assert resp.status == 409
    assert "kann ein Elternteil nur entschuldigt werden" in await resp.text()
    with db_factory() as check:
        rows_now = check.scalars(select(Attendance).where(Attendance.session_id == world.session_id)).all()
        assert sorted((r.parent_id, r.override_status) for r in rows_now) == sorted(
            [(early, None), (selin, "excused")]
        )
        (entry,) = check.scalars(select(AuditEntry).where(AuditEntry.object_type == "attendance")).all()
        assert entry.detail["after"]["override_status"] == "excused"


async def test_bad_corrections_are_refused_with_a_reason_and_change_nothing(client, db, world, db_factory):
    coordinator = coordinator_of(db, world)
    writer = token(db, coordinator.id, "read", "write")
    other_centre = factories.centre(db)
    stranger = factories.parent(db, other_centre)
    same_centre_not_enrolled = factories.parent(db, db.get(Centre, coordinator.centre_id))
    db.commit()
    base = f"/api/v1/sessions/{world.session_id}/attendance"
    ayse = world.parents["Ayşe"]

    async def refused(path: str, body: dict[str, Any], status: int, field: str | None = None) -> None:
        resp = await client.post(path, json=body, headers=auth(writer))
        assert resp.status == status, await resp.text()
        error = (await resp.json())["error"]
        if field:
            assert error.get("field") == field, error

    await refused(f"{base}/{ayse}", {"status": "present", "reason": "   "}, 422, "reason")
    await refused(f"{base}/{ayse}", {"status": "present"}, 422, "reason")
    await refused(f"{base}/{ayse}", {"status": "asleep", "reason": "x"}, 422, "status")
    await refused(f"{base}/{ayse}", {"minutes": 500, "reason": "x"}, 422, "minutes")
    await refused(f"{base}/{ayse}", {"minutes": -1, "reason": "x"}, 422, "minutes")
    await refused(f"{base}/{ayse}", {"reason": "nothing to set"}, 422, "status")
    await refused(
        f"{base}/{same_centre_not_enrolled.id}", {"status": "present", "reason": "x"}, 422, "parent_id"
    )
    await refused(f"{base}/{stranger.id}", {"status": "present", "reason": "x"}, 404)
    await refused(f"{base}/999999", {"status": "present", "reason": "x"}, 404)
    await refused("/api/v1/sessions/999999/attendance/1", {"status": "present", "reason": "x"}, 404)
    bad_json = await client.post(
        f"{base}/{ayse}", data=b"{", headers={**auth(writer), "Content-Type": "application/json"}
    )
    assert bad_json.status == 400

    # A session still to come takes only "excused" (without minutes); a cancelled one nothing.
    with db_factory() as change:
        session = change.get(Session, world.session_id)
        session.starts_at = utcnow() + dt.timedelta(days=1)
        session.ends_at = session.starts_at + dt.timedelta(hours=1)
        change.commit()
    await refused(f"{base}/{ayse}", {"status": "present", "reason": "x"}, 409)
    await refused(f"{base}/{ayse}", {"minutes": 30, "reason": "x"}, 409)
    await refused(f"{base}/{ayse}", {"status": "excused", "minutes": 0, "reason": "x"}, 409)
    with db_factory() as change:
        session = change.get(Session, world.session_id)
        session.starts_at = utcnow() - dt.timedelta(days=1)
        session.ends_at = session.starts_at + dt.timedelta(hours=1)
        session.status = "cancelled"
        change.commit()
    await refused(f"{base}/{ayse}", {"status": "present", "reason": "x"}, 409)
    with db_factory() as check:
        assert check.scalars(select(Attendance)).all() == []
        assert check.scalars(select(AuditEntry).where(AuditEntry.object_type == "attendance")).all() == []


# --- pages ---------------------------------------------------------------------------------------------


async def test_the_facilitator_corrects_through_the_session_page(client, db, world, db_factory):
    from orchestrator.models import StaffUser

    await post(client, world, event_sync_session())
    process()
    leader = db.get(StaffUser, world.leader_id)
    db.commit()
    csrf = await login(client, leader.email)
    page = await client.get(f"/sessions/{world.session_id}/attendance?lang=en")
    assert page.status == 200
    html = await page.text()
    assert "Ayşe" in html
    assert "Maria" in html
    assert "Leyla" in html
    assert "late" in html
    assert "1 connection without a known person" in html

    maria = world.parents["Maria"]
    missing = await client.post(
        f"/sessions/{world.session_id}/attendance/{maria}?lang=en",
        data={"csrf_token": csrf, "status": "present", "minutes": "", "reason": ""},
    )
    assert missing.status == 422
    assert "Please give a reason" in await missing.text()
    forged = await client.post(
        f"/sessions/{world.session_id}/attendance/{maria}",
        data={"status": "present", "reason": "no CSRF token"},
        allow_redirects=False,
    )
    assert forged.status == 403
    done = await client.post(
        f"/sessions/{world.session_id}/attendance/{maria}",
        data={
            "csrf_token": csrf,
            "status": "present",
            "minutes": "40",
            "reason": "she was on her neighbour's tablet",
        },
        allow_redirects=False,
    )
    assert done.status == 303
    assert done.headers["Location"].endswith(f"#parent-{maria}")
    html = await (await client.get(f"/sessions/{world.session_id}/attendance?lang=en")).text()
    assert "she was on her neighbour&#39;s tablet" in html
    assert "corrected; from the conference: partial, 20 min" in html

    cleared = await client.post(
        f"/sessions/{world.session_id}/attendance/{maria}/clear",
        data={"csrf_token": csrf, "reason": "wrong person"},
        allow_redirects=False,
    )
    assert cleared.status == 303
    with db_factory() as check:
        row = check.scalar(select(Attendance).where(Attendance.parent_id == maria))
        assert row.override_status is None
        assert row.override_minutes is None
    german = await client.get(f"/sessions/{world.session_id}/attendance?lang=de")
    assert 'lang="de"' in await german.text()


async def test_who_is_in_now_during_a_live_session(client, db, world, db_factory):
    """Times relative to now: the session is running, Ayşe and a recorder are in, Maria left."""
    now = int(time.time())
    with db_factory() as change:
        session = change.get(Session, world.session_id)
        session.starts_at = dt.datetime.fromtimestamp(now - 20 * 60, dt.UTC)
        session.ends_at = session.starts_at + dt.timedelta(minutes=60)
        session.status = "live"
        change.commit()

    def body(endpoint: str, occupant: dict[str, Any], count: int) -> bytes:
        data = factories.reference_payload(f"event_sync/{endpoint.replace('/', '-')}.json")
        data.update(room_name=ROOM, active_occupants_count=count)
        data["occupant"] = occupant
        return json.dumps(data).encode()

    events = [
        ("occupant/joined", {"id": AYSE, "occupant_jid": "a1@x/1", "joined_at": now - 15 * 60}),
        ("occupant/joined", {"id": LEADER, "occupant_jid": "f1@x/1", "joined_at": now - 19 * 60}),
        (
            "occupant/joined",
            {"id": "p-8e21b7c04a9d3f16", "occupant_jid": "m1@x/1", "joined_at": now - 14 * 60},
        ),
        (
            "occupant/left",
            {
                "id": "p-8e21b7c04a9d3f16",
                "occupant_jid": "m1@x/1",
                "joined_at": now - 14 * 60,
                "left_at": now - 60,
            },
        ),
        ("occupant/joined", {"occupant_jid": "recorder@recorder/1", "joined_at": now - 10 * 60}),
    ]
    for n, (endpoint, occupant) in enumerate(events):
        resp = await client.post(
            f"/hooks/jitsi/{world.es_slug}/events/{endpoint}",
            data=body(endpoint, occupant, n),
            headers={"Authorization": f"Bearer {ES_SECRET}"},
        )
        assert resp.status == 200
    # Not processed yet: the live view reads pending events of the room too.
    coordinator = coordinator_of(db, world)
    reader = token(db, coordinator.id, "read")
    resp = await client.get(f"/api/v1/sessions/{world.session_id}/attendance", headers=auth(reader))
    data = await resp.json()
    assert data["live"] is True
    assert [(p["display_name"], p["role"]) for p in data["in_room_now"]] == [
        ("Leyla", "facilitator"),
        ("Ayşe", "parent"),
    ]
    assert data["unidentified_in_room_now"] == 1

    process()
    with db_factory() as check:
        from orchestrator.access import Actor

        actor = Actor(
            user_id=world.leader_id,
            role="facilitator",
            centre_id=coordinator.centre_id,
            display_name="Leyla",
            group_ids=frozenset({check.get(Session, world.session_id).group_id}),
        )
        live = services.who_is_in_now(check, actor=actor, session_id=world.session_id, now=utcnow())
        assert [p.display_name for p in live.people] == ["Leyla", "Ayşe"]
        assert live.unidentified == 1
    view = await people(client, world, reader)
    assert view["Ayşe"]["in_room_now"] is True
    assert view["Ayşe"]["last_leave"] is None
    assert view["Maria"]["in_room_now"] is False
    assert view["Maria"]["minutes"] == 13

    await login(client, coordinator.email)
    fragment = await client.get(f"/sessions/{world.session_id}/attendance/now?lang=en")
    assert fragment.status == 200
    text = await fragment.text()
    assert "Ayşe" in text
    assert "Maria" not in text
    page = await (await client.get(f"/sessions/{world.session_id}/attendance?lang=en")).text()
    assert "In the room now" in page
    assert "/attendance/now" in page


# --- access ------------------------------------------------------------------------------------------------


async def test_nobody_outside_the_group_or_centre_sees_or_changes_anything(client, db, world):
    from orchestrator.models import Group

    session = db.get(Session, world.session_id)
    own_centre = db.get(Centre, db.get(Group, session.group_id).centre_id)
    other_centre = factories.centre(db)
    outsider = factories.user(db, "coordinator", other_centre)
    other_group_leader = factories.user(db, "facilitator", own_centre)
    factories.group(db, own_centre, facilitators=[other_group_leader])
    admin = factories.user(db, "admin", None)
    coordinator = coordinator_of(db, world)
    db.commit()
    path = f"/api/v1/sessions/{world.session_id}/attendance"
    change = f"{path}/{world.parents['Ayşe']}"
    body = {"status": "present", "reason": "trying"}

    # Anonymous: 401 from the API, the login page from the pages.
    assert (await client.get(path)).status == 401
    assert (await client.post(change, json=body)).status == 401
    page = await client.get(f"/sessions/{world.session_id}/attendance", allow_redirects=False)
    assert page.status == 303
    assert page.headers["Location"].startswith("/login")

    # Another centre's coordinator and another group's facilitator: the session does not exist.
    for user in (outsider, other_group_leader):
        secret = token(db, user.id, "read", "write")
        assert (await client.get(path, headers=auth(secret))).status == 404
        assert (await client.post(change, json=body, headers=auth(secret))).status == 404
        assert (await client.delete(change, headers=auth(secret))).status == 404
    # The state-level admin sees only anonymous aggregates.
    admin_secret = token(db, admin.id, "read", "write")
    assert (await client.get(path, headers=auth(admin_secret))).status == 403
    # Token scopes: read may look, not change.
    reader = token(db, coordinator.id, "read")
    assert (await client.get(path, headers=auth(reader))).status == 200
    refused = await client.post(change, json=body, headers=auth(reader))
    assert refused.status == 403
    assert "write" in (await refused.json())["error"]["message"]
    assert (await client.delete(change, headers=auth(reader))).status == 403
    # The page too, for a logged-in outsider.
    await login(client, outsider.email)
    assert (await client.get(f"/sessions/{world.session_id}/attendance")).status == 404
    assert db.scalars(select(Attendance)).all() == []
    db.rollback()


async def test_the_openapi_document_describes_the_attendance_api(client):
    doc = await (await client.get("/api/v1/openapi.json")).json()
    path = doc["paths"]["/api/v1/sessions/{session_id}/attendance"]
    assert path["get"]["x-required-scope"] == "read"
    change = doc["paths"]["/api/v1/sessions/{session_id}/attendance/{parent_id}"]
    assert change["post"]["x-required-scope"] == "write"
    assert change["delete"]["x-required-scope"] == "write"
    assert "CorrectionIn" in doc["components"]["schemas"]


# --- finalisation from beat ------------------------------------------------------------------------------


async def test_finalise_due_sessions_closes_every_session_past_its_grace(client, db, world, db_factory):
    from orchestrator.models import Group
    from workers.tasks import finalise_due_sessions

    session = db.get(Session, world.session_id)
    group = db.get(Group, session.group_id)
    cancelled = factories.session(
        db, group, starts_at=session.starts_at + dt.timedelta(hours=2), minutes=60, status="cancelled"
    )
    upcoming = factories.session(db, group, starts_at=utcnow() + dt.timedelta(days=7), minutes=60)
    session.status = "live"  # launched, never ended by the facilitator
    db.commit()
    await post(client, world, event_sync_session())

    assert finalise_due_sessions() == 2  # the held one and the cancelled one; not the future one
    with db_factory() as check:
        held = check.get(Session, world.session_id)
        assert held.finalised_at is not None
        assert held.status == "ended"
        # Ended when the room emptied (the recorder stayed until its destruction at 05:28:20),
        # not at the time of finalisation.
        assert held.ended_at.strftime("%H:%M:%S") == "05:28:20"
        assert check.get(Session, cancelled.id).finalised_at is not None
        assert check.scalars(select(Attendance).where(Attendance.session_id == cancelled.id)).all() == []
        assert check.get(Session, upcoming.id).finalised_at is None
        rows = check.scalars(select(Attendance).where(Attendance.session_id == world.session_id)).all()
        assert len(rows) == 4
        ended = check.scalar(select(AuditEntry).where(AuditEntry.action == "session.ended_by_finalisation"))
        assert ended.detail["status_before"] == "live"
    # The events were still pending: finalisation processed them first.
    reader = token(db, coordinator_of(db, world).id, "read")
    assert (await people(client, world, reader))["Ayşe"]["minutes"] == 59
    assert finalise_due_sessions() == 0  # nothing left to do: idempotent


async def test_a_straggler_after_raw_event_retention_leaves_the_attendance_alone(
    client, db, world, db_factory
):
    from orchestrator.models import Centre, ConferenceEvent, Group
    from workers.tasks import finalise_session

    await post(client, world, event_sync_session())
    process()
    finalise_session(world.session_id)
    with db_factory() as change:
        session = change.get(Session, world.session_id)
        session.finalised_at = utcnow() - dt.timedelta(days=31)
        change.get(Centre, change.get(Group, session.group_id).centre_id).raw_event_retention_days = 30
        # Retention has deleted the raw events.
        change.execute(sa_delete(ConferenceEvent))
        change.commit()
    # A sender delivers one very late event of that session.
    await post(client, world, [EventSync().joined(AYSE, "late@meet.example.org/1", "05:10:00")])
    assert process()["claimed"] == 1
    reader = token(db, coordinator_of(db, world).id, "read")
    after = await people(client, world, reader)
    assert (after["Ayşe"]["minutes"], after["Maria"]["minutes"], after["Leyla"]["minutes"]) == (59, 20, 60)


# --- a changed policy applied to recorded sessions -----------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [
        {
            "present_min_minutes": 15,
            "present_min_share": 100,
            "late_after_minutes": 0,
            "early_leave_minutes": 0,
        },
        {
            "present_min_minutes": 600,
            "present_min_share": 90,
            "late_after_minutes": 30,
            "early_leave_minutes": 30,
        },
    ],
)
async def test_re_judging_the_record_gives_what_recomputing_from_the_events_gives(
    client, db, world, db_factory, policy
):
    """Re-judging works from the minutes and times on record (the events may be gone by then);
    while they are there, it must agree with a full recomputation under the new policy."""
    from orchestrator.attendance.processing import recompute_session
    from orchestrator.groups import services as groups
    from orchestrator.models import Group

    await post(client, world, event_sync_session())
    process()
    coordinator = coordinator_of(db, world)
    session = db.get(Session, world.session_id)
    centre_id = db.get(Group, session.group_id).centre_id
    actor = factories.staff_actor(db, coordinator)
    groups.update_centre(db, actor=actor, centre_id=centre_id, **policy)
    db.commit()

    columns = ("computed_minutes", "computed_status", "first_join", "last_leave", "late", "left_early")

    def record() -> dict[tuple[int | None, int | None], tuple[Any, ...]]:
        with db_factory() as check:
            rows = check.scalars(select(Attendance).where(Attendance.session_id == world.session_id))
            return {(r.parent_id, r.staff_user_id): tuple(getattr(r, c) for c in columns) for r in rows}

    before = record()
    done = services.reapply_policy(
        db, actor=actor, centre_id=centre_id, since=session.starts_at.date(), now=utcnow()
    )
    db.commit()
    assert done.sessions == 1
    assert done.changed > 0
    judged = record()
    assert judged != before
    with db_factory() as check:
        recompute_session(
            check, session_id=world.session_id, now=utcnow(), finalise_grace=dt.timedelta(minutes=30)
        )
        check.commit()
    assert record() == judged
