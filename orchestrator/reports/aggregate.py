"""Attendance figures from plain facts: every definition the reports use, in one place.

Pure: no database, no clock, no I/O. ``orchestrator.reports.services`` loads narrow rows
(sessions, enrolments, attendance marks) and hands them here as the small frozen dataclasses
below; everything a page, an export or the API shows is computed by these functions, so the unit
tests of this module pin down the numbers coordinators report to their funders.

Definitions
-----------

**Held session.** Not cancelled, and it has taken place: its status is ``live`` or ``ended``, or
it is still ``scheduled`` but its scheduled end has passed (a session run in person and never
launched online is still a session that took place). Only held sessions count anywhere.
Cancelled sessions do not count; sessions still to come do not count yet.

**Status of a parent in a session** is the coordinator's correction if there is one, else the
status computed from the conference events (``Attendance.status``). **Attended** means
``present`` or ``partial``: the parent took part, if only for part of the time (a short join that
should not count is corrected to ``absent`` by staff, which is audited). ``excused`` is *not*
attended and stays in the denominator: the rate is exactly what coordinators asked for,
"attended ÷ sessions held", and it does not depend on how diligently a facilitator records
excuses, which varies between groups. The number of excused sessions is reported beside the rate.
A held session without any attendance record for a parent who belonged to the group counts as
not attended.

**Sessions held while in the group** (the denominator of a parent's rate). A parent belongs to a
group from the day of their enrolment (``enrolled_at``, as a local date) until they left
(sessions starting before ``left_at``). A record showing that the parent took part or was
excused (present, partial, excused) in a held session is evidence that they belonged to the
group then, so the window is widened to include the first and the last such session: an
enrolment entered late, or a leaving date set too early, does not drop real participation or
inflate the rate. A parent with attendance records but no enrolment (an enrolment deleted
later) belongs from their first to their last recorded session. A parent who left and re-joined
(an ``EnrolmentBreak``: left at ``left_at``, back from the local day of ``rejoined_at``) did not
belong to the group in between: the sessions held then count only where a record shows they
took part or were excused, like any other recorded session.

**Rate of a parent** = sessions attended ÷ sessions held while in the group; undefined (shown
as "–") when no held session falls in the window. Over several groups (the centre report), the
counts are added before dividing.

**Regular participation**: rate ≥ the threshold (the centre's ``regular_threshold_percent``
unless the request names another), compared exactly in integers (7 of 14 is 50 %).

**Headcount of a session**: parents who attended it (present or partial), including rows of
parents whose data was erased. **Expected** for a session: parents whose window contains it,
plus erased rows recorded for it. **Rate of a session** = headcount ÷ expected.

**Anonymised and erased parents** (``orchestrator.privacy``). Retention anonymises a parent
after their cycle: the parent row stays under a random label (``erased_at`` set) and their
attendance rows keep ``parent_id``, so they still count as one distinct, nameless family with a
rate of their own. Erasure on request also clears ``Attendance.parent_id``; those rows stay and
count in headcounts, participations and session rates, but they cannot be told apart, so they
have no per-parent rate and are not in "families reached", and the erased parent's enrolment no
longer counts (else they would be expected twice: as a row and as a member). The centre report
adds ``erased_families_min``, a lower bound: per group, the largest number of erased parents
who attended one session (they must be different people).

**Families reached**: distinct (identified) parents who attended at least one held session in
the range; **families reached (≥ N)**: at least N sessions, N defaulting to 6.

**Hours delivered**: the scheduled length (start to end) of held sessions, added up.

**Facilitator hours**: for each held session, the minutes recorded in facilitator attendance
rows (corrections win); for a held session without any recorded facilitator minutes (typically
an in-person session), its scheduled length times the number of facilitators assigned to the
group, or times one if the group has none assigned but someone launched the session. The part
estimated that way is reported separately.

**Months** are calendar months of the session's local start date.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import statistics
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Final, NamedTuple
from zoneinfo import ZoneInfo

__all__ = [
    "ATTENDED",
    "CELL_CODES",
    "RECORDED",
    "SUPPRESSION_THRESHOLD",
    "Break",
    "CentreFigures",
    "EnrolmentFact",
    "Figures",
    "GroupFigures",
    "GroupInfo",
    "Mark",
    "MonthFigures",
    "ParentCounts",
    "ParentLine",
    "SessionCounts",
    "SessionFact",
    "SessionFigure",
    "StatInput",
    "StatRow",
    "StatTable",
    "Window",
    "build_statistics",
    "centre_figures",
    "figures_for_group",
    "group_figures",
    "group_figures_from_counts",
    "is_held",
    "is_regular",
    "mean",
    "median",
    "participation_window",
    "rate",
    "session_fact",
    "suppress_line",
    "window_of",
]

ATTENDED: Final = frozenset({"present", "partial"})
# Statuses that show a parent belonged to the group at that session (see "window" above).
RECORDED: Final = frozenset({"present", "partial", "excused"})

# What a matrix cell can say. The four attendance statuses, plus:
NO_RECORD: Final = "none"  # held, in the window, nothing recorded: counts as not attended
NOT_ENROLLED: Final = "not_enrolled"  # outside the parent's window: does not count
CANCELLED: Final = "cancelled"  # the session was cancelled: does not count
UPCOMING: Final = "upcoming"  # not held (yet): does not count
CELL_CODES: Final = ("present", "partial", "absent", "excused", NO_RECORD, NOT_ENROLLED, CANCELLED, UPCOMING)

SUPPRESSION_THRESHOLD: Final = 5


def is_held(status: str, ends_at: dt.datetime, now: dt.datetime) -> bool:
    """Whether a session took place (see the module docstring)."""
    if status == "cancelled":
        return False
    if status in ("live", "ended"):
        return True
    return ends_at <= now


# The facts are NamedTuples rather than frozen dataclasses: a centre's year is ~40,000 of them
# and a NamedTuple is built about three times faster.
class SessionFact(NamedTuple):
    id: int
    group_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    status: str
    day: dt.date  # local date of the start
    held: bool
    launched_by_id: int | None = None
    minutes: int = 0  # scheduled length; ``session_fact`` fills it in

    @property
    def month(self) -> dt.date:
        return self.day.replace(day=1)


def session_fact(
    *,
    id: int,
    group_id: int,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    status: str,
    zone: ZoneInfo,
    now: dt.datetime,
    launched_by_id: int | None = None,
) -> SessionFact:
    return SessionFact(
        id=id,
        group_id=group_id,
        starts_at=starts_at,
        ends_at=ends_at,
        status=status,
        day=starts_at.astimezone(zone).date(),
        held=is_held(status, ends_at, now),
        launched_by_id=launched_by_id,
        minutes=int((ends_at - starts_at).total_seconds()) // 60,
    )


class Break(NamedTuple):
    """A time away from the group: sessions starting from ``left_at`` and before the local day
    ``back_on`` (of ``rejoined_at``) were not the parent's."""

    left_at: dt.datetime
    back_on: dt.date

    def covers(self, session: SessionFact) -> bool:
        return session.starts_at >= self.left_at and session.day < self.back_on


class EnrolmentFact(NamedTuple):
    parent_id: int
    group_id: int
    enrolled_on: dt.date  # local date of ``enrolled_at``
    left_at: dt.datetime | None = None
    # The parent is anonymised or erased: the enrolment counts only while rows of held sessions
    # carry their id (see "Anonymised and erased parents").
    erased: bool = False
    breaks: tuple[Break, ...] = ()


class Mark(NamedTuple):
    """One parent attendance row, narrowed to what the figures need."""

    session_id: int
    parent_id: int | None  # None: the parent's data was erased
    status: str


@dataclasses.dataclass(frozen=True, slots=True)
class Window:
    """The sessions during which a parent belonged to a group (see the module docstring)."""

    first_day: dt.date
    open_ended: bool
    left_at: dt.datetime | None = None
    last_recorded: dt.datetime | None = None
    breaks: tuple[Break, ...] = ()

    def contains(self, session: SessionFact) -> bool:
        """Whether the parent belonged to the group at ``session``, before the evidence of a
        record in a break (which the callers add: they know the records)."""
        if session.day < self.first_day:
            return False
        if any(b.covers(session) for b in self.breaks):
            return False
        if self.open_ended:
            return True
        if self.left_at is not None and session.starts_at < self.left_at:
            return True
        return self.last_recorded is not None and session.starts_at <= self.last_recorded

    def span(self, days: Sequence[dt.date], starts: Sequence[dt.datetime]) -> tuple[int, int]:
        """``[lo, hi)``: the indexes of the sessions from the first to the last it contains, in
        sessions sorted by start (``days`` and ``starts`` are their local days and starts),
        breaks ignored (``away`` gives those). Without its breaks a window is an interval of
        time, so what it contains is contiguous: two bisections instead of a test per session."""
        lo = bisect.bisect_left(days, self.first_day)
        if self.open_ended:
            return lo, len(starts)
        hi = bisect.bisect_left(starts, self.left_at) if self.left_at is not None else 0
        if self.last_recorded is not None:
            hi = max(hi, bisect.bisect_right(starts, self.last_recorded))
        return lo, max(lo, hi)

    def away(
        self, days: Sequence[dt.date], starts: Sequence[dt.datetime], lo: int, hi: int
    ) -> list[tuple[int, int]]:
        """The index ranges within ``[lo, hi)`` that fall in a break, merged and in order (a
        break, too, is an interval of time: contiguous in sessions sorted by start)."""
        ranges = sorted(
            (max(lo, bisect.bisect_left(starts, b.left_at)), min(hi, bisect.bisect_left(days, b.back_on)))
            for b in self.breaks
        )
        merged: list[tuple[int, int]] = []
        for a, b in ranges:
            if a >= b:
                continue
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        return merged


def participation_window(enrolment: EnrolmentFact | None, recorded: Iterable[SessionFact]) -> Window | None:
    """The window of one parent in one group; ``recorded``: held sessions with a RECORDED status."""
    recorded = list(recorded)
    return window_of(
        enrolment,
        min((s.day for s in recorded), default=None),
        max((s.starts_at for s in recorded), default=None),
    )


def window_of(
    enrolment: EnrolmentFact | None, first: dt.date | None, last: dt.datetime | None
) -> Window | None:
    """The window from an enrolment and the local day of the first / the start of the last held
    session with a RECORDED status (None: there is none)."""
    if enrolment is None:
        if first is None:
            return None
        return Window(first_day=first, open_ended=False, last_recorded=last)
    first_day = enrolment.enrolled_on if first is None else min(enrolment.enrolled_on, first)
    return Window(
        first_day=first_day,
        open_ended=enrolment.left_at is None,
        left_at=enrolment.left_at,
        last_recorded=last,
        breaks=enrolment.breaks,
    )


def rate(attended: int, held: int) -> float | None:
    return attended / held if held else None


def is_regular(attended: int, held: int, threshold_percent: int) -> bool:
    """Rate ≥ threshold, in integers so that 7 of 14 at 50 % is exact."""
    return held > 0 and attended * 100 >= threshold_percent * held


def mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return statistics.fmean(values) if values else None


def median(values: Iterable[float]) -> float | None:
    """The middle value; for an even count the mean of the two middle values."""
    values = list(values)
    return statistics.median(values) if values else None


@dataclasses.dataclass(frozen=True, slots=True)
class ParentLine:
    """One parent's row in a group: a cell per session of the group, and the counts."""

    parent_id: int
    group_id: int
    cells: tuple[str, ...]
    held: int  # sessions held while in the group
    present: int
    partial: int
    excused: int
    enrolled: bool  # False: known only from attendance records

    @property
    def attended(self) -> int:
        return self.present + self.partial

    @property
    def not_attended(self) -> int:
        """Held sessions in the window that were neither attended nor excused (absent or no record)."""
        return self.held - self.attended - self.excused

    @property
    def rate(self) -> float | None:
        return rate(self.attended, self.held)

    def regular(self, threshold_percent: int) -> bool:
        return is_regular(self.attended, self.held, threshold_percent)


@dataclasses.dataclass(frozen=True, slots=True)
class SessionFigure:
    session: SessionFact
    headcount: int  # attended parents, erased ones included
    expected: int  # parents in their window, plus erased rows
    erased_attended: int

    @property
    def rate(self) -> float | None:
        return rate(self.headcount, self.expected)


@dataclasses.dataclass(frozen=True, slots=True)
class GroupFigures:
    group_id: int
    sessions: tuple[SessionFigure, ...]  # every session of the group in the range, by start
    lines: tuple[ParentLine, ...]  # by parent id; the caller orders them by name

    @property
    def held(self) -> tuple[SessionFigure, ...]:
        return tuple(f for f in self.sessions if f.session.held)

    @property
    def erased_cells(self) -> tuple[int | None, ...]:
        """Attended erased rows per session (None where the session was not held)."""
        return tuple(f.erased_attended if f.session.held else None for f in self.sessions)


def group_figures(
    group_id: int,
    sessions: Iterable[SessionFact],
    enrolments: Iterable[EnrolmentFact],
    marks: Iterable[Mark],
) -> GroupFigures:
    """Matrix lines and per-session figures of one group.

    ``sessions`` are the group's sessions in the range (any status), ``enrolments`` the group's
    enrolments, ``marks`` the parent attendance rows of those sessions. Marks of other sessions
    are ignored.
    """
    ordered = sorted(sessions, key=lambda s: (s.starts_at, s.id))
    by_id = {s.id: s for s in ordered}
    identified: dict[int, dict[int, str]] = defaultdict(dict)
    erased: dict[int, list[str]] = defaultdict(list)
    for mark in marks:
        if mark.session_id not in by_id:
            continue
        if mark.parent_id is None:
            erased[mark.session_id].append(mark.status)
        else:
            identified[mark.parent_id][mark.session_id] = mark.status
    # An anonymised parent's enrolment counts while rows of held sessions still carry their id.
    with_rows = {pid for pid, statuses in identified.items() if any(by_id[sid].held for sid in statuses)}
    enrolment_of = {e.parent_id: e for e in enrolments if not e.erased or e.parent_id in with_rows}

    expected: Counter[int] = Counter()
    headcount: Counter[int] = Counter()
    lines: list[ParentLine] = []
    for parent_id in sorted(set(enrolment_of) | set(identified)):
        statuses = identified.get(parent_id, {})
        recorded = [by_id[sid] for sid, status in statuses.items() if status in RECORDED and by_id[sid].held]
        window = participation_window(enrolment_of.get(parent_id), recorded)
        if window is None:
            # Only "absent" rows and no enrolment: nothing shows the parent was ever in the group.
            continue
        cells: list[str] = []
        held = present = partial = excused = 0
        for s in ordered:
            if not s.held:
                # A parent excused ahead (she called in) shows so in the coming session's cell;
                # like every cell of a session not held, it counts nowhere.
                ahead = statuses.get(s.id) == "excused"
                cells.append(CANCELLED if s.status == "cancelled" else "excused" if ahead else UPCOMING)
                continue
            status = statuses.get(s.id)
            if not window.contains(s) and status not in RECORDED:
                cells.append(NOT_ENROLLED)
                continue
            cells.append(status or NO_RECORD)
            held += 1
            expected[s.id] += 1
            if status == "present":
                present += 1
                headcount[s.id] += 1
            elif status == "partial":
                partial += 1
                headcount[s.id] += 1
            elif status == "excused":
                excused += 1
        lines.append(
            ParentLine(
                parent_id=parent_id,
                group_id=group_id,
                cells=tuple(cells),
                held=held,
                present=present,
                partial=partial,
                excused=excused,
                enrolled=parent_id in enrolment_of,
            )
        )

    figures: list[SessionFigure] = []
    for s in ordered:
        erased_rows = erased.get(s.id, []) if s.held else []
        erased_attended = sum(1 for status in erased_rows if status in ATTENDED)
        figures.append(
            SessionFigure(
                session=s,
                headcount=headcount[s.id] + erased_attended,
                expected=expected[s.id] + len(erased_rows),
                erased_attended=erased_attended,
            )
        )
    return GroupFigures(group_id=group_id, sessions=tuple(figures), lines=tuple(lines))


class ParentCounts(NamedTuple):
    """One parent's rows in one group's sessions of the range, counted in SQL (centre report)."""

    group_id: int
    parent_id: int
    rows: int  # rows of any status in held sessions of the range
    present: int
    partial: int
    excused: int
    first_recorded: dt.date | None  # local day of the first held session present/partial/excused
    last_recorded: dt.datetime | None  # start of the last such session


class SessionCounts(NamedTuple):
    """A session's parent rows, counted in SQL (centre report)."""

    session_id: int
    attended: int  # rows with a parent id, present or partial
    erased_rows: int  # rows without a parent id (erased), any status
    erased_attended: int


def group_figures_from_counts(
    group_id: int,
    sessions: Iterable[SessionFact],
    enrolments: Iterable[EnrolmentFact],
    parents: Iterable[ParentCounts],
    session_counts: Mapping[int, SessionCounts],
    recorded_sessions: Mapping[int, Collection[int]] | None = None,
) -> GroupFigures:
    """``group_figures`` from counts instead of one mark per session and parent.

    The centre report needs no matrix cells, so the database counts the rows per (group, parent)
    and per session and only windows are evaluated here: a few thousand rows instead of one per
    session and parent. The lines have no ``cells``; every count equals ``group_figures`` on the
    same rows (a property test holds the two side by side). ``recorded_sessions`` names, per
    parent whose enrolment has breaks, the held sessions with a RECORDED status (the evidence
    that counts a session in a break); other parents need none.
    """
    ordered = sorted(sessions, key=lambda s: (s.starts_at, s.id))
    held = [s for s in ordered if s.held]
    days = [s.day for s in held]
    starts = [s.starts_at for s in held]
    index_of = {s.id: i for i, s in enumerate(held)}
    # Parents per held session as a difference array over the windows' index ranges.
    boundaries = [0] * (len(held) + 1)
    counts_of = {c.parent_id: c for c in parents}
    enrolment_of = {e.parent_id: e for e in enrolments if not e.erased or e.parent_id in counts_of}
    lines: list[ParentLine] = []
    for parent_id in sorted(set(enrolment_of) | set(counts_of)):
        c = counts_of.get(parent_id)
        window = window_of(
            enrolment_of.get(parent_id), c.first_recorded if c else None, c.last_recorded if c else None
        )
        if window is None:
            continue
        lo, hi = window.span(days, starts)
        boundaries[lo] += 1
        boundaries[hi] -= 1
        in_group = hi - lo
        if window.breaks:
            recorded = {
                index_of[sid] for sid in (recorded_sessions or {}).get(parent_id, ()) if sid in index_of
            }
            for a, b in window.away(days, starts, lo, hi):
                boundaries[a] -= 1
                boundaries[b] += 1
                in_group -= b - a
                for i in recorded:
                    if a <= i < b:
                        boundaries[i] += 1
                        boundaries[i + 1] -= 1
                        in_group += 1
        lines.append(
            ParentLine(
                parent_id=parent_id,
                group_id=group_id,
                cells=(),
                held=in_group,
                present=c.present if c else 0,
                partial=c.partial if c else 0,
                excused=c.excused if c else 0,
                enrolled=parent_id in enrolment_of,
            )
        )
    expected: dict[int, int] = {}
    running = 0
    for s, step in zip(held, boundaries, strict=False):
        running += step
        expected[s.id] = running
    none = SessionCounts(0, 0, 0, 0)
    figures = []
    for s in ordered:
        counts = session_counts.get(s.id, none) if s.held else none
        figures.append(
            SessionFigure(
                session=s,
                headcount=counts.attended + counts.erased_attended,
                expected=expected.get(s.id, 0) + counts.erased_rows,
                erased_attended=counts.erased_attended,
            )
        )
    return GroupFigures(group_id=group_id, sessions=tuple(figures), lines=tuple(lines))


@dataclasses.dataclass(frozen=True, slots=True)
class GroupInfo:
    id: int
    name: str
    site_name: str = ""
    languages: tuple[str, ...] = ()
    facilitators: int = 0  # assigned to the group


@dataclasses.dataclass(frozen=True, slots=True)
class Figures:
    """The report's figures over a set of groups: the whole centre or one group."""

    groups: int  # groups with at least one held session
    sessions_held: int
    sessions_cancelled: int
    minutes_delivered: int
    participations: int  # attended parent rows, erased ones included
    erased_participations: int
    parents: int  # identified parents with at least one held session in their window
    families_reached: int  # attended ≥ 1
    families_reached_n: int  # attended ≥ min_sessions
    erased_families_min: int
    regular_parents: int
    mean_parent_rate: float | None
    median_parent_rate: float | None
    mean_session_rate: float | None
    median_session_rate: float | None
    mean_headcount: float | None
    facilitator_minutes: int
    facilitator_minutes_estimated: int  # the part taken from the schedule (no recorded minutes)

    @property
    def hours_delivered(self) -> float:
        return self.minutes_delivered / 60

    @property
    def facilitator_hours(self) -> float:
        return self.facilitator_minutes / 60

    @property
    def facilitator_hours_estimated(self) -> float:
        return self.facilitator_minutes_estimated / 60


@dataclasses.dataclass(frozen=True, slots=True)
class MonthFigures:
    month: dt.date  # first day of the month
    sessions_held: int
    minutes_delivered: int
    participations: int
    families_reached: int
    mean_session_rate: float | None
    mean_headcount: float | None
    facilitator_minutes: int

    @property
    def hours_delivered(self) -> float:
        return self.minutes_delivered / 60

    @property
    def facilitator_hours(self) -> float:
        return self.facilitator_minutes / 60


@dataclasses.dataclass(frozen=True, slots=True)
class CentreFigures:
    summary: Figures
    groups: tuple[tuple[GroupInfo, Figures], ...]
    months: tuple[MonthFigures, ...]


def _facilitator_minutes(
    session: SessionFact, info: GroupInfo, recorded: Mapping[int, int]
) -> tuple[int, int]:
    """(minutes, of which estimated from the schedule) for one held session."""
    measured = recorded.get(session.id, 0)
    if measured > 0:
        return measured, 0
    people = info.facilitators or (1 if session.launched_by_id is not None else 0)
    estimate = session.minutes * people
    return estimate, estimate


@dataclasses.dataclass(slots=True)
class _MonthTally:
    sessions: int = 0
    minutes: int = 0
    participations: int = 0
    facilitator_minutes: int = 0
    rates: list[float] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(slots=True)
class _Tally:
    """Additive partial figures of one group, merged for the centre: each held session is
    visited once, however many lines of the report it counts in."""

    groups: int = 0
    sessions_held: int = 0
    cancelled: int = 0
    minutes: int = 0
    participations: int = 0
    erased_participations: int = 0
    erased_min: int = 0
    facilitator_minutes: int = 0
    facilitator_estimated: int = 0
    session_rates: list[float] = dataclasses.field(default_factory=list)
    attended_of: Counter[int] = dataclasses.field(default_factory=Counter)
    held_of: Counter[int] = dataclasses.field(default_factory=Counter)
    months: dict[dt.date, _MonthTally] = dataclasses.field(default_factory=dict)

    def add(self, other: _Tally) -> None:
        for name in (
            "groups",
            "sessions_held",
            "cancelled",
            "minutes",
            "participations",
            "erased_participations",
            "erased_min",
            "facilitator_minutes",
            "facilitator_estimated",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.session_rates += other.session_rates
        self.attended_of.update(other.attended_of)
        self.held_of.update(other.held_of)
        for month, m in other.months.items():
            mine = self.months.setdefault(month, _MonthTally())
            mine.sessions += m.sessions
            mine.minutes += m.minutes
            mine.participations += m.participations
            mine.facilitator_minutes += m.facilitator_minutes
            mine.rates += m.rates


def _tally(info: GroupInfo, fig: GroupFigures, facilitator_minutes: Mapping[int, int]) -> _Tally:
    t = _Tally()
    erased_max = 0
    for f in fig.sessions:
        s = f.session
        if not s.held:
            t.cancelled += s.status == "cancelled"
            continue
        spent, estimated = _facilitator_minutes(s, info, facilitator_minutes)
        r = f.rate
        t.sessions_held += 1
        t.minutes += s.minutes
        t.participations += f.headcount
        t.erased_participations += f.erased_attended
        t.facilitator_minutes += spent
        t.facilitator_estimated += estimated
        erased_max = max(erased_max, f.erased_attended)
        m = t.months.get(s.month)
        if m is None:
            m = t.months[s.month] = _MonthTally()
        m.sessions += 1
        m.minutes += s.minutes
        m.participations += f.headcount
        m.facilitator_minutes += spent
        if r is not None:
            t.session_rates.append(r)
            m.rates.append(r)
    t.groups = 1 if t.sessions_held else 0
    t.erased_min = erased_max
    for line in fig.lines:
        t.attended_of[line.parent_id] += line.attended
        t.held_of[line.parent_id] += line.held
    return t


def _figures(t: _Tally, *, threshold_percent: int, min_sessions: int) -> Figures:
    counted = [pid for pid, held in t.held_of.items() if held > 0]
    attended_of, held_of = t.attended_of, t.held_of
    parent_rates = [attended_of[pid] / held_of[pid] for pid in counted]
    return Figures(
        groups=t.groups,
        sessions_held=t.sessions_held,
        sessions_cancelled=t.cancelled,
        minutes_delivered=t.minutes,
        participations=t.participations,
        erased_participations=t.erased_participations,
        parents=len(counted),
        families_reached=sum(1 for pid in counted if attended_of[pid] >= 1),
        families_reached_n=sum(1 for pid in counted if attended_of[pid] >= min_sessions),
        erased_families_min=t.erased_min,
        regular_parents=sum(
            1 for pid in counted if is_regular(attended_of[pid], held_of[pid], threshold_percent)
        ),
        mean_parent_rate=mean(parent_rates),
        median_parent_rate=median(parent_rates),
        mean_session_rate=mean(t.session_rates),
        median_session_rate=median(t.session_rates),
        mean_headcount=t.participations / t.sessions_held if t.sessions_held else None,
        facilitator_minutes=t.facilitator_minutes,
        facilitator_minutes_estimated=t.facilitator_estimated,
    )


def figures_for_group(
    info: GroupInfo,
    figures: GroupFigures,
    facilitator_minutes: Mapping[int, int],
    *,
    threshold_percent: int,
    min_sessions: int = 6,
) -> Figures:
    return _figures(
        _tally(info, figures, facilitator_minutes),
        threshold_percent=threshold_percent,
        min_sessions=min_sessions,
    )


def _families_from_cells(figures: Iterable[GroupFigures]) -> dict[dt.date, int]:
    families: dict[dt.date, set[int]] = defaultdict(set)
    for fig in figures:
        months_of_column = [f.session.month for f in fig.sessions]
        for line in fig.lines:
            for month, cell in zip(months_of_column, line.cells, strict=True):
                if cell in ATTENDED:
                    families[month].add(line.parent_id)
    return {month: len(parents) for month, parents in families.items()}


def _months(t: _Tally, families_by_month: Mapping[dt.date, int]) -> tuple[MonthFigures, ...]:
    return tuple(
        MonthFigures(
            month=month,
            sessions_held=m.sessions,
            minutes_delivered=m.minutes,
            participations=m.participations,
            families_reached=families_by_month.get(month, 0),
            mean_session_rate=mean(m.rates),
            mean_headcount=m.participations / m.sessions,
            facilitator_minutes=m.facilitator_minutes,
        )
        for month, m in sorted(t.months.items())
    )


def centre_figures(
    groups: Sequence[GroupInfo],
    figures: Mapping[int, GroupFigures],
    facilitator_minutes: Mapping[int, int],
    *,
    threshold_percent: int,
    min_sessions: int,
    families_by_month: Mapping[dt.date, int] | None = None,
) -> CentreFigures:
    """The centre report: the whole centre, each group, each month.

    ``figures`` maps group ids to their ``group_figures`` (or ``group_figures_from_counts``);
    ``facilitator_minutes`` maps session ids to the minutes recorded in facilitator attendance
    rows. A parent in several groups is one family, with their counts added over the groups.
    Families per month (distinct parents who attended in that month) come from the matrix cells,
    or from ``families_by_month`` (counted in SQL) when the figures have no cells.
    """
    parts = [(info, figures[info.id]) for info in groups if info.id in figures]
    tallies = [(info, _tally(info, fig, facilitator_minutes)) for info, fig in parts]
    total = _Tally()
    for _, t in tallies:
        total.add(t)
    if families_by_month is None:
        families_by_month = _families_from_cells(fig for _, fig in parts)
    return CentreFigures(
        summary=_figures(total, threshold_percent=threshold_percent, min_sessions=min_sessions),
        groups=tuple(
            (info, _figures(t, threshold_percent=threshold_percent, min_sessions=min_sessions))
            for info, t in tallies
        ),
        months=_months(total, families_by_month),
    )


# --- Anonymous statistics ---------------------------------------------------------------------


def suppress_line(
    values: Sequence[int], total: int, *, threshold: int = SUPPRESSION_THRESHOLD
) -> tuple[list[bool], bool]:
    """Which cells of one line (and whether its total) to hide.

    Primary suppression hides every cell below ``threshold`` (zero included: the rule is simply
    "n < 5"). A hidden cell could still be recovered from the line's total and the other cells,
    so secondary suppression hides further cells, smallest first, until the hidden cells of the
    line are at least two *and* add up to at least ``threshold``; if no cell is left to hide, the
    total is hidden too. A total below the threshold is always hidden.

    Lines whose cells overlap (a group with two languages counts under both) do not add up to
    their total; they are protected the same way, which is more than they need.
    """
    hidden = [v < threshold for v in values]
    total_hidden = total < threshold
    while any(hidden) and not total_hidden:
        hidden_values = [v for v, h in zip(values, hidden, strict=True) if h]
        if len(hidden_values) >= 2 and sum(hidden_values) >= threshold:
            break
        candidates = [i for i, h in enumerate(hidden) if not h]
        if not candidates:
            total_hidden = True
            break
        hidden[min(candidates, key=lambda i: (values[i], i))] = True
    return hidden, total_hidden


STAT_MEASURES: Final = ("sessions_held", "participations", "families_reached")


@dataclasses.dataclass(frozen=True, slots=True)
class StatRow:
    key: str  # language code, municipality, "YYYY-MM"; "" for "not set"
    values: tuple[int | None, ...]  # one per STAT_MEASURES; None: suppressed (< 5)


@dataclasses.dataclass(frozen=True, slots=True)
class StatTable:
    dimension: str  # "language" | "municipality" | "month"
    rows: tuple[StatRow, ...]
    total: StatRow


@dataclasses.dataclass(frozen=True, slots=True)
class StatInput:
    """Counts from the database, before suppression (see ``services.statistics``).

    ``sessions`` and ``participations`` are keyed by (group id, month key); families are
    distinct parents, so they cannot be added up from groups and come pre-counted per month,
    per municipality and in total, plus the distinct (group id, parent id) pairs from which the
    per-language counts are taken.
    """

    groups: Mapping[int, tuple[str, tuple[str, ...]]]  # id -> (municipality, languages)
    sessions: Mapping[tuple[int, str], int]
    participations: Mapping[tuple[int, str], int]
    families_by_month: Mapping[str, int]
    families_by_municipality: Mapping[str, int]
    families_total: int
    group_parents: Iterable[tuple[int, int]]


def _table(dimension: str, counts: Mapping[str, list[int]], total: list[int]) -> StatTable:
    keys = sorted(counts)
    hidden_rows: list[list[bool]] = [[False] * len(STAT_MEASURES) for _ in keys]
    total_hidden: list[bool] = []
    for m in range(len(STAT_MEASURES)):
        hidden, hide_total = suppress_line([counts[k][m] for k in keys], total[m])
        for r, h in enumerate(hidden):
            hidden_rows[r][m] = h
        total_hidden.append(hide_total)

    def shown(values: list[int], hidden: list[bool]) -> tuple[int | None, ...]:
        return tuple(None if h else v for v, h in zip(values, hidden, strict=True))

    return StatTable(
        dimension=dimension,
        rows=tuple(StatRow(k, shown(counts[k], hidden_rows[i])) for i, k in enumerate(keys)),
        total=StatRow("", shown(total, total_hidden)),
    )


def build_statistics(data: StatInput) -> tuple[StatRow, tuple[StatTable, ...]]:
    """The overall line and the tables by language, municipality and month, suppressed.

    The overall line is the same in every table (it is each table's total); it is computed once
    and hidden everywhere when any table hides it, so that no table gives away what another hides.
    """
    total_sessions = sum(data.sessions.values())
    total_participations = sum(data.participations.values())
    total = [total_sessions, total_participations, data.families_total]

    by_language: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    by_municipality: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    by_month: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for index, counts in ((0, data.sessions), (1, data.participations)):
        for (group_id, month), n in counts.items():
            municipality, languages = data.groups[group_id]
            by_municipality[municipality][index] += n
            by_month[month][index] += n
            for language in languages or ("",):
                by_language[language][index] += n
    for month, n in data.families_by_month.items():
        by_month[month][2] = n
    for municipality, n in data.families_by_municipality.items():
        by_municipality[municipality][2] = n
    parents_by_language: dict[str, set[int]] = defaultdict(set)
    for group_id, parent_id in data.group_parents:
        for language in data.groups[group_id][1] or ("",):
            parents_by_language[language].add(parent_id)
    for language, parents in parents_by_language.items():
        by_language[language][2] = len(parents)

    tables = [
        _table("language", by_language, total),
        _table("municipality", by_municipality, total),
        _table("month", by_month, total),
    ]
    # One overall line for all tables: each table's total is the same number, so a total that
    # one table hides must not be shown by another.
    overall = tuple(
        None if any(t.total.values[m] is None for t in tables) else total[m] for m in range(len(total))
    )
    tables = [dataclasses.replace(t, total=StatRow("", overall)) for t in tables]
    return StatRow("", overall), tuple(tables)
