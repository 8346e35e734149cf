"""The report definitions, on plain facts: held sessions, windows, rates, medians, flags."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from orchestrator.reports import aggregate as agg
from orchestrator.reports.aggregate import EnrolmentFact, GroupInfo, Mark

BERLIN = ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)


def day(month: int, d: int) -> dt.datetime:
    return dt.datetime(2026, month, d, 8, 0, tzinfo=dt.UTC)


def session(sid: int, start: dt.datetime, *, status: str = "ended", minutes: int = 90, group: int = 1, **kw):
    return agg.session_fact(
        id=sid,
        group_id=group,
        starts_at=start,
        ends_at=start + dt.timedelta(minutes=minutes),
        status=status,
        zone=BERLIN,
        now=NOW,
        **kw,
    )


def enrolment(parent: int, on: dt.date, left: dt.datetime | None = None, group: int = 1) -> EnrolmentFact:
    return EnrolmentFact(parent, group, on, left)


# --- held -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "ends_at", "held"),
    [
        ("ended", NOW + dt.timedelta(days=1), True),  # ended early counts even if scheduled later
        ("live", NOW + dt.timedelta(hours=1), True),
        ("scheduled", NOW - dt.timedelta(minutes=1), True),  # in person, never launched online
        ("scheduled", NOW, True),
        ("scheduled", NOW + dt.timedelta(minutes=1), False),
        ("cancelled", NOW - dt.timedelta(days=3), False),
        ("cancelled", NOW + dt.timedelta(days=3), False),
    ],
)
def test_held(status, ends_at, held):
    assert agg.is_held(status, ends_at, NOW) is held


def test_session_fact_uses_the_local_date():
    # 23:30 UTC on 30 September is already 1 October in Berlin (CEST, UTC+2).
    s = session(1, dt.datetime(2026, 9, 30, 23, 30, tzinfo=dt.UTC))
    assert s.day == dt.date(2026, 10, 1)
    assert s.month == dt.date(2026, 10, 1)
    assert s.minutes == 90


# --- windows ----------------------------------------------------------------------------------


def test_window_from_enrolment_day_until_left():
    s1, s2, s3 = session(1, day(9, 8)), session(2, day(9, 15)), session(3, day(9, 22))
    w = agg.participation_window(enrolment(1, dt.date(2026, 9, 15), left=day(9, 20)), [])
    assert w is not None
    assert [w.contains(s) for s in (s1, s2, s3)] == [False, True, False]


def test_enrolment_on_the_session_day_includes_it():
    # Enrolled at 14:00 after a 10:00 session: the day counts (the enrolment is a date).
    s = session(1, day(9, 15))
    w = agg.participation_window(enrolment(1, dt.date(2026, 9, 15)), [])
    assert w is not None
    assert w.contains(s)


def test_recorded_sessions_widen_the_window():
    s1, s2, s3, s4 = (session(i, day(9, d)) for i, d in ((1, 1), (2, 8), (3, 15), (4, 22)))
    # Enrolled on 15 Sept, left on 16 Sept, but present on 8 Sept and excused on 22 Sept.
    w = agg.participation_window(enrolment(1, dt.date(2026, 9, 15), left=day(9, 16)), [s2, s4])
    assert w is not None
    assert [w.contains(s) for s in (s1, s2, s3, s4)] == [False, True, True, True]


def test_no_enrolment_window_spans_the_records():
    s1, s2, s3, s4 = (session(i, day(9, d)) for i, d in ((1, 1), (2, 8), (3, 15), (4, 22)))
    assert agg.participation_window(None, []) is None
    w = agg.participation_window(None, [s3, s2])
    assert w is not None
    assert [w.contains(s) for s in (s1, s2, s3, s4)] == [False, True, True, False]


def test_sessions_during_a_break_are_not_the_parents_unless_a_record_says_so():
    # Enrolled 1 Sep, left 30 Sep at 12:00 UTC, re-joined on 20 Oct (a Tuesday) at 09:00.
    sessions = [session(i + 1, day(9, 1) + dt.timedelta(weeks=i)) for i in range(10)]  # 1 Sep .. 3 Nov
    away = agg.Break(left_at=dt.datetime(2026, 9, 30, 12, 0, tzinfo=dt.UTC), back_on=dt.date(2026, 10, 20))
    fact = EnrolmentFact(1, 1, dt.date(2026, 9, 1), breaks=(away,))
    w = agg.participation_window(fact, [])
    assert w is not None
    assert [s.day.isoformat() for s in sessions if not w.contains(s)] == ["2026-10-06", "2026-10-13"]
    # The re-joining day itself counts, as the enrolment day does.
    assert sessions[7].day == dt.date(2026, 10, 20)
    assert w.contains(sessions[7])

    # Attended 1-22 Sep, nothing recorded on 29 Sep, and (a record in the break) on 6 Oct.
    marks = [Mark(s.id, 1, "present") for s in (*sessions[:4], sessions[5])]
    figures = agg.group_figures(1, sessions, [fact], marks)
    (line,) = figures.lines
    assert line.cells[4] == agg.NO_RECORD  # 29 Sep: still in the group, missed
    assert line.cells[5] == "present"  # 6 Oct: in the break, but the record counts
    assert line.cells[6] == agg.NOT_ENROLLED  # 13 Oct: away, nothing recorded
    assert (line.held, line.attended) == (9, 5)
    assert [f.expected for f in figures.sessions] == [1, 1, 1, 1, 1, 1, 0, 1, 1, 1]


# --- rates and flags --------------------------------------------------------------------------


def test_rate_and_regular_flag_are_exact():
    assert agg.rate(3, 4) == 0.75
    assert agg.rate(0, 0) is None
    assert agg.is_regular(7, 14, 50)
    assert not agg.is_regular(6, 14, 50)
    assert agg.is_regular(3, 4, 75)
    assert not agg.is_regular(2, 3, 67)  # 66.7 %
    assert agg.is_regular(0, 5, 0)
    assert not agg.is_regular(0, 0, 0)  # nothing held: never regular


def test_mean_and_median():
    assert agg.mean([]) is None
    assert agg.median([]) is None
    assert agg.median([0.25, 1.0, 0.5]) == 0.5
    assert agg.median([0.25, 1.0, 0.5, 0.75]) == 0.625
    assert agg.mean([0.25, 0.75]) == 0.5


def test_group_figures_counts_only_held_sessions_in_the_window():
    sessions = [
        session(1, day(9, 8)),
        session(2, day(9, 15)),
        session(3, day(9, 22), status="cancelled"),
        session(4, day(10, 6), status="scheduled"),  # past: held
        session(5, day(10, 13)),
        session(6, day(12, 15), status="scheduled"),  # future
    ]
    enrolments = [
        enrolment(1, dt.date(2026, 9, 1)),
        enrolment(2, dt.date(2026, 9, 1)),
        enrolment(3, dt.date(2026, 9, 10), left=day(10, 10)),
        enrolment(4, dt.date(2026, 10, 1)),
    ]
    marks = [
        Mark(1, 1, "present"),
        Mark(2, 1, "partial"),
        Mark(3, 1, "present"),  # cancelled session: ignored
        Mark(4, 1, "present"),
        Mark(5, 1, "absent"),
        Mark(1, 2, "absent"),
        Mark(2, 2, "excused"),
        Mark(5, 2, "present"),
        Mark(2, 3, "present"),
        Mark(4, 3, "present"),
        Mark(5, 3, "absent"),  # after leaving: ignored
        Mark(2, 4, "present"),  # before the enrolment date: widens the window
        Mark(4, 4, "absent"),
        Mark(5, 4, "present"),
        Mark(1, None, "present"),  # erased parents
        Mark(2, None, "present"),
        Mark(5, None, "absent"),
        Mark(99, 1, "present"),  # another group's session
    ]
    fig = agg.group_figures(1, sessions, enrolments, marks)
    lines = {line.parent_id: line for line in fig.lines}
    assert lines[1].cells == ("present", "partial", "cancelled", "present", "absent", "upcoming")
    assert lines[2].cells == ("absent", "excused", "cancelled", "none", "present", "upcoming")
    assert lines[3].cells == ("not_enrolled", "present", "cancelled", "present", "not_enrolled", "upcoming")
    assert lines[4].cells == ("not_enrolled", "present", "cancelled", "absent", "present", "upcoming")
    assert [(lines[p].attended, lines[p].held) for p in (1, 2, 3, 4)] == [(3, 4), (1, 4), (2, 2), (2, 3)]
    assert lines[2].excused == 1
    assert lines[2].not_attended == 2
    assert lines[1].partial == 1
    assert lines[1].present == 2
    assert lines[1].rate == 0.75
    assert [lines[p].regular(75) for p in (1, 2, 3, 4)] == [True, False, True, False]

    by_id = {f.session.id: f for f in fig.sessions}
    assert [(by_id[i].headcount, by_id[i].expected) for i in (1, 2, 4, 5)] == [(2, 3), (4, 5), (2, 4), (2, 4)]
    assert (by_id[3].headcount, by_id[3].expected) == (0, 0)
    assert by_id[6].rate is None
    assert fig.erased_cells == (1, 1, None, 0, 0, None)


def test_excused_stays_in_the_denominator():
    sessions = [session(i, day(9, 1 + 7 * i)) for i in range(4)]
    marks = [Mark(0, 1, "present"), Mark(1, 1, "excused"), Mark(2, 1, "excused"), Mark(3, 1, "present")]
    fig = agg.group_figures(1, sessions, [enrolment(1, dt.date(2026, 9, 1))], marks)
    (line,) = fig.lines
    assert (line.attended, line.excused, line.held, line.rate) == (2, 2, 4, 0.5)


def test_an_excuse_ahead_shows_in_the_coming_session_and_counts_nowhere():
    sessions = [session(1, day(9, 8)), session(2, day(12, 15), status="scheduled")]  # 2: future
    marks = [Mark(1, 1, "present"), Mark(2, 1, "excused")]
    fig = agg.group_figures(1, sessions, [enrolment(1, dt.date(2026, 9, 1))], marks)
    (line,) = fig.lines
    assert line.cells == ("present", "excused")
    assert (line.attended, line.excused, line.held) == (1, 0, 1)
    assert fig.sessions[1].expected == 0


def test_only_absent_rows_without_enrolment_are_not_a_member():
    sessions = [session(1, day(9, 8))]
    fig = agg.group_figures(1, sessions, [], [Mark(1, 7, "absent")])
    assert fig.lines == ()
    assert fig.sessions[0].expected == 0


def test_erased_rows_count_in_headcount_but_have_no_rate():
    sessions = [session(1, day(9, 8)), session(2, day(9, 15))]
    marks = [
        Mark(1, None, "present"),
        Mark(1, None, "partial"),
        Mark(2, None, "present"),
        Mark(2, None, "absent"),
    ]
    fig = agg.group_figures(1, sessions, [], marks)
    assert fig.lines == ()
    assert [(f.headcount, f.expected) for f in fig.sessions] == [(2, 2), (1, 2)]
    figures = agg.figures_for_group(GroupInfo(1, "G"), fig, {}, threshold_percent=50)
    assert figures.participations == 3
    assert figures.erased_participations == 3
    assert figures.families_reached == 0
    assert figures.erased_families_min == 2  # two erased parents attended session 1 together
    assert figures.parents == 0
    assert figures.mean_parent_rate is None
    assert figures.mean_session_rate == 0.75


def test_anonymised_parent_counts_and_erased_parent_does_not_count_twice():
    sessions = [session(1, day(9, 8)), session(2, day(9, 15))]
    enrolments = [
        # Retention anonymised parent 1: their rows keep the id, so they are one family.
        EnrolmentFact(1, 1, dt.date(2026, 9, 1), day(11, 20), erased=True),
        # Erasure cleared parent 2's rows: the enrolment must not make them expected as well.
        EnrolmentFact(2, 1, dt.date(2026, 9, 1), day(11, 20), erased=True),
    ]
    marks = [Mark(1, 1, "present"), Mark(2, 1, "absent"), Mark(1, None, "present"), Mark(2, None, "present")]
    fig = agg.group_figures(1, sessions, enrolments, marks)
    assert [(line.parent_id, line.attended, line.held) for line in fig.lines] == [(1, 1, 2)]
    assert [(f.headcount, f.expected) for f in fig.sessions] == [(2, 2), (1, 2)]


# --- centre figures ---------------------------------------------------------------------------


def _centre() -> tuple[list[GroupInfo], dict[int, agg.GroupFigures], dict[int, int]]:
    g1 = [
        session(1, day(9, 8), launched_by_id=5),
        session(2, day(9, 15)),
        session(3, day(9, 22), status="cancelled"),
        session(4, day(10, 6), status="scheduled"),
    ]
    g2 = [
        session(11, day(10, 20), minutes=60, group=2, launched_by_id=5),
        session(12, day(11, 3), minutes=60, group=2),
    ]
    f1 = agg.group_figures(
        1,
        g1,
        [enrolment(1, dt.date(2026, 9, 1)), enrolment(2, dt.date(2026, 9, 1))],
        [Mark(1, 1, "present"), Mark(2, 1, "present"), Mark(4, 1, "absent"), Mark(2, 2, "partial")],
    )
    f2 = agg.group_figures(
        2,
        g2,
        [enrolment(1, dt.date(2026, 10, 1), group=2), enrolment(3, dt.date(2026, 10, 1), group=2)],
        [Mark(11, 1, "present"), Mark(12, 1, "present"), Mark(12, 3, "present"), Mark(11, None, "present")],
    )
    infos = [GroupInfo(1, "A", facilitators=2), GroupInfo(2, "B", facilitators=0)]
    # Session 1: recorded minutes; 2: a facilitator row with 0 minutes; 4, 11, 12: no rows.
    return infos, {1: f1, 2: f2}, {1: 80, 2: 0}


def test_centre_figures_summary():
    infos, figures, fac = _centre()
    report = agg.centre_figures(infos, figures, fac, threshold_percent=50, min_sessions=3)
    s = report.summary
    assert (s.groups, s.sessions_held, s.sessions_cancelled) == (2, 5, 1)
    assert s.minutes_delivered == 3 * 90 + 2 * 60
    assert s.hours_delivered == 6.5
    # Headcounts: s1 1, s2 2, s4 0, s11 2 (one erased), s12 2.
    assert s.participations == 7
    assert s.erased_participations == 1
    assert s.erased_families_min == 1
    # Parent 1: 2 of 3 in A + 2 of 2 in B = 4 of 5; parent 2: 1 of 3; parent 3: 1 of 2.
    assert s.parents == 3
    assert s.families_reached == 3
    assert s.families_reached_n == 1
    assert s.regular_parents == 2  # 80 % and 50 %; 33 % is not
    assert s.mean_parent_rate == pytest.approx((0.8 + 1 / 3 + 0.5) / 3)
    assert s.median_parent_rate == pytest.approx(0.5)
    # Session rates: s1 1/2, s2 2/2, s4 0/2, s11 2/3, s12 2/2.
    assert s.mean_session_rate == pytest.approx((0.5 + 1 + 0 + 2 / 3 + 1) / 5)
    assert s.median_session_rate == pytest.approx(2 / 3)
    assert s.mean_headcount == pytest.approx(7 / 5)
    # Facilitators: s1 80 recorded; s2, s4 none recorded -> 90 x 2 assigned; s11 launched, none
    # assigned -> 60 x 1; s12 nobody -> 0.
    assert s.facilitator_minutes == 80 + 180 + 180 + 60
    assert s.facilitator_minutes_estimated == 180 + 180 + 60


def test_centre_figures_groups_and_months():
    infos, figures, fac = _centre()
    report = agg.centre_figures(infos, figures, fac, threshold_percent=50, min_sessions=3)
    (a_info, a), (b_info, b) = report.groups
    assert (a_info.name, a.sessions_held, a.participations, a.families_reached) == ("A", 3, 3, 2)
    assert (b_info.name, b.sessions_held, b.participations, b.families_reached) == ("B", 2, 4, 2)
    assert a.mean_parent_rate == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert [m.month for m in report.months] == [
        dt.date(2026, 9, 1),
        dt.date(2026, 10, 1),
        dt.date(2026, 11, 1),
    ]
    sep, oct_, nov = report.months
    assert (sep.sessions_held, sep.participations, sep.families_reached, sep.minutes_delivered) == (
        2,
        3,
        2,
        180,
    )
    assert (oct_.sessions_held, oct_.participations, oct_.families_reached) == (2, 2, 1)
    assert oct_.mean_session_rate == pytest.approx((0 + 2 / 3) / 2)
    assert (nov.sessions_held, nov.participations, nov.families_reached, nov.mean_session_rate) == (
        1,
        2,
        2,
        1.0,
    )
    assert sep.facilitator_minutes == 80 + 180


def test_a_group_without_sessions_has_zeros():
    report = agg.centre_figures(
        [GroupInfo(1, "Empty")],
        {1: agg.group_figures(1, [], [], [])},
        {},
        threshold_percent=50,
        min_sessions=6,
    )
    ((_, f),) = report.groups
    assert (f.groups, f.sessions_held, f.participations, f.mean_headcount, f.mean_parent_rate) == (
        0,
        0,
        0,
        None,
        None,
    )
    assert report.months == ()
