"""The scheduling API and pages driven over HTTP, on SQLite and PostgreSQL.

These run on the real clock, so the group's cycle is placed a few days from today.
"""

from __future__ import annotations

import datetime as dt
import itertools
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from orchestrator import models as m
from orchestrator.accounts import services as accounts
from orchestrator.security import hash_password, new_pseudonym
from tests import factories
from tests.support import login

_HASH: list[str] = []
_SEQ = itertools.count(1)
API = "/api/v1"


def staff(db, role, centre) -> m.StaffUser:
    if not _HASH:
        _HASH.append(hash_password(factories.PASSWORD))
    n = next(_SEQ)
    row = m.StaffUser(
        role=role,
        centre_id=centre.id,
        email=f"http-{role}{n}@example.org",
        display_name=f"{role.title()} {n}",
        password_hash=_HASH[0],
        pseudonym=new_pseudonym("f"),
        language="en",
    )
    db.add(row)
    db.flush()
    return row


def next_weekday(day: dt.date, weekday: int) -> dt.date:
    return day + dt.timedelta(days=(weekday - day.weekday()) % 7)


@pytest.fixture
def world(db):
    today = dt.datetime.now(dt.UTC).date()
    centre = factories.centre(db)
    other_centre = factories.centre(db)
    coordinator = staff(db, "coordinator", centre)
    facilitator = staff(db, "facilitator", centre)
    stranger = staff(db, "coordinator", other_centre)
    group = factories.group(
        db, centre, facilitators=[facilitator],
        cycle_start=today + dt.timedelta(days=3), cycle_end=today + dt.timedelta(days=120),
    )  # fmt: skip
    tokens = {
        name: accounts.create_api_token(db, user_id=user.id, name="script", scopes=scopes)[1]
        for name, user, scopes in (
            ("coordinator", coordinator, ["read", "write"]),
            ("reader", coordinator, ["read"]),
            ("facilitator", facilitator, ["read", "write"]),
            ("stranger", stranger, ["read", "write"]),
        )
    }
    db.commit()
    db.expunge_all()  # detached, so reading them never opens a transaction (see ``read``)
    first = next_weekday(today + dt.timedelta(days=3), 1)  # a Tuesday
    return SimpleNamespace(
        centre=centre, group=group, coordinator=coordinator, facilitator=facilitator, stranger=stranger,
        first=first, auth={k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()},
    )  # fmt: skip


def count(db, model):
    return read(db, lambda: db.scalar(select(func.count()).select_from(model)))


def read(db, query):
    """Read fresh data and end the transaction at once.

    On SQLite every transaction begins IMMEDIATE, so a transaction left open here would keep the
    app under test from writing. The rows read are detached before the rollback, which would
    otherwise expire them and have the next attribute access open a transaction again.
    """
    db.expire_all()
    try:
        return query()
    finally:
        db.expunge_all()
        db.rollback()


async def create(client, w, **body):
    body.setdefault("first_start_local", f"{w.first.isoformat()}T09:00")
    body.setdefault("rrule", "FREQ=WEEKLY;BYDAY=TU")
    resp = await client.post(f"{API}/groups/{w.group.id}/series", json=body, headers=w.auth["coordinator"])
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def sessions(client, w, **query):
    resp = await client.get(
        f"{API}/groups/{w.group.id}/sessions", params=query, headers=w.auth["coordinator"]
    )
    assert resp.status == 200, await resp.text()
    return (await resp.json())["sessions"]


# --- API -----------------------------------------------------------------------------------------


async def test_api_creates_a_series_and_lists_its_sessions(client, world):
    series = await create(client, world, title="Rucksack")
    assert series["first_start_local"] == f"{world.first.isoformat()}T09:00:00"
    assert series["timezone"] == "Europe/Berlin"
    assert series["until"] == world.group.cycle_end.isoformat()
    assert series["uid"].endswith("@rucksack")
    listed = await sessions(client, world)
    assert len(listed) >= 16
    first = listed[0]
    assert first["local_start"] == f"{world.first.isoformat()}T09:00:00"
    assert first["timezone"] == "Europe/Berlin"
    assert first["starts_at"].endswith(("Z", "+00:00"))
    start = dt.datetime.fromisoformat(first["starts_at"].replace("Z", "+00:00"))
    assert start.utcoffset() == dt.timedelta(0)
    assert first["status"] == "scheduled"
    assert first["sequence"] == 0
    assert first["moved"] is False
    assert "room_name" not in first

    window = await sessions(
        client, world, **{"from": listed[1]["local_start"][:10], "to": listed[2]["local_start"][:10]}
    )
    assert [s["id"] for s in window] == [listed[1]["id"], listed[2]["id"]]
    one = await client.get(f"{API}/sessions/{first['id']}", headers=world.auth["coordinator"])
    assert (await one.json())["id"] == first["id"]
    all_series = await client.get(f"{API}/groups/{world.group.id}/series", headers=world.auth["facilitator"])
    assert [s["id"] for s in (await all_series.json())["series"]] == [series["id"]]


async def test_api_session_operations(client, world):
    await create(client, world)
    target = (await sessions(client, world))[3]
    url = f"{API}/sessions/{target['id']}"
    auth = world.auth["coordinator"]

    resp = await client.post(f"{url}/cancel", json={"reason": "Krank"}, headers=auth)
    body = await resp.json()
    assert resp.status == 200, body
    assert (body["status"], body["cancel_reason"], body["sequence"]) == ("cancelled", "Krank", 1)
    resp = await client.post(f"{url}/restore", headers=auth)
    assert (await resp.json())["status"] == "scheduled"

    new_day = dt.date.fromisoformat(target["local_start"][:10]) + dt.timedelta(days=1)
    resp = await client.post(
        f"{url}/move",
        json={"new_start_local": f"{new_day.isoformat()}T15:00", "duration_minutes": 60},
        headers=auth,
    )
    body = await resp.json()
    assert resp.status == 200, body
    assert body["local_start"] == f"{new_day.isoformat()}T15:00:00"
    assert body["duration_minutes"] == 60
    assert body["moved"] is True
    assert body["sequence"] == 3
    assert body["recurrence_local"] == target["recurrence_local"]

    resp = await client.patch(url, json={"theme": "Spiel und Sprache", "note": "Saal"}, headers=auth)
    body = await resp.json()
    assert (body["theme"], body["note"], body["sequence"]) == ("Spiel und Sprache", "Saal", 4)

    resp = await client.post(f"{url}/move", json={"new_start_local": "2020-01-01T09:00"}, headers=auth)
    assert resp.status == 422
    assert "past" in (await resp.json())["error"]["message"]
    await client.post(f"{url}/cancel", json={}, headers=auth)
    resp = await client.post(
        f"{url}/move", json={"new_start_local": f"{new_day.isoformat()}T16:00"}, headers=auth
    )
    assert resp.status == 409


async def test_api_series_changes(client, world, db):
    series = await create(client, world)
    before = await sessions(client, world)
    auth = world.auth["coordinator"]

    resp = await client.patch(f"{API}/series/{series['id']}", json={"start_time": "10:30"}, headers=auth)
    body = await resp.json()
    assert resp.status == 200, body
    assert body["series"]["sequence"] == 1
    assert body["sessions"]["updated"] == len(before)
    after = await sessions(client, world)
    assert [s["id"] for s in after] == [s["id"] for s in before]
    assert {s["local_start"][11:16] for s in after} == {"10:30"}

    split = after[5]
    resp = await client.post(
        f"{API}/sessions/{split['id']}/this-and-following",
        json={"rrule": "FREQ=WEEKLY;BYDAY=TH", "duration_minutes": 60},
        headers=auth,
    )
    body = await resp.json()
    assert resp.status == 200, body
    assert body["series"]["id"] != series["id"]
    moved = await client.get(f"{API}/sessions/{split['id']}", headers=auth)
    moved_body = await moved.json()
    assert moved_body["series_id"] == body["series"]["id"]
    assert dt.date.fromisoformat(moved_body["local_start"][:10]).weekday() == 3

    resp = await client.post(f"{API}/series/{series['id']}/materialise", headers=auth)
    assert await resp.json() == {"created": 0, "updated": 0, "deleted": 0, "frozen": 0}


async def test_api_closure_days(client, world):
    await create(client, world)
    target = (await sessions(client, world))[2]
    day = target["local_start"][:10]
    auth = world.auth["coordinator"]
    resp = await client.post(
        f"{API}/groups/{world.group.id}/closure-days", json={"day": day, "label": "Ferien"}, headers=auth
    )
    body = await resp.json()
    assert resp.status == 201, body
    assert body["sessions"]["deleted"] == 1
    assert body["closure_day"]["centre_wide"] is False
    assert target["id"] not in [s["id"] for s in await sessions(client, world)]
    resp = await client.post(f"{API}/groups/{world.group.id}/closure-days", json={"day": day}, headers=auth)
    assert resp.status == 409
    listed = await (await client.get(f"{API}/groups/{world.group.id}/closure-days", headers=auth)).json()
    assert [c["day"] for c in listed["closure_days"]] == [day]
    resp = await client.delete(f"{API}/closure-days/{body['closure_day']['id']}", headers=auth)
    assert (await resp.json())["sessions"]["created"] == 1
    assert day in [s["local_start"][:10] for s in await sessions(client, world)]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"until": "2000-01-01"}, 422, "before it starts"),
        ({"rrule": "FREQ=DAILY;BYHOUR=9,12,15"}, 422, "200"),
        ({"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, 422, "no session"),
        ({"rrule": "FREQ=WEEKLY;UNTIL=20270101T000000Z"}, 422, "UNTIL"),
        ({"rrule": "NONSENSE"}, 422, "NAME=VALUE"),
        ({"duration_minutes": 0}, 422, "duration_minutes"),
        ({"first_start_local": "next tuesday"}, 422, "first_start_local"),
        ({"first_start_local": "2027-01-05T09:00+01:00"}, 422, "offset"),
        ({"colour": "red"}, 422, "colour"),
        ({"first_start_local": "LAST WEEK"}, 422, "past"),
    ],
)
async def test_api_bad_series_are_refused_and_nothing_is_written(client, world, db, body, status, words):
    payload = {"first_start_local": f"{world.first.isoformat()}T09:00", **body}
    if payload["first_start_local"] == "LAST WEEK":
        payload["first_start_local"] = f"{world.first - dt.timedelta(days=14)}T09:00"
    before = (count(db, m.Series), count(db, m.Session))
    resp = await client.post(
        f"{API}/groups/{world.group.id}/series", json=payload, headers=world.auth["coordinator"]
    )
    assert resp.status == status
    error = (await resp.json())["error"]
    assert words.lower() in (error["message"] + " " + str(error.get("field"))).lower()
    assert (count(db, m.Series), count(db, m.Session)) == before


async def test_api_malformed_bodies_and_unknown_ids(client, world):
    auth = world.auth["coordinator"]
    url = f"{API}/groups/{world.group.id}/series"
    resp = await client.post(url, data=b"{not json", headers={**auth, "Content-Type": "application/json"})
    assert resp.status == 400
    resp = await client.post(url, json=[1, 2], headers=auth)
    assert resp.status == 400
    for path in (
        "/groups/999999/series",
        "/series/999999",
        "/sessions/999999",
        "/sessions/abc",
        "/sessions/99999999999999999999",
        "/groups/999999/sessions",
        "/groups/999999/closure-days",
    ):
        resp = await client.get(API + path, headers=auth)
        assert resp.status == 404, path
        assert (await resp.json())["error"]["code"] == "not_found"
    resp = await client.delete(f"{API}/closure-days/999999", headers=auth)
    assert resp.status == 404
    resp = await client.get(f"{API}/groups/{world.group.id}/sessions?from=soon", headers=auth)
    assert resp.status == 422


async def test_api_access_matrix(client, world):
    series = await create(client, world)
    target = (await sessions(client, world))[0]
    reads = [f"/groups/{world.group.id}/series", f"/series/{series['id']}", f"/sessions/{target['id']}",
             f"/groups/{world.group.id}/sessions", f"/groups/{world.group.id}/closure-days"]  # fmt: skip
    writes = [
        ("post", f"/sessions/{target['id']}/cancel", {}),
        ("patch", f"/series/{series['id']}", {"title": "x"}),
        (
            "post",
            f"/groups/{world.group.id}/series",
            {"first_start_local": f"{world.first.isoformat()}T18:00"},
        ),
        ("post", f"/groups/{world.group.id}/closure-days", {"day": world.first.isoformat()}),
    ]
    for path in reads:
        assert (await client.get(API + path, headers=world.auth["facilitator"])).status == 200, path
        assert (await client.get(API + path, headers=world.auth["stranger"])).status == 404, path
        assert (await client.get(API + path)).status == 401, path
    for method, path, body in writes:
        call = getattr(client, method)
        assert (await call(API + path, json=body, headers=world.auth["facilitator"])).status == 403, path
        assert (await call(API + path, json=body, headers=world.auth["stranger"])).status == 404, path
        assert (await call(API + path, json=body, headers=world.auth["reader"])).status == 403, path
        assert (await call(API + path, json=body)).status == 401, path
    assert (
        await client.get(f"{API}/sessions/{target['id']}", headers=world.auth["coordinator"])
    ).status == 200
    assert (
        await (await client.get(f"{API}/sessions/{target['id']}", headers=world.auth["coordinator"])).json()
    )["status"] == "scheduled"


async def test_openapi_documents_the_scheduling_api(client):
    doc = await (await client.get(f"{API}/openapi.json")).json()
    for path in (
        "/groups/{group_id}/series",
        "/series/{series_id}",
        "/sessions/{session_id}/this-and-following",
        "/groups/{group_id}/closure-days",
        "/closure-days/{closure_id}",
    ):
        assert API + path in doc["paths"], path
    assert "SeriesCreate" in doc["components"]["schemas"]


# --- pages ---------------------------------------------------------------------------------------


async def test_pages_create_a_series_and_change_a_session(client, world, db):
    csrf = await login(client, world.coordinator.email)
    page = await client.get(f"/groups/{world.group.id}/schedule")
    assert page.status == 200
    assert f'action="/groups/{world.group.id}/series"' in await page.text()

    resp = await client.post(
        f"/groups/{world.group.id}/series",
        data={
            "csrf_token": csrf, "title": "Elterncafé", "byday": ["TU", "TH"], "interval": "1",
            "first_date": world.first.isoformat(), "time": "09:30", "duration_minutes": "90",
            "until": world.group.cycle_end.isoformat(), "rrule": "",
        },
        allow_redirects=False,
    )  # fmt: skip
    assert resp.status == 303, await resp.text()
    assert "done=created" in resp.headers["Location"]
    series = read(db, lambda: db.scalar(select(m.Series)))
    assert series.rrule == "FREQ=WEEKLY;BYDAY=TU,TH"
    assert series.title == "Elterncafé"
    rows = read(db, lambda: list(db.scalars(select(m.Session).order_by(m.Session.starts_at))))
    page = await client.get(resp.headers["Location"])
    text = await page.text()
    assert page.status == 200
    assert "Elterncafé" in text
    assert f"/sessions/{rows[0].id}" in text

    target = rows[2]
    page = await client.get(f"/sessions/{target.id}")
    assert page.status == 200
    html = await page.text()
    assert f'action="/sessions/{target.id}/cancel"' in html
    assert f'href="/sessions/{target.id}/attendance"' in html  # the way to who attended
    assert f'href="/sessions/{target.id}.ics"' in html
    resp = await client.post(
        f"/sessions/{target.id}/cancel", data={"csrf_token": csrf, "reason": "Ausflug"}, allow_redirects=False
    )
    assert resp.status == 303
    assert resp.headers["Location"] == f"/sessions/{target.id}?done=cancelled"
    assert read(db, lambda: db.get(m.Session, target.id).status) == "cancelled"
    page = await client.get(resp.headers["Location"])
    html = await page.text()
    assert "Ausflug" in html
    assert f'href="/sessions/{target.id}/attendance"' not in html  # cancelled: no attendance

    # A wrong form is shown again with the problem, and nothing changes.
    other = rows[3]
    resp = await client.post(
        f"/sessions/{other.id}/move",
        data={"csrf_token": csrf, "move_date": "2020-01-01", "move_time": "09:00", "move_duration": "90"},
    )
    assert resp.status == 422
    text = await resp.text()
    assert "past" in text
    assert 'value="2020-01-01"' in text
    resp = await client.post(
        f"/sessions/{other.id}/move",
        data={"csrf_token": csrf, "move_date": "someday", "move_time": "09:00", "move_duration": "90"},
    )
    assert resp.status == 422
    assert read(db, lambda: db.get(m.Session, other.id).sequence) == 0

    resp = await client.post(
        f"/groups/{world.group.id}/closures",
        data={
            "csrf_token": csrf,
            "day": rows[5].starts_at.date().isoformat(),
            "label": "Ferien",
            "scope": "group",
        },
        allow_redirects=False,
    )
    assert resp.status == 303
    assert "done=closed&n=1" in resp.headers["Location"]
    closure = read(db, lambda: db.scalar(select(m.ClosureDay)))
    resp = await client.post(
        f"/closures/{closure.id}/delete", data={"csrf_token": csrf, "group_id": str(world.group.id)},
        allow_redirects=False,
    )  # fmt: skip
    assert resp.status == 303
    assert "done=opened&n=1" in resp.headers["Location"]

    resp = await client.post(
        f"/series/{series.id}/edit",
        data={
            "csrf_token": csrf, "title": "Elterncafé", "byday": ["TU"], "interval": "1", "time": "10:00",
            "duration_minutes": "90", "until": world.group.cycle_end.isoformat(), "rrule": "",
        },
        allow_redirects=False,
    )  # fmt: skip
    assert resp.status == 303
    assert read(db, lambda: db.get(m.Series, series.id).rrule) == "FREQ=WEEKLY;BYDAY=TU"


async def test_page_forms_without_csrf_token_are_refused(client, world, db):
    await create(client, world)
    target = read(db, lambda: db.scalar(select(m.Session).order_by(m.Session.starts_at)))
    await login(client, world.coordinator.email)
    resp = await client.post(f"/sessions/{target.id}/cancel", data={"reason": "x"})
    assert resp.status == 403
    assert "CSRF" in await resp.text()
    assert read(db, lambda: db.get(m.Session, target.id).status) == "scheduled"


async def test_page_access(client, world, db):
    await create(client, world)
    target = read(db, lambda: db.scalar(select(m.Session).order_by(m.Session.starts_at)))
    schedule, session_page = f"/groups/{world.group.id}/schedule", f"/sessions/{target.id}"

    resp = await client.get(schedule, allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"].startswith("/login")
    resp = await client.get(session_page, allow_redirects=False)
    assert resp.status == 303

    csrf = await login(client, world.facilitator.email)
    page = await client.get(schedule)
    text = await page.text()
    assert page.status == 200
    assert f"/sessions/{target.id}" in text
    assert '/series"' not in text
    assert 'action="/groups' not in text
    page = await client.get(session_page)
    assert page.status == 200
    assert "/cancel" not in await page.text()
    resp = await client.post(f"{session_page}/cancel", data={"csrf_token": csrf})
    assert resp.status == 403
    await client.post("/logout", data={"csrf_token": csrf})

    await login(client, world.stranger.email)
    assert (await client.get(schedule)).status == 404
    assert (await client.get(session_page)).status == 404
