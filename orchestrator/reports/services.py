"""Use cases of the attendance reports: check access, load narrow rows, let ``aggregate`` count.

Every query here selects a few columns with Core (no ORM objects per attendance row) and the
figures are computed in one pass by ``orchestrator.reports.aggregate``, which holds the
definitions. The anonymous statistics across centres count in SQL (``GROUP BY``, ``COUNT
DISTINCT``) because they span every centre of the state.

Who sees what (design §1, domain "Security expectations"): a coordinator sees the reports of
their own centre; a facilitator sees the matrix of the groups they lead and the summaries of
those groups' parents, not the centre report; the state-level admin sees only the anonymous
statistics. Anything outside an actor's reach is reported as not found, so ids cannot be probed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session as DbSession

from orchestrator import audit
from orchestrator.access import Actor, require_group, require_role
from orchestrator.errors import Forbidden, InvalidInput, NotFound
from orchestrator.groups.breaks import breaks_by_enrolment
from orchestrator.i18n import gettext
from orchestrator.models import (
    Attendance,
    Centre,
    Enrolment,
    Group,
    GroupFacilitator,
    Parent,
    Session,
    utcnow,
)
from orchestrator.reports import aggregate, exports
from orchestrator.reports.aggregate import (
    ATTENDED,
    RECORDED,
    CentreFigures,
    EnrolmentFact,
    Figures,
    GroupFigures,
    GroupInfo,
    Mark,
    ParentLine,
    SessionFact,
    StatRow,
    StatTable,
)

__all__ = [
    "DEFAULT_MIN_SESSIONS",
    "MAX_RANGE_DAYS",
    "CentreReport",
    "GroupMatrix",
    "MatrixParent",
    "ParentGroupSummary",
    "ParentSummary",
    "Statistics",
    "centre_report",
    "export_centre_report",
    "group_matrix",
    "kita_year",
    "parent_summary",
    "statistics",
]

DEFAULT_MIN_SESSIONS = 6
# Five KiTa years: enough for a funder's retention period, and a bound on the work per request.
MAX_RANGE_DAYS = 5 * 366

_STATUS = func.coalesce(Attendance.override_status, Attendance.computed_status)
_MINUTES = func.coalesce(Attendance.override_minutes, Attendance.computed_minutes)


def kita_year(today: dt.date) -> tuple[dt.date, dt.date]:
    """The KiTa year (1 August to 31 July) that ``today`` falls in."""
    start = today.year if today.month >= 8 else today.year - 1
    return dt.date(start, 8, 1), dt.date(start + 1, 7, 31)


def _day_start(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)


def _check_threshold(threshold: int | None, default: int) -> int:
    if threshold is None:
        return default
    if not 0 <= threshold <= 100:
        raise InvalidInput(gettext("the threshold is a percentage from 0 to 100"), field="threshold")
    return threshold


def _check_range(
    date_from: dt.date | None, date_to: dt.date | None, today: dt.date
) -> tuple[dt.date, dt.date]:
    """The period, both ends included: as given; one year from ``from`` or up to ``to`` when
    only one end is given; the current KiTa year when neither is."""
    year = relativedelta(years=1)
    if date_from is None and date_to is None:
        start, end = kita_year(today)
    elif date_to is None:
        assert date_from is not None
        start, end = date_from, date_from + year - dt.timedelta(days=1)
    elif date_from is None:
        start, end = date_to - year + dt.timedelta(days=1), date_to
    else:
        start, end = date_from, date_to
    if end < start:
        raise InvalidInput(gettext("the range ends before it starts"), field="to")
    if (end - start).days > MAX_RANGE_DAYS:
        raise InvalidInput(gettext("the range is longer than %(n)d days") % {"n": MAX_RANGE_DAYS}, field="to")
    return start, end


def _no_admin(actor: Actor) -> None:
    # Design §1: the state-level admin sees anonymous aggregates only, never a named matrix.
    if actor.is_admin:
        raise Forbidden(gettext("administrators see only the anonymous statistics"))


def _languages(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


# --- Loading ----------------------------------------------------------------------------------


def _rows(db: DbSession, statement: Any) -> Any:
    """Rows of a Core SELECT on the session's connection.

    Through the connection rather than ``Session.execute``: the statements name ORM attributes,
    and the ORM would otherwise add its per-row result handling, which plain tuples do not need.
    """
    return db.connection().execute(statement)


def _scalars(db: DbSession, statement: Any) -> Any:
    return db.connection().execute(statement).scalars()


def _sessions(
    db: DbSession, where: ColumnElement[bool], zone: ZoneInfo, now: dt.datetime
) -> list[SessionFact]:
    rows = _rows(
        db,
        select(
            Session.id,
            Session.group_id,
            Session.starts_at,
            Session.ends_at,
            Session.status,
            Session.launched_by_id,
        )
        .where(where)
        .order_by(Session.starts_at, Session.id),
    )
    return [
        aggregate.session_fact(
            id=r[0],
            group_id=r[1],
            starts_at=r[2],
            ends_at=r[3],
            status=r[4],
            zone=zone,
            now=now,
            launched_by_id=r[5],
        )
        for r in rows
    ]


def _enrolments(
    db: DbSession, where: ColumnElement[bool], zone: ZoneInfo
) -> list[tuple[EnrolmentFact, dt.datetime, str]]:
    """Enrolments with their breaks, ``enrolled_at`` and the parent's display name (a random
    label once the parent is anonymised)."""
    breaks = {
        enrolment_id: tuple(aggregate.Break(left, back.astimezone(zone).date()) for left, back in times)
        for enrolment_id, times in breaks_by_enrolment(db, where).items()
    }
    rows = _rows(
        db,
        select(
            Enrolment.parent_id,
            Enrolment.group_id,
            Enrolment.enrolled_at,
            Enrolment.left_at,
            Parent.display_name,
            Parent.erased_at,
            Enrolment.id,
        )
        .join(Parent, Parent.id == Enrolment.parent_id)
        .where(where),
    )
    return [
        (
            EnrolmentFact(
                r[0], r[1], r[2].astimezone(zone).date(), r[3], r[5] is not None, breaks.get(r[6], ())
            ),
            r[2],
            r[4],
        )
        for r in rows
    ]


def _marks(db: DbSession, where: ColumnElement[bool]) -> list[Mark]:
    rows = _rows(
        db,
        select(Attendance.session_id, Attendance.parent_id, _STATUS)
        .select_from(Attendance)
        .join(Session, Session.id == Attendance.session_id)
        .where(Attendance.role == "parent", where),
    )
    return [Mark._make(r) for r in rows]


def _facilitator_minutes(db: DbSession, where: ColumnElement[bool]) -> dict[int, int]:
    rows = _rows(
        db,
        select(Attendance.session_id, func.sum(_MINUTES))
        .join(Session, Session.id == Attendance.session_id)
        .where(Attendance.role == "facilitator", where)
        .group_by(Attendance.session_id),
    )
    return {r[0]: int(r[1] or 0) for r in rows}


def _held(now: dt.datetime) -> ColumnElement[bool]:
    """``aggregate.is_held`` in SQL."""
    return and_(
        Session.status != "cancelled",
        or_(Session.status.in_(("live", "ended")), Session.ends_at <= now),
    )


def _count(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _parent_counts(
    db: DbSession, where: ColumnElement[bool], zone: ZoneInfo, now: dt.datetime
) -> list[aggregate.ParentCounts]:
    """Per (group, parent): the rows ``aggregate.group_figures_from_counts`` needs.

    Grouped by status as well, so that the database only counts (no CASE per row); the few
    thousand groups are folded into one ``ParentCounts`` per parent here.
    """
    rows = _rows(
        db,
        select(
            Session.group_id,
            Attendance.parent_id,
            _STATUS,
            func.count(),
            func.min(Session.starts_at),
            func.max(Session.starts_at),
        )
        .join(Session, Session.id == Attendance.session_id)
        .where(Attendance.role == "parent", Attendance.parent_id.is_not(None), _held(now), where)
        .group_by(Session.group_id, Attendance.parent_id, _STATUS),
    )
    folded: dict[tuple[int, int], list[Any]] = {}
    for group_id, parent_id, status, n, first, last in rows:
        c = folded.get((group_id, parent_id))
        if c is None:
            c = folded[(group_id, parent_id)] = [0, 0, 0, 0, None, None]
        c[0] += n
        if status in RECORDED:
            c[("present", "partial", "excused").index(status) + 1] += n
            first, last = _utc(first), _utc(last)
            c[4] = first if c[4] is None else min(c[4], first)
            c[5] = last if c[5] is None else max(c[5], last)
    return [
        aggregate.ParentCounts(
            group_id=group_id,
            parent_id=parent_id,
            rows=c[0],
            present=c[1],
            partial=c[2],
            excused=c[3],
            first_recorded=c[4].astimezone(zone).date() if c[4] is not None else None,
            last_recorded=c[5],
        )
        for (group_id, parent_id), c in folded.items()
    ]


def _utc(value: Any) -> dt.datetime:
    """An instant from MIN/MAX over a UTC column: SQLite may hand back the stored text."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _session_counts(
    db: DbSession, where: ColumnElement[bool]
) -> tuple[dict[int, aggregate.SessionCounts], dict[int, int]]:
    """Per session: the parent counts, and the facilitator minutes (one pass over both roles)."""
    parent = Attendance.role == "parent"
    identified = and_(parent, Attendance.parent_id.is_not(None))
    erased = and_(parent, Attendance.parent_id.is_(None))
    attended = _STATUS.in_(sorted(ATTENDED))
    rows = _rows(
        db,
        select(
            Attendance.session_id,
            _count(and_(identified, attended)),
            _count(erased),
            _count(and_(erased, attended)),
            func.coalesce(func.sum(case((Attendance.role == "facilitator", _MINUTES), else_=0)), 0),
        )
        .join(Session, Session.id == Attendance.session_id)
        .where(where)
        .group_by(Attendance.session_id),
    )
    counts: dict[int, aggregate.SessionCounts] = {}
    facilitator_minutes: dict[int, int] = {}
    for session_id, attended_n, erased_n, erased_attended, minutes in rows:
        counts[session_id] = aggregate.SessionCounts(
            session_id, int(attended_n), int(erased_n), int(erased_attended)
        )
        if minutes:
            facilitator_minutes[session_id] = int(minutes)
    return counts, facilitator_minutes


def _month_starts(date_from: dt.date, date_to: dt.date) -> list[dt.date]:
    months = []
    month = date_from.replace(day=1)
    while month <= date_to:
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return months


def _month_whens(
    date_from: dt.date, date_to: dt.date, zones: Iterable[str], *, name_zone: bool = True
) -> list[tuple[ColumnElement[bool], int | None]]:
    """CASE branches giving a session's local month (``YYYYMM``) within ``[date_from, date_to]``.

    A month in SQL without dialect functions or time-zone tables: the branches compare the start
    with the UTC instants where the range and each month end, in order, so a row stops at its
    first true branch after one comparison per month (NULL before the range, and after it by the
    ELSE). ``name_zone``: each branch also names its zone (the query joins ``centres``); without
    it the single zone given is the caller's.
    """
    whens: list[tuple[ColumnElement[bool], int | None]] = []
    for name in sorted(set(zones)):
        zone = ZoneInfo(name)

        def branch(condition: ColumnElement[bool], value: int | None, name: str = name) -> None:
            whens.append((and_(Centre.timezone == name, condition) if name_zone else condition, value))

        branch(Session.starts_at < _day_start(date_from, zone), None)
        for month in _month_starts(date_from, date_to):
            following = (month + dt.timedelta(days=32)).replace(day=1)
            end = _day_start(min(following, date_to + dt.timedelta(days=1)), zone)
            branch(Session.starts_at < end, month.year * 100 + month.month)
    return whens


def _families_by_month(
    db: DbSession,
    where: ColumnElement[bool],
    whens: list[tuple[ColumnElement[bool], int | None]],
    now: dt.datetime,
) -> dict[dt.date, int]:
    """Distinct parents who attended a held session, per local month (``whens`` of one zone,
    without ``name_zone``: this query does not join ``centres``)."""
    if not whens:
        return {}
    attended = (
        select(case(*whens, else_=None).label("month"), Attendance.parent_id.label("parent_id"))
        .join(Session, Session.id == Attendance.session_id)
        .where(
            where,
            _held(now),
            Attendance.role == "parent",
            Attendance.parent_id.is_not(None),
            _STATUS.in_(sorted(ATTENDED)),
        )
        .subquery("attended")
    )
    rows = _rows(
        db,
        select(attended.c.month, func.count(func.distinct(attended.c.parent_id)))
        .where(attended.c.month.is_not(None))
        .group_by(attended.c.month),
    )
    return {dt.date(r[0] // 100, r[0] % 100, 1): int(r[1]) for r in rows}


def _group_infos(db: DbSession, where: ColumnElement[bool]) -> list[GroupInfo]:
    assigned = (
        select(GroupFacilitator.group_id, func.count().label("n"))
        .group_by(GroupFacilitator.group_id)
        .subquery("assigned")
    )
    rows = _rows(
        db,
        select(Group.id, Group.name, Group.site_name, Group.languages, func.coalesce(assigned.c.n, 0))
        .outerjoin(assigned, assigned.c.group_id == Group.id)
        .where(where)
        .order_by(Group.name, Group.id),
    )
    return [GroupInfo(r[0], r[1], r[2], _languages(r[3]), int(r[4])) for r in rows]


# --- Group matrix -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MatrixParent:
    parent_id: int
    display_name: str
    enrolled_at: dt.datetime | None
    left_at: dt.datetime | None
    line: ParentLine
    anonymised: bool = False  # shown under a random label; no summary page of their own


@dataclasses.dataclass(frozen=True)
class GroupMatrix:
    group: GroupInfo
    centre_id: int
    cycle_start: dt.date
    cycle_end: dt.date
    timezone: str
    threshold: int
    default_threshold: int
    figures: GroupFigures
    summary: Figures
    parents: tuple[MatrixParent, ...]  # by name

    @property
    def erased_cells(self) -> tuple[int | None, ...]:
        """Per session, how many parents whose data was erased attended it."""
        return self.figures.erased_cells

    @property
    def has_erased(self) -> bool:
        return any(self.figures.erased_cells)


def _parent_names(db: DbSession, ids: Iterable[int]) -> dict[int, tuple[str, bool]]:
    """Display name and whether anonymised, for parents known only from attendance rows."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = _rows(db, select(Parent.id, Parent.display_name, Parent.erased_at).where(Parent.id.in_(wanted)))
    return {r[0]: (r[1], r[2] is not None) for r in rows}


def group_matrix(
    db: DbSession,
    *,
    actor: Actor,
    group_id: int,
    threshold: int | None = None,
    now: dt.datetime | None = None,
) -> GroupMatrix:
    """Parents × sessions of one group over its cycle, with rates, headcounts and averages."""
    now = now or utcnow()
    row = _rows(
        db,
        select(
            Group.centre_id,
            Group.cycle_start,
            Group.cycle_end,
            Centre.timezone,
            Centre.regular_threshold_percent,
        )
        .join(Centre, Centre.id == Group.centre_id)
        .where(Group.id == group_id),
    ).first()
    if row is None:
        raise NotFound(gettext("There is no such group."))
    centre_id, cycle_start, cycle_end, timezone, default_threshold = row
    _no_admin(actor)
    require_group(actor, centre_id, group_id)
    threshold = _check_threshold(threshold, default_threshold)
    zone = ZoneInfo(timezone)

    info = _group_infos(db, Group.id == group_id)[0]
    sessions = _sessions(db, Session.group_id == group_id, zone, now)
    enrolments = _enrolments(db, Enrolment.group_id == group_id, zone)
    marks = _marks(db, Session.group_id == group_id)
    figures = aggregate.group_figures(group_id, sessions, [e for e, _, _ in enrolments], marks)
    summary = aggregate.figures_for_group(
        info,
        figures,
        _facilitator_minutes(db, Session.group_id == group_id),
        threshold_percent=threshold,
        min_sessions=DEFAULT_MIN_SESSIONS,
    )
    enrolment_of = {e.parent_id: (e, enrolled_at, name) for e, enrolled_at, name in enrolments}
    others = _parent_names(
        db, (line.parent_id for line in figures.lines if line.parent_id not in enrolment_of)
    )
    parents = []
    for line in figures.lines:
        if line.parent_id in enrolment_of:
            e, enrolled_at, name = enrolment_of[line.parent_id]
            parents.append(MatrixParent(line.parent_id, name, enrolled_at, e.left_at, line, e.erased))
        else:
            name, anonymised = others.get(line.parent_id, ("", False))
            parents.append(MatrixParent(line.parent_id, name, None, None, line, anonymised))
    parents.sort(key=lambda p: (p.display_name.casefold(), p.parent_id))
    return GroupMatrix(
        group=info,
        centre_id=centre_id,
        cycle_start=cycle_start,
        cycle_end=cycle_end,
        timezone=timezone,
        threshold=threshold,
        default_threshold=default_threshold,
        figures=figures,
        summary=summary,
        parents=tuple(parents),
    )


def export_group_matrix(
    db: DbSession,
    *,
    actor: Actor,
    group_id: int,
    fmt: str,
    table: str = "all",
    separator: str = ",",
    threshold: int | None = None,
    now: dt.datetime | None = None,
) -> exports.ExportFile:
    """A group's attendance matrix as a CSV or XLSX file, for whoever may see the matrix (the
    centre's coordinators, the group's facilitators). It names parents, so every export is
    audited (``report.export``)."""
    _check_export_format(fmt)
    matrix = group_matrix(db, actor=actor, group_id=group_id, threshold=threshold, now=now)
    if fmt == "csv":
        file = exports.group_matrix_csv(
            matrix, min_sessions=DEFAULT_MIN_SESSIONS, table=table, separator=separator
        )
    else:
        file = exports.group_matrix_xlsx(matrix, min_sessions=DEFAULT_MIN_SESSIONS)
    _record_export(
        db,
        actor,
        ("group", group_id, matrix.centre_id),
        fmt=fmt,
        table=table,
        report="group",
        threshold=matrix.threshold,
    )
    return file


def _check_export_format(fmt: str) -> None:
    if fmt not in ("csv", "xlsx"):
        raise InvalidInput(gettext("format must be json, csv or xlsx"), field="format")


def _record_export(
    db: DbSession,
    actor: Actor,
    about: tuple[str, int, int],
    *,
    report: str,
    fmt: str,
    table: str,
    **detail: Any,
) -> None:
    """The audit entry every export gets (``report.export``): files with attendance leave the
    service, so who took which one is kept. ``about``: object type, object id, centre id."""
    object_type, object_id, centre_id = about
    audit.record(
        db,
        actor,
        "report.export",
        object_type=object_type,
        object_id=object_id,
        centre_id=centre_id,
        detail={
            "report": report,
            "format": fmt,
            "table": table if fmt == "csv" else "all",
            **detail,
        },
    )


# --- Per-parent summary -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ParentGroupSummary:
    group: GroupInfo
    cycle_start: dt.date
    cycle_end: dt.date
    enrolled_at: dt.datetime | None
    left_at: dt.datetime | None
    sessions: tuple[SessionFact, ...]
    line: ParentLine | None  # None: no session of the group counts for the parent
    breaks: tuple[aggregate.Break, ...] = ()  # times away from the group before re-joining

    def regular(self, threshold: int) -> bool:
        return self.line is not None and self.line.regular(threshold)


@dataclasses.dataclass(frozen=True)
class ParentSummary:
    parent_id: int
    display_name: str
    centre_id: int
    timezone: str
    threshold: int
    default_threshold: int
    groups: tuple[ParentGroupSummary, ...]


def parent_summary(
    db: DbSession,
    *,
    actor: Actor,
    parent_id: int,
    threshold: int | None = None,
    now: dt.datetime | None = None,
) -> ParentSummary:
    """One parent's cycle in each group: rate, counts, regular flag, and every session's status.

    A facilitator sees only the groups they lead (and nothing if the parent is in none of them).
    """
    now = now or utcnow()
    row = _rows(
        db,
        select(
            Parent.centre_id,
            Parent.display_name,
            Parent.erased_at,
            Centre.timezone,
            Centre.regular_threshold_percent,
        )
        .join(Centre, Centre.id == Parent.centre_id)
        .where(Parent.id == parent_id),
    ).first()
    # An anonymised or erased parent is nobody staff can look up any more; the group matrix still
    # counts them under their random label.
    if row is None or row[2] is not None:
        raise NotFound(gettext("There is no such parent."))
    centre_id, display_name, _, timezone, default_threshold = row
    _no_admin(actor)
    if actor.centre_id != centre_id or not (actor.is_coordinator or actor.is_facilitator):
        raise NotFound(gettext("There is no such parent."))
    threshold = _check_threshold(threshold, default_threshold)
    zone = ZoneInfo(timezone)

    enrolled = {e.group_id: (e, at) for e, at, _ in _enrolments(db, Enrolment.parent_id == parent_id, zone)}
    attended_groups = set(
        _scalars(
            db,
            select(Session.group_id)
            .join(Attendance, Attendance.session_id == Session.id)
            .where(Attendance.parent_id == parent_id, Attendance.role == "parent")
            .distinct(),
        )
    )
    group_ids = set(enrolled) | attended_groups
    if actor.is_facilitator:
        group_ids &= actor.group_ids
        if not group_ids:
            raise NotFound(gettext("There is no such parent."))
    if not group_ids:
        return ParentSummary(parent_id, display_name, centre_id, timezone, threshold, default_threshold, ())

    infos = {g.id: g for g in _group_infos(db, Group.id.in_(sorted(group_ids)))}
    cycles = {
        r[0]: (r[1], r[2])
        for r in _rows(
            db, select(Group.id, Group.cycle_start, Group.cycle_end).where(Group.id.in_(sorted(group_ids)))
        )
    }
    sessions_of: dict[int, list[SessionFact]] = defaultdict(list)
    for s in _sessions(db, Session.group_id.in_(sorted(group_ids)), zone, now):
        sessions_of[s.group_id].append(s)
    marks = _marks(db, and_(Session.group_id.in_(sorted(group_ids)), Attendance.parent_id == parent_id))

    groups = []
    for group_id in sorted(group_ids, key=lambda g: (cycles[g][0], infos[g].name, g)):
        fact, enrolled_at = enrolled.get(group_id, (None, None))
        sessions = sessions_of.get(group_id, [])
        figures = aggregate.group_figures(group_id, sessions, [fact] if fact else [], marks)
        groups.append(
            ParentGroupSummary(
                group=infos[group_id],
                cycle_start=cycles[group_id][0],
                cycle_end=cycles[group_id][1],
                enrolled_at=enrolled_at,
                left_at=fact.left_at if fact else None,
                breaks=fact.breaks if fact else (),
                sessions=tuple(f.session for f in figures.sessions),
                line=figures.lines[0] if figures.lines else None,
            )
        )
    return ParentSummary(
        parent_id, display_name, centre_id, timezone, threshold, default_threshold, tuple(groups)
    )


# --- Centre report ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CentreReport:
    centre_id: int
    centre_name: str
    centre_slug: str
    timezone: str
    date_from: dt.date
    date_to: dt.date
    threshold: int
    default_threshold: int
    min_sessions: int
    generated_at: dt.datetime
    figures: CentreFigures


def centre_report(
    db: DbSession,
    *,
    actor: Actor,
    centre_id: int,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    threshold: int | None = None,
    min_sessions: int = DEFAULT_MIN_SESSIONS,
    now: dt.datetime | None = None,
) -> CentreReport:
    """The funding report of one centre over a date range (default: the current KiTa year).

    Sessions belong to the range by the local date of their start, both ends included.
    """
    now = now or utcnow()
    _no_admin(actor)
    require_role(actor, "coordinator")
    row = _rows(
        db,
        select(Centre.name, Centre.slug, Centre.timezone, Centre.regular_threshold_percent).where(
            Centre.id == centre_id
        ),
    ).first()
    if row is None or actor.centre_id != centre_id:
        raise NotFound(gettext("There is no such centre."))
    name, slug, timezone, default_threshold = row
    zone = ZoneInfo(timezone)
    date_from, date_to = _check_range(date_from, date_to, now.astimezone(zone).date())
    threshold = _check_threshold(threshold, default_threshold)
    if not 1 <= min_sessions <= 1000:
        raise InvalidInput(gettext("the minimum number of sessions is from 1 to 1000"), field="min_sessions")

    window = _in_range(centre_id, date_from, date_to, zone)
    sessions = _sessions(db, window, zone, now)
    sessions_of: dict[int, list[SessionFact]] = defaultdict(list)
    for s in sessions:
        sessions_of[s.group_id].append(s)
    enrolments_of: dict[int, list[EnrolmentFact]] = defaultdict(list)
    for e, _, _ in _enrolments(
        db, Enrolment.group_id.in_(select(Group.id).where(Group.centre_id == centre_id)), zone
    ):
        enrolments_of[e.group_id].append(e)
    # A year is ~36,000 parent rows; the database counts them per (group, parent) and per session
    # (a few thousand rows back), so only the enrolment windows are evaluated in Python.
    parents_of: dict[int, list[aggregate.ParentCounts]] = defaultdict(list)
    for c in _parent_counts(db, window, zone, now):
        parents_of[c.group_id].append(c)
    session_counts, facilitator_minutes = _session_counts(db, window)
    families_by_month = _families_by_month(
        db, window, _month_whens(date_from, date_to, [timezone], name_zone=False), now
    )

    # Groups in the report: those with a session in the range, and those whose cycle overlaps it
    # (a group that held nothing in the range is still listed, with zeros).
    infos = _group_infos(
        db,
        and_(
            Group.centre_id == centre_id,
            or_(
                Group.id.in_(sorted(sessions_of)),
                and_(Group.cycle_start <= date_to, Group.cycle_end >= date_from),
            ),
        ),
    )
    recorded_of = _recorded_in_breaks(db, window, enrolments_of)
    figures = {
        info.id: aggregate.group_figures_from_counts(
            info.id,
            sessions_of.get(info.id, []),
            enrolments_of.get(info.id, []),
            parents_of.get(info.id, []),
            session_counts,
            recorded_of.get(info.id),
        )
        for info in infos
    }
    return CentreReport(
        centre_id=centre_id,
        centre_name=name,
        centre_slug=slug,
        timezone=timezone,
        date_from=date_from,
        date_to=date_to,
        threshold=threshold,
        default_threshold=default_threshold,
        min_sessions=min_sessions,
        generated_at=now,
        figures=aggregate.centre_figures(
            infos,
            figures,
            facilitator_minutes,
            threshold_percent=threshold,
            min_sessions=min_sessions,
            families_by_month=families_by_month,
        ),
    )


def _recorded_in_breaks(
    db: DbSession, window: ColumnElement[bool], enrolments_of: Mapping[int, Sequence[EnrolmentFact]]
) -> dict[int, dict[int, set[int]]]:
    """Per group and parent who took a break from it: the sessions in ``window`` with a RECORDED
    status (see ``aggregate.group_figures_from_counts``). Few parents take breaks, so this reads
    their marks only."""
    away = {(e.group_id, e.parent_id) for facts in enrolments_of.values() for e in facts if e.breaks}
    if not away:
        return {}
    recorded: dict[int, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    parent_ids = sorted({parent_id for _, parent_id in away})
    for session_id, group_id, parent_id in _rows(
        db,
        select(Attendance.session_id, Session.group_id, Attendance.parent_id)
        .join(Session, Session.id == Attendance.session_id)
        .where(
            Attendance.role == "parent",
            Attendance.parent_id.in_(parent_ids),
            _STATUS.in_(sorted(RECORDED)),
            window,
        ),
    ):
        if (group_id, parent_id) in away:
            recorded[group_id][parent_id].add(session_id)
    return recorded


def _in_range(centre_id: int, date_from: dt.date, date_to: dt.date, zone: ZoneInfo) -> ColumnElement[bool]:
    """Sessions of the centre's groups starting on a local date within ``[date_from, date_to]``."""
    return and_(
        Session.group_id.in_(select(Group.id).where(Group.centre_id == centre_id)),
        Session.starts_at >= _day_start(date_from, zone),
        Session.starts_at < _day_start(date_to + dt.timedelta(days=1), zone),
    )


def export_centre_report(
    db: DbSession,
    *,
    actor: Actor,
    centre_id: int,
    fmt: str,
    table: str = "all",
    separator: str = ",",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    threshold: int | None = None,
    min_sessions: int = DEFAULT_MIN_SESSIONS,
    now: dt.datetime | None = None,
) -> exports.ExportFile:
    """The centre report as a CSV or XLSX file; every export is audited (``report.export``)."""
    _check_export_format(fmt)
    report = centre_report(
        db,
        actor=actor,
        centre_id=centre_id,
        date_from=date_from,
        date_to=date_to,
        threshold=threshold,
        min_sessions=min_sessions,
        now=now,
    )
    if fmt == "csv":
        file = exports.centre_report_csv(report, table=table, separator=separator)
    else:
        file = exports.centre_report_xlsx(report)
    _record_export(
        db,
        actor,
        ("centre", centre_id, centre_id),
        fmt=fmt,
        table=table,
        report="centre",
        **{"from": report.date_from.isoformat(), "to": report.date_to.isoformat()},
        threshold=report.threshold,
        min_sessions=report.min_sessions,
    )
    return file


# --- Anonymous statistics across centres ------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Statistics:
    date_from: dt.date
    date_to: dt.date
    overall: StatRow
    tables: tuple[StatTable, ...]
    threshold: int = aggregate.SUPPRESSION_THRESHOLD


def statistics(
    db: DbSession,
    *,
    actor: Actor,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    now: dt.datetime | None = None,
) -> Statistics:
    """Sessions held, participations and families reached by group language, municipality and
    month, across all centres, with cells under 5 suppressed (``aggregate.suppress_line``).

    Counted in SQL: a session's month is its local month in its centre's time zone, computed by
    a CASE over the month boundaries of each time zone in use, so that the GROUP BY and COUNT
    DISTINCT run in the database. Families are the distinct parent ids of attended rows (rows
    whose parent was erased cannot be told apart and are left out); participations include
    every attended row.
    """
    now = now or utcnow()
    require_role(actor, "admin")
    berlin = ZoneInfo("Europe/Berlin")
    date_from, date_to = _check_range(date_from, date_to, now.astimezone(berlin).date())

    zones = list(_scalars(db, select(Centre.timezone).distinct()))
    whens = _month_whens(date_from, date_to, zones)
    if not whens:
        overall, tables = aggregate.build_statistics(aggregate.StatInput({}, {}, {}, {}, {}, 0, ()))
        return Statistics(date_from, date_to, overall, tables)
    # The index on sessions.starts_at narrows the scan before the CASE sorts sessions into months.
    lowest = min(_day_start(date_from, ZoneInfo(z)) for z in zones)
    highest = max(_day_start(date_to + dt.timedelta(days=1), ZoneInfo(z)) for z in zones)
    held = _held(now)
    hs = (
        select(
            Session.id.label("session_id"),
            Session.group_id.label("group_id"),
            Centre.municipality.label("municipality"),
            case(*whens, else_=None).label("month"),
        )
        .join(Group, Group.id == Session.group_id)
        .join(Centre, Centre.id == Group.centre_id)
        .where(held, Session.starts_at >= lowest, Session.starts_at < highest)
        .subquery("held_sessions")
    )
    in_month = hs.c.month.is_not(None)
    attended = and_(
        Attendance.session_id == hs.c.session_id, Attendance.role == "parent", _STATUS.in_(sorted(ATTENDED))
    )
    # Rows still carrying a parent id are one family each, anonymised by retention or not.
    identified = Attendance.parent_id.is_not(None)

    def key(month: int) -> str:
        return f"{month // 100:04d}-{month % 100:02d}"

    sessions = {
        (r[0], key(r[1])): int(r[2])
        for r in _rows(
            db,
            select(hs.c.group_id, hs.c.month, func.count())
            .where(in_month)
            .group_by(hs.c.group_id, hs.c.month),
        )
    }
    participations = {
        (r[0], key(r[1])): int(r[2])
        for r in _rows(
            db,
            select(hs.c.group_id, hs.c.month, func.count())
            .select_from(hs)
            .join(Attendance, attended)
            .where(in_month)
            .group_by(hs.c.group_id, hs.c.month),
        )
    }

    def families(*columns: Any) -> Any:
        return (
            select(*columns, func.count(func.distinct(Attendance.parent_id)))
            .select_from(hs)
            .join(Attendance, attended)
            .where(in_month, identified)
        )

    by_month = {key(r[0]): int(r[1]) for r in _rows(db, families(hs.c.month).group_by(hs.c.month))}
    by_municipality = {
        r[0]: int(r[1]) for r in _rows(db, families(hs.c.municipality).group_by(hs.c.municipality))
    }
    total = int(_rows(db, families()).scalar_one())
    group_parents = _rows(
        db,
        select(hs.c.group_id, Attendance.parent_id)
        .select_from(hs)
        .join(Attendance, attended)
        .where(in_month, identified)
        .distinct(),
    ).all()
    groups = {
        r[0]: (r[1], _languages(r[2]))
        for r in _rows(
            db,
            select(Group.id, Centre.municipality, Group.languages).join(Centre, Centre.id == Group.centre_id),
        )
    }
    overall, tables = aggregate.build_statistics(
        aggregate.StatInput(
            groups=groups,
            sessions=sessions,
            participations=participations,
            families_by_month=by_month,
            families_by_municipality=by_municipality,
            families_total=total,
            group_parents=[(int(r[0]), int(r[1])) for r in group_parents if r[1] is not None],
        )
    )
    return Statistics(date_from, date_to, overall, tables)
