"""Launching, re-entering, ending and joining sessions through the pages and the API.

Tokens are decoded the way prosody checks them (signature with the deployment's secret, HS256,
``typ``, ``iss``, string ``aud``, ``sub``, exact lowercase ``room``, ``nbf``/``exp``). Every refused
case checks that nothing changed: the session's status and the number of ``SessionVisit`` rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from urllib.parse import unquote, urlsplit

import jwt
import pytest
import sqlalchemy as sa

from orchestrator import models as m
from tests import factories
from tests.support import csrf_token, login

SECRET = "test-app-secret-0123456789abcdef"
WINDOW = dt.timedelta(minutes=30)
GRACE = dt.timedelta(minutes=60)


@dataclasses.dataclass
class World:
    centre: m.Centre
    deployment: m.JitsiDeployment
    coordinator: m.StaffUser
    facilitator: m.StaffUser
    other_facilitator: m.StaffUser
    group: m.Group
    other_group: m.Group
    parent: m.Parent
    other_parent: m.Parent
    secret: str
    other_secret: str
    session: m.Session
    other_session: m.Session


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
def world(db) -> World:
    centre = factories.centre(db)
    deployment = factories.deployment(db, centre)
    coordinator = factories.user(db, "coordinator", centre)
    facilitator = factories.user(db, "facilitator", centre, display_name="Elif")
    other_facilitator = factories.user(db, "facilitator", centre)
    group = factories.group(db, centre, facilitators=[facilitator], deployment_id=deployment.id)
    other_group = factories.group(db, centre, facilitators=[other_facilitator], deployment_id=deployment.id)
    parent = factories.parent(db, centre, groups=[group], display_name="Ayşe", language="tr")
    other_parent = factories.parent(db, centre, groups=[other_group], language="ar")
    _, secret = factories.access_secret(db, parent=parent)
    _, other_secret = factories.access_secret(db, parent=other_parent)
    start = now() + dt.timedelta(minutes=10)
    session = factories.session(db, group, starts_at=start)
    other_session = factories.session(db, other_group, starts_at=start)
    db.commit()
    return World(
        centre,
        deployment,
        coordinator,
        facilitator,
        other_facilitator,
        group,
        other_group,
        parent,
        other_parent,
        secret,
        other_secret,
        session,
        other_session,
    )


def token_from(location: str) -> str:
    """The JWT in a join URL's fragment (``#jwt=%22<token>%22&...``)."""
    fragment = urlsplit(location).fragment
    params = dict(part.split("=", 1) for part in fragment.split("&"))
    assert params["config.deeplinking.disabled"] == "true"
    value = unquote(params["jwt"])
    # jitsi-meet parses hash values as JSON: the token must be a quoted string.
    assert value.startswith('"')
    assert value.endswith('"')
    return value[1:-1]


def decode(token: str, *, secret: str = SECRET) -> tuple[dict, dict]:
    header = jwt.get_unverified_header(token)
    payload = jwt.decode(
        token,
        secret,
        algorithms=["HS256"],
        audience="jitsi",
        issuer="rucksack",
        options={"require": ["exp", "nbf", "iss", "aud", "sub", "room"]},
    )
    return header, payload


def counts(db, session_id: int) -> tuple[str, int]:
    """The session's status and its number of visits, read in a short transaction of its own.

    Its own session, so that the test's objects are not expired and re-loaded later (on SQLite a
    transaction left open by that re-load would keep the app from writing).
    """
    with sa.orm.Session(db.get_bind()) as check:
        status = check.scalar(sa.select(m.Session.status).where(m.Session.id == session_id))
        visits = check.scalar(
            sa.select(sa.func.count())
            .select_from(m.SessionVisit)
            .where(m.SessionVisit.session_id == session_id)
        )
    return status, visits


async def start_as(client, user: m.StaffUser, session_id: int):
    csrf = await login(client, user.email)
    return await client.post(
        f"/facilitator/sessions/{session_id}/start", data={"csrf_token": csrf}, allow_redirects=False
    )


def check_window(payload: dict, session: m.Session) -> None:
    assert payload["nbf"] == math.floor((session.starts_at - WINDOW - dt.timedelta(seconds=60)).timestamp())
    assert payload["exp"] == math.floor((session.ends_at + GRACE).timestamp())


async def test_facilitator_start_goes_into_the_room_as_moderator(client, db, world, jobs):
    resp = await start_as(client, world.facilitator, world.session.id)
    assert resp.status == 303
    location = resp.headers["Location"]
    assert location.startswith(f"https://meet.example.org/{world.session.room_name}#jwt=")
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    header, payload = decode(token_from(location))
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert payload["room"] == world.session.room_name
    assert payload["sub"] == "meet.example.org"
    assert isinstance(payload["aud"], str)
    user = payload["context"]["user"]
    assert user["id"] == world.facilitator.pseudonym
    assert user["name"] == "Elif"
    assert user["moderator"] is True
    assert user["lobby_bypass"] is True
    assert "email" not in user
    assert "avatar" not in user
    assert payload["context"]["features"]["recording"] is False
    check_window(payload, world.session)

    db.expire_all()
    session = db.get(m.Session, world.session.id)
    assert session.status == "live"
    assert session.launched_by_id == world.facilitator.id
    visit = db.scalars(sa.select(m.SessionVisit).where(m.SessionVisit.session_id == session.id)).one()
    assert (visit.kind, visit.staff_user_id, visit.parent_id) == ("launch", world.facilitator.id, None)
    assert jobs.sent == [("rucksack.session_started", (session.id,))]


async def test_start_twice_re_enters_without_a_second_launch(client, db, world, jobs):
    assert (await start_as(client, world.facilitator, world.session.id)).status == 303
    csrf = await csrf_token(client, "/facilitator")
    again = await client.post(
        f"/facilitator/sessions/{world.session.id}/start", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert again.status == 303
    enter = await client.get(f"/facilitator/sessions/{world.session.id}/enter", allow_redirects=False)
    assert enter.status == 303
    _, payload = decode(token_from(enter.headers["Location"]))
    assert payload["context"]["user"]["moderator"] is True
    kinds = db.scalars(
        sa.select(m.SessionVisit.kind)
        .where(m.SessionVisit.session_id == world.session.id)
        .order_by(m.SessionVisit.id)
    ).all()
    assert kinds == ["launch", "join", "join"]
    assert jobs.sent == [("rucksack.session_started", (world.session.id,))]


async def test_parent_waits_then_joins_the_live_session_as_participant(client, db, world):
    join = f"/p/{world.secret}/s/{world.session.id}"
    waiting = await client.get(join)
    assert waiting.status == 200
    page = await waiting.text()
    assert 'data-state="waiting"' in page
    assert 'lang="tr"' in page
    assert f'data-state-url="{join}/state"' in page
    assert '<meta http-equiv="refresh"' in page  # inside <noscript>: works with JavaScript off
    assert waiting.headers["Cache-Control"] == "no-store"
    state = await client.get(join + "/state")
    assert (await state.json())["state"] == "waiting"
    assert counts(db, world.session.id) == ("scheduled", 0)

    assert (await start_as(client, world.facilitator, world.session.id)).status == 303
    client.session.cookie_jar.clear()
    assert (await (await client.get(join + "/state")).json())["state"] == "live"
    resp = await client.get(join, allow_redirects=False)
    assert resp.status == 303
    header, payload = decode(token_from(resp.headers["Location"]))
    assert header["typ"] == "JWT"
    user = payload["context"]["user"]
    assert user == {"id": world.parent.pseudonym, "name": "Ayşe", "moderator": False}
    assert payload["room"] == world.session.room_name
    check_window(payload, world.session)
    visits = db.scalars(sa.select(m.SessionVisit).where(m.SessionVisit.parent_id == world.parent.id)).all()
    assert [(v.kind, v.session_id) for v in visits] == [("join", world.session.id)]


async def test_group_link_leads_to_the_current_session(client, world):
    resp = await client.get(f"/p/{world.secret}/g/{world.group.id}", allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == f"/p/{world.secret}/s/{world.session.id}"
    other = await client.get(f"/p/{world.secret}/g/{world.other_group.id}", allow_redirects=False)
    assert other.status == 403
    assert 'data-state="not_enrolled"' in await other.text()


async def test_unknown_revoked_and_malformed_links_get_the_same_404(client, db, world):
    row, revoked = factories.access_secret(db, parent=world.parent)
    row.revoked_at = now()
    db.commit()
    unknown = "A" * 32
    malformed = "not-a-secret"
    for suffix in ("", f"/s/{world.session.id}", f"/g/{world.group.id}"):
        bodies = []
        for secret in (unknown, revoked, malformed):
            resp = await client.get(f"/p/{secret}{suffix}", allow_redirects=False)
            assert resp.status == 404, (secret, suffix)
            bodies.append(await resp.text())
        assert bodies[0] == bodies[1] == bodies[2]
        assert "This link does not work." in bodies[0] or "Dieser Link" in bodies[0]
    for secret in (unknown, revoked, malformed):
        resp = await client.get(f"/p/{secret}/s/{world.session.id}/state")
        assert resp.status == 404
    assert counts(db, world.session.id) == ("scheduled", 0)


async def test_parent_cannot_join_another_groups_session(client, db, world):
    assert (await start_as(client, world.other_facilitator, world.other_session.id)).status == 303
    client.session.cookie_jar.clear()
    before = counts(db, world.other_session.id)
    resp = await client.get(f"/p/{world.secret}/s/{world.other_session.id}", allow_redirects=False)
    assert resp.status == 403
    assert 'data-state="not_enrolled"' in await resp.text()
    state = await client.get(f"/p/{world.secret}/s/{world.other_session.id}/state")
    assert state.status == 403
    assert (await state.json())["state"] == "not_enrolled"
    missing = await client.get(f"/p/{world.secret}/s/999999", allow_redirects=False)
    assert missing.status == 403
    assert counts(db, world.other_session.id) == before == ("live", 1)


async def test_parent_who_left_the_group_cannot_join(client, db, world):
    enrolment = db.scalars(sa.select(m.Enrolment).where(m.Enrolment.parent_id == world.parent.id)).one()
    enrolment.left_at = now()
    db.commit()
    assert (await start_as(client, world.facilitator, world.session.id)).status == 303
    client.session.cookie_jar.clear()
    resp = await client.get(f"/p/{world.secret}/s/{world.session.id}", allow_redirects=False)
    assert resp.status == 403
    assert 'data-state="not_enrolled"' in await resp.text()
    assert counts(db, world.session.id) == ("live", 1)


async def test_facilitator_cannot_start_or_end_another_groups_session(client, db, world, jobs):
    resp = await start_as(client, world.other_facilitator, world.session.id)
    assert resp.status == 404
    csrf = await csrf_token(client, "/facilitator")
    end = await client.post(f"/facilitator/sessions/{world.session.id}/end", data={"csrf_token": csrf})
    assert end.status == 404
    page = await client.get(f"/facilitator/sessions/{world.session.id}")
    assert page.status == 404
    fragment = await client.get(f"/facilitator/sessions/{world.session.id}/joined")
    assert fragment.status == 404
    assert counts(db, world.session.id) == ("scheduled", 0)
    assert jobs.sent == []


async def test_coordinator_of_the_centre_may_start(client, db, world):
    resp = await start_as(client, world.coordinator, world.session.id)
    assert resp.status == 303
    _, payload = decode(token_from(resp.headers["Location"]))
    assert payload["context"]["user"]["id"] == world.coordinator.pseudonym
    assert counts(db, world.session.id) == ("live", 1)


async def test_cancelled_session_shows_reason_and_next_session(client, db, world):
    session = db.get(m.Session, world.session.id)
    session.status = "cancelled"
    session.cancel_reason = "Kita geschlossen"
    nxt = factories.session(db, world.group, starts_at=session.starts_at + dt.timedelta(days=7))
    db.commit()
    resp = await client.get(f"/p/{world.secret}/s/{session.id}", allow_redirects=False)
    assert resp.status == 200
    page = await resp.text()
    assert 'data-state="cancelled"' in page
    assert "Kita geschlossen" in page
    assert 'class="next"' in page
    assert str(nxt.starts_at.astimezone(dt.timezone(dt.timedelta(hours=1))).day) in page
    start = await start_as(client, world.facilitator, session.id)
    assert start.status == 409
    assert counts(db, session.id) == ("cancelled", 0)


async def test_expired_window_is_refused_and_nothing_changes(client, db, world):
    session = db.get(m.Session, world.session.id)
    session.starts_at = now() - dt.timedelta(hours=3)
    session.ends_at = now() - dt.timedelta(hours=1, minutes=30)
    db.commit()
    resp = await client.get(f"/p/{world.secret}/s/{session.id}", allow_redirects=False)
    assert resp.status == 200
    assert 'data-state="expired"' in await resp.text()
    assert (await start_as(client, world.facilitator, session.id)).status == 409
    assert counts(db, session.id) == ("scheduled", 0)


async def test_live_session_past_its_grace_is_over_for_parents(client, db, world):
    session = db.get(m.Session, world.session.id)
    session.status = "live"
    session.starts_at = now() - dt.timedelta(hours=4)
    session.ends_at = now() - dt.timedelta(hours=2)
    db.commit()
    resp = await client.get(f"/p/{world.secret}/s/{session.id}", allow_redirects=False)
    assert resp.status == 200
    assert 'data-state="expired"' in await resp.text()
    assert counts(db, session.id) == ("live", 0)


async def test_before_the_window_shows_a_countdown(client, db, world):
    session = db.get(m.Session, world.session.id)
    session.starts_at = now() + dt.timedelta(hours=2)
    session.ends_at = session.starts_at + dt.timedelta(minutes=90)
    db.commit()
    resp = await client.get(f"/p/{world.secret}/s/{session.id}")
    page = await resp.text()
    assert 'data-state="too_early"' in page
    assert "data-seconds-left=" in page
    assert (await start_as(client, world.facilitator, session.id)).status == 409
    assert counts(db, session.id) == ("scheduled", 0)


async def test_moved_session_shows_the_new_time(client, db, world):
    session = db.get(m.Session, world.session.id)
    series = m.Series(
        group_id=world.group.id,
        dtstart_local=dt.datetime(2026, 9, 1, 9, 0),
        until=dt.date(2027, 6, 30),
        uid="s-1",
    )
    db.add(series)
    db.flush()
    new_start = now() + dt.timedelta(days=2)
    session.series_id = series.id
    session.recurrence_local = dt.datetime(2026, 9, 1, 9, 0)
    session.starts_at = new_start
    session.ends_at = new_start + dt.timedelta(minutes=90)
    db.commit()
    resp = await client.get(f"/p/{world.secret}/s/{session.id}")
    page = await resp.text()
    assert 'data-state="moved"' in page
    assert 'class="old-time"' in page
    assert counts(db, session.id) == ("scheduled", 0)


async def test_end_refuses_later_joins(client, db, world, jobs):
    assert (await start_as(client, world.facilitator, world.session.id)).status == 303
    csrf = await csrf_token(client, "/facilitator")
    resp = await client.post(
        f"/facilitator/sessions/{world.session.id}/end", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert resp.status == 303
    assert jobs.sent[-1] == ("rucksack.session_ended", (world.session.id,))
    client.session.cookie_jar.clear()
    join = await client.get(f"/p/{world.secret}/s/{world.session.id}", allow_redirects=False)
    assert join.status == 200
    assert 'data-state="ended"' in await join.text()
    assert counts(db, world.session.id) == ("ended", 2)
    kinds = db.scalars(
        sa.select(m.SessionVisit.kind).where(m.SessionVisit.session_id == world.session.id)
    ).all()
    assert sorted(kinds) == ["end", "launch"]


async def test_facilitator_pages_list_sessions_and_joins(client, db, world):
    await login(client, world.facilitator.email)
    overview = await client.get("/facilitator")
    assert overview.status == 200
    text = await overview.text()
    assert f"/facilitator/sessions/{world.session.id}/start" in text
    assert f"/facilitator/sessions/{world.other_session.id}" not in text
    client.session.cookie_jar.clear()
    assert (await start_as(client, world.facilitator, world.session.id)).status == 303
    client.session.cookie_jar.clear()
    assert (await client.get(f"/p/{world.secret}/s/{world.session.id}", allow_redirects=False)).status == 303
    await login(client, world.facilitator.email)
    detail = await client.get(f"/facilitator/sessions/{world.session.id}")
    text = await detail.text()
    assert "Ayşe" in text
    assert f"/facilitator/sessions/{world.session.id}/enter" in text


async def test_api_launch_and_end(client, db, world, jobs):
    _, token = factories.api_token(db, world.facilitator, scopes=["read", "write"])
    db.commit()
    auth = {"Authorization": f"Bearer {token}"}
    resp = await client.post(f"/api/v1/sessions/{world.session.id}/launch", headers=auth)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["started"] is True
    assert body["session"]["status"] == "live"
    _, payload = decode(token_from(body["join_url"]))
    assert payload["context"]["user"]["moderator"] is True
    other = await client.post(f"/api/v1/sessions/{world.other_session.id}/launch", headers=auth)
    assert other.status == 404
    assert (await other.json())["error"]["code"] == "not_found"
    end = await client.post(f"/api/v1/sessions/{world.session.id}/end", headers=auth)
    assert (await end.json())["ended"] is True
    assert jobs.sent == [
        ("rucksack.session_started", (world.session.id,)),
        ("rucksack.session_ended", (world.session.id,)),
    ]
    assert counts(db, world.other_session.id) == ("scheduled", 0)


async def test_read_only_token_cannot_launch(client, db, world):
    _, token = factories.api_token(db, world.facilitator, scopes=["read"])
    db.commit()
    resp = await client.post(
        f"/api/v1/sessions/{world.session.id}/launch", headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status == 403
    assert counts(db, world.session.id) == ("scheduled", 0)


async def test_signing_secret_from_the_environment(client, db, world, monkeypatch):
    rotated = "rotated-secret-from-the-environment-0123"
    monkeypatch.setenv("RS_TEST_JITSI_SECRET", rotated)
    deployment = db.get(m.JitsiDeployment, world.deployment.id)
    deployment.signing_secret = "env:RS_TEST_JITSI_SECRET"
    db.commit()
    resp = await start_as(client, world.facilitator, world.session.id)
    assert resp.status == 303
    decode(token_from(resp.headers["Location"]), secret=rotated)


async def test_unreadable_signing_secret_changes_nothing(client, db, world):
    deployment = db.get(m.JitsiDeployment, world.deployment.id)
    deployment.signing_secret = "env:RS_TEST_UNSET_VARIABLE"
    db.commit()
    resp = await start_as(client, world.facilitator, world.session.id)
    assert resp.status == 409
    assert "RS_TEST_UNSET_VARIABLE" in await resp.text()
    assert counts(db, world.session.id) == ("scheduled", 0)


async def test_head_request_does_not_join(client, db, world):
    resp = await client.head(f"/p/{world.secret}/s/{world.session.id}", allow_redirects=False)
    assert resp.status == 405
    assert counts(db, world.session.id) == ("scheduled", 0)


async def test_coordinator_sees_every_group_of_the_centre_today(client, db, world):
    other_centre = factories.centre(db)
    foreign = factories.group(db, other_centre)
    foreign_session = factories.session(db, foreign, starts_at=world.session.starts_at)
    db.commit()
    await login(client, world.coordinator.email)
    text = await (await client.get("/facilitator")).text()
    assert f"/facilitator/sessions/{world.session.id}/start" in text
    assert f"/facilitator/sessions/{world.other_session.id}/start" in text
    assert f"/facilitator/sessions/{foreign_session.id}" not in text
    assert 'href="/facilitator"' in text  # the navigation leads coordinators here too


async def test_jaas_deployment_gets_a_jaas_token_and_url(client, db, world):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    app_id = "vpaas-magic-cookie-0123456789abcdef0123456789abcdef"
    jaas = factories.deployment(
        db,
        world.centre,
        kind="jaas",
        domain="8x8.vc",
        base_url="https://8x8.vc",
        app_id=app_id,
        algorithm="RS256",
        key_id="rucksack-key-1",
        signing_secret=pem,
    )
    group = db.get(m.Group, world.group.id)
    group.deployment_id = jaas.id
    db.commit()
    resp = await start_as(client, world.facilitator, world.session.id)
    assert resp.status == 303
    location = resp.headers["Location"]
    assert location.startswith(f"https://8x8.vc/{app_id}/{world.session.room_name}#jwt=")
    token = token_from(location)
    assert jwt.get_unverified_header(token) == {
        "alg": "RS256",
        "typ": "JWT",
        "kid": f"{app_id}/rucksack-key-1",
    }
    payload = jwt.decode(token, key.public_key(), algorithms=["RS256"], audience="jitsi", issuer="chat")
    assert payload["sub"] == app_id
    assert payload["room"] == world.session.room_name
    assert payload["context"]["user"]["moderator"] == "true"
    check_window(payload, world.session)


async def test_a_live_session_page_refreshes_who_joined_in_place(client, db, world):
    assert (await start_as(client, world.facilitator, world.session.id)).status == 303
    page = await (await client.get(f"/facilitator/sessions/{world.session.id}")).text()
    # No reload of the whole page (it would take a screen reader back to the top): the list is
    # fetched again into a live region.
    assert 'http-equiv="refresh"' not in page
    assert f'data-refresh-src="/facilitator/sessions/{world.session.id}/joined"' in page
    assert 'aria-live="polite"' in page
    assert '<script src="/static/refresh.js" defer></script>' in page

    fragment = await client.get(f"/facilitator/sessions/{world.session.id}/joined")
    assert fragment.status == 200
    assert "<strong>Ayşe</strong>" not in await fragment.text()  # listed as not joined yet
    parent = await client.get(f"/p/{world.secret}/s/{world.session.id}", allow_redirects=False)
    assert parent.status == 303
    fragment = await (await client.get(f"/facilitator/sessions/{world.session.id}/joined")).text()
    assert "<html" not in fragment
    assert "<strong>Ayşe</strong>" in fragment  # joined, with the time
