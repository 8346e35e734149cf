"""A parent's privacy page (export, erasure) for coordinators, and the same in the API.

Both actions are audited by their use cases. The export is a download of machine-readable JSON;
erasure asks for an explicit confirmation on the page, because it cannot be undone.
"""

from __future__ import annotations

import json

from aiohttp import web
from pydantic import BaseModel

from orchestrator.privacy import services
from orchestrator.web.context import db_run, render, require_actor
from orchestrator.web.openapi import api

__all__ = ["setup"]


def _export_response(data: dict[str, object], parent_id: int) -> web.Response:
    return web.Response(
        body=json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8"),
        content_type="application/json",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="parent-{parent_id}-export.json"',
            "Cache-Control": "no-store",
        },
    )


async def privacy_page(request: web.Request) -> web.Response:
    actor = await require_actor(request, "coordinator", "admin")
    parent_id = int(request.match_info["parent_id"])
    summary = await db_run(request, services.privacy_summary, actor=actor, parent_id=parent_id)
    return render(
        request,
        "privacy/parent.html",
        {"s": summary, "notice": request.query.get("notice", ""), "error": ""},
    )


async def export_download(request: web.Request) -> web.Response:
    actor = await require_actor(request, "coordinator", "admin")
    parent_id = int(request.match_info["parent_id"])
    data = await db_run(request, services.export_parent, actor=actor, parent_id=parent_id)
    return _export_response(data, parent_id)


async def erase(request: web.Request) -> web.Response:
    actor = await require_actor(request, "coordinator", "admin")
    parent_id = int(request.match_info["parent_id"])
    form = await request.post()
    if form.get("confirm") != "yes":
        summary = await db_run(request, services.privacy_summary, actor=actor, parent_id=parent_id)
        return render(
            request,
            "privacy/parent.html",
            {"s": summary, "notice": "", "error": "confirm"},
            status=422,
        )
    await db_run(request, services.erase_parent, actor=actor, parent_id=parent_id)
    raise web.HTTPSeeOther(f"/parents/{parent_id}/privacy?notice=erased")


@api.route(
    "GET",
    "/parents/{parent_id}/export",
    summary="Everything held about one parent, as JSON (right of access; audited)",
    tag="privacy",
)
async def api_export(request: web.Request) -> web.Response:
    actor = await require_actor(request, "coordinator", "admin", scope="read")
    parent_id = int(request.match_info["parent_id"])
    data = await db_run(request, services.export_parent, actor=actor, parent_id=parent_id)
    return _export_response(data, parent_id)


class ErasureOut(BaseModel):
    parent_id: int
    erased_at: str
    already_erased: bool
    counts: dict[str, int]


@api.route(
    "POST",
    "/parents/{parent_id}/erase",
    summary="Erase a parent: irreversibly anonymised, attendance counts kept (audited)",
    tag="privacy",
    scope="write",
    response=ErasureOut,
)
async def api_erase(request: web.Request) -> web.Response:
    actor = await require_actor(request, "coordinator", "admin")
    result = await db_run(
        request, services.erase_parent, actor=actor, parent_id=int(request.match_info["parent_id"])
    )
    return web.json_response(
        ErasureOut(
            parent_id=result.parent_id,
            erased_at=result.erased_at.isoformat(),
            already_erased=result.already_erased,
            counts=result.counts,
        ).model_dump()
    )


def setup(app: web.Application) -> None:
    app.router.add_get(r"/parents/{parent_id:\d+}/privacy", privacy_page)
    app.router.add_post(r"/parents/{parent_id:\d+}/privacy/export", export_download)
    app.router.add_post(r"/parents/{parent_id:\d+}/privacy/erase", erase)
