"""What the feed and the single-session download contain, read back with `icalendar`."""

from __future__ import annotations

import datetime
from dataclasses import replace

import icalendar
import pytest

from calendars import Feed, render_feed, render_single_event, session_uid

from .lint import assert_lint_clean, prop
from .samples import golden_feed


@pytest.fixture(scope="module")
def calendar() -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(render_feed(golden_feed()))


def test_calendar_properties(calendar: icalendar.Calendar) -> None:
    feed = golden_feed()
    assert str(prop(calendar, "VERSION")) == "2.0"
    assert str(prop(calendar, "PRODID")) == feed.prodid
    assert str(prop(calendar, "METHOD")) == "PUBLISH"
    assert prop(calendar, "REFRESH-INTERVAL").params["VALUE"] == "DURATION"
    assert prop(calendar, "REFRESH-INTERVAL").to_ical() == b"PT1H"
    assert prop(calendar, "X-PUBLISHED-TTL").to_ical() == b"PT1H"
    assert "NAME" in calendar
    assert "X-WR-CALNAME" in calendar


def test_refresh_interval_follows_the_data() -> None:
    feed = replace(golden_feed(), refresh_interval=datetime.timedelta(minutes=30))
    calendar = icalendar.Calendar.from_ical(render_feed(feed))
    assert prop(calendar, "REFRESH-INTERVAL").to_ical() == b"PT30M"
    assert prop(calendar, "X-PUBLISHED-TTL").to_ical() == b"PT30M"


def test_one_vtimezone_per_zone_used(calendar: icalendar.Calendar) -> None:
    assert [str(prop(tz, "TZID")) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]


def test_a_vtimezone_for_each_zone_sorted_before_all_events() -> None:
    feed = golden_feed()
    istanbul = replace(feed.single_sessions[0], uid="istanbul@rucksack.example", timezone="Europe/Istanbul")
    data = render_feed(replace(feed, single_sessions=(*feed.single_sessions, istanbul)))
    assert_lint_clean(data)
    calendar = icalendar.Calendar.from_ical(data)
    assert [str(prop(tz, "TZID")) for tz in calendar.walk("VTIMEZONE")] == [
        "Europe/Berlin",
        "Europe/Istanbul",
    ]
    (event,) = [e for e in calendar.walk("VEVENT") if str(prop(e, "UID")) == istanbul.uid]
    # 10:00 in Istanbul (UTC+3 all year) is 07:00Z.
    assert prop(event, "DTSTART").dt.astimezone(datetime.UTC) == datetime.datetime(
        2025, 10, 25, 7, 0, tzinfo=datetime.UTC
    )


def test_no_alarms(calendar: icalendar.Calendar) -> None:
    assert calendar.walk("VALARM") == []


def test_every_event_carries_its_join_link_four_times(calendar: icalendar.Calendar) -> None:
    for event in calendar.walk("VEVENT"):
        url = str(prop(event, "URL"))
        assert str(prop(event, "LOCATION")) == url
        assert str(prop(event, "DESCRIPTION")).endswith(url)
        conference = prop(event, "CONFERENCE")
        assert str(conference) == url
        assert conference.params["VALUE"] == "URI"


def test_master_uses_the_series_link_and_override_its_own(calendar: icalendar.Calendar) -> None:
    feed = golden_feed()
    series = feed.series[0]
    events = [e for e in calendar.walk("VEVENT") if str(prop(e, "UID")) == series.uid]
    master = next(e for e in events if "RRULE" in e)
    moved = next(e for e in events if "RECURRENCE-ID" in e and str(prop(e, "STATUS")) == "CONFIRMED")
    assert str(prop(master, "URL")) == series.url
    assert str(prop(moved, "URL")) == f"{series.url}/20251104"


def test_master_rule_has_until_in_utc_and_one_exdate(calendar: icalendar.Calendar) -> None:
    master = next(
        e
        for e in calendar.walk("VEVENT")
        if str(prop(e, "UID")) == "series-17@rucksack.example" and "RRULE" in e
    )
    until = prop(master, "RRULE")["UNTIL"][0]
    assert until == datetime.datetime(2026, 4, 14, 7, 30, tzinfo=datetime.UTC)
    assert [d.dt.replace(tzinfo=None) for d in prop(master, "EXDATE").dts] == [
        datetime.datetime(2025, 12, 23, 9, 30)
    ]
    assert prop(master, "DTSTART").params["TZID"] == "Europe/Berlin"
    assert int(prop(master, "SEQUENCE")) == 1
    assert (
        prop(master, "DTSTAMP").dt
        == prop(master, "LAST-MODIFIED").dt
        == datetime.datetime(2025, 8, 20, 7, 15, tzinfo=datetime.UTC)
    )


def test_cancelled_override(calendar: icalendar.Calendar) -> None:
    (cancelled,) = [e for e in calendar.walk("VEVENT") if str(e.get("STATUS")) == "CANCELLED"]
    assert str(prop(cancelled, "SUMMARY")).startswith("Abgesagt: مجموعة")
    assert int(prop(cancelled, "SEQUENCE")) == 3
    assert prop(cancelled, "RECURRENCE-ID").params["TZID"] == "Europe/Berlin"
    assert prop(cancelled, "RECURRENCE-ID").dt.replace(tzinfo=None) == datetime.datetime(2026, 3, 31, 9, 30)


def test_description_keeps_a_link_the_caller_already_wrote() -> None:
    feed = golden_feed()
    series = feed.series[1]
    text = f"Link: {series.url}"
    changed = replace(
        series,
        description=text,
        occurrences=tuple(replace(o, description=text) for o in series.occurrences),
    )
    calendar = icalendar.Calendar.from_ical(render_feed(replace(feed, series=(feed.series[0], changed))))
    (master,) = [e for e in calendar.walk("VEVENT") if str(prop(e, "UID")) == series.uid]
    assert str(prop(master, "DESCRIPTION")) == text


def test_an_empty_feed_is_a_valid_calendar() -> None:
    data = render_feed(Feed(name="Leer", cancelled_prefix="Abgesagt: ", prodid="-//test//EN"))
    assert_lint_clean(data)
    calendar = icalendar.Calendar.from_ical(data)
    assert calendar.walk("VEVENT") == calendar.walk("VTIMEZONE") == []


def test_single_session_of_a_series_is_a_standalone_event() -> None:
    feed = golden_feed()
    series = feed.series[0]
    cancelled = next(o for o in series.occurrences if o.status == "cancelled")
    data = render_single_event(cancelled, series=series, prodid=feed.prodid, cancelled_prefix="Cancelled: ")
    assert_lint_clean(data)
    calendar = icalendar.Calendar.from_ical(data)
    assert str(prop(calendar, "METHOD")) == "PUBLISH"
    (event,) = calendar.walk("VEVENT")
    assert (
        str(prop(event, "UID"))
        == session_uid(series, cancelled)
        == "20260331T093000-series-17@rucksack.example"
    )
    assert "RECURRENCE-ID" not in event
    assert "RRULE" not in event
    assert str(prop(event, "STATUS")) == "CANCELLED"
    assert str(prop(event, "SUMMARY")).startswith("Cancelled: ")
    assert int(prop(event, "SEQUENCE")) == cancelled.sequence


def test_session_uid_does_not_change_when_the_session_moves() -> None:
    series = golden_feed().series[0]
    occurrence = series.occurrences[3]
    moved = replace(
        occurrence,
        start_local=occurrence.start_local + datetime.timedelta(days=1),
        end_local=occurrence.end_local + datetime.timedelta(days=1),
    )
    assert session_uid(series, moved) == session_uid(series, occurrence)


def test_single_session_of_a_series_needs_the_series() -> None:
    feed = golden_feed()
    with pytest.raises(TypeError, match="needs the series"):
        render_single_event(feed.series[0].occurrences[0], prodid="p", cancelled_prefix="x")  # type: ignore[call-overload]


def test_one_off_download_keeps_its_uid() -> None:
    feed = golden_feed()
    one_off = feed.single_sessions[0]
    data = render_single_event(one_off, prodid=feed.prodid, cancelled_prefix=feed.cancelled_prefix)
    (event,) = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert str(prop(event, "UID")) == one_off.uid
