"""Staff login, logout, throttling, CSRF and API tokens, on both databases."""

from __future__ import annotations

import pytest

from tests import factories
from tests.support import csrf_token, login


@pytest.fixture
def staff(db):
    centre = factories.centre(db)
    coordinator = factories.user(db, "coordinator", centre)
    db.commit()
    return centre, coordinator


async def test_login_then_logout(client, staff):
    _, coordinator = staff
    csrf = await login(client, coordinator.email)
    me = await client.get("/api/v1/me")
    assert me.status == 200
    assert (await me.json())["role"] == "coordinator"
    resp = await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 303
    assert (await client.get("/api/v1/me")).status == 401


async def test_wrong_password_is_refused_and_throttled(client, staff, settings):
    _, coordinator = staff
    page = await client.get("/login")
    text = await page.text()
    token = text.split('name="login_csrf" value="')[1].split('"')[0]
    statuses = []
    for _ in range(settings.security.login_max_failures + 1):
        resp = await client.post(
            "/login", data={"email": coordinator.email, "password": "wrong password!", "login_csrf": token}
        )
        statuses.append(resp.status)
    assert statuses[:-1] == [401] * settings.security.login_max_failures
    assert statuses[-1] == 429
    # Even the right password is refused while throttled.
    resp = await client.post(
        "/login", data={"email": coordinator.email, "password": factories.PASSWORD, "login_csrf": token}
    )
    assert resp.status == 429


async def test_login_form_without_its_csrf_value_is_refused(client, staff):
    _, coordinator = staff
    await client.get("/login")
    resp = await client.post(
        "/login", data={"email": coordinator.email, "password": factories.PASSWORD, "login_csrf": "forged"}
    )
    assert resp.status == 403
    assert (await client.get("/api/v1/me")).status == 401


async def test_form_post_without_csrf_token_is_refused(client, staff):
    _, coordinator = staff
    await login(client, coordinator.email)
    resp = await client.post("/account/tokens", data={"name": "x", "scope_read": "1"})
    assert resp.status == 403
    assert "CSRF" in await resp.text()


async def test_api_token_scopes(client, staff):
    _, coordinator = staff
    csrf = await login(client, coordinator.email)
    resp = await client.post(
        "/account/tokens", data={"name": "report script", "scope_read": "1", "csrf_token": csrf}
    )
    assert resp.status == 200
    token = (await resp.text()).split('<code id="new-token">')[1].split("<")[0]
    client.session.cookie_jar.clear()
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 200
    assert (await me.json())["scopes"] == ["read"]
    bad = await client.get("/api/v1/me", headers={"Authorization": "Bearer rst_" + "A" * 32})
    assert bad.status == 401


async def test_openapi_document_lists_the_api(client):
    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/me" in doc["paths"]


async def test_health(client):
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["database"] is True


async def test_csrf_helper_works(client, staff):
    _, coordinator = staff
    await login(client, coordinator.email)
    assert await csrf_token(client)
