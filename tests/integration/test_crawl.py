"""Every page a person can reach by following links works: log in as each role on the demo data
and follow every internal link (GET), as a new user clicking around would."""

from __future__ import annotations

import re
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

from orchestrator.demo import create_demo
from orchestrator.models import StaffUser
from tests import factories
from tests.support import login

_HREF = re.compile(r'href="([^"]+)"')
# Downloads and sign-outs are not pages; feeds and exports are tested on their own.
_SKIP = re.compile(r"\.(ics|csv|xlsx|css|js|svg|png)$|^/static/|/logout")


async def _crawl(client, start: str, limit: int = 400) -> dict[str, int]:
    seen: dict[str, int] = {}
    queue = [start]
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if path in seen:
            continue
        resp = await client.get(path, allow_redirects=False)
        seen[path] = resp.status
        if resp.status in (301, 302, 303, 307, 308):
            target = urlsplit(resp.headers["Location"])
            if not target.netloc:
                queue.append(target.path + (f"?{target.query}" if target.query else ""))
            continue
        if "text/html" not in resp.headers.get("Content-Type", ""):
            continue
        for href in _HREF.findall(await resp.text()):
            href = urldefrag(urljoin(path, href.replace("&amp;", "&")))[0]
            parts = urlsplit(href)
            if parts.netloc or not parts.path.startswith("/") or _SKIP.search(parts.path):
                continue
            queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return seen


# Pages each role must be able to reach by clicking, not only by typing an address (the session
# attendance page once existed with no link to it).
_REACHABLE = {
    "coordinator": (
        r"/sessions/\d+/attendance",
        r"/sessions/\d+",
        r"/groups/\d+/attendance",
        r"/groups/\d+/schedule",
        r"/groups/\d+/handouts",
        r"/parents/\d+/attendance",
        r"/parents/\d+/privacy",
        r"/parents/\d+/link",
        r"/reports/centre",
        r"/notifications",
        r"/centre",
        r"/deployments/\d+",
        r"/staff",
        r"/account/feed",
    ),
    "facilitator": (
        r"/facilitator/sessions/\d+",
        r"/sessions/\d+/attendance",
        r"/groups/\d+/attendance",
        r"/parents/\d+/attendance",
        r"/account/feed",
    ),
    "admin": (r"/admin", r"/admin/statistics", r"/groups/\d+"),
}


@pytest.mark.parametrize("role", ["coordinator", "facilitator", "admin"])
async def test_every_linked_page_answers_without_error(client, db, settings, role):
    demo = create_demo(db, settings)
    if role == "admin":
        factories.user(db, "admin", email="admin@demo.rucksack.invalid")
    db.commit()
    email = {"coordinator": demo.coordinator_email, "facilitator": demo.facilitator_email}.get(
        role, "admin@demo.rucksack.invalid"
    )
    password = {"coordinator": demo.coordinator_password, "facilitator": demo.facilitator_password}.get(
        role, factories.PASSWORD
    )
    await login(client, email, password)
    seen = await _crawl(client, "/")
    broken = {path: status for path, status in seen.items() if status >= 500}
    assert not broken, broken
    assert len(seen) > 5, seen
    # Nothing a role is offered as a link is then refused to it.
    refused = {path: status for path, status in seen.items() if status in (401, 403, 404)}
    assert not refused, refused
    paths = {urlsplit(path).path for path in seen}
    unreached = [p for p in _REACHABLE[role] if not any(re.fullmatch(p, path) for path in paths)]
    assert not unreached, unreached


async def test_parent_pages_in_every_language_answer(client, db, settings):
    demo = create_demo(db, settings)
    db.commit()
    personal = urlsplit(demo.parent_links[0][2]).path
    seen = await _crawl(client, personal)
    for lang in ("de", "en", "tr", "ar", "ru", "uk", "pl", "ro", "bg", "fa"):
        seen.update(await _crawl(client, f"/{lang}{personal}", limit=40))
    broken = {path: status for path, status in seen.items() if status >= 400}
    assert not broken, broken
    assert db.query(StaffUser).count() >= 2
