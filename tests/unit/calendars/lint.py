"""A lint for served iCalendar bytes, reusable by any test that has a feed in hand.

`lint_ics` checks the byte-level rules (CRLF, 75-octet lines, UTF-8 that is valid on every
physical line, no control characters) on the raw bytes, then lets the `icalendar` package parse
the feed and checks the structural rules calendar clients depend on: a VTIMEZONE for every TZID,
placed before the first VEVENT; RECURRENCE-IDs of the same value type and zone as their series'
DTSTART; no EXDATE for an instance that also has an override. It returns a list of problems;
`assert_lint_clean` fails a test with all of them.
"""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import icalendar
from icalendar.parser import unescape_backslash

__all__ = ["MAX_LINE_OCTETS", "assert_lint_clean", "lint_ics", "prop", "text_value"]

MAX_LINE_OCTETS = 75

# CONTROL from RFC 5545 3.1 (everything below 0x20 but HTAB, and DEL); CR and LF are checked as
# line endings separately.
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def prop(component: icalendar.cal.component.Component, name: str) -> Any:
    """A property of a parsed component, typed loosely: icalendar's own type is a wide union."""
    return component[name]


def text_value(component: icalendar.cal.component.Component, name: str) -> str:
    """The decoded TEXT of a property icalendar keeps raw (NAME, X-WR-CALNAME and other X-)."""
    raw = prop(component, name).to_ical()
    text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    return str(unescape_backslash(text))


def _byte_problems(data: bytes) -> list[str]:
    problems: list[str] = []
    if not data.endswith(b"\r\n"):
        problems.append("the last line does not end in CRLF")
    if re.search(rb"(?<!\r)\n", data):
        problems.append("bare LF line ending")
    if re.search(rb"\r(?!\n)", data):
        problems.append("bare CR")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        problems.append(f"invalid UTF-8: {err}")
    for number, line in enumerate(data.split(b"\r\n"), start=1):
        if len(line) > MAX_LINE_OCTETS:
            problems.append(f"line {number} has {len(line)} octets (> {MAX_LINE_OCTETS}): {line[:30]!r}")
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(f"line {number} is not valid UTF-8 on its own (fold inside a character)")
        if _CONTROL.search(line):
            problems.append(f"line {number} contains a control character: {line[:40]!r}")
    return problems


def _values(component: icalendar.cal.component.Component, name: str) -> list[Any]:
    value = component.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _date_values(prop: Any) -> Iterator[Any]:
    """The individual vDDDTypes of a DATE/DATE-TIME property (EXDATE may hold several)."""
    yield from getattr(prop, "dts", [prop])


def _form(prop: Any) -> tuple[str, str]:
    """(value type, zone) of a date property: ("DATE-TIME", "Europe/Berlin"), ("DATE", "") ..."""
    value = prop.dt
    kind = "DATE-TIME" if isinstance(value, datetime.datetime) else "DATE"
    tzid = prop.params.get("TZID")
    if tzid:
        return kind, str(tzid)
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return kind, "UTC"
    return kind, "floating" if kind == "DATE-TIME" else ""


def _instant(value: datetime.date) -> datetime.date:
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value.astimezone(datetime.UTC)
    return value


def _tzids(component: icalendar.cal.component.Component) -> Iterator[str]:
    for _, value in component.property_items(recursive=False, sorted=False):
        for item in value if isinstance(value, list) else [value]:
            params = getattr(item, "params", None)
            if params and params.get("TZID"):
                yield str(params["TZID"])


def _structure_problems(data: bytes) -> list[str]:
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except ValueError as err:
        return [f"icalendar cannot parse the feed: {err}"]
    problems: list[str] = []
    for component in calendar.walk():
        problems.extend(f"{component.name}: {error}" for error in component.errors)

    children = list(calendar.subcomponents)
    defined = {str(c["TZID"]) for c in children if c.name == "VTIMEZONE"}
    first_event = next((i for i, c in enumerate(children) if c.name == "VEVENT"), len(children))
    if any(c.name == "VTIMEZONE" for c in children[first_event:]):
        problems.append("a VTIMEZONE comes after the first VEVENT")
    for component in children:
        if component.name == "VTIMEZONE":
            continue
        for tzid in _tzids(component):
            if tzid not in defined:
                problems.append(f"TZID {tzid} has no VTIMEZONE")

    events = [c for c in children if c.name == "VEVENT"]
    masters = {str(e["UID"]): e for e in events if "RECURRENCE-ID" not in e}
    exdates: dict[str, set[datetime.date]] = defaultdict(set)
    for uid, master in masters.items():
        for exdate in _values(master, "EXDATE"):
            exdates[uid].update(_instant(v.dt) for v in _date_values(exdate))
    seen: set[tuple[str, datetime.date]] = set()
    for event in events:
        if "RECURRENCE-ID" not in event:
            continue
        uid = str(event["UID"])
        recurrence_id = prop(event, "RECURRENCE-ID")
        instant = _instant(recurrence_id.dt)
        if (uid, instant) in seen:
            problems.append(f"{uid}: two overrides for RECURRENCE-ID {recurrence_id.dt}")
        seen.add((uid, instant))
        reference = prop(masters.get(uid, event), "DTSTART")
        if _form(recurrence_id) != _form(reference):
            problems.append(
                f"{uid}: RECURRENCE-ID {_form(recurrence_id)} differs from DTSTART {_form(reference)}"
            )
        if instant in exdates.get(uid, set()):
            problems.append(f"{uid}: RECURRENCE-ID {recurrence_id.dt} is also an EXDATE")
    return problems


def lint_ics(data: bytes) -> list[str]:
    """Return every rule the iCalendar bytes break; an empty list means the feed is clean."""
    return _byte_problems(data) + _structure_problems(data)


def assert_lint_clean(data: bytes) -> None:
    """Fail with all problems at once, so one run shows everything that is wrong."""
    problems = lint_ics(data)
    assert not problems, "iCalendar lint failed:\n" + "\n".join(problems)
