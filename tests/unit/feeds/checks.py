"""Independent readings of served iCalendar bytes, shared by the feed tests.

Each parser expands the feed on its own, and the result is compared, as UTC instants, with what
the test computed from the database: ``icalendar`` + ``recurring-ical-events``, ``vobject`` with
validation, and the ``ical`` package's own timeline; plus the byte-level lint of the calendars
library's tests.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import icalendar
import recurring_ical_events
import vobject
from ical.calendar_stream import IcsCalendarStream

from tests.unit.calendars.lint import assert_lint_clean

__all__ = ["Instance", "assert_parsers_agree", "expand"]

UTC = dt.UTC
Instance = tuple[str, dt.datetime, dt.datetime, str]
"""(UID, start, end, STATUS) of one occurrence, times in UTC."""


def expand(data: bytes) -> Counter[Instance]:
    """Occurrences as recurring-ical-events expands them."""
    calendar = icalendar.Calendar.from_ical(data)
    return Counter(
        (
            str(event["UID"]),
            event["DTSTART"].dt.astimezone(UTC),
            event["DTEND"].dt.astimezone(UTC),
            str(event["STATUS"]),
        )
        for event in recurring_ical_events.of(calendar).all()
    )


def _ical_timeline(data: bytes) -> Counter[Instance]:
    calendar = IcsCalendarStream.calendar_from_ics(data.decode("utf-8"))
    return Counter(
        (
            event.uid or "",
            event.start_datetime,
            event.end_datetime,
            event.status.value if event.status else "",
        )
        for event in calendar.timeline_tz(UTC)
    )


def _vobject_instances(data: bytes) -> Counter[Instance]:
    calendar = vobject.readOne(data.decode("utf-8"), validate=True)
    assert calendar.validate()
    found: Counter[Instance] = Counter()
    events = list(getattr(calendar, "vevent_list", []))
    overrides = {
        (e.uid.value, e.recurrence_id.value.astimezone(UTC)): e for e in events if hasattr(e, "recurrence_id")
    }
    for event in events:
        if hasattr(event, "recurrence_id"):
            continue
        duration = event.dtend.value - event.dtstart.value
        for start in event.getrruleset() if hasattr(event, "rrule") else [event.dtstart.value]:
            instance = start.astimezone(UTC)
            shown = overrides.get((event.uid.value, instance), event)
            if shown is event:
                begin, end = instance, instance + duration
            else:
                begin, end = shown.dtstart.value.astimezone(UTC), shown.dtend.value.astimezone(UTC)
            found[(event.uid.value, begin, end, shown.status.value)] += 1
    return found


def assert_parsers_agree(data: bytes, expected: Counter[Instance]) -> None:
    """Every independent reader finds exactly ``expected``, none twice, and the lint is clean."""
    assert_lint_clean(data)
    calendar = icalendar.Calendar.from_ical(data)
    assert all(not component.errors for component in calendar.walk())
    assert str(calendar["METHOD"]) == "PUBLISH"
    found = expand(data)
    assert found == expected, _difference(found, expected)
    assert not found or max(found.values()) == 1
    assert _ical_timeline(data) == expected
    assert _vobject_instances(data) == expected


def _difference(found: Counter[Instance], expected: Counter[Instance]) -> str:
    extra = sorted(found - expected)
    missing = sorted(expected - found)
    return f"feed only: {extra[:5]} ({len(extra)}); database only: {missing[:5]} ({len(missing)})"
