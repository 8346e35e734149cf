"""Staff pages in Chromium: the live "in the room now" list follows the conference's webhooks
without a reload, the centre report prints with its chart, and the attendance and set-up pages
fit a 360 px phone (screenshots in test-artifacts/)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import urllib.request
from pathlib import Path

import pytest

from orchestrator.attendance import views as attendance_views
from tests import factories

pytestmark = pytest.mark.browser

WEBHOOK_SECRET = "browser-webhook-secret-0123456789"


@dataclasses.dataclass(frozen=True)
class Live:
    coordinator_email: str
    facilitator_email: str
    admin_email: str
    centre_id: int
    group_id: int
    parent_id: int
    session_id: int
    room: str
    hooks: str  # the deployment's event_sync api_prefix, as a path
    ayse: str  # pseudonyms: what the conference's tokens carry as context.user.id
    elif_: str


@pytest.fixture
def live(db) -> Live:
    centre = factories.centre(db)
    deployment = factories.deployment(db, centre, webhook_secret=WEBHOOK_SECRET)
    coordinator = factories.user(db, "coordinator", centre, language="en")
    facilitator = factories.user(db, "facilitator", centre, display_name="Elif")
    group = factories.group(
        db, centre, name="Gruppe Sonnenblume", facilitators=[facilitator], deployment_id=deployment.id
    )
    ayse = factories.parent(db, centre, groups=[group], display_name="Ayşe", language="tr")
    factories.parent(db, centre, groups=[group], display_name="Mariam", language="ar")
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=20)
    session = factories.session(db, group, starts_at=start, status="live", launched_by_id=facilitator.id)
    # A held session in the past, for the report's chart.
    earlier = factories.session(db, group, starts_at=start - dt.timedelta(days=7), status="ended")
    factories.attendance_row(db, earlier, ayse, status="present")
    live = Live(
        coordinator.email,
        facilitator.email,
        factories.user(db, "admin", language="en").email,
        centre.id,
        group.id,
        ayse.id,
        session.id,
        session.room_name,
        f"/hooks/jitsi/{deployment.slug}",
        ayse.pseudonym,
        facilitator.pseudonym,
    )
    db.commit()
    db.close()
    return live


def log_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", factories.PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state()


def post_occupant(base: str, live: Live, endpoint: str, pseudonym: str, name: str, *, left: bool) -> None:
    """An event_sync webhook, as prosody's mod_event_sync sends it (see the reference payloads)."""
    joined = int(dt.datetime.now(dt.UTC).timestamp()) - 60
    occupant = {
        "id": pseudonym,
        "name": name,
        "occupant_jid": f"{pseudonym}@meet.example.org/browser",
        "joined_at": joined,
    }
    if left:
        occupant["left_at"] = joined + 30
    body = {
        "event_name": "muc-occupant-left" if left else "muc-occupant-joined",
        "room_name": live.room,
        "room_jid": f"{live.room}@conference.meet.example.org",
        "is_breakout": False,
        "occupant": occupant,
    }
    request = urllib.request.Request(
        f"{base}{live.hooks}/events/{endpoint}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {WEBHOOK_SECRET}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def test_who_is_in_the_room_follows_the_webhooks_without_a_reload(live_server, context, live, monkeypatch):
    monkeypatch.setattr(attendance_views, "REFRESH_SECONDS", 1)
    page = context.new_page()
    log_in(page, live_server.url, live.coordinator_email)
    page.goto(f"{live_server.url}/sessions/{live.session_id}/attendance")
    in_room = page.locator("#in-room")
    assert "Nobody is in the room right now." in in_room.inner_text()

    post_occupant(live_server.url, live, "occupant/joined", live.elif_, "Elif", left=False)
    post_occupant(live_server.url, live, "occupant/joined", live.ayse, "Ayşe", left=False)
    # No worker runs here: the page reads the events still waiting in the inbox.
    page.wait_for_function("document.getElementById('in-room').innerText.includes('Ayşe')", timeout=10_000)
    text = in_room.inner_text()
    assert "Elif" in text
    assert "(group leader)" in text
    assert text.index("Elif") < text.index("Ayşe")  # the facilitator first

    post_occupant(live_server.url, live, "occupant/left", live.ayse, "Ayşe", left=True)
    page.wait_for_function("!document.getElementById('in-room').innerText.includes('Ayşe')", timeout=10_000)
    assert "Elif" in in_room.inner_text()


def test_the_centre_report_prints_with_its_chart(live_server, context, live, artifacts_dir: Path):
    page = context.new_page()
    log_in(page, live_server.url, live.coordinator_email)
    page.goto(f"{live_server.url}/reports/centre")
    page.click("a.button:has-text('Printable view')")
    page.wait_for_load_state()
    page.emulate_media(media="print")
    # Navigation, filters and download buttons are not printed; the figures and the chart are.
    assert page.locator("header.top").is_hidden()
    assert page.locator("form.filters").is_hidden()
    chart = page.locator(".chart-box svg")
    box = chart.bounding_box()
    assert box is not None
    # One month with sessions: one bar, its share written above it.
    assert box["width"] > 50
    assert box["height"] > 100
    assert chart.locator("text", has_text="%").count() >= 2
    assert page.locator("dl.figures").is_visible()
    page.pdf(path=artifacts_dir / "centre-report.pdf")
    page.screenshot(path=artifacts_dir / "centre-report-print.png", full_page=True)
    assert (artifacts_dir / "centre-report.pdf").stat().st_size > 10_000


# Every staff page, as whom it is opened (the accessibility tests use the same list).
STAFF_PAGES = [
    *(("facilitator", path) for path in ("/facilitator", "/facilitator/sessions/{session}")),
    *(("facilitator", path) for path in ("/sessions/{session}/attendance", "/groups/{group}/attendance")),
    *(
        ("coordinator", path)
        for path in (
            "/sessions/{session}/attendance",
            "/sessions/{session}",
            "/groups/{group}/attendance",
            "/parents/{parent}/attendance",
            "/reports/centre",
            "/groups",
            "/groups/{group}",
            "/groups/{group}/edit",
            "/groups/{group}/schedule",
            "/groups/{group}/parents/import",
            "/groups/{group}/handouts",
            "/parents",
            "/parents/new",
            "/parents/{parent}",
            "/parents/{parent}/link",
            "/parents/{parent}/privacy",
            "/parents/{parent}/feed",
            "/staff",
            "/centre",
            "/deployments",
            "/deployments/new",
            "/notifications",
            "/account",
            "/account/feed",
        )
    ),
    ("admin", "/admin"),
    ("admin", "/admin/statistics"),
]


def open_page(page, live_server, live: Live, who: str, path: str) -> None:
    log_in(page, live_server.url, getattr(live, f"{who}_email"))
    page.goto(
        live_server.url + path.format(session=live.session_id, group=live.group_id, parent=live.parent_id)
    )


@pytest.mark.parametrize(("who", "path"), STAFF_PAGES)
def test_staff_pages_fit_a_360_px_phone(live_server, browser, live, who, path, artifacts_dir: Path):
    """Wide tables scroll inside their box; the page itself never gets wider than the phone."""
    phone = browser.new_context(
        viewport={"width": 360, "height": 780}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    try:
        page = phone.new_page()
        open_page(page, live_server, live, who, path)
        assert page.locator("h1").count() == 1
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        # Text outside the table cells is readable without scrolling sideways (a long caption
        # scrolls away with its table).
        cut_off = page.evaluate(
            """[...document.querySelectorAll('p, caption, h1, h2, h3, dt, dd, li, label')]
                .filter(e => !e.closest('td, th') && e.getBoundingClientRect().right > 361)
                .map(e => e.tagName + ': ' + e.innerText.slice(0, 60))"""
        )
        assert cut_off == []
        # So is every control: a button past the screen's edge is one nobody finds on a phone.
        out_of_reach = page.evaluate(
            """[...document.querySelectorAll('button, summary, select, input:not([type=hidden]), a.button')]
                .filter(e => e.offsetParent !== null && e.getBoundingClientRect().right > 361)
                .map(e => e.tagName + ': ' + (e.innerText || e.name || '').slice(0, 40))"""
        )
        assert out_of_reach == []
        name = path.strip("/").replace("/", "-").replace("{", "").replace("}", "")
        page.screenshot(path=artifacts_dir / f"{who}-{name}-360.png", full_page=True)
    finally:
        phone.close()


def test_a_facilitator_enters_attendance_by_hand_on_a_phone(live_server, browser, live, artifacts_dir: Path):
    """A mother came to the KiTa instead of joining online: the facilitator records her, on her
    phone (in German, her language), without scrolling any table sideways."""
    phone = browser.new_context(
        viewport={"width": 360, "height": 780},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="en-US",
    )
    try:
        page = phone.new_page()
        log_in(page, live_server.url, live.facilitator_email)
        # The way she gets there: her sessions, the session, its attendance.
        page.goto(f"{live_server.url}/facilitator")
        page.locator(f"a[href='/facilitator/sessions/{live.session_id}']").first.click()
        page.get_by_role("link", name="Anwesenheit: Minuten, Korrekturen, Einträge von Hand").click()
        assert page.url.endswith(f"/sessions/{live.session_id}/attendance")
        row = page.locator("tr", has=page.locator("th", has_text="Mariam"))
        summary = row.locator("summary", has_text="Von Hand eintragen")
        box = summary.bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= 360
        summary.click()
        row.locator("select[name=status]").select_option("present")
        row.locator("input[name=reason]").fill("came to the KiTa in person")
        with page.expect_navigation():
            row.locator("button", has_text="Speichern").click()
        row = page.locator("tr", has=page.locator("th", has_text="Mariam"))
        text = row.inner_text()
        assert "anwesend" in text
        assert "von Hand eingetragen" in text
        assert "Korrektur von Elif" in text
        assert "came to the KiTa in person" in text
        page.screenshot(path=artifacts_dir / "facilitator-attendance-by-hand-360.png", full_page=True)
    finally:
        phone.close()


def test_a_facilitator_ticks_off_an_in_person_session_on_a_phone(
    live_server, browser, live, artifacts_dir: Path
):
    """The group met at the KiTa: on her phone the facilitator ticks who came and saves once."""
    phone = browser.new_context(
        viewport={"width": 360, "height": 780}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    try:
        page = phone.new_page()
        log_in(page, live_server.url, live.facilitator_email)
        page.goto(f"{live_server.url}/sessions/{live.session_id}/attendance")
        page.locator("#in-person summary", has_text="Vor Ort: ankreuzen, wer gekommen ist").click()
        form = page.locator("#in-person form")
        for name in ("Ayşe", "Mariam"):
            box = form.get_by_label(name)
            reach = box.bounding_box()
            assert reach is not None
            assert reach["x"] + reach["width"] <= 360
            box.check()
        form.get_by_label("Grund (Pflichtfeld)").fill("vor Ort in der KiTa")
        page.screenshot(path=artifacts_dir / "facilitator-in-person-360.png", full_page=True)
        with page.expect_navigation():
            form.get_by_role("button", name="Als anwesend eintragen").click()
        for name in ("Ayşe", "Mariam"):
            text = page.locator("tr", has=page.locator("th", has_text=name)).inner_text()
            assert "anwesend" in text
            assert "vor Ort in der KiTa" in text
        # Everyone is recorded now: the form is not offered again.
        assert page.locator("#in-person").count() == 0
    finally:
        phone.close()
