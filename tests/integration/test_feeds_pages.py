"""The ways people reach feeds: the parent's calendar page, joins from calendar events, the staff
pages and the API; and that no secret ends up in a log. Both databases."""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from orchestrator import models as m
from orchestrator.accounts import services as accounts
from orchestrator.conference import services as conference
from orchestrator.conference.decisions import Timing
from orchestrator.feeds import services as feed_services
from orchestrator.security import hash_secret
from orchestrator.settings import load_settings
from tests import factories
from tests.integration.test_feeds import World, build_world, expected_for, feed_path, fetch, future_sessions
from tests.support import csrf_token, login
from tests.unit.feeds.checks import assert_parsers_agree

UTC = dt.UTC
_FEED_URL = re.compile(r'value="(https://rucksack\.example\.org/feeds/([A-Za-z0-9_-]{32})\.ics)"')


@pytest.fixture
def world(db) -> World:
    return build_world(db)


def _feed_on_page(html: str) -> tuple[str, str]:
    found = _FEED_URL.search(html)
    assert found, "the page shows no feed address"
    return found.group(1), found.group(2)


async def _bearer(db, user: m.StaffUser) -> dict[str, str]:
    _, token = accounts.create_api_token(db, user_id=user.id, name="feeds test", scopes=["read", "write"])
    db.commit()
    return {"Authorization": f"Bearer {token}"}


# -- the parent's calendar page ---------------------------------------------------------------


async def test_the_parent_page_offers_a_feed_that_stays_the_same(client, db, world):
    # A parent without a feed yet: the first visit creates it.
    parent = factories.parent(db, world.centre, groups=[world.group_a, world.group_b], language="ar")
    _, personal = factories.access_secret(db, parent=parent)
    db.commit()
    home = await client.get(f"/p/{personal}")
    assert home.status == 200
    assert f'href="/p/{personal}/calendar"' in await home.text()

    page = await client.get(f"/p/{personal}/calendar")
    html = await page.text()
    assert page.status == 200
    assert page.headers["Cache-Control"] == "no-store"
    url, secret = _feed_on_page(html)
    webcal = "webcal://" + url.removeprefix("https://")
    assert f'href="{webcal}"' in html
    assert f'href="https://calendar.google.com/calendar/r?cid={quote(webcal, safe="")}"' in html
    assert f"/feeds/{secret}/sessions/" in html  # the next meeting alone, as a download
    response, body = await fetch(client, feed_path(secret))
    assert response.status == 200
    assert_parsers_agree(body, expected_for(db, [world.group_a.id, world.group_b.id]))
    # The same address on every visit: a calendar subscribed to it keeps working.
    again = await client.get(f"/p/{personal}/calendar")
    assert _feed_on_page(await again.text()) == (url, secret)
    assert db.scalar(
        select(m.AccessSecret.secret_hash).where(m.AccessSecret.secret_hash == hash_secret(secret))
    )

    # The coordinator switches it off: the address stops working, the next visit gives a new one.
    headers = await _bearer(db, world.coordinator)
    revoked = await client.delete(f"/api/v1/parents/{parent.id}/feed", headers=headers)
    assert (await revoked.json()) == {"revoked": 1}
    assert (await client.get(feed_path(secret))).status == 404
    newer = await client.get(f"/p/{personal}/calendar")
    _, new_secret = _feed_on_page(await newer.text())
    assert new_secret != secret
    assert (await client.get(feed_path(new_secret))).status == 200


async def test_a_feed_the_coordinator_issued_is_replaced_only_when_the_parent_asks(client, db, world):
    _, personal = factories.access_secret(db, parent=world.parent)
    db.commit()
    # The world's feed was issued for the parent by a coordinator: its address cannot be shown.
    page = await client.get(f"/p/{personal}/calendar")
    html = await page.text()
    assert page.status == 200
    assert not _FEED_URL.search(html)
    assert f'action="/p/{personal}/calendar"' in html
    assert (await client.get(feed_path(world.parent_secret))).status == 200

    replaced = await client.post(f"/p/{personal}/calendar", allow_redirects=False)
    assert replaced.status == 303
    assert replaced.headers["Location"] == f"/p/{personal}/calendar"
    _, secret = _feed_on_page(await (await client.get(f"/p/{personal}/calendar")).text())
    assert (await client.get(feed_path(secret))).status == 200
    assert (await client.get(feed_path(world.parent_secret))).status == 404


async def test_unknown_personal_links_get_the_portal_not_found_page(client, db, world):
    row, revoked = factories.access_secret(db, parent=world.parent)
    row.revoked_at = dt.datetime.now(UTC)
    db.commit()
    answers = []
    for secret in (revoked, "A" * 32, "nonsense"):
        for method in ("GET", "POST"):
            response = await client.request(method, f"/p/{secret}/calendar", allow_redirects=False)
            answers.append((response.status, await response.text()))
    assert {status for status, _ in answers} == {404}
    assert len({text for _, text in answers}) == 1
    count = db.scalar(
        select(func.count()).select_from(m.AccessSecret).where(m.AccessSecret.purpose == "feed")
    )
    db.commit()
    assert count == 3  # no feed was created for anyone


# -- joining from a calendar event ------------------------------------------------------------


async def test_calendar_links_lead_to_the_join_decision(client, db, world, settings):
    prefix = f"/feeds/{world.parent_secret}/join"
    [upcoming] = future_sessions(db, world.group_a, 1)
    group_link = await client.get(f"{prefix}/g/{world.group_a.id}", allow_redirects=False)
    assert group_link.status == 303
    current = group_link.headers["Location"]
    assert re.fullmatch(rf"{prefix}/s/\d+", current)

    early = await client.get(f"{prefix}/s/{upcoming.id}")
    html = await early.text()
    assert early.status == 200
    assert early.headers["Cache-Control"] == "no-store"
    assert 'data-state="too_early"' in html
    assert f'data-state-url="{prefix}/s/{upcoming.id}/state"' in html
    state = await client.get(f"{prefix}/s/{upcoming.id}/state")
    assert (await state.json())["state"] == "too_early"

    # A session of a group the parent is not in.
    other = db.scalars(select(m.Session).where(m.Session.group_id == world.group_c.id)).first()
    db.commit()
    refused = await client.get(f"{prefix}/s/{other.id}")
    assert refused.status == 403
    assert 'data-state="not_enrolled"' in await refused.text()

    # Live: straight into the room with a fresh token, and the join is recorded.
    now = dt.datetime.now(UTC)
    live = factories.session(db, world.group_a, starts_at=now + dt.timedelta(minutes=5))
    db.commit()
    timing = Timing.from_settings(settings.sessions)
    conference.launch_session(
        db, actor=factories.staff_actor(db, world.facilitator), session_id=live.id, timing=timing
    )
    db.commit()
    joined = await client.get(f"{prefix}/s/{live.id}", allow_redirects=False)
    assert joined.status == 303
    assert joined.headers["Location"].startswith("https://meet.example.org/")
    visits = db.scalars(select(m.SessionVisit).where(m.SessionVisit.session_id == live.id)).all()
    assert {(v.kind, v.parent_id) for v in visits} >= {("join", world.parent.id)}
    db.commit()
    # HEAD must not join (it would record a visit): not offered.
    assert (await client.head(f"{prefix}/s/{live.id}", allow_redirects=False)).status == 405


async def test_join_links_refuse_other_secrets_alike(client, db, world):
    [upcoming] = future_sessions(db, world.group_a, 1)
    row, revoked = factories.feed_secret(db, parent=world.parent)
    row.revoked_at = dt.datetime.now(UTC)
    db.commit()
    answers = set()
    # A staff feed opens no parent join; revoked and unknown secrets look the same.
    for secret in (revoked, "A" * 32, world.facilitator_secret, "nonsense"):
        for path in (f"s/{upcoming.id}", f"g/{world.group_a.id}"):
            response = await client.get(f"/feeds/{secret}/join/{path}", allow_redirects=False)
            answers.add((response.status, await response.text()))
    assert len(answers) == 1
    assert next(iter(answers))[0] == 404


async def test_staff_calendar_links_go_to_the_current_session(client, db, world):
    [upcoming] = future_sessions(db, world.group_a, 1)
    await login(client, world.facilitator.email)
    response = await client.get(f"/calendar/groups/{world.group_a.id}/current", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == f"/facilitator/sessions/{upcoming.id}"
    # A group the facilitator does not lead.
    assert (
        await client.get(f"/calendar/groups/{world.group_b.id}/current", allow_redirects=False)
    ).status == 404
    client.session.cookie_jar.clear()
    await login(client, world.coordinator.email)
    response = await client.get(f"/calendar/groups/{world.group_a.id}/current", allow_redirects=False)
    assert response.headers["Location"] == f"/sessions/{upcoming.id}"


# -- staff pages and API ----------------------------------------------------------------------


async def test_staff_issue_and_revoke_their_own_feed_in_the_pages(client, db, world):
    await login(client, world.coordinator.email)
    page = await client.get("/account/feed")
    assert page.status == 200
    csrf = await csrf_token(client, "/account/feed")
    issued = await client.post("/account/feed", data={"csrf_token": csrf, "group_id": str(world.group_a.id)})
    html = await issued.text()
    assert issued.status == 200
    assert issued.headers["Cache-Control"] == "no-store"
    _, secret = _feed_on_page(html)
    _, body = await fetch(client, feed_path(secret))
    assert_parsers_agree(body, expected_for(db, [world.group_a.id]))
    # The world's coordinator feed was replaced.
    assert (await client.get(feed_path(world.coordinator_secret))).status == 404
    revoked = await client.post("/account/feed/revoke", data={"csrf_token": csrf}, allow_redirects=False)
    assert revoked.status == 303
    assert (await client.get(feed_path(secret))).status == 404
    refused = await client.post("/account/feed", data={"group_id": "1"})
    assert refused.status == 403  # no CSRF token


async def test_coordinators_manage_a_parents_feed_in_the_pages(client, db, world):
    await login(client, world.coordinator.email)
    page = await client.get(f"/parents/{world.parent.id}/feed")
    assert page.status == 200
    csrf = await csrf_token(client, f"/parents/{world.parent.id}/feed")
    issued = await client.post(f"/parents/{world.parent.id}/feed", data={"csrf_token": csrf})
    _, secret = _feed_on_page(await issued.text())
    assert (await client.get(feed_path(secret))).status == 200
    assert (await client.get(feed_path(world.parent_secret))).status == 404
    await client.post(f"/parents/{world.parent.id}/feed/revoke", data={"csrf_token": csrf})
    assert (await client.get(feed_path(secret))).status == 404
    actions = db.scalars(
        select(m.AuditEntry.action).where(m.AuditEntry.object_id == str(world.parent.id))
    ).all()
    db.commit()
    assert {"feed.issue", "feed.revoke"} <= set(actions)


async def test_feed_api(client, db, world):
    coordinator = await _bearer(db, world.coordinator)
    facilitator = await _bearer(db, world.facilitator)
    other_centre = factories.centre(db)
    stranger = await _bearer(db, factories.user(db, "coordinator", other_centre))
    admin = await _bearer(db, factories.user(db, "admin"))

    issued = await client.post("/api/v1/me/feed", json={"group_ids": [world.group_b.id]}, headers=coordinator)
    data = await issued.json()
    assert issued.status == 200, data
    assert data["group_ids"] == [world.group_b.id]
    assert data["webcal_url"] == "webcal://" + data["url"].removeprefix("https://")
    assert data["google_url"].endswith(quote(data["webcal_url"], safe=""))
    _, body = await fetch(client, data["url"].removeprefix("https://rucksack.example.org"))
    assert_parsers_agree(body, expected_for(db, [world.group_b.id]))
    status = await (await client.get("/api/v1/me/feed", headers=coordinator)).json()
    assert status["active"] is True
    assert status["group_ids"] == [world.group_b.id]

    bad = await client.post(
        "/api/v1/me/feed", json={"group_ids": [world.group_a.id + 1000]}, headers=coordinator
    )
    assert bad.status == 422
    assert (await bad.json())["error"]["field"] == "group_ids"
    narrowed = await client.post(
        "/api/v1/me/feed", json={"group_ids": [world.group_a.id]}, headers=facilitator
    )
    assert narrowed.status == 422
    own = await client.post("/api/v1/me/feed", headers=facilitator)
    assert own.status == 200
    assert (await client.post("/api/v1/me/feed", headers=admin)).status == 403
    assert (await client.post("/api/v1/me/feed", json={"colour": "red"}, headers=coordinator)).status == 422

    revoked = await client.delete("/api/v1/me/feed", headers=coordinator)
    assert (await revoked.json()) == {"revoked": 1}
    assert (await client.get(data["url"].removeprefix("https://rucksack.example.org"))).status == 404

    parent_feed = f"/api/v1/parents/{world.parent.id}/feed"
    issued = await client.post(parent_feed, headers=coordinator)
    assert issued.status == 200
    assert (await (await client.get(parent_feed, headers=coordinator)).json())["active"] is True
    assert (await client.post(parent_feed, headers=stranger)).status == 404
    assert (await client.post(parent_feed, headers=facilitator)).status == 403
    assert (await client.post(parent_feed, headers=admin)).status == 403
    assert (await client.post("/api/v1/parents/999999/feed", headers=coordinator)).status == 404
    document = await (await client.get("/api/v1/openapi.json")).json()
    assert {"/api/v1/me/feed", "/api/v1/parents/{parent_id}/feed"} <= set(document["paths"])


# -- logs -------------------------------------------------------------------------------------


def _leaks(caplog: pytest.LogCaptureFixture, *secrets: str) -> list[str]:
    """Log records that contain a secret (any level), or its hash (INFO and above).

    The database drivers' DEBUG logs show statement parameters, which include the hashes (never
    the secrets) of looked-up links; production does not log DEBUG.
    """
    found = []
    for record in caplog.records:
        if record.name == "aiohttp.access":
            # The test server logs every request; the service runs with the access log off.
            continue
        text = record.getMessage() + (record.exc_text or "")
        if record.exc_info and record.exc_info[1] is not None:
            text += repr(record.exc_info[1])
        for secret in secrets:
            if secret in text or (record.levelno >= logging.INFO and hash_secret(secret) in text):
                found.append(f"{record.name}: {text[:200]}")
    return found


async def test_no_secret_reaches_a_log(client, db, world, caplog, monkeypatch):
    assert load_settings({}).web.access_log is False
    caplog.set_level(logging.DEBUG)
    _, personal = factories.access_secret(db, parent=world.parent)
    db.commit()
    [upcoming] = future_sessions(db, world.group_a, 1)
    secret = world.parent_secret
    paths = [
        feed_path(secret), f"/feeds/{secret}", f"/feeds/{secret}/sessions/{upcoming.id}.ics",
        f"/feeds/{secret}/join/s/{upcoming.id}", f"/feeds/{secret}/join/s/{upcoming.id}/state",
        f"/feeds/{secret}/join/g/{world.group_a.id}", f"/p/{personal}/calendar", feed_path("A" * 32),
    ]  # fmt: skip
    for path in paths:
        await client.get(path)
    first = await client.get(feed_path(world.facilitator_secret))
    await client.get(feed_path(world.facilitator_secret), headers={"If-None-Match": first.headers["ETag"]})

    # An unexpected failure while rendering, with the secret in the exception's message (a
    # calendars ValueError names the offending URL): logged without it, answered 500.
    def broken(feed: Any) -> bytes:
        raise ValueError(
            f"url must be absolute: https://rucksack.example.org/feeds/{world.coordinator_secret}/x"
        )

    monkeypatch.setattr(feed_services, "render", broken)
    failed = await client.get(feed_path(world.coordinator_secret))
    assert failed.status == 500
    assert any("<secret>" in r.getMessage() for r in caplog.records if r.name == "orchestrator.feeds.views")
    assert _leaks(caplog, secret, personal, world.facilitator_secret, world.coordinator_secret) == []
