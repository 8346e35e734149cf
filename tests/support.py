"""Helpers for driving the app like a person or a script would."""

from __future__ import annotations

import re
from typing import Any

from tests.factories import PASSWORD

_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
_LOGIN_CSRF = re.compile(r'name="login_csrf" value="([^"]+)"')


async def login(client: Any, email: str, password: str = PASSWORD) -> str:
    """Logs in through the login form; returns the CSRF token for later form posts."""
    page = await client.get("/login")
    token = _LOGIN_CSRF.search(await page.text())
    assert token, "login form has no CSRF field"
    resp = await client.post(
        "/login",
        data={"email": email, "password": password, "login_csrf": token.group(1)},
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    return await csrf_token(client)


async def csrf_token(client: Any, path: str = "/account") -> str:
    resp = await client.get(path)
    found = _CSRF.search(await resp.text())
    assert found, "page carries no CSRF meta tag"
    assert found.group(1), "page carries an empty CSRF token (not logged in?)"
    return found.group(1)
