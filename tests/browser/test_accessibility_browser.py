"""axe-core (through axe-playwright-python) finds no accessibility violations on the pages
parents and staff use, in a left-to-right and a right-to-left language."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.browser.test_conference_browser import scene  # noqa: F401 - the fixture
from tests.browser.test_staff_pages_browser import live, log_in  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser

AXE = Axe()

STAFF_PAGES = [
    ("facilitator", "/facilitator"),
    ("facilitator", "/facilitator/sessions/{session}"),
    ("coordinator", "/sessions/{session}/attendance"),
    ("coordinator", "/groups/{group}/attendance"),
    ("coordinator", "/parents/{parent}/attendance"),
    ("coordinator", "/reports/centre"),
    ("coordinator", "/groups/{group}"),
    ("coordinator", "/groups/{group}/schedule"),
    ("coordinator", "/parents/{parent}"),
    ("coordinator", "/centre"),
    ("coordinator", "/notifications"),
    ("coordinator", "/groups"),
    ("coordinator", "/groups/{group}/edit"),
    ("coordinator", "/groups/{group}/parents/import"),
    ("coordinator", "/groups/{group}/handouts"),
    ("coordinator", "/parents"),
    ("coordinator", "/parents/new"),
    ("coordinator", "/parents/{parent}/link"),
    ("coordinator", "/parents/{parent}/privacy"),
    ("coordinator", "/parents/{parent}/feed"),
    ("coordinator", "/sessions/{session}"),
    ("coordinator", "/staff"),
    ("coordinator", "/deployments"),
    ("coordinator", "/deployments/new"),
    ("coordinator", "/account"),
    ("coordinator", "/account/feed"),
    ("admin", "/admin"),
    ("admin", "/admin/statistics"),
]


def violations(page) -> list[str]:
    results = AXE.run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
    ]


@pytest.mark.parametrize(("who", "path"), STAFF_PAGES)
def test_staff_pages(live_server, context, live, who, path):  # noqa: F811 - the fixture
    page = context.new_page()
    log_in(page, live_server.url, getattr(live, f"{who}_email"))
    page.goto(
        live_server.url + path.format(session=live.session_id, group=live.group_id, parent=live.parent_id)
    )
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
