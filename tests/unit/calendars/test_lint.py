"""The lint accepts our feeds and catches each rule it is meant to enforce.

The broken inputs are small hand-made feeds, each breaking exactly one rule, so a lint that stops
noticing a problem fails here instead of silently passing the web tier's served feeds.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from calendars import Feed, render_feed

from .lint import assert_lint_clean, lint_ics
from .samples import benchmark_feed, golden_feed

VTIMEZONE = [
    "BEGIN:VTIMEZONE",
    "TZID:Europe/Berlin",
    "BEGIN:STANDARD",
    "DTSTART:20101031T030000",
    "TZOFFSETFROM:+0200",
    "TZOFFSETTO:+0100",
    "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10",
    "END:STANDARD",
    "BEGIN:DAYLIGHT",
    "DTSTART:20100328T020000",
    "TZOFFSETFROM:+0100",
    "TZOFFSETTO:+0200",
    "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3",
    "END:DAYLIGHT",
    "END:VTIMEZONE",
]
MASTER = [
    "BEGIN:VEVENT",
    "UID:s1",
    "DTSTAMP:20250901T080000Z",
    "DTSTART;TZID=Europe/Berlin:20251007T093000",
    "DTEND;TZID=Europe/Berlin:20251007T110000",
    "RRULE:FREQ=WEEKLY;UNTIL=20251104T083000Z",
    "SUMMARY:Gruppe",
    "END:VEVENT",
]
OVERRIDE = [
    "BEGIN:VEVENT",
    "UID:s1",
    "DTSTAMP:20250901T080000Z",
    "RECURRENCE-ID;TZID=Europe/Berlin:20251014T093000",
    "DTSTART;TZID=Europe/Berlin:20251016T150000",
    "DTEND;TZID=Europe/Berlin:20251016T163000",
    "SUMMARY:Gruppe",
    "END:VEVENT",
]


def _calendar(*components: list[str], ending: str = "\r\n") -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN"]
    for component in components:
        lines.extend(component)
    lines.append("END:VCALENDAR")
    return (ending.join(lines) + ending).encode("utf-8")


def _replace(component: list[str], prefix: str, line: str) -> list[str]:
    return [line if existing.startswith(prefix) else existing for existing in component]


def test_a_correct_hand_made_feed_is_clean() -> None:
    assert lint_ics(_calendar(VTIMEZONE, MASTER, OVERRIDE)) == []


@pytest.mark.parametrize("feed", [golden_feed, benchmark_feed])
def test_our_feeds_are_clean(feed: Callable[[], Feed]) -> None:
    assert_lint_clean(render_feed(feed()))


def _only(problems: list[str], fragment: str) -> None:
    assert problems, "the lint found nothing"
    assert all(fragment in problem for problem in problems), problems


def test_catches_lf_line_endings() -> None:
    problems = lint_ics(_calendar(VTIMEZONE, MASTER, ending="\n"))
    assert any("bare LF" in p for p in problems)
    assert any("CRLF" in p for p in problems)


def test_catches_a_bare_cr() -> None:
    broken = _replace(MASTER, "SUMMARY", "SUMMARY:Grup\rpe")
    assert any("bare CR" in p for p in lint_ics(_calendar(VTIMEZONE, broken)))


def test_catches_a_long_line() -> None:
    broken = _replace(MASTER, "SUMMARY", "SUMMARY:" + "x" * 70)
    _only(lint_ics(_calendar(VTIMEZONE, broken)), "octets")


def test_catches_a_fold_inside_a_character() -> None:
    # "ж" is D0 B6; this fold puts its two octets on different lines.
    data = _calendar(VTIMEZONE, MASTER).replace(b"SUMMARY:Gruppe", b"SUMMARY:Gruppe \xd0\r\n \xb6")
    problems = lint_ics(data)
    assert any("not valid UTF-8 on its own" in p for p in problems)


def test_catches_invalid_utf8() -> None:
    data = _calendar(VTIMEZONE, MASTER).replace(b"SUMMARY:Gruppe", b"SUMMARY:Gr\xffppe")
    assert any("invalid UTF-8" in p for p in lint_ics(data))


def test_catches_a_control_character() -> None:
    broken = _replace(MASTER, "SUMMARY", "SUMMARY:Grup\x07pe")
    assert any("control character" in p for p in lint_ics(_calendar(VTIMEZONE, broken)))


def test_catches_a_tzid_without_vtimezone() -> None:
    _only(lint_ics(_calendar(MASTER)), "has no VTIMEZONE")


def test_catches_vtimezone_after_the_events() -> None:
    _only(lint_ics(_calendar(MASTER, VTIMEZONE)), "after the first VEVENT")


@pytest.mark.parametrize(
    "recurrence_id",
    [
        "RECURRENCE-ID:20251014T093000",  # floating
        "RECURRENCE-ID:20251014T073000Z",  # UTC
        "RECURRENCE-ID;VALUE=DATE:20251014",  # DATE
        "RECURRENCE-ID;TZID=Europe/London:20251014T083000",  # another zone
    ],
)
def test_catches_a_recurrence_id_of_another_form(recurrence_id: str) -> None:
    london = [line.replace("Europe/Berlin", "Europe/London") for line in VTIMEZONE]
    broken = _replace(OVERRIDE, "RECURRENCE-ID", recurrence_id)
    _only(lint_ics(_calendar(VTIMEZONE, london, MASTER, broken)), "differs from DTSTART")


def test_catches_an_exdate_for_an_overridden_instance() -> None:
    master = [*MASTER[:-1], "EXDATE;TZID=Europe/Berlin:20251014T093000", "END:VEVENT"]
    _only(lint_ics(_calendar(VTIMEZONE, master, OVERRIDE)), "also an EXDATE")


def test_catches_an_exdate_in_utc_for_an_overridden_instance() -> None:
    master = [*MASTER[:-1], "EXDATE:20251014T073000Z", "END:VEVENT"]
    _only(lint_ics(_calendar(VTIMEZONE, master, OVERRIDE)), "also an EXDATE")


def test_catches_two_overrides_for_one_instance() -> None:
    _only(lint_ics(_calendar(VTIMEZONE, MASTER, OVERRIDE, OVERRIDE)), "two overrides")


def test_assert_lint_clean_lists_every_problem() -> None:
    with pytest.raises(AssertionError, match="has no VTIMEZONE") as failure:
        assert_lint_clean(_calendar(MASTER, ending="\n"))
    assert "bare LF" in str(failure.value)
