"""Fixes for the gaps of the `ical` 14.3.1 serializer, and the byte-level writer.

`ical` encodes a calendar in two steps: its pydantic models become a tree of `ParsedComponent` /
`ParsedProperty` objects, and that tree is joined into text. We keep the first step, repair the
tree where it is wrong, and replace the second step, because that is where line endings and
folding go wrong. Each gap below was reproduced against ical 14.3.1 and has a test in
``tests/unit/calendars/test_rfc5545_fixes.py`` that also notices when ical fixes it upstream.

1. Lines end in LF; RFC 5545 requires CRLF.                      -> `write_content_lines`
2. Lines fold at 75 characters; RFC 5545 says 75 octets, and a
   fold must not split a UTF-8 sequence.                         -> `fold_line`
3. RECURRENCE-ID is written floating (its TZID is dropped).      -> `add_recurrence_id_tzid`
4. REFRESH-INTERVAL lacks the required VALUE=DURATION.           -> `add_refresh_interval_value_type`
5. CONFERENCE lacks the required VALUE=URI.                      -> `add_conference_value_type`
6. VTIMEZONE components come after the events that use them.    -> `move_timezones_first`
7. An RDATE with a TZID is tagged VALUE=PERIOD although its value
   is a DATE-TIME, so ical's own parser rejects the feed.       -> `drop_false_rdate_period`
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ical.calendar import Calendar
from ical.calendar_stream import IcsCalendarStream
from ical.parsing.component import ParsedComponent
from ical.parsing.property import ParsedProperty, ParsedPropertyParameter

__all__ = [
    "MAX_LINE_OCTETS",
    "add_conference_value_type",
    "add_recurrence_id_tzid",
    "add_refresh_interval_value_type",
    "apply_fixes",
    "drop_false_rdate_period",
    "encode_calendar",
    "fold_line",
    "move_timezones_first",
    "write_content_lines",
]

MAX_LINE_OCTETS = 75
"""RFC 5545 3.1: lines SHOULD NOT be longer than 75 octets, excluding the line break."""

_CRLF = b"\r\n"
_FOLD = b"\r\n "
_LOCAL_DATE_TIME = re.compile(r"[0-9]{8}T[0-9]{6}")


def _encoded_tree(calendar: Calendar) -> ParsedComponent:
    # The same call `IcsCalendarStream.ics()` makes before joining text; the stream wraps the
    # calendar so that the component is named VCALENDAR. The `ical` version is pinned (<15) and
    # test_rfc5545_fixes compares our output with ical's own to notice a change here.
    stream = IcsCalendarStream(vcalendar=[calendar])
    (vcalendar,) = stream.__encode_component_root__().components
    return vcalendar


def _has_param(prop: ParsedProperty, name: str) -> bool:
    return prop.get_parameter(name) is not None


def _add_param(prop: ParsedProperty, name: str, value: str) -> None:
    prop.params = [*(prop.params or []), ParsedPropertyParameter(name=name, values=[value])]


def _first(component: ParsedComponent, name: str) -> ParsedProperty | None:
    return next((prop for prop in component.properties if prop.name == name), None)


def _tzid_of(prop: ParsedProperty | None) -> str | None:
    if prop is None or (param := prop.get_parameter("TZID")) is None or not param.values:
        return None
    return str(param.values[0])


def add_refresh_interval_value_type(vcalendar: ParsedComponent) -> None:
    """Fix 4: RFC 7986 5.7 defines REFRESH-INTERVAL with a mandatory ``VALUE=DURATION``."""
    for prop in vcalendar.properties:
        if prop.name == "refresh-interval" and not _has_param(prop, "VALUE"):
            _add_param(prop, "VALUE", "DURATION")


def add_conference_value_type(vcalendar: ParsedComponent) -> None:
    """Fix 5: RFC 7986 5.11 defines CONFERENCE with a mandatory ``VALUE=URI``."""
    for component in vcalendar.components:
        for prop in component.properties:
            if prop.name == "conference" and not _has_param(prop, "VALUE"):
                _add_param(prop, "VALUE", "URI")


def add_recurrence_id_tzid(vcalendar: ParsedComponent) -> None:
    """Fix 3: give a floating RECURRENCE-ID the TZID of its series' DTSTART.

    RFC 5545 3.8.4.4 requires RECURRENCE-ID to have the value type of the master's DTSTART; a
    floating one is read in the reader's zone and Thunderbird then shows the session twice. The
    zone comes from the master (the component of the same UID with RRULE or RDATE) and, for an
    override without its master in this calendar, from the override's own DTSTART.
    """
    master_tzid: dict[str, str | None] = {}
    for component in vcalendar.components:
        if component.name == "vevent" and (_first(component, "rrule") or _first(component, "rdate")):
            uid = _first(component, "uid")
            if uid is not None:
                master_tzid[uid.value] = _tzid_of(_first(component, "dtstart"))
    for component in vcalendar.components:
        recurrence_id = _first(component, "recurrence-id")
        if recurrence_id is None or _has_param(recurrence_id, "TZID"):
            continue
        if not _LOCAL_DATE_TIME.fullmatch(recurrence_id.value):
            continue  # a DATE or a UTC DATE-TIME is already unambiguous
        uid = _first(component, "uid")
        tzid = master_tzid.get(uid.value) if uid is not None else None
        if tzid is None:
            tzid = _tzid_of(_first(component, "dtstart"))
        if tzid is not None:
            _add_param(recurrence_id, "TZID", tzid)


def move_timezones_first(vcalendar: ParsedComponent) -> None:
    """Fix 6: put VTIMEZONE components before the components that refer to them.

    RFC 5545 allows any order, but streaming parsers (and Outlook) resolve a TZID when they meet
    it, so a definition that comes later is ignored and times shift after a DST change.
    """
    timezones = [c for c in vcalendar.components if c.name == "vtimezone"]
    others = [c for c in vcalendar.components if c.name != "vtimezone"]
    vcalendar.components = timezones + others


def drop_false_rdate_period(vcalendar: ParsedComponent) -> None:
    """Fix 7: remove ``VALUE=PERIOD`` from an RDATE whose value is not a period.

    ical adds VALUE=PERIOD to every RDATE it encoded from a structured value, and a zoned
    DATE-TIME is such a value. A PERIOD always contains a solidus ("start/end"); without one the
    value is a DATE-TIME, which is the default type of RDATE and needs no VALUE parameter.
    """
    for component in vcalendar.components:
        for prop in component.properties:
            if prop.name != "rdate" or "/" in prop.value or not prop.params:
                continue
            prop.params = [
                param
                for param in prop.params
                if not (param.name.upper() == "VALUE" and list(param.values) == ["PERIOD"])
            ] or None


def apply_fixes(vcalendar: ParsedComponent) -> None:
    """Apply the tree-level fixes (3-7) in place."""
    drop_false_rdate_period(vcalendar)
    add_refresh_interval_value_type(vcalendar)
    add_conference_value_type(vcalendar)
    add_recurrence_id_tzid(vcalendar)
    move_timezones_first(vcalendar)


def _content_lines(component: ParsedComponent) -> Iterator[str]:
    yield f"BEGIN:{component.name.upper()}"
    for prop in component.properties:
        yield prop.ics()
    for child in component.components:
        yield from _content_lines(child)
    yield f"END:{component.name.upper()}"


def fold_line(line: str) -> bytes:
    """Fix 2: encode one content line as UTF-8, folded at 75 octets on character boundaries.

    Continuation lines start with one space, which counts towards their 75 octets. A cut is
    moved back while it would land on a UTF-8 continuation byte (0b10xxxxxx), so every physical
    line is valid UTF-8 on its own.
    """
    data = line.encode("utf-8")
    if len(data) <= MAX_LINE_OCTETS:
        return data
    chunks: list[bytes] = []
    start = 0
    limit = MAX_LINE_OCTETS
    while start < len(data):
        cut = min(start + limit, len(data))
        while cut < len(data) and data[cut] & 0xC0 == 0x80:
            cut -= 1
        chunks.append(data[start:cut])
        start = cut
        limit = MAX_LINE_OCTETS - 1  # the leading space of the continuation line
    return _FOLD.join(chunks)


def write_content_lines(lines: Iterator[str] | list[str]) -> bytes:
    """Fix 1: join folded content lines with CRLF, including after the last one.

    A raw CR or LF inside a line would end the line early and let text masquerade as
    properties; every value is escaped before it gets here, so meeting one is a bug and fails.
    """
    out: list[bytes] = []
    for line in lines:
        if "\r" in line or "\n" in line:
            raise ValueError(f"raw line break in content line {line[:40]!r}")
        out.append(fold_line(line))
    out.append(b"")
    return _CRLF.join(out)


def encode_calendar(calendar: Calendar) -> bytes:
    """Serialize an `ical` calendar to RFC 5545 bytes with every fix applied."""
    vcalendar = _encoded_tree(calendar)
    apply_fixes(vcalendar)
    return write_content_lines(_content_lines(vcalendar))
