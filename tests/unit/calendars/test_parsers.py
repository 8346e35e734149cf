"""Independent parsers read the feed and find exactly the sessions the data holds.

Each parser expands the feed on its own (including the DST changes the sample series crosses);
every comparison is on UTC instants, so a session shifted by an hour shows up as a mismatch.
Cancelled sessions stay in the expansion as overrides with STATUS:CANCELLED (recurring-ical-events
and ical both return them, they do not drop them), deleted ones are absent.
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections import Counter

import icalendar
import pytest
import recurring_ical_events
import vobject
from ical.calendar_stream import IcsCalendarStream

from calendars import Feed, render_feed

from .lint import text_value
from .samples import benchmark_feed, golden_feed

UTC = datetime.UTC

Instance = tuple[str, datetime.datetime, datetime.datetime, str]


def _utc(local: datetime.datetime, zone: str) -> datetime.datetime:
    return local.replace(tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(UTC)


def expected_instances(feed: Feed) -> Counter[Instance]:
    """(uid, start, end, STATUS) of every session in the input data, in UTC."""
    expected: Counter[Instance] = Counter()
    for series in feed.series:
        for occ in series.occurrences:
            status = "CANCELLED" if occ.status == "cancelled" else "CONFIRMED"
            start, end = _utc(occ.start_local, series.timezone), _utc(occ.end_local, series.timezone)
            expected[(series.uid, start, end, status)] += 1
    for one in feed.single_sessions:
        status = "CANCELLED" if one.status == "cancelled" else "CONFIRMED"
        expected[
            (one.uid, _utc(one.start_local, one.timezone), _utc(one.end_local, one.timezone), status)
        ] += 1
    return expected


FEEDS = {"golden": golden_feed, "benchmark": benchmark_feed}


@pytest.fixture(params=sorted(FEEDS))
def feed(request: pytest.FixtureRequest) -> Feed:
    return FEEDS[request.param]()


def test_golden_feed_has_the_cases_it_claims() -> None:
    expected = expected_instances(golden_feed())
    starts = {start for _, start, _, _ in expected}
    # 26 Oct 2025 and 29 Mar 2026 are DST changes: 09:30 Berlin is 07:30Z before, 08:30Z between.
    assert datetime.datetime(2025, 10, 21, 7, 30, tzinfo=UTC) in starts
    assert datetime.datetime(2025, 10, 28, 8, 30, tzinfo=UTC) in starts
    assert datetime.datetime(2026, 3, 24, 8, 30, tzinfo=UTC) in starts
    assert datetime.datetime(2026, 4, 7, 7, 30, tzinfo=UTC) in starts
    assert datetime.datetime(2025, 11, 6, 14, 0, tzinfo=UTC) in starts  # moved
    assert datetime.datetime(2025, 11, 4, 8, 30, tzinfo=UTC) not in starts  # its old time
    assert datetime.datetime(2025, 12, 23, 8, 30, tzinfo=UTC) not in starts  # deleted
    assert sum(1 for _, _, _, status in expected if status == "CANCELLED") == 1


def test_icalendar_parses_the_feed(feed: Feed) -> None:
    data = render_feed(feed)
    calendar = icalendar.Calendar.from_ical(data)
    assert [c.errors for c in calendar.walk()] == [[] for _ in calendar.walk()]
    # icalendar keeps NAME and X-WR-CALNAME as raw (unknown) values; both are TEXT (RFC 7986 and
    # the X- default of RFC 5545 3.8.8.2), so they are decoded with icalendar's TEXT type.
    assert text_value(calendar, "NAME") == feed.name
    assert text_value(calendar, "X-WR-CALNAME") == feed.name
    assert str(calendar["METHOD"]) == "PUBLISH"


def test_recurring_ical_events_expands_exactly_the_sessions(feed: Feed) -> None:
    calendar = icalendar.Calendar.from_ical(render_feed(feed))
    found: Counter[Instance] = Counter(
        (
            str(event["UID"]),
            event["DTSTART"].dt.astimezone(UTC),
            event["DTEND"].dt.astimezone(UTC),
            str(event["STATUS"]),
        )
        for event in recurring_ical_events.of(calendar).all()
    )
    assert found == expected_instances(feed)
    assert max(found.values()) == 1  # none twice


def test_ical_reads_the_feed_back_and_its_timeline_agrees(feed: Feed) -> None:
    calendar = IcsCalendarStream.calendar_from_ics(render_feed(feed).decode("utf-8"))
    assert calendar.name == [feed.name]
    assert calendar.refresh_interval == feed.refresh_interval
    found: Counter[Instance] = Counter(
        (
            event.uid,
            event.start_datetime,
            event.end_datetime,
            event.status.value if event.status else "",
        )
        for event in calendar.timeline_tz(UTC)
    )
    assert found == expected_instances(feed)
    # The RECURRENCE-ID keeps its zone: ical resolves it to the series' zone, not floating.
    overrides = [event for event in calendar.events if event.recurrence_id]
    assert overrides
    assert {str(event.recurrence_id.tzinfo) for event in overrides if event.recurrence_id} == {
        "Europe/Berlin"
    }


def test_vobject_parses_and_validates_the_feed(feed: Feed) -> None:
    data = render_feed(feed)
    calendar = vobject.readOne(data.decode("utf-8"), validate=True)
    assert calendar.validate()
    masters = [e for e in calendar.vevent_list if not hasattr(e, "recurrence_id")]
    overrides = [e for e in calendar.vevent_list if hasattr(e, "recurrence_id")]
    instances: dict[str, set[datetime.datetime]] = {}
    # vobject expands a master's RRULE/RDATE/EXDATE: that set must be exactly the rule instants
    # that still have a session (moved and cancelled ones included, under their original instant).
    for master in masters:
        series = next((s for s in feed.series if s.uid == master.uid.value), None)
        if series is None:
            continue
        expanded = {instant.astimezone(UTC) for instant in master.getrruleset()}
        instances[series.uid] = expanded
        assert expanded == {
            _utc(occ.recurrence_local, series.timezone)
            for occ in series.occurrences
            if occ.recurrence_local is not None
        }
    # Every override replaces an instance of its master, matched on the UTC instant as
    # Thunderbird does; a floating RECURRENCE-ID would be naive here and match nothing.
    assert overrides
    for override in overrides:
        recurrence_id = override.recurrence_id.value
        assert recurrence_id.tzinfo is not None
        assert recurrence_id.astimezone(UTC) in instances[override.uid.value]
