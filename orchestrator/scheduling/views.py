"""Schedule pages: a group's series, sessions and closure days, and one session's page.

Coordinators and admins change schedules; facilitators of the group see the same pages without
forms. A form whose input is wrong is shown again with the problem at the top and the entered
values kept (status 422, or 409 for a state conflict such as an overlap); a successful POST
redirects (303) to the page that shows the result, with a short confirmation.

The simple forms build a weekly rule (weekdays, every n weeks); the "advanced" field takes any
rule the scheduler accepts and wins when filled in. A series whose rule the simple fields cannot
show is edited in the advanced field, prefilled with the rule, so saving never loses it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web
from babel.dates import get_day_names
from multidict import MultiDictProxy

from orchestrator import i18n
from orchestrator.access import Actor
from orchestrator.errors import Conflict, DomainError, InvalidInput, NotFound
from orchestrator.i18n import gettext, ngettext
from orchestrator.models import Series
from orchestrator.notifications.views import send_delivery_job
from orchestrator.scheduling import api as _api  # noqa: F401  (registers the API routes)
from orchestrator.scheduling import services
from orchestrator.scheduling.services import ClosureChange
from orchestrator.web.context import db_run, render, require_actor

__all__ = ["describe_rule", "setup", "weekly_rule"]

MANAGERS = ("coordinator", "admin")
Form = MultiDictProxy[Any]
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_SIMPLE_RULE = re.compile(r"^FREQ=WEEKLY(;INTERVAL=(?P<interval>[1-9][0-9]?))?(;BYDAY=(?P<days>[A-Z,]+))?$")
_MAX_ID = 2_147_483_647


# --- rules in words ------------------------------------------------------------------------------


def weekly_rule(days: list[str], interval: int) -> str:
    """The RRULE of "every ``interval`` weeks on ``days``" (no days: the first date's weekday)."""
    rule = "FREQ=WEEKLY"
    if interval > 1:
        rule += f";INTERVAL={interval}"
    ordered = [d for d in WEEKDAYS if d in days]
    if ordered:
        rule += ";BYDAY=" + ",".join(ordered)
    return rule


def _simple(rule: str) -> tuple[list[str], int] | None:
    """Weekdays and interval of a rule the simple form can show, else None."""
    match = _SIMPLE_RULE.match(rule)
    if not match:
        return None
    days = match.group("days").split(",") if match.group("days") else []
    if any(d not in WEEKDAYS for d in days):
        return None
    return days, int(match.group("interval") or 1)


def _day_names() -> dict[str, str]:
    names = get_day_names("wide", locale=i18n.current_language())
    return {code: names[i] for i, code in enumerate(WEEKDAYS)}


def describe_rule(series: Series) -> str:
    """A series' rule in words in the current language, e.g. "every week on Tuesday"; other rules as
    they are written."""
    simple = _simple(series.rrule)
    if simple is None:
        return series.rrule
    days, interval = simple
    names = _day_names()
    chosen = days or [WEEKDAYS[series.dtstart_local.weekday()]]
    listed = ", ".join(names[d] for d in chosen)
    if interval == 1:
        return gettext("every week on %(days)s") % {"days": listed}
    return gettext("every %(n)d weeks on %(days)s") % {"n": interval, "days": listed}


# --- form helpers --------------------------------------------------------------------------------


def _str(form: Form, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _int(form: Form, name: str, *, default: int | None = None) -> int:
    raw = _str(form, name).strip()
    if not raw and default is not None:
        return default
    if not raw.isdigit() or len(raw) > 6:
        raise InvalidInput(gettext("Give a whole number."), field=name)
    return int(raw)


def _date(form: Form, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(_str(form, name).strip())
    except ValueError:
        raise InvalidInput(gettext("Give a date like 2026-09-01."), field=name) from None


def _optional_date(form: Form, name: str) -> dt.date | None:
    return _date(form, name) if _str(form, name).strip() else None


def _time(form: Form, name: str) -> dt.time:
    raw = _str(form, name).strip()
    try:
        if not re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", raw):
            raise ValueError(raw)
        return dt.time.fromisoformat(raw.zfill(5) if len(raw) == 4 else raw)
    except ValueError:
        raise InvalidInput(gettext("Give a time like 09:30."), field=name) from None


def _rule(form: Form) -> str:
    """The advanced rule if filled in, else the weekly rule of the simple fields."""
    advanced = _str(form, "rrule").strip()
    if advanced:
        return advanced
    days = [d for d in form.getall("byday", []) if isinstance(d, str) and d in WEEKDAYS]
    interval = _int(form, "interval", default=1)
    if not 1 <= interval <= 52:
        raise InvalidInput(gettext("Repeat every 1 to 52 weeks."), field="interval")
    return weekly_rule(days, interval)


def _path_id(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 10 or not 1 <= int(raw) <= _MAX_ID:
        raise NotFound(gettext("There is no such record."))
    return int(raw)


def _notice(request: web.Request) -> str | None:
    """The confirmation after a redirect; only known keys, so nobody can put text on our page."""
    key = request.query.get("done")
    raw = request.query.get("n", "0")
    n = int(raw) if raw.isdigit() and len(raw) < 6 else 0
    notices: dict[str, Callable[[], str]] = {
        "created": lambda: (
            ngettext(
                "The series is created with %(n)d session.", "The series is created with %(n)d sessions.", n
            )
            % {"n": n}
        ),
        "saved": lambda: gettext("Saved."),
        "cancelled": lambda: gettext("The session is cancelled."),
        "restored": lambda: gettext("The session takes place again."),
        "moved": lambda: gettext("The session is moved."),
        "split": lambda: gettext("From this session on, the new schedule applies."),
        "closed": lambda: (
            ngettext(
                "The day is closed; %(n)d session was removed.",
                "The day is closed; %(n)d sessions were removed.",
                n,
            )
            % {"n": n}
        ),
        "opened": lambda: (
            ngettext(
                "The day is open again; %(n)d session was added.",
                "The day is open again; %(n)d sessions were added.",
                n,
            )
            % {"n": n}
        ),
    }
    return notices[key]() if key in notices else None


def _form_values(form: Form | None) -> dict[str, Any]:
    if form is None:
        return {}
    values: dict[str, Any] = {k: _str(form, k) for k in form if k != "csrf_token"}
    values["byday"] = [d for d in form.getall("byday", []) if isinstance(d, str)]
    return values


def _series_values(series: Series) -> dict[str, Any]:
    """The edit form's values for a series: simple fields where they can show the rule."""
    simple = _simple(series.rrule)
    days, interval = simple if simple is not None else ([], 1)
    return {
        "title": series.title,
        "byday": days or ([WEEKDAYS[series.dtstart_local.weekday()]] if simple is not None else []),
        "interval": str(interval),
        "time": series.dtstart_local.strftime("%H:%M"),
        "duration_minutes": str(series.duration_minutes),
        "until": series.until.isoformat(),
        "rrule": "" if simple is not None else series.rrule,
    }


# --- schedule page -------------------------------------------------------------------------------


async def schedule_page(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    return await _schedule_page(request, actor, _path_id(request, "group_id"))


async def _schedule_page(
    request: web.Request,
    actor: Actor,
    group_id: int,
    *,
    error: DomainError | None = None,
    form: Form | None = None,
    failed: str = "",
    conflicts: ClosureChange | None = None,
) -> web.Response:
    schedule = await db_run(request, services.get_schedule, actor=actor, group_id=group_id)
    today = dt.datetime.now(dt.UTC).date()
    upcoming = [v for v in schedule.sessions if v.session.ends_at.date() >= today]
    past = [v for v in schedule.sessions if v.session.ends_at.date() < today]
    new_defaults = {
        "title": "",
        "byday": [],
        "interval": "1",
        "time": "09:00",
        "duration_minutes": str(services.DEFAULT_DURATION_MINUTES),
        "first_date": max(schedule.group.cycle_start, today + dt.timedelta(days=1)).isoformat(),
        "until": schedule.group.cycle_end.isoformat(),
        "rrule": "",
    }
    return render(
        request,
        "scheduling/schedule.html",
        {
            "schedule": schedule,
            "group": schedule.group,
            "upcoming": upcoming,
            "past": past,
            "describe_rule": describe_rule,
            "series_values": _series_values,
            "day_names": _day_names(),
            "weekdays": WEEKDAYS,
            "new_values": {**new_defaults, **_form_values(form)} if failed == "new" else new_defaults,
            "failed_values": _form_values(form),
            "failed": failed,
            "error": error,
            "notice": _notice(request),
            "closure_change": conflicts,
        },
        status=error.status if error is not None else 200,
    )


def _form_error(e: DomainError) -> bool:
    return isinstance(e, (InvalidInput, Conflict))


async def create_series(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    group_id = _path_id(request, "group_id")
    form = await request.post()
    try:
        first = dt.datetime.combine(_date(form, "first_date"), _time(form, "time"))
        series = await db_run(
            request,
            services.create_series,
            actor=actor,
            group_id=group_id,
            title=_str(form, "title"),
            rrule=_rule(form),
            first_start_local=first,
            duration_minutes=_int(form, "duration_minutes", default=services.DEFAULT_DURATION_MINUTES),
            until=_optional_date(form, "until"),
        )
    except DomainError as e:
        if not _form_error(e):
            raise
        return await _schedule_page(request, actor, group_id, error=e, form=form, failed="new")
    sessions = await db_run(request, services.list_sessions, actor=actor, group_id=group_id)
    count = sum(1 for v in sessions if v.session.series_id == series.id)
    raise web.HTTPSeeOther(f"/groups/{group_id}/schedule?done=created&n={count}")


async def update_series(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    series_id = _path_id(request, "series_id")
    series = await db_run(request, services.get_series, actor=actor, series_id=series_id)
    form = await request.post()
    try:
        await db_run(
            request,
            services.update_series,
            actor=actor,
            series_id=series_id,
            title=_str(form, "title"),
            rrule=_rule(form),
            start_time=_time(form, "time"),
            duration_minutes=_int(form, "duration_minutes"),
            until=_date(form, "until"),
        )
    except DomainError as e:
        if not _form_error(e):
            raise
        return await _schedule_page(
            request, actor, series.group_id, error=e, form=form, failed=f"series-{series_id}"
        )
    await send_delivery_job(request)
    raise web.HTTPSeeOther(f"/groups/{series.group_id}/schedule?done=saved")


async def add_closure(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    group_id = _path_id(request, "group_id")
    form = await request.post()
    try:
        change = await db_run(
            request,
            services.add_closure_day,
            actor=actor,
            group_id=group_id,
            day=_date(form, "day"),
            label=_str(form, "label"),
            centre_wide=_str(form, "scope") == "centre",
        )
    except DomainError as e:
        if not _form_error(e):
            raise
        return await _schedule_page(request, actor, group_id, error=e, form=form, failed="closure")
    # The notices for sessions the closure removed.
    await send_delivery_job(request)
    if change.conflicts:
        # Sessions someone placed on the day stay; show them so the coordinator decides now.
        return await _schedule_page(request, actor, group_id, conflicts=change)
    raise web.HTTPSeeOther(f"/groups/{group_id}/schedule?done=closed&n={change.summary.deleted}")


async def remove_closure(request: web.Request) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    form = await request.post()
    back = _str(form, "group_id")
    change = await db_run(
        request, services.remove_closure_day, actor=actor, closure_id=_path_id(request, "closure_id")
    )
    # "Takes place after all" for sessions whose removal people were told about.
    await send_delivery_job(request)
    target = f"/groups/{int(back)}/schedule" if back.isdigit() and len(back) <= 10 else "/groups"
    raise web.HTTPSeeOther(f"{target}?done=opened&n={change.summary.created}")


# --- session page --------------------------------------------------------------------------------


async def session_page(request: web.Request) -> web.Response:
    actor = await require_actor(request)
    return await _session_page(request, actor, _path_id(request, "session_id"))


async def _session_page(
    request: web.Request,
    actor: Actor,
    session_id: int,
    *,
    error: DomainError | None = None,
    form: Form | None = None,
    failed: str = "",
) -> web.Response:
    detail = await db_run(request, services.get_session, actor=actor, session_id=session_id)
    series_values = _series_values(detail.series) if detail.series is not None else {}
    if detail.session.recurrence_local is not None and series_values:
        # "This and following" starts from this occurrence's time as the rule made it.
        series_values["time"] = detail.session.recurrence_local.strftime("%H:%M")
    values = {
        "move_date": detail.local_start.date().isoformat(),
        "move_time": detail.local_start.strftime("%H:%M"),
        "move_duration": str(detail.duration_minutes),
        "theme": detail.session.theme,
        "material_url": detail.session.material_url,
        "note": detail.session.note,
        "reason": "",
    }
    failed_values = _form_values(form)
    if failed in ("move", "edit", "cancel"):
        values.update(failed_values)
    if failed == "following":
        series_values.update(failed_values)
    return render(
        request,
        "scheduling/session.html",
        {
            "detail": detail,
            "s": detail.session,
            "group": detail.group,
            "values": values,
            "series_values": series_values,
            "day_names": _day_names(),
            "weekdays": WEEKDAYS,
            "describe_rule": describe_rule,
            "error": error,
            "failed": failed,
            "notice": _notice(request),
        },
        status=error.status if error is not None else 200,
    )


async def _session_action(
    request: web.Request, name: str, call: Callable[[Actor, int, Form], Any], done: str
) -> web.Response:
    actor = await require_actor(request, *MANAGERS)
    session_id = _path_id(request, "session_id")
    form = await request.post()
    try:
        target = await call(actor, session_id, form)
    except DomainError as e:
        if not _form_error(e):
            raise
        return await _session_page(request, actor, session_id, error=e, form=form, failed=name)
    raise web.HTTPSeeOther(f"/sessions/{target or session_id}?done={done}")


async def cancel_session(request: web.Request) -> web.Response:
    async def call(actor: Actor, session_id: int, form: Form) -> None:
        await db_run(
            request, services.cancel_session, actor=actor, session_id=session_id, reason=_str(form, "reason")
        )
        await send_delivery_job(request)

    return await _session_action(request, "cancel", call, "cancelled")


async def restore_session(request: web.Request) -> web.Response:
    async def call(actor: Actor, session_id: int, form: Form) -> None:
        await db_run(request, services.restore_session, actor=actor, session_id=session_id)
        await send_delivery_job(request)

    return await _session_action(request, "restore", call, "restored")


async def move_session(request: web.Request) -> web.Response:
    async def call(actor: Actor, session_id: int, form: Form) -> None:
        start = dt.datetime.combine(_date(form, "move_date"), _time(form, "move_time"))
        await db_run(
            request,
            services.move_session,
            actor=actor,
            session_id=session_id,
            new_start_local=start,
            duration_minutes=_int(form, "move_duration"),
        )
        await send_delivery_job(request)

    return await _session_action(request, "move", call, "moved")


async def edit_session(request: web.Request) -> web.Response:
    async def call(actor: Actor, session_id: int, form: Form) -> None:
        await db_run(
            request,
            services.edit_session,
            actor=actor,
            session_id=session_id,
            theme=_str(form, "theme"),
            material_url=_str(form, "material_url"),
            note=_str(form, "note"),
        )

    return await _session_action(request, "edit", call, "saved")


async def this_and_following(request: web.Request) -> web.Response:
    async def call(actor: Actor, session_id: int, form: Form) -> int | None:
        change = await db_run(
            request,
            services.change_this_and_following,
            actor=actor,
            session_id=session_id,
            title=_str(form, "title"),
            rrule=_rule(form),
            start_time=_time(form, "time"),
            duration_minutes=_int(form, "duration_minutes"),
            until=_date(form, "until"),
        )
        await send_delivery_job(request)
        # The session may have been re-pointed or (with another weekday and no session that
        # week) removed; land on the page that surely exists.
        sessions = await db_run(request, services.list_sessions, actor=actor, group_id=change.series.group_id)
        if any(v.session.id == session_id for v in sessions):
            return session_id
        raise web.HTTPSeeOther(f"/groups/{change.series.group_id}/schedule?done=split")

    return await _session_action(request, "following", call, "split")


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get(r"/groups/{group_id:\d+}/schedule", schedule_page)
    r.add_post(r"/groups/{group_id:\d+}/series", create_series)
    r.add_post(r"/groups/{group_id:\d+}/closures", add_closure)
    r.add_post(r"/closures/{closure_id:\d+}/delete", remove_closure)
    r.add_post(r"/series/{series_id:\d+}/edit", update_series)
    r.add_get(r"/sessions/{session_id:\d+}", session_page)
    r.add_post(r"/sessions/{session_id:\d+}/cancel", cancel_session)
    r.add_post(r"/sessions/{session_id:\d+}/restore", restore_session)
    r.add_post(r"/sessions/{session_id:\d+}/move", move_session)
    r.add_post(r"/sessions/{session_id:\d+}/edit", edit_session)
    r.add_post(r"/sessions/{session_id:\d+}/following", this_and_following)
