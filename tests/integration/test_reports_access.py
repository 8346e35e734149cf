"""Who sees which report: coordinators their centre, facilitators their groups' matrix and
parents, admins only the anonymous statistics, nobody anything without logging in."""

from __future__ import annotations

from sqlalchemy import func, select

from orchestrator.models import AuditEntry
from tests.integration.test_reports import bearer, world  # noqa: F401 - the data set fixture
from tests.support import login


def api_urls(w) -> dict[str, str]:
    return {
        "matrix": f"/api/v1/groups/{w.g1.id}/attendance-matrix",
        "summary": f"/api/v1/parents/{w.parents['Ayşe'].id}/attendance-summary",
        "report": f"/api/v1/centres/{w.centre.id}/report",
        "csv": f"/api/v1/centres/{w.centre.id}/report?format=csv",
        "statistics": "/api/v1/statistics",
    }


async def statuses(client, urls: dict[str, str], headers=None) -> dict[str, int]:
    result = {}
    for name, url in urls.items():
        resp = await client.get(url, headers=headers or {}, allow_redirects=False)
        result[name] = resp.status
    return result


async def test_coordinator_sees_own_centre_only(client, world):  # noqa: F811
    assert await statuses(client, api_urls(world), bearer(world, world.coordinator)) == {
        "matrix": 200,
        "summary": 200,
        "report": 200,
        "csv": 200,
        "statistics": 403,
    }
    assert await statuses(client, api_urls(world), bearer(world, world.other_coordinator)) == {
        "matrix": 404,
        "summary": 404,
        "report": 404,
        "csv": 404,
        "statistics": 403,
    }
    # Ids that do not exist look the same as ids of another centre.
    missing = {
        "matrix": "/api/v1/groups/999999/attendance-matrix",
        "summary": "/api/v1/parents/999999/attendance-summary",
        "report": "/api/v1/centres/999999/report",
        "bad_id": "/api/v1/groups/abc/attendance-matrix",
    }
    assert set((await statuses(client, missing, bearer(world, world.coordinator))).values()) == {404}


async def test_other_centres_coordinator_pages(client, world):  # noqa: F811
    await login(client, world.other_coordinator.email)
    pages = {
        "matrix": f"/groups/{world.g1.id}/attendance",
        "summary": f"/parents/{world.parents['Ayşe'].id}/attendance",
    }
    assert await statuses(client, pages) == {"matrix": 404, "summary": 404}
    # Their own centre report does not show centre A's groups.
    html = await (await client.get("/reports/centre")).text()
    assert "Gruppe Stern" in html
    assert "Gruppe Sonne" not in html


async def test_facilitator_sees_own_groups_only(client, world):  # noqa: F811
    headers = bearer(world, world.facilitator)
    assert await statuses(client, api_urls(world), headers) == {
        "matrix": 200,
        "summary": 200,
        "report": 403,
        "csv": 403,
        "statistics": 403,
    }
    other_group = await client.get(f"/api/v1/groups/{world.g2.id}/attendance-matrix", headers=headers)
    assert other_group.status == 404
    # Ayşe is in both groups; her facilitator sees only the group they lead.
    summary = await (await client.get(api_urls(world)["summary"], headers=headers)).json()
    assert [g["group"]["name"] for g in summary["groups"]] == ["Gruppe Sonne"]
    # Fatma is only in the other group.
    fatma = await client.get(
        f"/api/v1/parents/{world.parents['Fatma'].id}/attendance-summary", headers=headers
    )
    assert fatma.status == 404

    assert await statuses(client, api_urls(world), bearer(world, world.other_facilitator)) == {
        "matrix": 404,
        "summary": 404,
        "report": 403,
        "csv": 403,
        "statistics": 403,
    }


async def test_facilitator_pages(client, world):  # noqa: F811
    await login(client, world.facilitator.email)
    pages = {
        "matrix": f"/groups/{world.g1.id}/attendance",
        "other_group": f"/groups/{world.g2.id}/attendance",
        "report": "/reports/centre",
        "statistics": "/admin/statistics",
    }
    assert await statuses(client, pages) == {
        "matrix": 200,
        "other_group": 404,
        "report": 403,
        "statistics": 403,
    }


async def test_admin_sees_only_statistics(client, world):  # noqa: F811
    assert await statuses(client, api_urls(world), bearer(world, world.admin)) == {
        "matrix": 403,
        "summary": 403,
        "report": 403,
        "csv": 403,
        "statistics": 200,
    }
    await login(client, world.admin.email)
    pages = {
        "matrix": f"/groups/{world.g1.id}/attendance",
        "summary": f"/parents/{world.parents['Ayşe'].id}/attendance",
        "report": "/reports/centre",
        "statistics": "/admin/statistics",
    }
    assert await statuses(client, pages) == {"matrix": 403, "summary": 403, "report": 403, "statistics": 200}


async def test_coordinator_cannot_see_statistics_page(client, world):  # noqa: F811
    await login(client, world.coordinator.email)
    assert (await client.get("/admin/statistics")).status == 403


async def test_anonymous_gets_nothing(client, world):  # noqa: F811
    result = await statuses(client, api_urls(world))
    assert set(result.values()) == {401}
    pages = [
        f"/groups/{world.g1.id}/attendance",
        f"/parents/{world.parents['Ayşe'].id}/attendance",
        "/reports/centre",
        "/admin/statistics",
    ]
    for page in pages:
        resp = await client.get(page, allow_redirects=False)
        assert resp.status == 303, page
        assert resp.headers["Location"].startswith("/login?next=")


async def test_refused_export_leaves_no_audit_entry(client, world, db):  # noqa: F811
    resp = await client.get(api_urls(world)["csv"], headers=bearer(world, world.other_coordinator))
    assert resp.status == 404
    assert db.scalar(select(func.count()).where(AuditEntry.action == "report.export")) == 0


async def test_report_api_is_in_the_openapi_document(client):
    doc = await (await client.get("/api/v1/openapi.json")).json()
    for path in (
        "/api/v1/groups/{group_id}/attendance-matrix",
        "/api/v1/parents/{parent_id}/attendance-summary",
        "/api/v1/centres/{centre_id}/report",
        "/api/v1/statistics",
    ):
        operation = doc["paths"][path]["get"]
        assert operation["tags"] == ["reports"]
        assert operation["x-required-scope"] == "read"
    assert "MatrixOut" in doc["components"]["schemas"]
