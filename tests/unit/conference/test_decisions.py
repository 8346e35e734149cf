"""The join and launch decisions as pure functions of the session, the clock and the settings."""

from __future__ import annotations

import datetime as dt

import pytest

from orchestrator.conference.decisions import (
    CLOCK_SKEW,
    JoinState,
    LaunchState,
    SessionFacts,
    Timing,
    decide_join,
    decide_launch,
    is_moved,
)
from orchestrator.settings import load_settings

START = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)  # 09:00 in Berlin
END = START + dt.timedelta(minutes=90)
TIMING = Timing(join_window=dt.timedelta(minutes=30), token_grace=dt.timedelta(minutes=60))
MIN = dt.timedelta(minutes=1)
SEC = dt.timedelta(seconds=1)


def facts(status: str = "scheduled", *, moved: bool = False) -> SessionFacts:
    return SessionFacts(status=status, starts_at=START, ends_at=END, moved=moved)


def join(
    status: str = "scheduled", at: dt.datetime = START, *, enrolled: bool = True, moved: bool = False
) -> JoinState:
    return decide_join(facts(status, moved=moved), enrolled=enrolled, now=at, timing=TIMING)


def test_timing_from_settings():
    timing = Timing.from_settings(load_settings({}).sessions)
    assert timing.join_window == dt.timedelta(minutes=30)
    assert timing.token_grace == dt.timedelta(minutes=60)
    assert timing.token_not_before(START) == START - dt.timedelta(minutes=30) - CLOCK_SKEW
    assert timing.token_expires(END) == END + dt.timedelta(minutes=60)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (START - dt.timedelta(days=3), JoinState.TOO_EARLY),
        (START - 30 * MIN - SEC, JoinState.TOO_EARLY),
        (START - 30 * MIN, JoinState.WAITING),  # the window opens exactly here
        (START, JoinState.WAITING),
        (END - SEC, JoinState.WAITING),
        (END, JoinState.EXPIRED),  # never started: nothing to wait for any more
    ],
)
def test_scheduled_session(at, expected):
    assert join("scheduled", at) is expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (START - 30 * MIN - SEC, JoinState.TOO_EARLY),  # a token minted now would not be valid yet
        (START - 30 * MIN, JoinState.LIVE),
        (END + 30 * MIN, JoinState.LIVE),  # running over: still inside the grace
        (END + 60 * MIN - SEC, JoinState.LIVE),
        (END + 60 * MIN, JoinState.EXPIRED),  # no valid token could be minted any more
    ],
)
def test_live_session(at, expected):
    assert join("live", at) is expected


@pytest.mark.parametrize("at", [START - dt.timedelta(days=1), START, END + dt.timedelta(days=1)])
def test_cancelled_and_ended_sessions_say_so_at_any_time(at):
    assert join("cancelled", at) is JoinState.CANCELLED
    assert join("ended", at) is JoinState.ENDED


def test_moved_session_before_its_window_says_it_has_a_new_time():
    assert join("scheduled", START - dt.timedelta(days=1), moved=True) is JoinState.MOVED
    # Inside the new window it behaves like any other session.
    assert join("scheduled", START, moved=True) is JoinState.WAITING
    assert join("live", START, moved=True) is JoinState.LIVE


@pytest.mark.parametrize("status", ["scheduled", "live", "ended", "cancelled"])
def test_not_enrolled_wins_over_everything(status):
    assert join(status, START, enrolled=False) is JoinState.NOT_ENROLLED


@pytest.mark.parametrize(
    ("status", "at", "expected"),
    [
        ("scheduled", START - 30 * MIN - SEC, LaunchState.TOO_EARLY),
        ("scheduled", START - 30 * MIN, LaunchState.START),
        ("scheduled", END - SEC, LaunchState.START),
        ("scheduled", END, LaunchState.EXPIRED),
        ("live", START, LaunchState.REENTER),
        ("live", END + 60 * MIN - SEC, LaunchState.REENTER),
        ("live", END + 60 * MIN, LaunchState.EXPIRED),
        ("ended", START, LaunchState.ENDED),
        ("cancelled", START, LaunchState.CANCELLED),
    ],
)
def test_launch(status, at, expected):
    assert decide_launch(facts(status), now=at, timing=TIMING) is expected


def test_token_window_contains_the_whole_join_window():
    # Whatever the decision allows, a token minted for it is valid at that moment.
    for minutes in range(-40, 160):
        at = START + dt.timedelta(minutes=minutes)
        if join("live", at) is JoinState.LIVE:
            assert TIMING.token_not_before(START) <= at < TIMING.token_expires(END)


def test_is_moved_compares_local_time_in_the_series_zone():
    # 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
    assert not is_moved(dt.datetime(2026, 12, 1, 9, 0), START, "Europe/Berlin")
    assert is_moved(dt.datetime(2026, 12, 1, 10, 0), START, "Europe/Berlin")
    summer = dt.datetime(2026, 6, 2, 7, 0, tzinfo=dt.UTC)
    assert not is_moved(dt.datetime(2026, 6, 2, 9, 0), summer, "Europe/Berlin")
    assert not is_moved(None, START, "Europe/Berlin")  # one-off sessions have no original time
