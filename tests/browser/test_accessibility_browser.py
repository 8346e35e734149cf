"""axe-core (through axe-playwright-python) finds no accessibility violations on the pages
parents and staff use, in a left-to-right and a right-to-left language."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.browser.test_conference_browser import scene  # noqa: F401 - the fixture
from tests.browser.test_staff_pages_browser import STAFF_PAGES, live, open_page  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser

AXE = Axe()


def violations(page) -> list[str]:
    results = AXE.run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
    ]


@pytest.mark.parametrize(("who", "path"), STAFF_PAGES)
def test_staff_pages(live_server, context, live, who, path):  # noqa: F811 - the fixture
    page = context.new_page()
    open_page(page, live_server, live, who, path)
    assert violations(page) == []


@pytest.mark.parametrize(
    "path",
    [
        "/p/{secret}",
        "/ar/p/{arabic}",
        "/p/{secret}/s/{session}",
        "/p/{arabic}/s/{session}",
        "/privacy",
        "/fa/privacy",
        "/login",
    ],
)
def test_parent_pages(live_server, context, scene, path):  # noqa: F811 - the fixture
    page = context.new_page()
    page.goto(
        live_server.url
        + path.format(secret=scene.secret, arabic=scene.arabic_secret, session=scene.session_id)
    )
    assert violations(page) == []
