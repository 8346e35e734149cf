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
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session as DbSession

from orchestrator import audit
from orchestrator.access import Actor, require_group, require_role
from orchestrator.errors import Forbidden, InvalidInput, NotFound
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
# A row whose parent was erased counts as anonymous, whether erasure cleared ``parent_id`` (the
# documented way) or only marked the parent.
_PARENT_KEY = case((Parent.erased_at.is_(None), Attendance.parent_id), else_=None)


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
        raise InvalidInput("the threshold is a percentage from 0 to 100", field="threshold")
    return threshold


def _check_range(
    date_from: dt.date | None, date_to: dt.date | None, today: dt.date
) -> tuple[dt.date, dt.date]:
    default_from, default_to = kita_year(today)
    start = date_from or default_from
    end = date_to or (default_to if date_from is None else start + dt.timedelta(days=365))
    if end < start:
        raise InvalidInput("the range ends before it starts", field="to")
    if (end - start).days > MAX_RANGE_DAYS:
        raise InvalidInput(f"the range is longer than {MAX_RANGE_DAYS} days", field="to")
    return start, end


def _no_admin(actor: Actor) -> None:
    # Design §1: the state-level admin sees anonymous aggregates only, never a named matrix.
    if actor.is_admin:
        raise Forbidden("administrators see only the anonymous statistics")


def _languages(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


# --- Loading ----------------------------------------------------------------------------------


def _sessions(
    db: DbSession, where: ColumnElement[bool], zone: ZoneInfo, now: dt.datetime
) -> list[SessionFact]:
    rows = db.execute(
        select(
            Session.id,
            Session.group_id,
            Session.starts_at,
            Session.ends_at,
            Session.status,
            Session.launched_by_id,
        )
        .where(where)
        .order_by(Session.starts_at, Session.id)
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
    """Enrolments of parents not erased, with ``enrolled_at`` and the parent's display name."""
    rows = db.execute(
        select(
            Enrolment.parent_id,
            Enrolment.group_id,
            Enrolment.enrolled_at,
            Enrolment.left_at,
            Parent.display_name,
        )
        .join(Parent, Parent.id == Enrolment.parent_id)
        .where(where, Parent.erased_at.is_(None))
    )
    return [(EnrolmentFact(r[0], r[1], r[2].astimezone(zone).date(), r[3]), r[2], r[4]) for r in rows]


def _marks(db: DbSession, where: ColumnElement[bool]) -> list[Mark]:
    rows = db.execute(
        select(Attendance.session_id, _PARENT_KEY, _STATUS)
        .select_from(Attendance)
        .join(Session, Session.id == Attendance.session_id)
        .outerjoin(Parent, Parent.id == Attendance.parent_id)
        .where(Attendance.role == "parent", where)
    )
    return [Mark._make(r) for r in rows]


def _facilitator_minutes(db: DbSession, where: ColumnElement[bool]) -> dict[int, int]:
    rows = db.execute(
        select(Attendance.session_id, func.sum(_MINUTES))
        .join(Session, Session.id == Attendance.session_id)
        .where(Attendance.role == "facilitator", where)
        .group_by(Attendance.session_id)
    )
    return {r[0]: int(r[1] or 0) for r in rows}


def _group_infos(db: DbSession, where: ColumnElement[bool]) -> list[GroupInfo]:
    assigned = (
        select(GroupFacilitator.group_id, func.count().label("n"))
        .group_by(GroupFacilitator.group_id)
        .subquery("assigned")
    )
    rows = db.execute(
        select(Group.id, Group.name, Group.site_name, Group.languages, func.coalesce(assigned.c.n, 0))
        .outerjoin(assigned, assigned.c.group_id == Group.id)
        .where(where)
        .order_by(Group.name, Group.id)
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


def _parent_names(db: DbSession, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = db.execute(select(Parent.id, Parent.display_name).where(Parent.id.in_(wanted)))
    return {r[0]: r[1] for r in rows}


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
    row = db.execute(
        select(
            Group.centre_id,
            Group.cycle_start,
            Group.cycle_end,
            Centre.timezone,
            Centre.regular_threshold_percent,
        )
        .join(Centre, Centre.id == Group.centre_id)
        .where(Group.id == group_id)
    ).first()
    if row is None:
        raise NotFound("no such group")
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
    enrolment_of = {e.parent_id: (enrolled_at, e.left_at, name) for e, enrolled_at, name in enrolments}
    others = _parent_names(
        db, (line.parent_id for line in figures.lines if line.parent_id not in enrolment_of)
    )
    parents = []
    for line in figures.lines:
        if line.parent_id in enrolment_of:
            enrolled_at, left_at, name = enrolment_of[line.parent_id]
        else:
            enrolled_at, left_at, name = None, None, others.get(line.parent_id, "")
        parents.append(MatrixParent(line.parent_id, name, enrolled_at, left_at, line))
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
    row = db.execute(
        select(
            Parent.centre_id,
            Parent.display_name,
            Parent.erased_at,
            Centre.timezone,
            Centre.regular_threshold_percent,
        )
        .join(Centre, Centre.id == Parent.centre_id)
        .where(Parent.id == parent_id)
    ).first()
    # An erased parent has no attendance of their own any more: there is nothing to summarise.
    if row is None or row[2] is not None:
        raise NotFound("no such parent")
    centre_id, display_name, _, timezone, default_threshold = row
    _no_admin(actor)
    if actor.centre_id != centre_id or not (actor.is_coordinator or actor.is_facilitator):
        raise NotFound("no such parent")
    threshold = _check_threshold(threshold, default_threshold)
    zone = ZoneInfo(timezone)

    enrolled = {
        r[0]: (r[1], r[2])
        for r in db.execute(
            select(Enrolment.group_id, Enrolment.enrolled_at, Enrolment.left_at).where(
                Enrolment.parent_id == parent_id
            )
        )
    }
    attended_groups = set(
        db.scalars(
            select(Session.group_id)
            .join(Attendance, Attendance.session_id == Session.id)
            .where(Attendance.parent_id == parent_id, Attendance.role == "parent")
            .distinct()
        )
    )
    group_ids = set(enrolled) | attended_groups
    if actor.is_facilitator:
        group_ids &= actor.group_ids
        if not group_ids:
            raise NotFound("no such parent")
    if not group_ids:
        return ParentSummary(parent_id, display_name, centre_id, timezone, threshold, default_threshold, ())

    infos = {g.id: g for g in _group_infos(db, Group.id.in_(sorted(group_ids)))}
    cycles = {
        r[0]: (r[1], r[2])
        for r in db.execute(
            select(Group.id, Group.cycle_start, Group.cycle_end).where(Group.id.in_(sorted(group_ids)))
        )
    }
    sessions_of: dict[int, list[SessionFact]] = defaultdict(list)
    for s in _sessions(db, Session.group_id.in_(sorted(group_ids)), zone, now):
        sessions_of[s.group_id].append(s)
    marks = _marks(db, and_(Session.group_id.in_(sorted(group_ids)), Attendance.parent_id == parent_id))

    groups = []
    for group_id in sorted(group_ids, key=lambda g: (cycles[g][0], infos[g].name, g)):
        enrolled_at, left_at = enrolled.get(group_id, (None, None))
        enrolment = (
            [EnrolmentFact(parent_id, group_id, enrolled_at.astimezone(zone).date(), left_at)]
            if enrolled_at is not None
            else []
        )
        sessions = sessions_of.get(group_id, [])
        figures = aggregate.group_figures(group_id, sessions, enrolment, marks)
        groups.append(
            ParentGroupSummary(
                group=infos[group_id],
                cycle_start=cycles[group_id][0],
                cycle_end=cycles[group_id][1],
                enrolled_at=enrolled_at,
                left_at=left_at,
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
    row = db.execute(
        select(Centre.name, Centre.slug, Centre.timezone, Centre.regular_threshold_percent).where(
            Centre.id == centre_id
        )
    ).first()
    if row is None or actor.centre_id != centre_id:
        raise NotFound("no such centre")
    name, slug, timezone, default_threshold = row
    zone = ZoneInfo(timezone)
    date_from, date_to = _check_range(date_from, date_to, now.astimezone(zone).date())
    threshold = _check_threshold(threshold, default_threshold)
    if not 1 <= min_sessions <= 1000:
        raise InvalidInput("the minimum number of sessions is from 1 to 1000", field="min_sessions")

    window = _in_range(centre_id, date_from, date_to, zone)
    sessions = _sessions(db, window, zone, now)
    sessions_of: dict[int, list[SessionFact]] = defaultdict(list)
    for s in sessions:
        sessions_of[s.group_id].append(s)
    # Absent rows change no figure of the centre report (a held session without a record counts
    # the same), so only the rows that do are fetched.
    marks = _marks(
        db,
        and_(
            window,
            or_(_STATUS.in_(sorted(RECORDED)), Attendance.parent_id.is_(None), Parent.erased_at.is_not(None)),
        ),
    )
    facilitator_minutes = _facilitator_minutes(db, window)
    enrolments = _enrolments(
        db, Enrolment.group_id.in_(select(Group.id).where(Group.centre_id == centre_id)), zone
    )
    enrolments_of: dict[int, list[EnrolmentFact]] = defaultdict(list)
    for e, _, _ in enrolments:
        enrolments_of[e.group_id].append(e)
    marks_of: dict[int, list[Mark]] = defaultdict(list)
    group_of_session = {s.id: s.group_id for s in sessions}
    for m in marks:
        marks_of[group_of_session[m.session_id]].append(m)

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
    figures = {
        info.id: aggregate.group_figures(
            info.id, sessions_of.get(info.id, []), enrolments_of.get(info.id, []), marks_of.get(info.id, [])
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
            infos, figures, facilitator_minutes, threshold_percent=threshold, min_sessions=min_sessions
        ),
    )


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
    if fmt not in ("csv", "xlsx"):
        raise InvalidInput("format must be json, csv or xlsx", field="format")
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
    audit.record(
        db,
        actor,
        "report.export",
        object_type="centre",
        object_id=centre_id,
        centre_id=centre_id,
        detail={
            "report": "centre",
            "format": fmt,
            "table": table if fmt == "csv" else "all",
            "from": report.date_from.isoformat(),
            "to": report.date_to.isoformat(),
            "threshold": report.threshold,
            "min_sessions": report.min_sessions,
        },
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


def _month_starts(date_from: dt.date, date_to: dt.date) -> list[dt.date]:
    months = []
    month = date_from.replace(day=1)
    while month <= date_to:
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return months


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
    DISTINCT run in the database. Families are identified parents only (erased ones cannot be
    told apart); participations include erased parents' rows.
    """
    now = now or utcnow()
    require_role(actor, "admin")
    berlin = ZoneInfo("Europe/Berlin")
    date_from, date_to = _check_range(date_from, date_to, now.astimezone(berlin).date())

    zones = sorted(set(db.scalars(select(Centre.timezone).distinct())))
    whens: list[tuple[ColumnElement[bool], int]] = []
    lowest: dt.datetime | None = None
    highest: dt.datetime | None = None
    for name in zones:
        zone = ZoneInfo(name)
        for month in _month_starts(date_from, date_to):
            following = (month + dt.timedelta(days=32)).replace(day=1)
            start = _day_start(max(month, date_from), zone)
            end = _day_start(min(following, date_to + dt.timedelta(days=1)), zone)
            lowest = start if lowest is None else min(lowest, start)
            highest = end if highest is None else max(highest, end)
            whens.append(
                (
                    and_(Centre.timezone == name, Session.starts_at >= start, Session.starts_at < end),
                    month.year * 100 + month.month,
                )
            )
    if not whens or lowest is None or highest is None:
        overall, tables = aggregate.build_statistics(aggregate.StatInput({}, {}, {}, {}, {}, 0, ()))
        return Statistics(date_from, date_to, overall, tables)

    held = and_(
        Session.status != "cancelled",
        or_(Session.status.in_(("live", "ended")), Session.ends_at <= now),
    )
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
    identified = and_(Attendance.parent_id.is_not(None), Parent.erased_at.is_(None))

    def key(month: int) -> str:
        return f"{month // 100:04d}-{month % 100:02d}"

    sessions = {
        (r[0], key(r[1])): int(r[2])
        for r in db.execute(
            select(hs.c.group_id, hs.c.month, func.count())
            .where(in_month)
            .group_by(hs.c.group_id, hs.c.month)
        )
    }
    participations = {
        (r[0], key(r[1])): int(r[2])
        for r in db.execute(
            select(hs.c.group_id, hs.c.month, func.count())
            .select_from(hs)
            .join(Attendance, attended)
            .where(in_month)
            .group_by(hs.c.group_id, hs.c.month)
        )
    }

    def families(*columns: Any) -> Any:
        return (
            select(*columns, func.count(func.distinct(Attendance.parent_id)))
            .select_from(hs)
            .join(Attendance, attended)
            .join(Parent, Parent.id == Attendance.parent_id)
            .where(in_month, identified)
        )

    by_month = {key(r[0]): int(r[1]) for r in db.execute(families(hs.c.month).group_by(hs.c.month))}
    by_municipality = {
        r[0]: int(r[1]) for r in db.execute(families(hs.c.municipality).group_by(hs.c.municipality))
    }
    total = int(db.execute(families()).scalar_one())
    group_parents = db.execute(
        select(hs.c.group_id, Attendance.parent_id)
        .select_from(hs)
        .join(Attendance, attended)
        .join(Parent, Parent.id == Attendance.parent_id)
        .where(in_month, identified)
        .distinct()
    ).all()
    groups = {
        r[0]: (r[1], _languages(r[2]))
        for r in db.execute(
            select(Group.id, Centre.municipality, Group.languages).join(Centre, Centre.id == Group.centre_id)
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
