"""A facilitator starts a session, a waiting parent is moved on by itself, parent pages in
right-to-left languages, and the parent page on a 360 px phone (screenshots in test-artifacts/)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from urllib.parse import unquote, urlsplit

import jwt
import pytest

from tests import factories
from tests.browser.conftest import FAKE_JITSI_TITLE, JITSI_DOMAIN

pytestmark = pytest.mark.browser

SECRET = "test-app-secret-0123456789abcdef"


@dataclasses.dataclass(frozen=True)
class Scene:
    """Plain values only: the test's database session holds no objects the app might wait on."""

    facilitator_email: str
    session_id: int
    room: str
    secret: str
    arabic_secret: str
    parent_pseudonym: str


@pytest.fixture
def scene(db) -> Scene:
    centre = factories.centre(db)
    deployment = factories.deployment(db, centre, domain=JITSI_DOMAIN, base_url=f"https://{JITSI_DOMAIN}")
    facilitator = factories.user(db, "facilitator", centre, display_name="Elif")
    group = factories.group(
        db, centre, name="Gruppe Sonnenblume", facilitators=[facilitator], deployment_id=deployment.id
    )
    parent = factories.parent(db, centre, groups=[group], display_name="Ayşe", language="tr")
    arabic = factories.parent(db, centre, groups=[group], display_name="مريم", language="ar")
    _, secret = factories.access_secret(db, parent=parent)
    _, arabic_secret = factories.access_secret(db, parent=arabic)
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=10)
    session = factories.session(db, group, starts_at=start, theme="Spielen und Sprechen")
    factories.session(db, group, starts_at=start + dt.timedelta(days=7))
    scene = Scene(facilitator.email, session.id, session.room_name, secret, arabic_secret, parent.pseudonym)
    db.commit()
    db.close()
    return scene


def token_in(url: str) -> dict:
    fragment = dict(part.split("=", 1) for part in urlsplit(url).fragment.split("&"))
    token = unquote(fragment["jwt"]).strip('"')
    return jwt.decode(token, SECRET, algorithms=["HS256"], audience="jitsi", issuer="rucksack")


def in_jitsi(url: str) -> bool:
    return url.startswith(f"https://{JITSI_DOMAIN}/")


def log_in_and_start(page, base: str, scene: Scene) -> None:
    page.goto(f"{base}/login")
    page.fill("#email", scene.facilitator_email)
    page.fill("#password", factories.PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{base}/facilitator")
    page.click(f"form[action='/facilitator/sessions/{scene.session_id}/start'] button")
    page.wait_for_url(in_jitsi)


def test_facilitator_logs_in_starts_and_lands_in_the_room(live_server, context, scene, fake_jitsi):
    page = context.new_page()
    log_in_and_start(page, live_server.url, scene)
    assert page.url.startswith(f"https://{JITSI_DOMAIN}/{scene.room}#jwt=%22")
    assert "config.deeplinking.disabled=true" in page.url
    assert page.title() == FAKE_JITSI_TITLE
    claims = token_in(page.url)
    assert claims["room"] == scene.room
    assert claims["context"]["user"]["moderator"] is True
    assert claims["context"]["user"]["name"] == "Elif"
    # The token travels in the fragment: the Jitsi web server only ever saw the room's path.
    assert f"/{scene.room}" in fake_jitsi.paths
    assert not any("jwt" in path for path in fake_jitsi.paths)


def test_waiting_parent_is_moved_on_when_the_session_starts(live_server, browser, context, scene):
    parent = context.new_page()
    parent.goto(f"{live_server.url}/p/{scene.secret}/s/{scene.session_id}")
    assert parent.locator("[data-state]").get_attribute("data-state") == "waiting"
    assert parent.locator("h1").inner_text() == "Lütfen biraz bekleyin."

    facilitator_context = browser.new_context(ignore_https_errors=True, locale="de-DE")
    try:
        log_in_and_start(facilitator_context.new_page(), live_server.url, scene)
    finally:
        facilitator_context.close()

    # No reload by the parent: waiting.js notices the start and opens the join link again.
    parent.wait_for_url(in_jitsi, timeout=20_000)
    claims = token_in(parent.url)
    assert claims["room"] == scene.room
    assert claims["context"]["user"] == {"id": scene.parent_pseudonym, "name": "Ayşe", "moderator": False}


@pytest.mark.parametrize(
    "path", ["/ar/p/{arabic}", "/p/{arabic}", "/fa/p/{secret}", "/fa/privacy", "/ar/privacy"]
)
def test_arabic_and_farsi_pages_are_right_to_left(live_server, context, scene, path):
    page = context.new_page()
    page.goto(live_server.url + path.format(arabic=scene.arabic_secret, secret=scene.secret))
    assert page.evaluate("document.dir") == "rtl"
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    # Logical properties mirror the layout: the language list starts at the right edge.
    first = page.locator(".lang-list li").first.bounding_box()
    last_in_row = page.locator(".lang-list li").nth(1).bounding_box()
    assert first["x"] > last_in_row["x"]


def test_german_and_turkish_pages_are_left_to_right(live_server, context, scene):
    page = context.new_page()
    for path in (f"/p/{scene.secret}", f"/de/p/{scene.secret}", "/privacy"):
        page.goto(live_server.url + path)
        assert page.evaluate("document.dir") == "ltr"


def _check_phone_layout(page, *, join_button: bool = True) -> None:
    # Nothing wider than the screen, and every button is a large touch target.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    for box in (b.bounding_box() for b in page.locator(".join-button, .button, .lang-list a").all()):
        assert box["height"] >= 48
    if join_button:
        assert page.locator(".join-button").first.bounding_box()["width"] >= 280  # the card's full width


def test_parent_page_on_a_360_px_phone(live_server, browser, scene, artifacts_dir: Path):
    phone = browser.new_context(
        viewport={"width": 360, "height": 780},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="tr-TR",
    )
    try:
        page = phone.new_page()
        page.goto(f"{live_server.url}/p/{scene.secret}")
        _check_phone_layout(page)
        page.screenshot(path=artifacts_dir / "parent-page-360.png", full_page=True)

        page.goto(f"{live_server.url}/p/{scene.arabic_secret}")
        _check_phone_layout(page)
        page.screenshot(path=artifacts_dir / "parent-page-360-ar.png", full_page=True)

        page.goto(f"{live_server.url}/p/{scene.secret}/s/{scene.session_id}")
        assert page.locator("[data-state]").get_attribute("data-state") == "waiting"
        _check_phone_layout(page, join_button=False)
        page.screenshot(path=artifacts_dir / "waiting-page-360.png", full_page=True)
    finally:
        phone.close()
    assert (artifacts_dir / "parent-page-360.png").stat().st_size > 10_000
