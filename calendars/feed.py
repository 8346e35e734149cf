"""Rendering of feeds and single-session downloads as iCalendar bytes.

`render_feed` turns a `Feed` into one VCALENDAR: calendar properties, a VTIMEZONE per zone used,
per series a master VEVENT with RRULE/EXDATE/RDATE plus an override for every session that differs
from the master, and one VEVENT per one-off session. The `ical` package builds and encodes the
objects; `rfc5545_fixes` repairs and writes the bytes. Output depends only on the input, so equal
data gives byte-identical feeds and equal ETags.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import logging
import zoneinfo
from typing import Any, overload

from ical.calendar import Calendar
from ical.event import Event, EventStatus
from ical.timezone import Timezone
from ical.types import Conference, ExtraProperty
from ical.types.duration import DurationEncoder
from ical.types.recur import RecurrenceId
from ical.types.text import TextEncoder

from .model import Feed, FeedOccurrence, FeedOneOff, FeedSeries
from .recurrence import plan_series
from .rfc5545_fixes import encode_calendar
from .text import clean_text

__all__ = ["etag_for", "render_feed", "render_single_event", "session_uid"]

_LOGGER = logging.getLogger(__name__)


@functools.lru_cache(maxsize=64)
def _vtimezone(key: str) -> Timezone:
    # Built from the installed tzdata's current rule (DST change dates), which is what the
    # sessions we publish need. Cached: it is pure, and building it costs about 0.4 ms.
    return Timezone.from_tzif(key)


def _aware(local: datetime.datetime, key: str) -> datetime.datetime:
    return local.replace(tzinfo=zoneinfo.ZoneInfo(key))


def _utc(instant: datetime.datetime) -> datetime.datetime:
    # DTSTAMP and LAST-MODIFIED must be UTC ("Z"); the data may carry any aware offset.
    return instant.astimezone(datetime.UTC)


def _status(status: str) -> EventStatus:
    return EventStatus.CANCELLED if status == "cancelled" else EventStatus.CONFIRMED


def _summary(summary: str, status: str, cancelled_prefix: str) -> str:
    if status == "cancelled":
        return clean_text(cancelled_prefix) + clean_text(summary)
    return clean_text(summary)


def _description(description: str, url: str) -> str:
    # The join link must be reachable from every client, and several (Google) ignore URL, so it
    # is appended to the description unless the caller's text already contains it.
    text = clean_text(description)
    if url in text:
        return text
    return f"{text}\n\n{url}" if text else url


def _location(location: str, url: str) -> str:
    return clean_text(location) or url


def _event(
    *,
    uid: str,
    zone: str,
    start: datetime.datetime,
    end: datetime.datetime,
    status: str,
    sequence: int,
    last_modified: datetime.datetime,
    summary: str,
    description: str,
    url: str,
    location: str,
    cancelled_prefix: str,
    **recurrence: Any,
) -> Event:
    # Everything goes through the constructor: ical models validate on every attribute
    # assignment, which re-runs the whole model's validation and made rendering 2-3x slower.
    stamp = _utc(last_modified)
    return Event(
        uid=uid,
        dtstamp=stamp,
        last_modified=stamp,
        dtstart=_aware(start, zone),
        dtend=_aware(end, zone),
        summary=_summary(summary, status, cancelled_prefix),
        description=_description(description, url),
        location=_location(location, url),
        url=url,
        conference=[Conference(uri=url)],
        sequence=sequence,
        status=_status(status),
        **recurrence,
    )


def _series_events(series: FeedSeries, cancelled_prefix: str) -> list[Event]:
    plan = plan_series(series)
    if plan is None:
        return []
    zone = series.timezone
    master = _event(
        uid=series.uid,
        zone=zone,
        start=series.dtstart_local,
        end=series.dtstart_local + series.duration,
        status="scheduled",
        sequence=series.sequence,
        last_modified=series.last_modified,
        summary=series.summary,
        description=series.description,
        url=series.url,
        location=series.location,
        cancelled_prefix=cancelled_prefix,
        rrule=plan.recur,
        exdate=[_aware(instant, zone) for instant in plan.exdates],
        rdate=[_aware(instant, zone) for instant in plan.rdates],
    )
    events = [master]
    for recurrence_local, occurrence in plan.overrides:
        override = _event(
            uid=series.uid,
            zone=zone,
            start=occurrence.start_local,
            end=occurrence.end_local,
            status=occurrence.status,
            sequence=occurrence.sequence,
            last_modified=occurrence.last_modified,
            summary=occurrence.summary,
            description=occurrence.description,
            url=occurrence.url,
            location=occurrence.location,
            cancelled_prefix=cancelled_prefix,
            # ical writes only the local digits; rfc5545_fixes adds the master's TZID.
            recurrence_id=RecurrenceId(
                recurrence_local.strftime("%Y%m%dT%H%M%S"), tzinfo=zoneinfo.ZoneInfo(zone)
            ),
        )
        events.append(override)
    return events


def _one_off_event(session: FeedOneOff, cancelled_prefix: str) -> Event:
    return _event(
        uid=session.uid,
        zone=session.timezone,
        start=session.start_local,
        end=session.end_local,
        status=session.status,
        sequence=session.sequence,
        last_modified=session.last_modified,
        summary=session.summary,
        description=session.description,
        url=session.url,
        location=session.location,
        cancelled_prefix=cancelled_prefix,
    )


def _one_off_order(session: FeedOneOff) -> tuple[datetime.datetime, str]:
    return _aware(session.start_local, session.timezone).astimezone(datetime.UTC), session.uid


def _calendar(prodid: str, events: list[Event], zones: set[str], **properties: Any) -> Calendar:
    return Calendar(
        prodid=clean_text(prodid),
        method="PUBLISH",
        # Sorted so that the order of VTIMEZONEs never depends on set iteration order.
        timezones=[_vtimezone(key) for key in sorted(zones)],
        events=events,
        **properties,
    )


def render_feed(feed: Feed) -> bytes:
    """Render a person's subscription feed as RFC 5545 bytes (CRLF, folded, UTF-8)."""
    events: list[Event] = []
    zones: set[str] = set()
    # Canonical order, so that the bytes (and the ETag) do not depend on the order in which the
    # database happened to return rows; sessions within a series are ordered by the plan.
    for series in sorted(feed.series, key=lambda s: s.uid):
        series_events = _series_events(series, feed.cancelled_prefix)
        if series_events:
            zones.add(series.timezone)
            events.extend(series_events)
    for session in sorted(feed.single_sessions, key=_one_off_order):
        zones.add(session.timezone)
        events.append(_one_off_event(session, feed.cancelled_prefix))
    name = clean_text(feed.name)
    ttl = DurationEncoder.__encode_property_json__(feed.refresh_interval)
    calendar = _calendar(
        feed.prodid,
        events,
        zones,
        name=[name],
        refresh_interval=feed.refresh_interval,
        extras=[
            # Extra properties are written verbatim by ical, so the TEXT escaping is done here.
            ExtraProperty(name="X-WR-CALNAME", value=TextEncoder.__encode_property__(name).value),
            # Outlook reads this instead of REFRESH-INTERVAL (RFC 7986).
            ExtraProperty(name="X-PUBLISHED-TTL", value=ttl),
        ],
    )
    data = encode_calendar(calendar)
    _LOGGER.debug("rendered feed: %d events, %d bytes", len(events), len(data))
    return data


def session_uid(series: FeedSeries, occurrence: FeedOccurrence) -> str:
    """Return the standalone UID of one session of a series, as used by `render_single_event`.

    It is derived from the series UID and the session's rule instant, which never changes when
    the session moves, so downloading the same session twice updates one event.
    """
    if occurrence.recurrence_local is None:
        raise ValueError("a series session must have recurrence_local")
    return f"{occurrence.recurrence_local:%Y%m%dT%H%M%S}-{series.uid}"


@overload
def render_single_event(session: FeedOneOff, *, prodid: str, cancelled_prefix: str) -> bytes: ...


@overload
def render_single_event(
    session: FeedOccurrence, *, series: FeedSeries, prodid: str, cancelled_prefix: str
) -> bytes: ...


def render_single_event(
    session: FeedOneOff | FeedOccurrence,
    *,
    series: FeedSeries | None = None,
    prodid: str,
    cancelled_prefix: str,
) -> bytes:
    """Render one session as a standalone ``.ics`` download (METHOD:PUBLISH, one VEVENT).

    A one-off keeps its own UID. A session of a series gets `session_uid` and no RECURRENCE-ID:
    an imported override without its master is shown inconsistently (or not at all) by clients,
    while a plain event always works; it does not touch a subscribed copy of the series.
    """
    if isinstance(session, FeedOneOff):
        event = _one_off_event(session, cancelled_prefix)
        zone = session.timezone
    else:
        if series is None:
            raise TypeError("render_single_event needs the series of a series session")
        event = _event(
            uid=session_uid(series, session),
            zone=series.timezone,
            start=session.start_local,
            end=session.end_local,
            status=session.status,
            sequence=session.sequence,
            last_modified=session.last_modified,
            summary=session.summary,
            description=session.description,
            url=session.url,
            location=session.location,
            cancelled_prefix=cancelled_prefix,
        )
        zone = series.timezone
    return encode_calendar(_calendar(prodid, [event], {zone}))


def etag_for(data: bytes) -> str:
    """Return a strong, quoted ETag for rendered bytes (SHA-256, hex)."""
    return f'"{hashlib.sha256(data).hexdigest()}"'
