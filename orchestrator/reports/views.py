"""Attendance report pages and their API: group matrix, parent summary, centre report, statistics.

Handlers are thin: parse the query, run a use case of ``orchestrator.reports.services`` (which
checks access), render. Number formatting follows the staff member's language (German "72 %",
English "72%"); rates are shown rounded *down* to whole percent, so that a rate shown as 75 %
always meets a 75 % threshold.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_FLOOR, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from babel import Locale
from babel.dates import format_date, format_skeleton
from babel.numbers import format_decimal, format_percent
from markupsafe import Markup
from pydantic import BaseModel, Field
from yarl import URL

from orchestrator import i18n
from orchestrator.access import Actor
from orchestrator.errors import InvalidInput, NotFound
from orchestrator.i18n import gettext as _
from orchestrator.reports import exports, services
from orchestrator.reports.aggregate import (
    CELL_CODES,
    Figures,
    GroupInfo,
    MonthFigures,
    ParentLine,
    StatRow,
)
from orchestrator.reports.chart import Bar, bar_chart
from orchestrator.web.context import db_run, render, require_actor
from orchestrator.web.openapi import api

__all__ = ["setup"]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# What a path id that cannot be one answers, per path parameter.
_NOT_FOUND = {
    "centre_id": i18n.lazy_gettext("There is no such centre."),
    "group_id": i18n.lazy_gettext("There is no such group."),
    "parent_id": i18n.lazy_gettext("There is no such parent."),
    "record": i18n.lazy_gettext("There is no such record."),
}


# --- Query parsing ----------------------------------------------------------------------------


def _id(request: web.Request, name: str) -> int:
    value = request.match_info[name]
    if not value.isdigit() or len(value) > 18:
        raise NotFound(_(_NOT_FOUND.get(name, _NOT_FOUND["record"])))
    return int(value)


def _int_query(request: web.Request, name: str, low: int, high: int) -> int | None:
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidInput(
            _("%(name)s must be a whole number from %(low)d to %(high)d")
            % {"name": name, "low": low, "high": high},
            field=name,
        )
    return int(raw)


def _date_query(request: web.Request, name: str) -> dt.date | None:
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    try:
        if not _DATE.match(raw):
            raise ValueError(raw)
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(_("%(name)s must be a date as YYYY-MM-DD") % {"name": name}, field=name) from None


def _separator(request: web.Request) -> str:
    raw = request.query.get("sep", ",")
    choices = {",": ",", ";": ";", "comma": ",", "semicolon": ";"}
    if raw not in choices:
        raise InvalidInput(_("sep must be comma (,) or semicolon (;)"), field="sep")
    return choices[raw]


# --- Formatting for the templates -------------------------------------------------------------


class Formats:
    """Numbers and dates in the current staff language (see the module docstring for rates)."""

    def __init__(self) -> None:
        self.locale = Locale.parse(i18n.current_language())

    def percent(self, value: float | None, decimals: int = 0) -> str:
        if value is None:
            return "–"
        # Through str() so that 0.29 is 29 %, not 28 % (0.29 * 100 == 28.999999999999996).
        step = Decimal(1).scaleb(-(decimals + 2))
        floored = Decimal(str(value)).quantize(step, rounding=ROUND_FLOOR)
        pattern = self.locale.percent_formats[None].pattern
        if decimals:
            pattern = pattern.replace("0", "0." + "0" * decimals, 1)
        return format_percent(floored, format=pattern, locale=self.locale)

    def number(self, value: float | None, decimals: int = 1) -> str:
        if value is None:
            return "–"
        return format_decimal(round(value, decimals), format="#,##0." + "0" * decimals, locale=self.locale)

    def integer(self, value: int | None) -> str:
        return "–" if value is None else format_decimal(value, locale=self.locale)

    def date(self, value: dt.date | dt.datetime | None, zone: str = "Europe/Berlin") -> str:
        if value is None:
            return "–"
        if isinstance(value, dt.datetime):
            value = value.astimezone(ZoneInfo(zone)).date()
        return format_date(value, "medium", locale=self.locale)

    def day(self, value: dt.date) -> str:
        return format_skeleton("dMM", value, locale=self.locale)

    def month(self, value: dt.date) -> str:
        return format_skeleton("yMMM", value, locale=self.locale)

    def month_key(self, key: str) -> str:
        year, month = key.split("-")
        return self.month(dt.date(int(year), int(month), 1))

    def language_name(self, code: str) -> str:
        if not code:
            return _("(no group language)")
        return str(self.locale.languages.get(code, code))


def _percent_ticks(fmt: Formats) -> dict[str, Any]:
    return {"max_value": 1.0, "ticks": [0.25, 0.5, 0.75, 1.0], "tick_label": fmt.percent}


def _group_chart(matrix: services.GroupMatrix, fmt: Formats) -> Markup:
    held = [f for f in matrix.figures.sessions if f.session.held]
    highest = max((f.expected for f in held), default=0)
    top = max(highest, 1)
    step = max(1, -(-top // 4))
    return bar_chart(
        chart_id=f"group-{matrix.group.id}-chart",
        title=_("Participants per session held"),
        description=_(
            "Bar chart: for each session held, the number of parents who attended. "
            "The table above has the same numbers in its row 'Participants'."
        ),
        bars=[Bar(fmt.day(f.session.day), f.headcount, fmt.integer(f.headcount)) for f in held],
        max_value=float(top),
        ticks=[float(t) for t in range(step, top + 1, step)],
        tick_label=lambda v: fmt.integer(int(v)),
    )


def _centre_chart(report: services.CentreReport, fmt: Formats) -> Markup:
    return bar_chart(
        chart_id="centre-chart",
        title=_("Attendance over the cycle"),
        description=_(
            "Bar chart: for each month, the mean attendance rate of the sessions held "
            "(participants ÷ parents expected). The table 'By month' has the same figures."
        ),
        bars=[
            Bar(fmt.month(m.month), m.mean_session_rate, fmt.percent(m.mean_session_rate))
            for m in report.figures.months
        ],
        **_percent_ticks(fmt),
    )


# --- Pages ------------------------------------------------------------------------------------


async def group_attendance_page(request: web.Request) -> web.Response:
    actor = await require_actor(request, "coordinator", "facilitator")
    matrix = await db_run(
        request,
        services.group_matrix,
        actor=actor,
        group_id=_id(request, "group_id"),
        threshold=_int_query(request, "threshold", 0, 100),
    )
    fmt = Formats()
    downloads = _downloads(
        f"/api/v1/groups/{matrix.group.id}/attendance-matrix",
        f"/groups/{matrix.group.id}/attendance",
        {"threshold": str(matrix.threshold)},
    )
    return render(
        request,
        "reports/group_matrix.html",
        {
            "m": matrix,
            "fmt": fmt,
            "cells": exports.cell_labels(),
            "chart": _group_chart(matrix, fmt),
            "downloads": downloads,
            "printable": request.query.get("view") == "print",
        },
    )


async def parent_attendance_page(request: web.Request) -> web.Response:
    actor = await require_actor(request, "coordinator", "facilitator")
    summary = await db_run(
        request,
        services.parent_summary,
        actor=actor,
        parent_id=_id(request, "parent_id"),
        threshold=_int_query(request, "threshold", 0, 100),
    )
    return render(
        request,
        "reports/parent_summary.html",
        {
            "s": summary,
            "fmt": Formats(),
            "cells": exports.cell_labels(),
            "printable": request.query.get("view") == "print",
        },
    )


def _report_params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = {
        "date_from": _date_query(request, "from"),
        "date_to": _date_query(request, "to"),
        "threshold": _int_query(request, "threshold", 0, 100),
    }
    min_sessions = _int_query(request, "min_sessions", 1, 1000)
    if min_sessions is not None:
        params["min_sessions"] = min_sessions
    return params


def _downloads(api_path: str, page_path: str, query: dict[str, str]) -> dict[str, str]:
    """The links of the download buttons (``reports/_downloads.html``), with the page's choices."""
    return {
        "csv_de": str(URL(api_path).with_query({**query, "format": "csv", "sep": "semicolon"})),
        "csv": str(URL(api_path).with_query({**query, "format": "csv"})),
        "xlsx": str(URL(api_path).with_query({**query, "format": "xlsx"})),
        "print": str(URL(page_path).with_query({**query, "view": "print"})),
    }


async def centre_report_page(request: web.Request) -> web.Response:
    actor = await require_actor(request, "coordinator")
    if actor.centre_id is None:
        raise NotFound(_("There is no such centre."))
    report = await db_run(
        request, services.centre_report, actor=actor, centre_id=actor.centre_id, **_report_params(request)
    )
    fmt = Formats()
    downloads = _downloads(
        f"/api/v1/centres/{report.centre_id}/report",
        "/reports/centre",
        {
            "from": report.date_from.isoformat(),
            "to": report.date_to.isoformat(),
            "threshold": str(report.threshold),
            "min_sessions": str(report.min_sessions),
        },
    )
    return render(
        request,
        "reports/centre.html",
        {
            "r": report,
            "fmt": fmt,
            "chart": _centre_chart(report, fmt),
            "downloads": downloads,
            "printable": request.query.get("view") == "print",
        },
    )


async def statistics_page(request: web.Request) -> web.Response:
    actor = await require_actor(request, "admin")
    stats = await db_run(
        request,
        services.statistics,
        actor=actor,
        date_from=_date_query(request, "from"),
        date_to=_date_query(request, "to"),
    )
    return render(
        request,
        "reports/statistics.html",
        {"st": stats, "fmt": Formats(), "printable": request.query.get("view") == "print"},
    )


# --- API --------------------------------------------------------------------------------------


class FiguresOut(BaseModel):
    """Figures over a set of groups; rates are fractions from 0 to 1 (null: nothing to divide)."""

    groups: int
    sessions_held: int
    sessions_cancelled: int
    minutes_delivered: int
    hours_delivered: float
    participations: int
    erased_participations: int
    parents: int
    families_reached: int
    families_reached_n: int
    erased_families_min: int
    regular_parents: int
    mean_parent_rate: float | None
    median_parent_rate: float | None
    mean_session_rate: float | None
    median_session_rate: float | None
    mean_headcount: float | None
    facilitator_minutes: int
    facilitator_minutes_estimated: int

    @classmethod
    def of(cls, f: Figures) -> FiguresOut:
        return cls(
            groups=f.groups,
            sessions_held=f.sessions_held,
            sessions_cancelled=f.sessions_cancelled,
            minutes_delivered=f.minutes_delivered,
            hours_delivered=round(f.hours_delivered, 2),
            participations=f.participations,
            erased_participations=f.erased_participations,
            parents=f.parents,
            families_reached=f.families_reached,
            families_reached_n=f.families_reached_n,
            erased_families_min=f.erased_families_min,
            regular_parents=f.regular_parents,
            mean_parent_rate=f.mean_parent_rate,
            median_parent_rate=f.median_parent_rate,
            mean_session_rate=f.mean_session_rate,
            median_session_rate=f.median_session_rate,
            mean_headcount=f.mean_headcount,
            facilitator_minutes=f.facilitator_minutes,
            facilitator_minutes_estimated=f.facilitator_minutes_estimated,
        )


class GroupOut(BaseModel):
    id: int
    name: str
    site_name: str
    languages: list[str]

    @classmethod
    def of(cls, g: GroupInfo) -> GroupOut:
        return cls(id=g.id, name=g.name, site_name=g.site_name, languages=list(g.languages))


class MatrixSessionOut(BaseModel):
    id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    status: str
    held: bool
    headcount: int
    expected: int
    rate: float | None
    erased_attended: int


class LineOut(BaseModel):
    """A parent's counts in one group; ``cells`` has one code per session (see ``cell_codes``)."""

    cells: list[str]
    held: int
    attended: int
    present: int
    partial: int
    excused: int
    not_attended: int
    rate: float | None
    regular: bool


def _line(line: ParentLine, threshold: int) -> dict[str, Any]:
    return {
        "cells": list(line.cells),
        "held": line.held,
        "attended": line.attended,
        "present": line.present,
        "partial": line.partial,
        "excused": line.excused,
        "not_attended": line.not_attended,
        "rate": line.rate,
        "regular": line.regular(threshold),
    }


class MatrixParentOut(LineOut):
    id: int
    display_name: str  # a random label once the parent is anonymised
    anonymised: bool
    enrolled_at: dt.datetime | None
    left_at: dt.datetime | None


class MatrixOut(BaseModel):
    group: GroupOut
    cycle_start: dt.date
    cycle_end: dt.date
    threshold: int
    default_threshold: int
    cell_codes: list[str]
    sessions: list[MatrixSessionOut]
    parents: list[MatrixParentOut]
    erased_attended: list[int | None]
    summary: FiguresOut


async def _actor(request: web.Request) -> Actor:
    return await require_actor(request)


@api.route(
    "GET",
    "/groups/{group_id}/attendance-matrix",
    summary="Parents × sessions of a group with rates, headcounts and averages (query: threshold=0..100; "
    "format=json|csv|xlsx; for CSV sep=comma|semicolon and table=all|summary|attendance|sessions). "
    "Exports are audited.",
    tag="reports",
    response=MatrixOut,
)
async def api_attendance_matrix(request: web.Request) -> web.Response:
    actor = await _actor(request)
    fmt = request.query.get("format", "json")
    if fmt in ("csv", "xlsx"):
        return _download(
            await db_run(
                request,
                services.export_group_matrix,
                actor=actor,
                group_id=_id(request, "group_id"),
                fmt=fmt,
                table=request.query.get("table", "all"),
                separator=_separator(request),
                threshold=_int_query(request, "threshold", 0, 100),
            )
        )
    if fmt != "json":
        raise InvalidInput(_("format must be json, csv or xlsx"), field="format")
    m = await db_run(
        request,
        services.group_matrix,
        actor=actor,
        group_id=_id(request, "group_id"),
        threshold=_int_query(request, "threshold", 0, 100),
    )
    out = MatrixOut(
        group=GroupOut.of(m.group),
        cycle_start=m.cycle_start,
        cycle_end=m.cycle_end,
        threshold=m.threshold,
        default_threshold=m.default_threshold,
        cell_codes=list(CELL_CODES),
        sessions=[
            MatrixSessionOut(
                id=f.session.id,
                starts_at=f.session.starts_at,
                ends_at=f.session.ends_at,
                status=f.session.status,
                held=f.session.held,
                headcount=f.headcount,
                expected=f.expected,
                rate=f.rate,
                erased_attended=f.erased_attended,
            )
            for f in m.figures.sessions
        ],
        parents=[
            MatrixParentOut(
                id=p.parent_id,
                display_name=p.display_name,
                anonymised=p.anonymised,
                enrolled_at=p.enrolled_at,
                left_at=p.left_at,
                **_line(p.line, m.threshold),
            )
            for p in m.parents
        ],
        erased_attended=list(m.erased_cells),
        summary=FiguresOut.of(m.summary),
    )
    return web.json_response(out.model_dump(mode="json"))


class SummarySessionOut(BaseModel):
    id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    status: str
    held: bool
    mark: str


class BreakOut(BaseModel):
    left_at: dt.datetime
    back_on: dt.date = Field(description="local day from which the parent was in the group again")


class SummaryGroupOut(BaseModel):
    group: GroupOut
    cycle_start: dt.date
    cycle_end: dt.date
    enrolled_at: dt.datetime | None
    left_at: dt.datetime | None
    breaks: list[BreakOut] = Field(
        description="times the parent was away before re-joining; their sessions count only where "
        "a record shows the parent took part or was excused"
    )
    line: LineOut | None
    sessions: list[SummarySessionOut]


class ParentSummaryOut(BaseModel):
    id: int
    display_name: str
    threshold: int
    default_threshold: int
    groups: list[SummaryGroupOut]


@api.route(
    "GET",
    "/parents/{parent_id}/attendance-summary",
    summary="A parent's attendance over the cycle of each group, with the regular-participation flag "
    "(query: threshold=0..100)",
    tag="reports",
    response=ParentSummaryOut,
)
async def api_attendance_summary(request: web.Request) -> web.Response:
    actor = await _actor(request)
    s = await db_run(
        request,
        services.parent_summary,
        actor=actor,
        parent_id=_id(request, "parent_id"),
        threshold=_int_query(request, "threshold", 0, 100),
    )
    out = ParentSummaryOut(
        id=s.parent_id,
        display_name=s.display_name,
        threshold=s.threshold,
        default_threshold=s.default_threshold,
        groups=[
            SummaryGroupOut(
                group=GroupOut.of(g.group),
                cycle_start=g.cycle_start,
                cycle_end=g.cycle_end,
                enrolled_at=g.enrolled_at,
                left_at=g.left_at,
                breaks=[BreakOut(left_at=b.left_at, back_on=b.back_on) for b in g.breaks],
                line=LineOut(**_line(g.line, s.threshold)) if g.line else None,
                sessions=[
                    SummarySessionOut(
                        id=session.id,
                        starts_at=session.starts_at,
                        ends_at=session.ends_at,
                        status=session.status,
                        held=session.held,
                        mark=g.line.cells[i] if g.line else "not_enrolled",
                    )
                    for i, session in enumerate(g.sessions)
                ],
            )
            for g in s.groups
        ],
    )
    return web.json_response(out.model_dump(mode="json"))


class MonthOut(BaseModel):
    month: str  # YYYY-MM
    sessions_held: int
    minutes_delivered: int
    participations: int
    families_reached: int
    mean_session_rate: float | None
    mean_headcount: float | None
    facilitator_minutes: int

    @classmethod
    def of(cls, m: MonthFigures) -> MonthOut:
        return cls(
            month=m.month.strftime("%Y-%m"),
            sessions_held=m.sessions_held,
            minutes_delivered=m.minutes_delivered,
            participations=m.participations,
            families_reached=m.families_reached,
            mean_session_rate=m.mean_session_rate,
            mean_headcount=m.mean_headcount,
            facilitator_minutes=m.facilitator_minutes,
        )


class GroupFiguresOut(BaseModel):
    group: GroupOut
    figures: FiguresOut


class CentreOut(BaseModel):
    id: int
    name: str


class CentreReportOut(BaseModel):
    centre: CentreOut
    date_from: dt.date
    date_to: dt.date
    threshold: int
    min_sessions: int
    generated_at: dt.datetime
    summary: FiguresOut
    groups: list[GroupFiguresOut]
    months: list[MonthOut]


def _download(file: exports.ExportFile) -> web.Response:
    # Reports name parents and families: never kept in a cache along the way.
    return web.Response(
        body=file.body,
        headers={
            "Content-Type": file.content_type,
            "Content-Disposition": f'attachment; filename="{file.filename}"',
            "Cache-Control": "no-store",
        },
    )


@api.route(
    "GET",
    "/centres/{centre_id}/report",
    summary="The centre report for the funding report (query: from, to as YYYY-MM-DD, default the current "
    "KiTa year; threshold=0..100; min_sessions; format=json|csv|xlsx; for CSV sep=comma|semicolon and "
    "table=all|summary|groups|months). Exports are audited.",
    tag="reports",
    response=CentreReportOut,
)
async def api_centre_report(request: web.Request) -> web.StreamResponse:
    actor = await _actor(request)
    centre_id = _id(request, "centre_id")
    fmt = request.query.get("format", "json")
    if fmt in ("csv", "xlsx"):
        file = await db_run(
            request,
            services.export_centre_report,
            actor=actor,
            centre_id=centre_id,
            fmt=fmt,
            table=request.query.get("table", "all"),
            separator=_separator(request),
            **_report_params(request),
        )
        return _download(file)
    if fmt != "json":
        raise InvalidInput(_("format must be json, csv or xlsx"), field="format")
    r = await db_run(
        request, services.centre_report, actor=actor, centre_id=centre_id, **_report_params(request)
    )
    out = CentreReportOut(
        centre=CentreOut(id=r.centre_id, name=r.centre_name),
        date_from=r.date_from,
        date_to=r.date_to,
        threshold=r.threshold,
        min_sessions=r.min_sessions,
        generated_at=r.generated_at,
        summary=FiguresOut.of(r.figures.summary),
        groups=[GroupFiguresOut(group=GroupOut.of(g), figures=FiguresOut.of(f)) for g, f in r.figures.groups],
        months=[MonthOut.of(m) for m in r.figures.months],
    )
    return web.json_response(out.model_dump(mode="json"))


class StatRowOut(BaseModel):
    """Counts of one row; null means suppressed (fewer than 5, or hidden to protect such a cell)."""

    key: str
    sessions_held: int | None
    participations: int | None
    families_reached: int | None

    @classmethod
    def of(cls, row: StatRow) -> StatRowOut:
        sessions, participations, families = row.values
        return cls(
            key=row.key, sessions_held=sessions, participations=participations, families_reached=families
        )


class StatTableOut(BaseModel):
    dimension: str
    rows: list[StatRowOut]
    total: StatRowOut


class StatisticsOut(BaseModel):
    date_from: dt.date
    date_to: dt.date
    suppression_threshold: int
    overall: StatRowOut
    tables: list[StatTableOut]


@api.route(
    "GET",
    "/statistics",
    summary="Anonymous statistics across centres by group language, municipality and month, cells under "
    "5 suppressed (admins; query: from, to as YYYY-MM-DD)",
    tag="reports",
    response=StatisticsOut,
)
async def api_statistics(request: web.Request) -> web.Response:
    actor = await _actor(request)
    st = await db_run(
        request,
        services.statistics,
        actor=actor,
        date_from=_date_query(request, "from"),
        date_to=_date_query(request, "to"),
    )
    out = StatisticsOut(
        date_from=st.date_from,
        date_to=st.date_to,
        suppression_threshold=st.threshold,
        overall=StatRowOut.of(st.overall),
        tables=[
            StatTableOut(
                dimension=t.dimension, rows=[StatRowOut.of(r) for r in t.rows], total=StatRowOut.of(t.total)
            )
            for t in st.tables
        ],
    )
    return web.json_response(out.model_dump(mode="json"))


def setup(app: web.Application) -> None:
    app.router.add_get(r"/groups/{group_id:\d+}/attendance", group_attendance_page)
    app.router.add_get(r"/parents/{parent_id:\d+}/attendance", parent_attendance_page)
    app.router.add_get("/reports/centre", centre_report_page)
    app.router.add_get("/admin/statistics", statistics_page)
