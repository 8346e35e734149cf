"""``judge``: what the policy makes of recorded presence (shared by computation and re-judging)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from orchestrator.attendance.compute import Policy, judge, status_for

START = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
END = START + dt.timedelta(minutes=90)
POLICY = Policy(
    present_min_minutes=45,
    present_min_share=50,
    late_after_minutes=10,
    early_leave_minutes=10,
    clip_before_minutes=15,
    clip_after_minutes=30,
)


def at(minutes: float) -> dt.datetime:
    return START + dt.timedelta(minutes=minutes)


def test_late_and_early_are_judged_strictly_after_their_tolerance() -> None:
    assert judge(80, at(10), at(90), scheduled_start=START, scheduled_end=END, policy=POLICY) == (
        "present",
        False,
        False,
    )
    assert judge(79, at(10 + 1 / 60), at(80), scheduled_start=START, scheduled_end=END, policy=POLICY) == (
        "present",
        True,
        False,
    )
    assert (
        judge(79, at(0), at(80 - 1 / 60), scheduled_start=START, scheduled_end=END, policy=POLICY)[2] is True
    )


def test_no_presence_is_absent_and_neither_late_nor_early() -> None:
    assert judge(0, None, None, scheduled_start=START, scheduled_end=END, policy=POLICY) == (
        "absent",
        False,
        False,
    )


def test_someone_still_in_has_not_left_early() -> None:
    assert judge(20, at(0), None, scheduled_start=START, scheduled_end=END, policy=POLICY) == (
        "partial",
        False,
        False,
    )


@given(
    minutes=st.integers(min_value=0, max_value=200),
    present_min_minutes=st.integers(min_value=1, max_value=600),
    present_min_share=st.integers(min_value=1, max_value=100),
)
def test_the_status_is_the_policys_status_for_the_minutes(
    minutes: int, present_min_minutes: int, present_min_share: int
) -> None:
    policy = dataclasses.replace(
        POLICY, present_min_minutes=present_min_minutes, present_min_share=present_min_share
    )
    status, _, _ = judge(minutes, at(0), at(minutes), scheduled_start=START, scheduled_end=END, policy=policy)
    assert status == status_for(minutes, 90, policy)
