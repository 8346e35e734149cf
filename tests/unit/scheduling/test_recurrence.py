"""Expanding series rules: local wall time across DST, closures, limits and clear errors."""

from __future__ import annotations

import datetime as dt

import pytest
from dateutil import rrule as du
from hypothesis import given, settings
from hypothesis import strategies as st
from ical.types.recur import Recur

from orchestrator.i18n import language_scope
from orchestrator.scheduling.recurrence import (
    MAX_OCCURRENCES,
    MAX_SPAN_DAYS,
    RecurrenceError,
    expand,
    normalise_rule,
    to_local,
    to_utc,
)

BERLIN = "Europe/Berlin"
UTC = dt.UTC


@pytest.fixture(autouse=True)
def english():
    with language_scope("en"):
        yield


def weekly(rule="FREQ=WEEKLY", *, start=dt.datetime(2026, 9, 1, 9, 0), until=dt.date(2027, 6, 30), **kw):
    kw.setdefault("duration", dt.timedelta(minutes=90))
    return expand(rule, dtstart_local=start, timezone=BERLIN, until=until, **kw)


def by_day(expansion):
    return {o.recurrence_local.date(): o for o in expansion.occurrences}


# --- daylight saving time ------------------------------------------------------------------------


def test_a_tuesday_series_keeps_its_local_time_across_the_october_change():
    # The last Sunday of October 2026 is the 25th: CEST (+02:00) ends.
    exp = weekly()
    days = by_day(exp)
    before, after = days[dt.date(2026, 10, 20)], days[dt.date(2026, 10, 27)]
    assert before.recurrence_local.time() == after.recurrence_local.time() == dt.time(9, 0)
    assert before.start == dt.datetime(2026, 10, 20, 7, 0, tzinfo=UTC)
    assert after.start == dt.datetime(2026, 10, 27, 8, 0, tzinfo=UTC)
    assert to_local(after.start, BERLIN) == dt.datetime(2026, 10, 27, 9, 0)


def test_a_tuesday_series_keeps_its_local_time_across_the_march_change():
    # The last Sunday of March 2027 is the 28th: CEST begins.
    days = by_day(weekly())
    before, after = days[dt.date(2027, 3, 23)], days[dt.date(2027, 3, 30)]
    assert before.start == dt.datetime(2027, 3, 23, 8, 0, tzinfo=UTC)
    assert after.start == dt.datetime(2027, 3, 30, 7, 0, tzinfo=UTC)
    assert to_local(before.start, BERLIN).time() == to_local(after.start, BERLIN).time() == dt.time(9, 0)


def test_every_occurrence_of_a_year_is_at_nine_local_and_lasts_ninety_minutes():
    exp = weekly()
    assert len(exp.occurrences) == 44
    assert {to_local(o.start, BERLIN).time() for o in exp.occurrences} == {dt.time(9, 0)}
    assert {o.end - o.start for o in exp.occurrences} == {dt.timedelta(minutes=90)}
    assert {o.start.hour for o in exp.occurrences} == {7, 8}  # summer and winter in UTC


def test_a_time_in_the_spring_gap_moves_forward_by_the_gap_and_keeps_its_recurrence_id():
    exp = expand(
        "FREQ=WEEKLY;BYDAY=SU",
        dtstart_local=dt.datetime(2027, 3, 21, 2, 30),
        timezone=BERLIN,
        until=dt.date(2027, 4, 4),
        duration=dt.timedelta(minutes=60),
    )
    gap = by_day(exp)[dt.date(2027, 3, 28)]
    assert gap.recurrence_local == dt.datetime(2027, 3, 28, 2, 30)
    assert gap.start == dt.datetime(2027, 3, 28, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert to_local(gap.start, BERLIN) == dt.datetime(2027, 3, 28, 3, 30)
    assert gap.end - gap.start == dt.timedelta(minutes=60)
    # The Sundays around it are at 02:30 local as usual.
    assert to_local(by_day(exp)[dt.date(2027, 4, 4)].start, BERLIN).time() == dt.time(2, 30)


def test_an_ambiguous_time_in_the_autumn_takes_the_first_occurrence():
    start = to_utc(dt.datetime(2026, 10, 25, 2, 30), BERLIN)
    assert start == dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, not CET


def test_a_session_across_the_change_lasts_its_duration_in_elapsed_time():
    exp = expand(
        "FREQ=WEEKLY;BYDAY=SU",
        dtstart_local=dt.datetime(2026, 10, 25, 1, 30),
        timezone=BERLIN,
        until=dt.date(2026, 10, 25),
        duration=dt.timedelta(minutes=120),
    )
    (only,) = exp.occurrences
    assert only.end - only.start == dt.timedelta(minutes=120)


# --- rules ---------------------------------------------------------------------------------------


def test_several_weekdays():
    exp = weekly("FREQ=WEEKLY;BYDAY=TU,TH", until=dt.date(2026, 9, 30))
    assert [o.recurrence_local.day for o in exp.occurrences] == [1, 3, 8, 10, 15, 17, 22, 24, 29]
    assert {o.recurrence_local.time() for o in exp.occurrences} == {dt.time(9, 0)}


def test_every_second_week():
    exp = weekly("FREQ=WEEKLY;INTERVAL=2", until=dt.date(2026, 10, 31))
    assert [o.recurrence_local.date() for o in exp.occurrences] == [
        dt.date(2026, 9, 1),
        dt.date(2026, 9, 15),
        dt.date(2026, 9, 29),
        dt.date(2026, 10, 13),
        dt.date(2026, 10, 27),
    ]


def test_the_series_starts_at_the_first_instance_on_or_after_the_requested_start():
    exp = weekly("FREQ=WEEKLY;BYDAY=TH", start=dt.datetime(2026, 9, 1, 9, 0))  # a Tuesday
    assert exp.first_start_local == dt.datetime(2026, 9, 3, 9, 0)
    assert exp.occurrences[0].recurrence_local == exp.first_start_local


def test_the_last_day_is_included():
    exp = weekly(until=dt.date(2026, 9, 15))
    assert exp.occurrences[-1].recurrence_local == dt.datetime(2026, 9, 15, 9, 0)


def test_monthly_rules_expand_too():
    exp = weekly("FREQ=MONTHLY;BYDAY=-1FR", until=dt.date(2026, 12, 31))
    assert [o.recurrence_local.date() for o in exp.occurrences] == [
        dt.date(2026, 9, 25),
        dt.date(2026, 10, 30),
        dt.date(2026, 11, 27),
        dt.date(2026, 12, 25),
    ]


def test_rules_are_normalised():
    assert normalise_rule(" rrule:freq=weekly;byday=tu; ") == "FREQ=WEEKLY;BYDAY=TU"
    assert weekly("freq=weekly;byday=tu").rule == "FREQ=WEEKLY;BYDAY=TU"


def test_leap_days_expand_in_their_years():
    exp = expand(
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
        dtstart_local=dt.datetime(2027, 1, 1, 9, 0),
        timezone=BERLIN,
        until=dt.date(2029, 12, 31),
        duration=dt.timedelta(minutes=90),
    )
    assert [o.recurrence_local.date() for o in exp.occurrences] == [dt.date(2028, 2, 29)]


RULES = [
    "FREQ=WEEKLY",
    "FREQ=WEEKLY;BYDAY=MO,WE",
    "FREQ=WEEKLY;INTERVAL=3;BYDAY=FR",
    "FREQ=DAILY;INTERVAL=9",
    "FREQ=MONTHLY;BYMONTHDAY=31",
    "FREQ=MONTHLY;BYDAY=2TU",
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
    "FREQ=YEARLY;BYWEEKNO=1,20,53;BYDAY=TH",
    "FREQ=YEARLY;BYYEARDAY=60,366",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
    "FREQ=WEEKLY;WKST=SU;INTERVAL=2;BYDAY=SU,MO",
]


@settings(max_examples=150, deadline=None)
@given(
    rule=st.sampled_from(RULES),
    start=st.dates(min_value=dt.date(1995, 1, 1), max_value=dt.date(2105, 12, 31)),
    days=st.integers(min_value=0, max_value=MAX_SPAN_DAYS),
)
def test_expansion_matches_dateutil_directly(rule, start, days):
    """Expansion happens in far-away years with the same calendar; it must equal the direct one."""
    dtstart = dt.datetime.combine(start, dt.time(9, 0))
    until = start + dt.timedelta(days=days)
    direct = list(
        Recur.from_rrule(rule).as_rrule(dtstart).replace(until=dt.datetime.combine(until, dt.time.max))
    )
    if not direct or len(direct) > MAX_OCCURRENCES:
        with pytest.raises(RecurrenceError):
            expand(
                rule, dtstart_local=dtstart, timezone=BERLIN, until=until, duration=dt.timedelta(minutes=30)
            )
        return
    exp = expand(rule, dtstart_local=dtstart, timezone=BERLIN, until=until, duration=dt.timedelta(minutes=30))
    assert list(exp.instants) == direct


def test_dateutil_really_is_what_ical_uses():
    assert isinstance(Recur.from_rrule("FREQ=WEEKLY").as_rrule(dt.datetime(2026, 9, 1)), du.rrule)


# --- closures ------------------------------------------------------------------------------------


def test_closure_days_are_skipped_but_remain_rule_instants():
    closures = {dt.date(2026, 12, 22), dt.date(2026, 12, 29), dt.date(2026, 12, 30)}
    exp = weekly(closures=closures)
    assert dt.date(2026, 12, 22) not in by_day(exp)
    assert dt.date(2026, 12, 29) not in by_day(exp)
    assert exp.skipped == (dt.date(2026, 12, 22), dt.date(2026, 12, 29))
    assert len(exp.instants) == 44
    assert len(exp.occurrences) == 42


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("", "empty"),
        ("WEEKLY", "NAME=VALUE"),
        ("FREQ=WEEKLY;", None),  # a trailing separator is fine
        ("FREQ=FORTNIGHTLY", "FREQ"),
        ("FREQ=WEEKLY;BYDAY=XX", "BYDAY"),
        ("FREQ=WEEKLY;INTERVAL=0", "INTERVAL"),
        ("FREQ=WEEKLY;INTERVAL=two", "INTERVAL"),
        ("FREQ=WEEKLY;BYDAY=TU=WE", "NAME=VALUE"),
        ("FREQ=WEEKLY;BYDAY=TU;BYDAY=WE", "BYDAY"),
        ("FREQ=WEEKLY;FOO=BAR", "FOO"),
        ("INTERVAL=2", "FREQ"),
        ("FREQ=WEEKLY;COUNT=10", "COUNT"),
        ("FREQ=WEEKLY;UNTIL=20270630T000000Z", "UNTIL"),
        ("FREQ=WEEKLY;DTSTART=20260901T090000", "DTSTART"),
        ("FREQ=HOURLY;INTERVAL=168", "DAILY"),
        ("FREQ=MINUTELY", "DAILY"),
    ],
)
def test_invalid_rules_are_refused_naming_the_problem(rule, expected):
    if expected is None:
        assert weekly(rule).rule == "FREQ=WEEKLY"
        return
    with pytest.raises(RecurrenceError) as err:
        weekly(rule)
    assert expected.lower() in err.value.message.lower()
    assert err.value.field == "rrule"


def test_a_rule_that_yields_nothing_is_refused():
    with pytest.raises(RecurrenceError) as err:
        weekly("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30")
    assert "no session" in err.value.message


def test_a_rule_that_never_matches_is_refused_quickly():
    import time

    began = time.perf_counter()
    with pytest.raises(RecurrenceError):
        weekly("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", until=dt.date(2029, 6, 30))
    # Without the calendar shift dateutil searched to the year 9999 for seconds.
    assert time.perf_counter() - began < 0.5


def test_a_rule_with_too_many_sessions_is_refused_naming_the_limit():
    with pytest.raises(RecurrenceError) as err:
        weekly("FREQ=DAILY")
    assert str(MAX_OCCURRENCES) in err.value.message
    # Exactly the limit is fine.
    exp = weekly(
        "FREQ=DAILY",
        until=dt.date(2026, 9, 1) + dt.timedelta(days=MAX_OCCURRENCES - 1),
        duration=dt.timedelta(minutes=60),
    )
    assert len(exp.instants) == MAX_OCCURRENCES


def test_a_series_that_ends_before_it_starts_is_refused():
    with pytest.raises(RecurrenceError) as err:
        weekly(until=dt.date(2026, 8, 31))
    assert "2026-08-31" in err.value.message
    assert "2026-09-01" in err.value.message
    assert err.value.field == "until"


def test_a_series_longer_than_the_span_is_refused():
    with pytest.raises(RecurrenceError) as err:
        weekly(until=dt.date(2030, 9, 1))
    assert str(MAX_SPAN_DAYS) in err.value.message


def test_overlapping_sessions_are_refused():
    with pytest.raises(RecurrenceError) as err:
        weekly("FREQ=DAILY", until=dt.date(2026, 9, 10), duration=dt.timedelta(hours=25))
    # 25 hours is also beyond the 600-minute limit; within it, BYHOUR makes two sessions a day.
    assert err.value.field == "duration_minutes"
    with pytest.raises(RecurrenceError) as err:
        weekly("FREQ=WEEKLY;BYHOUR=9,10", until=dt.date(2026, 9, 10), duration=dt.timedelta(minutes=90))
    assert "overlap" in err.value.message


@pytest.mark.parametrize("minutes", [0, -5, 601])
def test_durations_outside_the_limits_are_refused(minutes):
    with pytest.raises(RecurrenceError) as err:
        weekly(duration=dt.timedelta(minutes=minutes))
    assert err.value.field == "duration_minutes"


def test_unknown_zones_and_aware_starts_are_refused():
    with pytest.raises(RecurrenceError) as err:
        expand(
            "FREQ=WEEKLY",
            dtstart_local=dt.datetime(2026, 9, 1, 9),
            timezone="Europe/Bonn",
            until=dt.date(2027, 1, 1),
            duration=dt.timedelta(minutes=90),
        )
    assert err.value.field == "timezone"
    with pytest.raises(RecurrenceError) as err:
        weekly(start=dt.datetime(2026, 9, 1, 9, tzinfo=UTC))
    assert err.value.field == "first_start_local"


def test_dates_far_away_are_refused():
    with pytest.raises(RecurrenceError):
        weekly(start=dt.datetime(9998, 1, 1, 9), until=dt.date(9999, 1, 1))
    with pytest.raises(RecurrenceError):
        weekly(start=dt.datetime(1, 1, 1, 9), until=dt.date(1, 2, 1))
