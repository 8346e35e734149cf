"""One test per `ical` serializer gap: the gap is still there in ical, and our writer fixes it.

A failing ``test_ical_still_*`` test means ical fixed that gap upstream: check the output, then
drop the fix from calendars/rfc5545_fixes.py together with its test.
"""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ical.calendar import Calendar
from ical.calendar_stream import IcsCalendarStream
from ical.event import Event
from ical.exceptions import CalendarParseError
from ical.parsing.component import unfolded_lines
from ical.timezone import Timezone
from ical.types import Conference, Recur
from ical.types.recur import RecurrenceId

from calendars.rfc5545_fixes import MAX_LINE_OCTETS, encode_calendar, fold_line, write_content_lines

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
STAMP = datetime.datetime(2025, 9, 1, 8, 0, tzinfo=datetime.UTC)
LONG_CYRILLIC = "Родительская группа «Рюкзак» — еженедельная встреча в детском саду"


def _calendar() -> Calendar:
    """A small calendar that shows every gap: zoned series, override, RDATE, long text."""
    master = Event(
        uid="series@example",
        dtstamp=STAMP,
        dtstart=datetime.datetime(2025, 10, 7, 9, 30, tzinfo=BERLIN),
        dtend=datetime.datetime(2025, 10, 7, 11, 0, tzinfo=BERLIN),
        summary=LONG_CYRILLIC,
        rrule=Recur.from_rrule("FREQ=WEEKLY;UNTIL=20251104T083000Z"),
        rdate=[datetime.datetime(2025, 10, 9, 9, 30, tzinfo=BERLIN)],
        conference=[Conference(uri="https://example.org/j/abc")],
    )
    override = Event(
        uid="series@example",
        dtstamp=STAMP,
        dtstart=datetime.datetime(2025, 10, 16, 15, 0, tzinfo=BERLIN),
        dtend=datetime.datetime(2025, 10, 16, 16, 30, tzinfo=BERLIN),
        summary="moved",
        recurrence_id=RecurrenceId("20251014T093000", tzinfo=BERLIN),
    )
    return Calendar(
        prodid="-//test//EN",
        refresh_interval=datetime.timedelta(hours=1),
        events=[master, override],
        timezones=[Timezone.from_tzif("Europe/Berlin")],
    )


@pytest.fixture(scope="module")
def ical_text() -> str:
    return IcsCalendarStream.calendar_to_ics(_calendar())


@pytest.fixture(scope="module")
def ours() -> bytes:
    return encode_calendar(_calendar())


def _lines(data: bytes) -> list[str]:
    return [line for line in unfolded_lines(data.decode("utf-8")) if line]


def _line(lines: list[str], prefix: str) -> str:
    (line,) = [line for line in lines if line.startswith(prefix)]
    return line


# Gap 1: line endings


def test_ical_still_ends_lines_with_lf(ical_text: str) -> None:
    assert "\r\n" not in ical_text
    assert "\n" in ical_text


def test_fix_ends_every_line_with_crlf(ours: bytes) -> None:
    assert ours.endswith(b"END:VCALENDAR\r\n")
    assert ours.count(b"\n") == ours.count(b"\r\n") == ours.count(b"\r")


def test_writer_refuses_a_raw_line_break() -> None:
    with pytest.raises(ValueError, match="raw line break"):
        write_content_lines(["SUMMARY:one\ntwo"])
    with pytest.raises(ValueError, match="raw line break"):
        write_content_lines(["SUMMARY:one\rtwo"])


# Gap 2: folding


def test_ical_still_folds_by_characters(ical_text: str) -> None:
    summary = next(line for line in ical_text.split("\n") if line.startswith("SUMMARY:Родит"))
    assert len(summary) <= MAX_LINE_OCTETS < len(summary.encode("utf-8"))


def test_fix_folds_by_octets(ours: bytes) -> None:
    physical = ours.split(b"\r\n")
    assert max(len(line) for line in physical) <= MAX_LINE_OCTETS
    for line in physical:
        line.decode("utf-8")  # never a fold inside a character
    assert _line(_lines(ours), "SUMMARY:Р") == f"SUMMARY:{LONG_CYRILLIC}"


@pytest.mark.parametrize("size", [74, 75, 76, 149, 150, 151])
def test_fold_boundaries_ascii(size: int) -> None:
    line = "X" * size
    folded = fold_line(line).split(b"\r\n")
    assert all(len(part) <= MAX_LINE_OCTETS for part in folded)
    assert len(folded[0]) == min(size, MAX_LINE_OCTETS)
    assert all(part.startswith(b" ") for part in folded[1:])
    assert b"".join([folded[0], *(part[1:] for part in folded[1:])]) == line.encode()


@pytest.mark.parametrize("char", ["ж", "€", "😀"])
@pytest.mark.parametrize("offset", range(4))
def test_fold_never_splits_a_character(char: str, offset: int) -> None:
    line = "S" * offset + char * 60
    for part in fold_line(line).split(b"\r\n"):
        assert len(part) <= MAX_LINE_OCTETS
        part.decode("utf-8")


@given(
    st.text(min_size=0, max_size=400).map(
        lambda text: "DESCRIPTION:" + text.replace("\r", "").replace("\n", "")
    )
)
def test_fold_round_trips_any_text(line: str) -> None:
    folded = fold_line(line)
    parts = folded.split(b"\r\n")
    assert all(len(part) <= MAX_LINE_OCTETS for part in parts)
    assert [part.decode("utf-8") for part in parts]
    assert all(part.startswith(b" ") and len(part) > 1 for part in parts[1:])
    assert b"".join([parts[0], *(part[1:] for part in parts[1:])]) == line.encode("utf-8")


# Gap 3: RECURRENCE-ID


def test_ical_still_writes_recurrence_id_floating(ical_text: str) -> None:
    assert "RECURRENCE-ID:20251014T093000" in ical_text.split("\n")


def test_fix_gives_recurrence_id_the_master_tzid(ours: bytes) -> None:
    assert _line(_lines(ours), "RECURRENCE-ID") == "RECURRENCE-ID;TZID=Europe/Berlin:20251014T093000"


def test_fix_leaves_utc_recurrence_id_alone() -> None:
    calendar = _calendar()
    override = calendar.events[1].model_copy(update={"recurrence_id": RecurrenceId("20251014T073000Z")})
    calendar = Calendar(prodid="-//test//EN", events=[calendar.events[0], override])
    assert _line(_lines(encode_calendar(calendar)), "RECURRENCE-ID") == "RECURRENCE-ID:20251014T073000Z"


def test_fix_uses_own_dtstart_without_master() -> None:
    override = _calendar().events[1]
    calendar = Calendar(prodid="-//test//EN", events=[override])
    line = _line(_lines(encode_calendar(calendar)), "RECURRENCE-ID")
    assert line == "RECURRENCE-ID;TZID=Europe/Berlin:20251014T093000"


# Gap 4: REFRESH-INTERVAL


def test_ical_still_omits_refresh_interval_value_type(ical_text: str) -> None:
    assert "REFRESH-INTERVAL:PT1H" in ical_text.split("\n")


def test_fix_adds_refresh_interval_value_type(ours: bytes) -> None:
    assert _line(_lines(ours), "REFRESH-INTERVAL") == "REFRESH-INTERVAL;VALUE=DURATION:PT1H"


# Gap 5: CONFERENCE


def test_ical_still_omits_conference_value_type(ical_text: str) -> None:
    assert "CONFERENCE:https://example.org/j/abc" in ical_text.split("\n")


def test_fix_adds_conference_value_type(ours: bytes) -> None:
    assert _line(_lines(ours), "CONFERENCE") == "CONFERENCE;VALUE=URI:https://example.org/j/abc"


# Gap 6: VTIMEZONE order


def test_ical_still_writes_vtimezone_last(ical_text: str) -> None:
    assert ical_text.index("BEGIN:VTIMEZONE") > ical_text.index("BEGIN:VEVENT")


def test_fix_moves_vtimezone_before_events(ours: bytes) -> None:
    assert ours.index(b"BEGIN:VTIMEZONE") < ours.index(b"BEGIN:VEVENT")


# Gap 7: RDATE tagged VALUE=PERIOD


def test_ical_still_tags_zoned_rdate_as_period(ical_text: str) -> None:
    assert "RDATE;TZID=Europe/Berlin;VALUE=PERIOD:20251009T093000" in ical_text.split("\n")
    with pytest.raises(CalendarParseError, match="solidus"):
        IcsCalendarStream.calendar_from_ics(ical_text)


def test_fix_writes_rdate_as_date_time(ours: bytes) -> None:
    assert _line(_lines(ours), "RDATE") == "RDATE;TZID=Europe/Berlin:20251009T093000"
    IcsCalendarStream.calendar_from_ics(ours.decode("utf-8"))


# Drift: apart from the fixes, our output is ical's own output.


def test_output_is_icals_apart_from_the_fixes(ical_text: str, ours: bytes) -> None:
    undo = {
        "REFRESH-INTERVAL;VALUE=DURATION:": "REFRESH-INTERVAL:",
        "CONFERENCE;VALUE=URI:": "CONFERENCE:",
        "RECURRENCE-ID;TZID=Europe/Berlin:": "RECURRENCE-ID:",
        "RDATE;TZID=Europe/Berlin:": "RDATE;TZID=Europe/Berlin;VALUE=PERIOD:",
    }
    normalised = []
    for line in _lines(ours):
        for fixed, original in undo.items():
            if line.startswith(fixed):
                line = original + line.removeprefix(fixed)
        normalised.append(line)
    assert sorted(normalised) == sorted(unfolded_lines(ical_text))
