"""Group matrix, parent summary, centre report and exports on a small known data set.

Every expected number below is worked out by hand from the data set in ``world``; the
definitions are in ``orchestrator/reports/aggregate.py``. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from orchestrator.accounts import services as accounts
from orchestrator.models import AuditEntry, Centre
from tests import factories as f
from tests.support import login

UTC = dt.UTC


def at(month: int, day: int, hour: int = 8) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, 0, tzinfo=UTC)


@dataclasses.dataclass
class World:
    centre: object
    other_centre: object
    coordinator: object
    other_coordinator: object
    facilitator: object
    other_facilitator: object
    admin: object
    g1: object
    g2: object
    g3: object
    parents: dict
    sessions: dict
    tokens: dict


@pytest.fixture
def world(db) -> World:
    """Centre A (Köln) with groups G1 (tr, ar; one facilitator) and G2 (ru; none), centre B (Bonn)
    with G3. Today is after 28 Nov 2026; all but one session lie in the past."""
    a = f.centre(db, name="KI Köln", municipality="Köln")
    b = f.centre(db, name="KI Bonn", municipality="Bonn")
    # English staff, so that pages and exports show the source strings whatever the catalogs say.
    coordinator = f.user(db, "coordinator", a, language="en")
    other_coordinator = f.user(db, "coordinator", b, language="en")
    facilitator = f.user(db, "facilitator", a, language="en")
    other_facilitator = f.user(db, "facilitator", b, language="en")
    admin = f.user(db, "admin", language="en")
    g1 = f.group(db, a, name="Gruppe Sonne", languages=["tr", "ar"], facilitators=[facilitator])
    g2 = f.group(db, a, name="Gruppe Mond", languages=["ru"])
    g3 = f.group(db, b, name="Gruppe Stern", languages=["tr"], facilitators=[other_facilitator])

    s = {
        "s1": f.session(db, g1, starts_at=at(9, 8), status="ended"),
        "s2": f.session(db, g1, starts_at=at(9, 15), status="ended"),
        "s3": f.session(db, g1, starts_at=at(9, 22), status="cancelled"),
        "s4": f.session(db, g1, starts_at=at(10, 6), status="scheduled"),  # in person, past: held
        "s5": f.session(db, g1, starts_at=at(10, 13), status="ended"),
        "s6": f.session(db, g1, starts_at=dt.datetime(2027, 3, 2, 8, tzinfo=UTC), status="scheduled"),
        "t1": f.session(
            db, g2, starts_at=at(10, 20), minutes=60, status="ended", launched_by_id=coordinator.id
        ),
        "t2": f.session(db, g2, starts_at=at(11, 3), minutes=60, status="ended"),
        "u1": f.session(db, g3, starts_at=at(10, 5), status="ended"),
    }
    p = {
        name: f.parent(db, a, display_name=name) for name in ("Ayşe", "Bela", "Cem", "Dana", "Erika", "Fatma")
    }
    p["Gül"] = f.parent(db, b, display_name="Gül")
    p["Hanna"] = f.parent(db, b, display_name="Hanna")
    f.enrol(db, p["Ayşe"], g1, enrolled_at=at(9, 1))
    f.enrol(db, p["Bela"], g1, enrolled_at=at(9, 1))
    f.enrol(db, p["Cem"], g1, enrolled_at=at(9, 10), left_at=at(10, 10))
    f.enrol(db, p["Dana"], g1, enrolled_at=at(10, 1))
    erika = f.enrol(db, p["Erika"], g1, enrolled_at=at(9, 1))
    f.enrol(db, p["Ayşe"], g2, enrolled_at=at(10, 1))
    f.enrol(db, p["Fatma"], g2, enrolled_at=at(10, 1))
    f.enrol(db, p["Gül"], g3, enrolled_at=at(9, 1))
    hanna = f.enrol(db, p["Hanna"], g3, enrolled_at=at(9, 1))

    row = f.attendance_row
    row(db, s["s1"], p["Ayşe"], status="present")
    row(db, s["s2"], p["Ayşe"], status="partial")
    row(db, s["s4"], p["Ayşe"], status="absent", override_status="present")  # entered by hand
    row(db, s["s5"], p["Ayşe"], status="absent")
    row(db, s["s3"], p["Ayşe"], status="present")  # cancelled session: never counts
    row(db, s["s1"], p["Bela"], status="absent")
    row(db, s["s2"], p["Bela"], status="absent", override_status="excused")
    row(db, s["s5"], p["Bela"], status="present")
    row(db, s["s2"], p["Cem"], status="present")
    row(db, s["s4"], p["Cem"], status="present")
    row(db, s["s5"], p["Cem"], status="absent")  # after leaving
    row(db, s["s2"], p["Dana"], status="present")  # before the enrolment date: she was there
    row(db, s["s4"], p["Dana"], status="absent")
    row(db, s["s5"], p["Dana"], status="present")
    row(db, s["s4"], None, status="present")  # Erika's, erased below: the row lost her id
    row(db, s["s1"], None, status="present")  # rows whose parent_id was cleared by erasure
    row(db, s["s2"], None, status="present")
    row(db, s["s5"], None, status="absent")
    row(db, s["t1"], p["Ayşe"], status="present")
    row(db, s["t2"], p["Ayşe"], status="present")
    row(db, s["t1"], p["Fatma"], status="absent")
    row(db, s["t2"], p["Fatma"], status="partial")
    row(db, s["u1"], p["Gül"], status="present")
    row(db, s["u1"], p["Hanna"], status="present")
    # Facilitator rows: s1 recorded, s2 corrected, s5 a row without minutes, s4 none at all.
    row(db, s["s1"], staff=facilitator, status="present", minutes=85)
    row(db, s["s2"], staff=facilitator, status="partial", minutes=30, override_minutes=90)
    row(db, s["s5"], staff=facilitator, status="absent", minutes=0)
    # Erika asked for erasure (orchestrator.privacy: rows anonymised, enrolment ended); Hanna's
    # cycle is over and retention anonymised her (random label, rows keep her id).
    for name, enrolment, label in (("Erika", erika, "anon-e1e1e1e1"), ("Hanna", hanna, "anon-4a4a4a4a")):
        p[name].erased_at = at(11, 20)
        p[name].display_name = label
        enrolment.left_at = at(11, 20)
    db.flush()

    tokens = {
        who.email: accounts.create_api_token(db, user_id=who.id, name="test", scopes=["read"])[1]
        for who in (coordinator, other_coordinator, facilitator, other_facilitator, admin)
    }
    db.commit()
    return World(
        a, b, coordinator, other_coordinator, facilitator, other_facilitator, admin, g1, g2, g3, p, s, tokens
    )


def bearer(world: World, user) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[user.email]}"}


async def get_json(client, url, headers):
    resp = await client.get(url, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


# --- Group matrix -----------------------------------------------------------------------------


async def test_group_matrix_numbers(client, world):
    m = await get_json(
        client, f"/api/v1/groups/{world.g1.id}/attendance-matrix", bearer(world, world.coordinator)
    )
    assert m["threshold"] == 50
    sessions = m["sessions"]
    assert [x["id"] for x in sessions] == [world.sessions[k].id for k in ("s1", "s2", "s3", "s4", "s5", "s6")]
    assert [x["held"] for x in sessions] == [True, True, False, True, True, False]
    assert [x["headcount"] for x in sessions] == [2, 4, 0, 3, 2, 0]
    assert [x["expected"] for x in sessions] == [3, 5, 0, 5, 4, 0]
    assert m["erased_attended"] == [1, 1, None, 1, 0, None]

    parents = {x["display_name"]: x for x in m["parents"]}
    assert list(parents) == ["Ayşe", "Bela", "Cem", "Dana"]  # Erika is erased
    assert parents["Ayşe"]["cells"] == ["present", "partial", "cancelled", "present", "absent", "upcoming"]
    assert parents["Bela"]["cells"] == ["absent", "excused", "cancelled", "none", "present", "upcoming"]
    assert parents["Cem"]["cells"] == [
        "not_enrolled",
        "present",
        "cancelled",
        "present",
        "not_enrolled",
        "upcoming",
    ]
    assert parents["Dana"]["cells"] == [
        "not_enrolled",
        "present",
        "cancelled",
        "absent",
        "present",
        "upcoming",
    ]
    counts = {
        n: (x["attended"], x["held"], x["excused"], x["rate"], x["regular"]) for n, x in parents.items()
    }
    assert counts == {
        "Ayşe": (3, 4, 0, 0.75, True),
        "Bela": (1, 4, 1, 0.25, False),
        "Cem": (2, 2, 0, 1.0, True),
        "Dana": (2, 3, 0, pytest.approx(2 / 3), True),
    }
    summary = m["summary"]
    assert summary["sessions_held"] == 4
    assert summary["sessions_cancelled"] == 1
    assert summary["participations"] == 11
    assert summary["erased_participations"] == 3
    assert summary["mean_headcount"] == pytest.approx(2.75)
    assert summary["mean_parent_rate"] == pytest.approx((0.75 + 0.25 + 1 + 2 / 3) / 4)
    assert summary["median_parent_rate"] == pytest.approx((2 / 3 + 0.75) / 2)
    assert summary["mean_session_rate"] == pytest.approx((2 / 3 + 0.8 + 0.6 + 0.5) / 4)
    assert summary["median_session_rate"] == pytest.approx((0.6 + 2 / 3) / 2)
    assert summary["regular_parents"] == 3
    assert summary["facilitator_minutes"] == 85 + 90 + 90 + 90
    assert summary["facilitator_minutes_estimated"] == 180


async def test_group_matrix_threshold(client, world):
    url = f"/api/v1/groups/{world.g1.id}/attendance-matrix"
    m = await get_json(client, url + "?threshold=75", bearer(world, world.coordinator))
    assert {x["display_name"]: x["regular"] for x in m["parents"]} == {
        "Ayşe": True,
        "Bela": False,
        "Cem": True,
        "Dana": False,
    }
    assert m["summary"]["regular_parents"] == 2
    resp = await client.get(url + "?threshold=101", headers=bearer(world, world.coordinator))
    assert resp.status == 422
    assert (await resp.json())["error"]["field"] == "threshold"


async def test_group_matrix_page(client, world):
    await login(client, world.coordinator.email)
    resp = await client.get(f"/groups/{world.g1.id}/attendance?threshold=80")
    assert resp.status == 200
    html = await resp.text()
    assert "Gruppe Sonne" in html
    assert 'value="80"' in html
    # Symbols carry a text alternative; the erased row and the chart are there.
    assert '<span aria-hidden="true">✓</span><span class="visually-hidden">present</span>' in html
    assert "excused" in html
    assert "Parents whose data was erased" in html
    assert 'role="img"' in html
    assert "<title id=" in html
    assert "How the figures are counted" in html
    assert "anon-e1e1e1e1" not in html  # erased: only her anonymous rows count
    # Each session's column leads to its attendance page, except a cancelled one's.
    assert f'href="/sessions/{world.sessions["s1"].id}/attendance"' in html
    assert f'href="/sessions/{world.sessions["s3"].id}/attendance"' not in html
    # The downloads keep the chosen threshold, and the one the page offers is the one that works.
    xlsx = f"/api/v1/groups/{world.g1.id}/attendance-matrix?threshold=80&amp;format=xlsx"
    assert f'href="{xlsx}"' in html
    download = await client.get(xlsx.replace("&amp;", "&"))
    assert download.status == 200
    assert download.headers["Content-Disposition"].startswith("attachment;")
    printable = await client.get(f"/groups/{world.g1.id}/attendance?view=print")
    assert 'class="report printable"' in await printable.text()


async def test_group_matrix_page_before_any_session_is_held(client, world, db):
    """A new group: the page says no session was held instead of drawing an empty chart."""
    fresh = f.group(db, db.get(Centre, world.coordinator.centre_id), name="Gruppe Neu", languages=["tr"])
    f.session(db, fresh, starts_at=dt.datetime(2027, 3, 9, 8, tzinfo=UTC), status="scheduled")
    db.commit()
    await login(client, world.coordinator.email)
    html = await (await client.get(f"/groups/{fresh.id}/attendance")).text()
    assert "No session of this group has been held yet." in html
    assert 'role="img"' not in html


# --- Parent summary ---------------------------------------------------------------------------


async def test_parent_summary(client, world):
    s = await get_json(
        client,
        f"/api/v1/parents/{world.parents['Ayşe'].id}/attendance-summary",
        bearer(world, world.coordinator),
    )
    assert s["display_name"] == "Ayşe"
    groups = {g["group"]["name"]: g for g in s["groups"]}
    assert set(groups) == {"Gruppe Sonne", "Gruppe Mond"}
    sonne = groups["Gruppe Sonne"]
    assert (sonne["line"]["attended"], sonne["line"]["held"], sonne["line"]["regular"]) == (3, 4, True)
    assert [x["mark"] for x in sonne["sessions"]] == [
        "present",
        "partial",
        "cancelled",
        "present",
        "absent",
        "upcoming",
    ]
    mond = groups["Gruppe Mond"]
    assert (mond["line"]["attended"], mond["line"]["held"], mond["line"]["rate"]) == (2, 2, 1.0)

    s = await get_json(
        client,
        f"/api/v1/parents/{world.parents['Fatma'].id}/attendance-summary?threshold=51",
        bearer(world, world.coordinator),
    )
    (mond,) = s["groups"]
    assert (mond["line"]["attended"], mond["line"]["held"], mond["line"]["regular"]) == (1, 2, False)


async def test_parent_summary_page(client, world):
    await login(client, world.coordinator.email)
    resp = await client.get(f"/parents/{world.parents['Cem'].id}/attendance")
    assert resp.status == 200
    html = await resp.text()
    assert "Cem" in html
    assert "Gruppe Sonne" in html
    assert "not in the group then" in html


async def test_erased_parent_has_no_summary(client, world):
    resp = await client.get(
        f"/api/v1/parents/{world.parents['Erika'].id}/attendance-summary",
        headers=bearer(world, world.coordinator),
    )
    assert resp.status == 404


# --- Centre report ----------------------------------------------------------------------------


def _check_summary(s: dict) -> None:
    assert s["groups"] == 2
    assert s["sessions_held"] == 6
    assert s["sessions_cancelled"] == 1
    assert s["minutes_delivered"] == 4 * 90 + 2 * 60
    assert s["hours_delivered"] == 8.0
    assert s["participations"] == 14
    assert s["erased_participations"] == 3
    assert s["parents"] == 5
    assert s["families_reached"] == 5
    assert s["erased_families_min"] == 1
    assert s["regular_parents"] == 4  # Ayşe 5/6, Cem 2/2, Dana 2/3, Fatma 1/2; not Bela 1/4
    assert s["mean_parent_rate"] == pytest.approx((5 / 6 + 1 / 4 + 1 + 2 / 3 + 1 / 2) / 5)
    assert s["median_parent_rate"] == pytest.approx(2 / 3)
    assert s["mean_session_rate"] == pytest.approx((2 / 3 + 0.8 + 0.6 + 0.5 + 0.5 + 1.0) / 6)
    assert s["median_session_rate"] == pytest.approx((0.6 + 2 / 3) / 2)
    assert s["mean_headcount"] == pytest.approx(14 / 6)
    # G1: 85 + 90 recorded, s4 and s5 estimated 90 each (one facilitator); G2: t1 launched -> 60.
    assert s["facilitator_minutes"] == 85 + 90 + 90 + 90 + 60
    assert s["facilitator_minutes_estimated"] == 90 + 90 + 60


async def test_centre_report_numbers(client, world):
    r = await get_json(
        client, f"/api/v1/centres/{world.centre.id}/report?min_sessions=2", bearer(world, world.coordinator)
    )
    assert r["date_from"] == "2026-08-01"
    assert r["date_to"] == "2027-07-31"
    assert r["min_sessions"] == 2
    _check_summary(r["summary"])
    assert r["summary"]["families_reached_n"] == 3  # Ayşe 5, Cem 2, Dana 2
    groups = {g["group"]["name"]: g["figures"] for g in r["groups"]}
    assert list(groups) == ["Gruppe Mond", "Gruppe Sonne"]
    assert (groups["Gruppe Sonne"]["sessions_held"], groups["Gruppe Sonne"]["participations"]) == (4, 11)
    assert (groups["Gruppe Mond"]["sessions_held"], groups["Gruppe Mond"]["participations"]) == (2, 3)
    assert groups["Gruppe Mond"]["mean_parent_rate"] == pytest.approx(0.75)
    months = [
        (m["month"], m["sessions_held"], m["participations"], m["families_reached"]) for m in r["months"]
    ]
    assert months == [("2026-09", 2, 6, 3), ("2026-10", 3, 6, 4), ("2026-11", 1, 2, 2)]
    assert [m["minutes_delivered"] for m in r["months"]] == [180, 240, 60]
    assert [m["mean_session_rate"] for m in r["months"]] == [
        pytest.approx((2 / 3 + 0.8) / 2),
        pytest.approx((0.6 + 0.5 + 0.5) / 3),
        1.0,
    ]
    assert [m["facilitator_minutes"] for m in r["months"]] == [175, 240, 0]


async def test_centre_report_range(client, world):
    url = f"/api/v1/centres/{world.centre.id}/report"
    r = await get_json(client, url + "?from=2026-10-01&to=2026-10-31", bearer(world, world.coordinator))
    s = r["summary"]
    assert (s["sessions_held"], s["participations"], s["families_reached"]) == (3, 6, 4)
    # Dana: s4 absent, s5 present -> her window starts at her enrolment (1 Oct), 1 of 2.
    assert [m["month"] for m in r["months"]] == ["2026-10"]
    for bad, field in (
        ("from=2026-13-01", "from"),
        ("from=2026-10-01&to=2026-09-01", "to"),
        ("from=yesterday", "from"),
    ):
        resp = await client.get(f"{url}?{bad}", headers=bearer(world, world.coordinator))
        assert resp.status == 422, bad
        assert (await resp.json())["error"]["field"] == field


async def test_centre_report_page(client, world):
    await login(client, world.coordinator.email)
    resp = await client.get("/reports/centre?min_sessions=2&threshold=60")
    assert resp.status == 200
    html = await resp.text()
    assert "KI Köln" in html
    assert "Gruppe Sonne" in html
    assert "Gruppe Mond" in html
    assert 'id="centre-chart-title"' in html
    assert 'aria-describedby="centre-chart-desc"' in html
    assert "format=xlsx" in html
    assert "sep=semicolon" in html
    assert "How the figures are counted" in html
    assert "Gruppe Stern" not in html  # the other centre's group
    assert html.count('href="/reports/centre"') == 1  # the main menu names the report once
    printable = await client.get("/reports/centre?view=print")
    assert 'class="report printable"' in await printable.text()


async def test_csv_export(client, world, db):
    url = f"/api/v1/centres/{world.centre.id}/report?format=csv&min_sessions=2"
    resp = await client.get(url, headers=bearer(world, world.coordinator))
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert 'filename="rucksack-' in resp.headers["Content-Disposition"]
    body = await resp.read()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    summary = {r[0]: r[1] for r in rows[2 : rows.index([])]}
    assert summary["Sessions held"] == "6"
    assert summary["Hours delivered"] == "8.00"
    assert summary["Participations"] == "14"
    assert summary["Families reached (at least 1 session)"] == "5"
    assert summary["Families reached (at least 2 sessions)"] == "3"
    assert summary["Facilitator hours"] == f"{415 / 60:.2f}"
    assert (
        summary["Mean attendance rate per parent"] == f"{(5 / 6 + 1 / 4 + 1 + 2 / 3 + 1 / 2) / 5 * 100:.1f}"
    )

    de = await client.get(url + "&sep=semicolon&table=groups", headers=bearer(world, world.coordinator))
    rows = list(csv.reader(io.StringIO((await de.read()).decode("utf-8-sig")), delimiter=";"))
    header, *groups = rows
    sonne = dict(zip(header, next(g for g in groups if g[0] == "Gruppe Sonne"), strict=True))
    assert sonne["Sessions held"] == "4"
    assert sonne["Hours delivered"] == "6,00"
    assert sonne["Mean participants per session"] == "2,8"  # 2.75, rounded half to even
    assert sonne["Group languages"] == "tr, ar"

    entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "report.export")).all()
    assert len(entries) == 2
    assert entries[0].actor_id == world.coordinator.id
    assert entries[0].centre_id == world.centre.id
    assert entries[0].detail["format"] == "csv"
    assert entries[1].detail["table"] == "groups"


async def test_xlsx_export(client, world, db):
    resp = await client.get(
        f"/api/v1/centres/{world.centre.id}/report?format=xlsx", headers=bearer(world, world.coordinator)
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    book = load_workbook(io.BytesIO(await resp.read()))
    assert book.sheetnames == ["Summary", "Groups", "By month"]
    summary = {row[0].value: row[1].value for row in book["Summary"].iter_rows(min_row=2)}
    assert summary["Sessions held"] == 6
    assert summary["Participations"] == 14
    assert summary["Hours delivered"] == pytest.approx(8.0)
    assert summary["From"] == dt.datetime(2026, 8, 1)
    assert summary["Median attendance rate per parent"] == pytest.approx(2 / 3)
    months = book["By month"]
    assert [c.value for c in months["A"][1:]] == [
        dt.datetime(2026, 9, 1),
        dt.datetime(2026, 10, 1),
        dt.datetime(2026, 11, 1),
    ]
    assert [c.value for c in months["B"][1:]] == [2, 3, 1]
    assert (
        db.scalar(select(AuditEntry.detail).where(AuditEntry.action == "report.export"))["format"] == "xlsx"
    )


async def test_group_matrix_as_xlsx(client, world, db):
    url = f"/api/v1/groups/{world.g1.id}/attendance-matrix?format=xlsx"
    resp = await client.get(url, headers=bearer(world, world.facilitator))  # the group's facilitator
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert resp.headers["Cache-Control"] == "no-store"
    assert f'filename="rucksack-group-{world.g1.id}-attendance-' in resp.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(await resp.read()))
    assert book.sheetnames == ["Summary", "Attendance", "Sessions"]

    header, *rows = [[c.value for c in row] for row in book["Attendance"].iter_rows()]
    sessions = ["2026-09-08", "2026-09-15", "2026-09-22", "2026-10-06", "2026-10-13", "2027-03-02"]
    assert header == [
        "Parent",
        "In the group since",
        "Left on",
        *sessions,
        "Attended",
        "Sessions held while in the group",
        "Excused",
        "Attendance rate (%)",
        "Regular participation",
    ]
    by_name = {row[0]: row for row in rows}
    assert list(by_name) == ["Ayşe", "Bela", "Cem", "Dana"]  # as the page orders them
    assert by_name["Ayşe"][3:9] == [
        "present",
        "partly present",
        "cancelled",
        "present",
        "absent",
        "not held yet",
    ]
    assert by_name["Ayşe"][9:] == [3, 4, 0, pytest.approx(0.75), "yes"]
    assert by_name["Bela"][3:9][3] == "no record (counts as not attended)"
    assert by_name["Cem"][1:3] == [dt.datetime(2026, 9, 10), dt.datetime(2026, 10, 10)]
    assert by_name["Cem"][3] == "not in the group then"

    _, *session_rows = [[c.value for c in row] for row in book["Sessions"].iter_rows()]
    assert [r[4] for r in session_rows] == [2, 4, None, 3, 2, None]  # participants
    assert [r[5] for r in session_rows] == [3, 5, None, 5, 4, None]  # parents in the group
    summary = {row[0].value: row[1].value for row in book["Summary"].iter_rows(min_row=2)}
    assert summary["Group"] == "Gruppe Sonne"
    assert "Groups with sessions held" not in summary
    assert summary["Sessions held"] == 4
    assert summary["Participations"] == 11

    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "report.export")).one()
    assert (entry.actor_id, entry.object_type, entry.object_id) == (
        world.facilitator.id,
        "group",
        str(world.g1.id),
    )
    assert entry.detail["report"] == "group"


async def test_group_matrix_as_csv_for_german_excel(client, world):
    url = f"/api/v1/groups/{world.g1.id}/attendance-matrix?format=csv&sep=semicolon&table=attendance"
    resp = await client.get(url, headers=bearer(world, world.coordinator))
    assert resp.status == 200
    assert resp.headers["Content-Disposition"].endswith('-attendance.csv"')
    rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig")), delimiter=";"))
    header, *lines = rows
    dana = dict(zip(header, next(r for r in lines if r[0] == "Dana"), strict=True))
    assert dana["Attendance rate (%)"] == "66,7"
    assert dana["2026-09-15"] == "present"  # before her enrolment date, but she was there
    assert dana["In the group since"] == "2026-10-01"


async def test_group_matrix_exports_are_only_for_who_sees_the_matrix(client, world, db):
    url = f"/api/v1/groups/{world.g1.id}/attendance-matrix?format=csv"
    for user in (world.other_coordinator, world.other_facilitator, world.admin):
        resp = await client.get(url, headers=bearer(world, user))
        assert resp.status in (403, 404), user.email
    assert (await client.get(url)).status == 401
    bad = await client.get(url + "&sep=tab", headers=bearer(world, world.coordinator))
    assert bad.status == 422
    assert db.scalars(select(AuditEntry).where(AuditEntry.action == "report.export")).all() == []


async def test_unknown_format(client, world):
    resp = await client.get(
        f"/api/v1/centres/{world.centre.id}/report?format=pdf", headers=bearer(world, world.coordinator)
    )
    assert resp.status == 422


# --- Statistics -------------------------------------------------------------------------------


async def test_statistics_suppressed_and_anonymous(client, world):
    resp = await client.get("/api/v1/statistics", headers=bearer(world, world.admin))
    assert resp.status == 200
    text = await resp.text()
    st = await resp.json()
    assert st["suppression_threshold"] == 5
    # Families: Ayşe, Bela, Cem, Dana, Fatma, Gül and the anonymised Hanna (not the erased Erika).
    assert st["overall"] == {"key": "", "sessions_held": 7, "participations": 16, "families_reached": 7}
    tables = {t["dimension"]: {r["key"]: r for r in t["rows"]} for t in st["tables"]}

    def values(row):
        return (row["sessions_held"], row["participations"], row["families_reached"])

    assert {k: values(r) for k, r in tables["language"].items()} == {
        "ar": (None, None, None),
        "ru": (None, None, None),
        "tr": (5, 13, 6),
    }
    assert {k: values(r) for k, r in tables["municipality"].items()} == {
        "Bonn": (None, None, None),
        "Köln": (None, None, None),
    }
    assert {k: values(r) for k, r in tables["month"].items()} == {
        "2026-09": (None, None, None),
        "2026-10": (None, 8, 6),
        "2026-11": (None, None, None),
    }
    names = [name for name in world.parents if name not in ("Erika", "Hanna")] + [
        "Gruppe",
        "KI Köln",
        "KI Bonn",
        "Sonnenschein",
    ]
    for name in names:
        assert name not in text

    await login(client, world.admin.email)
    page = await client.get("/admin/statistics?from=2026-08-01&to=2027-07-31")
    assert page.status == 200
    html = await page.text()
    assert "&lt;5" in html
    for name in names:
        assert name not in html


async def test_pages_and_exports_render_in_german(client, world):
    await login(client, world.coordinator.email)
    pages = [
        f"/groups/{world.g1.id}/attendance",
        f"/parents/{world.parents['Ayşe'].id}/attendance",
        "/reports/centre",
    ]
    for page in pages:
        resp = await client.get(page + "?lang=de")
        assert resp.status == 200, page
        assert '<html lang="de"' in await resp.text()
    csv_de = await client.get(f"/api/v1/centres/{world.centre.id}/report?format=csv&sep=semicolon&lang=de")
    assert csv_de.status == 200
    rows = list(csv.reader(io.StringIO((await csv_de.read()).decode("utf-8-sig")), delimiter=";"))
    assert len(rows) > 10
    xlsx_de = await client.get(f"/api/v1/centres/{world.centre.id}/report?format=xlsx&lang=de")
    assert len(load_workbook(io.BytesIO(await xlsx_de.read())).sheetnames) == 3
    group_de = await client.get(f"/api/v1/groups/{world.g1.id}/attendance-matrix?format=xlsx&lang=de")
    book = load_workbook(io.BytesIO(await group_de.read()))
    assert book.sheetnames == ["Übersicht", "Anwesenheit", "Treffen"]
    header = [c.value for c in book["Anwesenheit"][1]]
    assert header[-2:] == ["Teilnahmequote (%)", "Regelmäßige Teilnahme"]
    assert book["Anwesenheit"]["D2"].value == "anwesend"  # Ayşe on 8 September


async def test_anonymised_parent_still_counts_under_a_label(client, world):
    m = await get_json(
        client, f"/api/v1/groups/{world.g3.id}/attendance-matrix", bearer(world, world.other_coordinator)
    )
    parents = {x["display_name"]: x for x in m["parents"]}
    assert set(parents) == {"Gül", "anon-4a4a4a4a"}
    assert parents["anon-4a4a4a4a"]["anonymised"] is True
    assert (parents["anon-4a4a4a4a"]["attended"], parents["anon-4a4a4a4a"]["held"]) == (1, 1)
    assert m["summary"]["families_reached"] == 2
    # No summary page of an anonymised parent, and no link to one from the matrix.
    resp = await client.get(
        f"/api/v1/parents/{world.parents['Hanna'].id}/attendance-summary",
        headers=bearer(world, world.other_coordinator),
    )
    assert resp.status == 404
    await login(client, world.other_coordinator.email)
    html = await (await client.get(f"/groups/{world.g3.id}/attendance")).text()
    assert "anon-4a4a4a4a" in html
    assert f"/parents/{world.parents['Hanna'].id}/attendance" not in html


async def test_centre_report_agrees_with_the_matrices(client, world):
    """The centre report counts in SQL, the matrix counts cells: per group they must agree."""
    headers = bearer(world, world.coordinator)
    report = await get_json(client, f"/api/v1/centres/{world.centre.id}/report", headers)
    by_group = {g["group"]["id"]: g["figures"] for g in report["groups"]}
    for group in (world.g1, world.g2):
        matrix = await get_json(client, f"/api/v1/groups/{group.id}/attendance-matrix", headers)
        assert by_group[group.id] == matrix["summary"], group.name
