"""How sessions become EXDATEs, RDATEs and overrides, and which rules are refused."""

from __future__ import annotations

import datetime
from dataclasses import replace

import pytest

from calendars import FeedSeries
from calendars.recurrence import MAX_RULE_INSTANTS, plan_series, rule_instants

from .samples import weekly_series

FIRST = datetime.datetime(2025, 10, 7, 9, 30)


def _series(weeks: int = 6, **changes: object) -> FeedSeries:
    series = weekly_series(
        uid="s@x", first=FIRST, weeks=weeks, rrule="FREQ=WEEKLY;BYDAY=TU", summary="S", description="D"
    )
    return replace(series, **changes)  # type: ignore[arg-type]


def _week(n: int) -> datetime.datetime:
    return FIRST + datetime.timedelta(weeks=n)


def _without(series: FeedSeries, *weeks: int) -> FeedSeries:
    gone = {_week(n) for n in weeks}
    return replace(series, occurrences=tuple(o for o in series.occurrences if o.recurrence_local not in gone))


def _changed(series: FeedSeries, week: int, **changes: object) -> FeedSeries:
    occurrences = [
        replace(o, **changes) if o.recurrence_local == _week(week) else o  # type: ignore[arg-type]
        for o in series.occurrences
    ]
    return replace(series, occurrences=tuple(occurrences))


def test_rule_instants_keep_local_time_across_dst() -> None:
    instants = rule_instants(_series())
    assert instants == tuple(_week(n) for n in range(6))  # 26 Oct lies inside: still 09:30 local


def test_until_is_inclusive_and_bounds_the_rule() -> None:
    series = _series(until_local=_week(3))
    assert rule_instants(series)[-1] == _week(3)
    assert plan_series(series) is not None
    plan = plan_series(series)
    assert plan is not None
    assert plan.recur.until == datetime.datetime(2025, 10, 28, 8, 30, tzinfo=datetime.UTC)


def test_an_unchanged_series_has_no_exdates_rdates_or_overrides() -> None:
    plan = plan_series(_series())
    assert plan is not None
    assert (plan.exdates, plan.rdates, plan.overrides) == ((), (), ())


def test_rule_instants_without_session_become_exdates() -> None:
    plan = plan_series(_without(_series(), 0, 3))
    assert plan is not None
    assert plan.exdates == (_week(0), _week(3))
    assert plan.overrides == ()


def test_a_series_without_sessions_is_left_out() -> None:
    assert plan_series(_series(occurrences=())) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "cancelled"},
        {
            "start_local": _week(2) + datetime.timedelta(days=2),
            "end_local": _week(2) + datetime.timedelta(days=2, minutes=90),
        },
        {"end_local": _week(2) + datetime.timedelta(minutes=120)},
        {"summary": "Anderes Thema"},
        {"description": "Bitte Fotos mitbringen"},
        {"url": "https://rucksack.example/j/other"},
        {"location": "KiTa, Raum 2"},
        {"sequence": 5},
    ],
    ids=["cancelled", "moved", "longer", "summary", "description", "url", "location", "newer-sequence"],
)
def test_a_session_that_differs_from_the_master_becomes_an_override(changes: dict[str, object]) -> None:
    series = _changed(_series(), 2, **changes)
    plan = plan_series(series)
    assert plan is not None
    ((instant, occurrence),) = plan.overrides
    assert instant == _week(2)
    assert occurrence == series.occurrences[2]
    assert plan.exdates == ()  # never both EXDATE and override for one instant


@pytest.mark.parametrize("changes", [{"status": "live"}, {"status": "ended"}, {"sequence": 0}])
def test_live_ended_and_older_sessions_need_no_override(changes: dict[str, object]) -> None:
    plan = plan_series(_changed(_series(sequence=1), 2, **changes))
    assert plan is not None
    assert plan.overrides == ()


def test_a_session_the_rule_does_not_yield_becomes_an_rdate() -> None:
    series = _series()
    extra = replace(
        series.occurrences[0],
        recurrence_local=datetime.datetime(2025, 10, 9, 9, 30),
        start_local=datetime.datetime(2025, 10, 9, 9, 30),
        end_local=datetime.datetime(2025, 10, 9, 11, 0),
    )
    plan = plan_series(replace(series, occurrences=(*series.occurrences, extra)))
    assert plan is not None
    assert plan.rdates == (datetime.datetime(2025, 10, 9, 9, 30),)
    assert plan.overrides == ()


@pytest.mark.parametrize(
    ("rrule", "message"),
    [
        ("FREQ=WEEKLY;UNTIL=20260101T000000Z", "UNTIL or COUNT"),
        ("FREQ=WEEKLY;COUNT=10", "UNTIL or COUNT"),
        ("FREQ=WEEKLY;X-NAME=1", "unsupported RRULE parts"),
        ("FREQ=FORTNIGHTLY", "invalid RRULE"),
        ("garbage", "invalid RRULE"),
        ("FREQ=WEEKLY;BYDAY=WE", "not an instance"),
    ],
)
def test_bad_rules_are_refused_with_a_clear_error(rrule: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_series(_series(rrule=rrule))


def test_a_runaway_rule_is_refused() -> None:
    series = _series(rrule="FREQ=HOURLY", until_local=FIRST + datetime.timedelta(days=365))
    with pytest.raises(ValueError, match=str(MAX_RULE_INSTANTS)):
        plan_series(series)
