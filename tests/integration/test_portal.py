"""Parent pages (personal page, languages, privacy notice) and personal links (issue, revoke,
handouts, API), on both databases."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
import sqlalchemy as sa

from orchestrator import models as m
from orchestrator.i18n import PARENT_LANGUAGES
from tests import factories
from tests.support import login

LINK = re.compile(r"https://rucksack\.example\.org/p/([A-Za-z0-9_-]{32})")


@dataclasses.dataclass
class World:
    centre: m.Centre
    coordinator: m.StaffUser
    facilitator: m.StaffUser
    group: m.Group
    parent: m.Parent
    arabic_parent: m.Parent
    secret: str
    session: m.Session


@pytest.fixture
def world(db) -> World:
    centre = factories.centre(db)
    deployment = factories.deployment(db, centre)
    coordinator = factories.user(db, "coordinator", centre)
    facilitator = factories.user(db, "facilitator", centre)
    group = factories.group(
        db, centre, name="Gruppe Regenbogen", facilitators=[facilitator], deployment_id=deployment.id
    )
    parent = factories.parent(db, centre, groups=[group], display_name="Ayşe", language="tr")
    arabic_parent = factories.parent(db, centre, groups=[group], display_name="Mariam", language="ar")
    _, secret = factories.access_secret(db, parent=parent)
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=1)
    session = factories.session(db, group, starts_at=start, theme="Sprache im Alltag")
    factories.session(db, group, starts_at=start + dt.timedelta(days=7))
    db.commit()
    return World(centre, coordinator, facilitator, group, parent, arabic_parent, secret, session)


def html_attrs(page: str) -> tuple[str, str]:
    found = re.search(r'<html lang="([a-z]+)" dir="(ltr|rtl)">', page)
    assert found, "page has no <html lang dir>"
    return found.group(1), found.group(2)


async def test_personal_page_in_the_parents_language(client, world):
    resp = await client.get(f"/p/{world.secret}")
    assert resp.status == 200
    page = await resp.text()
    assert html_attrs(page) == ("tr", "ltr")
    assert "Merhaba Ayşe!" in page
    assert "Gruppe Regenbogen" in page
    assert f'href="/p/{world.secret}/s/{world.session.id}"' in page
    assert "Buluşmaya katıl" in page
    assert "Sprache im Alltag" in page
    for header, value in {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}.items():
        assert resp.headers[header] == value
    for lang in PARENT_LANGUAGES.values():
        assert lang.native_name in page


async def test_choosing_a_language_is_remembered(client, db, world):
    resp = await client.get(f"/ar/p/{world.secret}")
    assert resp.status == 200
    assert html_attrs(await resp.text()) == ("ar", "rtl")
    assert resp.cookies["rs_plang"].value == "ar"
    with sa.orm.Session(db.get_bind()) as check:  # its own transaction: the test's objects stay loaded
        assert check.get(m.Parent, world.parent.id).language == "ar"
    again = await client.get(f"/p/{world.secret}")
    assert html_attrs(await again.text()) == ("ar", "rtl")
    join = await client.get(f"/p/{world.secret}/s/{world.session.id}")
    assert html_attrs(await join.text()) == ("ar", "rtl")


@pytest.mark.parametrize("code", sorted(PARENT_LANGUAGES))
async def test_every_language_renders(client, world, code):
    page = await (await client.get(f"/{code}/p/{world.secret}")).text()
    assert html_attrs(page) == (code, PARENT_LANGUAGES[code].direction)
    too_early = await client.get(f"/p/{world.secret}/s/{world.session.id}")
    assert 'data-state="too_early"' in await too_early.text()
    privacy = await client.get(f"/{code}/privacy")
    assert privacy.status == 200
    assert html_attrs(await privacy.text()) == (code, PARENT_LANGUAGES[code].direction)


async def test_privacy_notice_follows_the_browser_language(client):
    resp = await client.get("/privacy", headers={"Accept-Language": "fa-IR,fa;q=0.9,en;q=0.5"})
    page = await resp.text()
    assert html_attrs(page) == ("fa", "rtl")
    assert "چگونه از اطلاعات شما محافظت می‌کنیم" in page
    plain = await client.get("/privacy", headers={"Accept-Language": "fr-FR"})
    assert html_attrs(await plain.text()) == ("de", "ltr")


async def test_erased_parents_link_is_unknown(client, db, world):
    parent = db.get(m.Parent, world.parent.id)
    parent.erased_at = dt.datetime.now(dt.UTC)
    db.commit()
    assert (await client.get(f"/p/{world.secret}")).status == 404


async def test_group_without_sessions_says_so(client, db, world):
    db.execute(sa.delete(m.Session).where(m.Session.group_id == world.group.id))
    db.commit()
    resp = await client.get(f"/p/{world.secret}/g/{world.group.id}", allow_redirects=False)
    assert resp.status == 200
    assert 'data-state="no_session"' in await resp.text()


async def test_coordinator_issues_and_revokes_a_link(client, db, world):
    csrf = await login(client, world.coordinator.email)
    status = await client.get(f"/parents/{world.parent.id}/link")
    assert status.status == 200
    issued = await client.post(f"/parents/{world.parent.id}/link", data={"csrf_token": csrf})
    assert issued.status == 200
    page = await issued.text()
    new_secret = LINK.search(page).group(1)
    assert 'class="qr"><title>Ayşe</title>' in page
    assert "Rucksack grubu için kişisel bağlantınız" in page  # the parent's language
    assert "Ihr persönlicher Link für die Rucksack-Gruppe" in page  # and German
    assert issued.headers["Cache-Control"] == "no-store"
    client.session.cookie_jar.clear()
    assert (await client.get(f"/p/{world.secret}")).status == 404  # the old link stopped working
    assert (await client.get(f"/p/{new_secret}")).status == 200
    csrf = await login(client, world.coordinator.email)
    revoked = await client.post(
        f"/parents/{world.parent.id}/link/revoke", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert revoked.status == 303
    assert (await client.get(f"/p/{new_secret}")).status == 404
    # Only hashes are stored, and every change is audited.
    hashes = db.scalars(
        sa.select(m.AccessSecret.secret_hash).where(m.AccessSecret.parent_id == world.parent.id)
    ).all()
    assert new_secret not in hashes
    actions = db.scalars(
        sa.select(m.AuditEntry.action).where(
            m.AuditEntry.object_type == "parent", m.AuditEntry.object_id == str(world.parent.id)
        )
    ).all()
    assert sorted(actions) == ["personal_link.issue", "personal_link.revoke"]


async def test_facilitators_and_other_centres_cannot_issue_links(client, db, world):
    other_centre = factories.centre(db)
    stranger = factories.user(db, "coordinator", other_centre)
    db.commit()
    csrf = await login(client, world.facilitator.email)
    assert (await client.post(f"/parents/{world.parent.id}/link", data={"csrf_token": csrf})).status == 403
    client.session.cookie_jar.clear()
    csrf = await login(client, stranger.email)
    assert (await client.post(f"/parents/{world.parent.id}/link", data={"csrf_token": csrf})).status == 404
    assert (await client.get(f"/groups/{world.group.id}/handouts")).status == 404
    client.session.cookie_jar.clear()
    assert (await client.get(f"/p/{world.secret}")).status == 200  # unchanged


async def test_api_issues_and_revokes(client, db, world):
    _, token = factories.api_token(db, world.coordinator)
    db.commit()
    auth = {"Authorization": f"Bearer {token}"}
    resp = await client.post(f"/api/v1/parents/{world.parent.id}/personal-link", headers=auth)
    assert resp.status == 200
    body = await resp.json()
    assert body["revoked_previous"] == 1
    new_secret = LINK.fullmatch(body["url"]).group(1)
    assert (await client.get(f"/p/{new_secret}")).status == 200
    gone = await client.delete(f"/api/v1/parents/{world.parent.id}/personal-link", headers=auth)
    assert (await gone.json()) == {"parent_id": world.parent.id, "revoked": 1}
    again = await client.delete(f"/api/v1/parents/{world.parent.id}/personal-link", headers=auth)
    assert (await again.json())["revoked"] == 0
    missing = await client.post("/api/v1/parents/999999/personal-link", headers=auth)
    assert missing.status == 404
    doc = await (await client.get("/api/v1/openapi.json")).json()
    assert "/api/v1/parents/{parent_id}/personal-link" in doc["paths"]
    assert "/api/v1/sessions/{session_id}/launch" in doc["paths"]


async def test_group_handouts(client, db, world):
    csrf = await login(client, world.coordinator.email)
    form = await client.get(f"/groups/{world.group.id}/handouts")
    text = await form.text()
    assert "Ayşe" in text
    assert "Mariam" in text
    resp = await client.post(
        f"/groups/{world.group.id}/handouts",
        data=[
            ("csrf_token", csrf),
            ("parent_id", str(world.parent.id)),
            ("parent_id", str(world.arabic_parent.id)),
        ],
    )
    assert resp.status == 200
    page = await resp.text()
    assert page.count('<article class="handout">') == 2
    assert page.count('class="qr"><title>') == 2
    assert len(set(LINK.findall(page))) == 2
    assert '<section lang="ar" dir="rtl" class="handout-text">' in page
    assert "رابطك الشخصي لمجموعة Rucksack" in page
    assert page.count("Ihr persönlicher Link für die Rucksack-Gruppe") == 2
    stranger = factories.parent(db, world.centre)
    db.commit()
    bad = await client.post(
        f"/groups/{world.group.id}/handouts", data=[("csrf_token", csrf), ("parent_id", str(stranger.id))]
    )
    assert bad.status == 422
    assert (
        db.scalar(
            sa.select(sa.func.count())
            .select_from(m.AccessSecret)
            .where(m.AccessSecret.parent_id == stranger.id)
        )
        == 0
    )
