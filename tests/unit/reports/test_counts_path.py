"""The centre report counts in SQL; the matrix counts cells. Both must give the same figures.

``counts_from_marks`` below is what the SQL in ``services._parent_counts``,
``services._session_counts`` and ``services._families_by_month`` computes, written over the same
marks in Python; hypothesis then holds ``group_figures_from_counts`` against ``group_figures``.
(The SQL itself is checked against hand-worked numbers in tests/integration/test_reports.py.)
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.reports import aggregate as agg
from orchestrator.reports.aggregate import (
    ATTENDED,
    RECORDED,
    EnrolmentFact,
    GroupInfo,
    Mark,
    ParentCounts,
    SessionCounts,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
START = dt.datetime(2026, 9, 1, 7, 0, tzinfo=dt.UTC)
STATUSES = ("present", "partial", "absent", "excused")


def counts_from_marks(sessions, marks):
    by_id = {s.id: s for s in sessions}
    parents: dict[tuple[int, int], dict] = {}
    recorded: dict[int, set[int]] = defaultdict(set)
    per_session: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    families: dict[dt.date, set[int]] = defaultdict(set)
    for m in marks:
        s = by_id[m.session_id]
        counts = per_session[s.id]
        if m.parent_id is None:
            counts[1] += 1
            counts[2] += m.status in ATTENDED
            continue
        counts[0] += m.status in ATTENDED
        if not s.held:  # _parent_counts reads held sessions only
            continue
        c = parents.setdefault(
            (s.group_id, m.parent_id),
            {"rows": 0, "present": 0, "partial": 0, "excused": 0, "first": None, "last": None},
        )
        c["rows"] += 1
        if m.status in ("present", "partial", "excused"):
            c[m.status] += 1
        if m.status in RECORDED:
            recorded[m.parent_id].add(s.id)
            c["first"] = s.starts_at if c["first"] is None else min(c["first"], s.starts_at)
            c["last"] = s.starts_at if c["last"] is None else max(c["last"], s.starts_at)
        if m.status in ATTENDED:
            families[s.month].add(m.parent_id)
    parent_counts = [
        ParentCounts(
            g,
            p,
            c["rows"],
            c["present"],
            c["partial"],
            c["excused"],
            c["first"].astimezone(BERLIN).date() if c["first"] else None,
            c["last"],
        )
        for (g, p), c in parents.items()
    ]
    session_counts = {sid: SessionCounts(sid, *v) for sid, v in per_session.items()}
    return parent_counts, session_counts, {month: len(ps) for month, ps in families.items()}, recorded


@st.composite
def group_data(draw):
    n_sessions = draw(st.integers(0, 8))
    sessions = []
    for i in range(n_sessions):
        start = START + dt.timedelta(days=draw(st.integers(0, 120)), hours=draw(st.sampled_from([0, 16])))
        status = draw(st.sampled_from(["ended", "live", "scheduled", "cancelled"]))
        sessions.append(
            agg.session_fact(
                id=i + 1,
                group_id=1,
                starts_at=start,
                ends_at=start + dt.timedelta(minutes=draw(st.sampled_from([60, 90]))),
                status=status,
                zone=BERLIN,
                now=NOW,
                launched_by_id=draw(st.sampled_from([None, 9])),
            )
        )
    enrolments = []
    for parent in range(1, draw(st.integers(0, 5)) + 1):
        if draw(st.booleans()):
            on = (START + dt.timedelta(days=draw(st.integers(-10, 100)))).date()
            left = (
                START + dt.timedelta(days=draw(st.integers(0, 130)), hours=draw(st.integers(0, 23)))
                if draw(st.booleans())
                else None
            )
            breaks = []
            for _ in range(draw(st.integers(0, 2))):
                gone = START + dt.timedelta(days=draw(st.integers(-5, 125)), hours=draw(st.integers(0, 23)))
                back = gone + dt.timedelta(days=draw(st.integers(0, 40)), hours=draw(st.integers(0, 23)))
                breaks.append(agg.Break(gone, back.astimezone(BERLIN).date()))
            enrolments.append(EnrolmentFact(parent, 1, on, left, draw(st.booleans()), tuple(breaks)))
    marks = []
    for s in sessions:
        for parent in range(1, 7):  # parent 6 is never enrolled
            if draw(st.booleans()):
                marks.append(Mark(s.id, parent, draw(st.sampled_from(STATUSES))))
        for _ in range(draw(st.integers(0, 2))):
            marks.append(Mark(s.id, None, draw(st.sampled_from(STATUSES))))
    facilitators = {s.id: draw(st.sampled_from([0, 45, 90])) for s in sessions if draw(st.booleans())}
    return sessions, enrolments, marks, facilitators, draw(st.integers(0, 2))


@settings(max_examples=300, deadline=None)
@given(group_data(), st.integers(0, 100), st.integers(1, 4))
def test_counts_path_equals_cells_path(data, threshold, min_sessions):
    sessions, enrolments, marks, facilitators, assigned = data
    cells = agg.group_figures(1, sessions, enrolments, marks)
    parent_counts, session_counts, families, recorded = counts_from_marks(sessions, marks)
    counts = agg.group_figures_from_counts(1, sessions, enrolments, parent_counts, session_counts, recorded)

    def line(x):
        return (x.parent_id, x.held, x.present, x.partial, x.excused, x.enrolled)

    assert [line(x) for x in counts.lines] == [line(x) for x in cells.lines]
    assert [(f.session.id, f.headcount, f.expected, f.erased_attended) for f in counts.sessions] == [
        (f.session.id, f.headcount, f.expected, f.erased_attended) for f in cells.sessions
    ]
    info = [GroupInfo(1, "G", facilitators=assigned)]
    by_cells = agg.centre_figures(
        info, {1: cells}, facilitators, threshold_percent=threshold, min_sessions=min_sessions
    )
    by_counts = agg.centre_figures(
        info,
        {1: counts},
        facilitators,
        threshold_percent=threshold,
        min_sessions=min_sessions,
        families_by_month=families,
    )
    assert by_counts == by_cells
