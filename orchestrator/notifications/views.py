"""The outbox page for coordinators (``/notifications``) and the notifications API.

Coordinators see their centre's notifications: what was sent, what failed and why, and what is
kept in the outbox because nobody can be reached on a channel (no consent, no address, or no
channel configured). A failed or outbox entry can be sent again; the delivery job is sent after
the commit, and if the broker is down the beat sweeper sends it a minute later.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from aiohttp import web
from pydantic import BaseModel

from orchestrator import i18n
from orchestrator.errors import InvalidInput
from orchestrator.notifications import services
from orchestrator.notifications.render import KINDS
from orchestrator.web.context import db_run, render, require_actor
from orchestrator.web.keys import JOBS
from orchestrator.web.openapi import api

__all__ = ["send_delivery_job", "setup"]

DELIVER_TASK = "rucksack.deliver_notifications"


async def send_delivery_job(request: web.Request) -> None:
    """After a commit that may have queued notifications (a cancellation, a move): send them now.

    Off the event loop and never raising (``JobQueue``); if the broker is down, beat's delivery
    run sends them within a minute.
    """
    await request.app[JOBS].send_async(DELIVER_TASK)


def _int(value: str | None, field: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(
            i18n.gettext("%(field)s must be a whole number") % {"field": field}, field=field
        ) from None


def _filters(request: web.Request) -> dict[str, object]:
    q = request.query
    return {
        "state": q.get("state") or None,
        "channel": q.get("channel") or None,
        "kind": q.get("kind") or None,
        "session_id": _int(q.get("session_id"), "session_id"),
        "centre_id": _int(q.get("centre_id"), "centre_id"),
    }


async def outbox_page(request: web.Request) -> web.Response:
    actor = await require_actor(request, "coordinator", "admin")
    filters = _filters(request)
    page_no = _int(request.query.get("page"), "page") or 1
    if page_no < 1:
        raise InvalidInput(i18n.gettext("page must be 1 or more"), field="page")
    result = await db_run(
        request,
        services.list_notifications,
        actor=actor,
        limit=services.PAGE_SIZE,
        offset=(page_no - 1) * services.PAGE_SIZE,
        staff_language=i18n.current_language(),
        **filters,
    )
    query = {k: v for k, v in filters.items() if v is not None}
    return render(
        request,
        "notifications/outbox.html",
        {
            "page": result,
            "filters": filters,
            "states": services.STATES,
            "channels": services.CHANNELS,
            "kinds": KINDS,
            "page_no": page_no,
            "pages": max(1, -(-result.total // services.PAGE_SIZE)),
            "query": urlencode(query),
            "notice": request.query.get("notice", ""),
        },
    )


async def retry(request: web.Request) -> web.Response:
    actor = await require_actor(request, "coordinator", "admin")
    notification_id = int(request.match_info["notification_id"])
    row = await db_run(request, services.retry_notification, actor=actor, notification_id=notification_id)
    if row.state == "queued":
        await request.app[JOBS].send_async(DELIVER_TASK, [row.id])
    form = await request.post()
    back = str(form.get("back", ""))
    notice = "queued" if row.state == "queued" else "outbox"
    target = f"/notifications?{back}&notice={notice}" if back else f"/notifications?notice={notice}"
    raise web.HTTPSeeOther(target)


# -- API -------------------------------------------------------------------------------------


class NotificationOut(BaseModel):
    id: int
    created_at: dt.datetime
    kind: str
    channel: str
    state: str
    recipient: str
    recipient_kind: str
    address: str
    language: str
    session_id: int | None
    session_start: dt.datetime | None
    subject: str
    body: str
    attempts: int
    last_error: str
    next_attempt_at: dt.datetime | None
    sent_at: dt.datetime | None


class NotificationList(BaseModel):
    total: int
    counts: dict[str, int]
    items: list[NotificationOut]


def _out(line: services.NotificationLine) -> NotificationOut:
    return NotificationOut(
        id=line.id,
        created_at=line.created_at,
        kind=line.kind,
        channel=line.channel,
        state=line.state,
        recipient=line.recipient,
        recipient_kind=line.recipient_kind,
        address=line.address,
        language=line.language,
        session_id=line.session_id,
        session_start=line.session_start,
        subject=line.subject,
        body=line.body,
        attempts=line.attempts,
        last_error=line.last_error,
        next_attempt_at=line.next_attempt_at,
        sent_at=line.sent_at,
    )


@api.route(
    "GET",
    "/notifications",
    summary="The centre's notifications and their delivery state (filters: state, channel, kind, "
    "session_id; admins: centre_id; paging: limit, offset)",
    tag="notifications",
    response=NotificationList,
)
async def api_list(request: web.Request) -> web.Response:
    actor = await require_actor(request, "coordinator", "admin")
    result = await db_run(
        request,
        services.list_notifications,
        actor=actor,
        limit=_int(request.query.get("limit"), "limit") or services.PAGE_SIZE,
        offset=_int(request.query.get("offset"), "offset") or 0,
        staff_language="en",
        **_filters(request),
    )
    body = NotificationList(
        total=result.total, counts=result.counts, items=[_out(line) for line in result.lines]
    )
    return web.json_response(text=body.model_dump_json())


class RetryOut(BaseModel):
    id: int
    state: str
    channel: str


@api.route(
    "POST",
    "/notifications/{notification_id}/retry",
    summary="Send a failed notification or an outbox entry again",
    tag="notifications",
    scope="write",
    response=RetryOut,
)
async def api_retry(request: web.Request) -> web.Response:
    actor = await require_actor(request, "coordinator", "admin")
    row = await db_run(
        request,
        services.retry_notification,
        actor=actor,
        notification_id=int(request.match_info["notification_id"]),
    )
    if row.state == "queued":
        await request.app[JOBS].send_async(DELIVER_TASK, [row.id])
    return web.json_response(RetryOut(id=row.id, state=row.state, channel=row.channel).model_dump())


def setup(app: web.Application) -> None:
    app.router.add_get("/notifications", outbox_page)
    app.router.add_post(r"/notifications/{notification_id:\d+}/retry", retry)
