"""Expanding a series' recurrence rule into sessions, in local wall time.

A series is an RFC 5545 RRULE (without DTSTART, UNTIL or COUNT), a first local start, a
duration, a named zone and a last day. Expansion runs on *naive local* times, so a weekly
session keeps its wall-clock time across daylight-saving changes and only its UTC instant
moves: Tuesday 09:00 in Europe/Berlin is 07:00 UTC in summer and 08:00 UTC in winter. Each
occurrence keeps the naive local start the rule produced (its RECURRENCE-ID) next to its aware
UTC start and end.

Local times that do not exist or exist twice are resolved the way PEP 495 resolves ``fold=0``:

* a time in the spring gap (02:30 on the last Sunday of March in Berlin) moves forward by the
  length of the gap (it starts at 03:30 summer time), while its RECURRENCE-ID stays 02:30;
* an ambiguous time in the autumn overlap (02:30 on the last Sunday of October) is the first of
  the two, still in summer time.

End times are the start plus the duration in elapsed time, so a session that spans a change
lasts as long as every other.

The rule is parsed and validated with the ``ical`` package (``Recur.from_rrule``), and expanded
with ``dateutil`` (through ``Recur.as_rrule``), like calendar clients do. The end of a series
belongs to us, not to the rule: UNTIL and COUNT inside the rule are refused, the series' last
day is passed separately. Limits keep a typo from flooding a group with sessions
(``MAX_OCCURRENCES``) or from keeping a web process busy (``MAX_SPAN_DAYS``).
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import itertools
import logging
import zoneinfo
from collections.abc import Collection

from ical.types.recur import Frequency, Recur
from pydantic import ValidationError

from orchestrator.i18n import gettext as _

__all__ = [
    "MAX_DURATION_MINUTES",
    "MAX_OCCURRENCES",
    "MAX_SPAN_DAYS",
    "Expansion",
    "Occurrence",
    "RecurrenceError",
    "expand",
    "load_zone",
    "normalise_rule",
    "parse_rule",
    "to_local",
    "to_utc",
]

_LOGGER = logging.getLogger(__name__)

MAX_OCCURRENCES = 200
"""The most sessions one series may have. A KiTa year of weekly meetings has about 36-40; two
meetings a week for a whole year still fit, a rule like FREQ=DAILY for a year does not."""

MAX_SPAN_DAYS = 3 * 366
"""A series may run for at most three years from its first start (a cycle is one KiTa year)."""

MAX_DURATION_MINUTES = 600
"""The longest session, as the database's CHECK constraint on ``series.duration_minutes``."""

# See `_search_shift`: expansion happens in years near 9999 with the same calendar as ours.
_MAX_YEAR = dt.MAXYEAR
# Plausible dates, and room for the calendar arithmetic of `_search_shift` (which looks one year
# beyond both ends and never past 9999).
_MIN_SUPPORTED_YEAR = 1900
_MAX_SUPPORTED_YEAR = 9000
_SUB_DAILY = frozenset({Frequency.HOURLY, Frequency.MINUTELY, Frequency.SECONDLY})


class RecurrenceError(ValueError):
    """The series cannot be expanded; ``message`` says why in words a coordinator understands."""

    def __init__(self, message: str, *, field: str = "rrule") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclasses.dataclass(frozen=True, slots=True)
class Occurrence:
    """One session of a series as the rule yields it."""

    recurrence_local: dt.datetime
    """Naive local start the rule produced; the session's RECURRENCE-ID, also when it falls into a
    spring gap and really starts later."""
    start: dt.datetime
    """Aware UTC start."""
    end: dt.datetime
    """Aware UTC end: ``start`` plus the duration."""

    @property
    def day(self) -> dt.date:
        return self.recurrence_local.date()


@dataclasses.dataclass(frozen=True, slots=True)
class Expansion:
    """Everything the rule yields between the first start and the last day."""

    rule: str
    """The rule as stored: upper case, no ``RRULE:`` prefix, no trailing separators."""
    instants: tuple[dt.datetime, ...]
    """Every naive local start of the rule, closure days included, in order."""
    occurrences: tuple[Occurrence, ...]
    """The sessions to hold: ``instants`` without those on closure days."""
    skipped: tuple[dt.date, ...]
    """Closure days that removed an instant."""

    @property
    def first_start_local(self) -> dt.datetime:
        """The first instant of the rule: the series' DTSTART (calendar clients require DTSTART to
        be an instance of its own rule, so a series is anchored here, not at the requested date)."""
        return self.instants[0]


def load_zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise RecurrenceError(
            _("Unknown time zone %(zone)r; use an IANA name like Europe/Berlin.") % {"zone": name},
            field="timezone",
        ) from None


def _zone(zone: zoneinfo.ZoneInfo | str) -> zoneinfo.ZoneInfo:
    return zone if isinstance(zone, zoneinfo.ZoneInfo) else load_zone(zone)


def to_utc(local: dt.datetime, zone: zoneinfo.ZoneInfo | str) -> dt.datetime:
    """The UTC instant of a naive local time: gap times move forward, ambiguous ones take the first.

    ``fold=0`` does exactly that (PEP 495): in a gap it applies the offset from before the change,
    which lands after the gap; in an overlap it picks the earlier of the two instants.
    """
    if local.tzinfo is not None:
        raise RecurrenceError(
            _("Expected a local time without offset, got %(value)s.") % {"value": local.isoformat()},
            field="first_start_local",
        )
    return local.replace(tzinfo=_zone(zone), fold=0).astimezone(dt.UTC)


def to_local(instant: dt.datetime, zone: zoneinfo.ZoneInfo | str) -> dt.datetime:
    """The naive local wall time of an aware instant."""
    return instant.astimezone(_zone(zone)).replace(tzinfo=None)


def normalise_rule(rule: str) -> str:
    """The rule in its stored form: upper case, without an ``RRULE:`` prefix or empty parts."""
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    parts = [part.strip() for part in text.split(";") if part.strip()]
    return ";".join(parts).upper()


def _describe_validation_error(err: ValidationError) -> str:
    problems = []
    for item in err.errors(include_url=False, include_context=False):
        where = ".".join(str(p) for p in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            problems.append(_("%(part)s is required") % {"part": where})
        else:
            problems.append(f"{where}: {message} (got {item.get('input')!r})")
    return "; ".join(problems)


def parse_rule(rule: str) -> tuple[str, Recur]:
    """Validate ``rule`` with the ``ical`` package; return the normalised text and its ``Recur``."""
    text = normalise_rule(rule)
    if not text:
        raise RecurrenceError(_("The recurrence rule is empty; for example FREQ=WEEKLY;BYDAY=TU."))
    # ical's parser reports a part without "=" with an AttributeError and a part with two "=" as a
    # tuple-unpacking error; checking the shape first gives a message that names the part.
    for part in text.split(";"):
        if part.count("=") != 1 or not part.split("=")[0] or not part.split("=")[1]:
            raise RecurrenceError(
                _("Invalid recurrence rule %(rule)r: %(part)r is not of the form NAME=VALUE.")
                % {"rule": text, "part": part}
            )
    names = [part.split("=")[0] for part in text.split(";")]
    if duplicates := sorted({n for n in names if names.count(n) > 1}):
        raise RecurrenceError(
            _("Invalid recurrence rule %(rule)r: %(parts)s given twice.")
            % {"rule": text, "parts": ", ".join(duplicates)}
        )
    if "DTSTART" in names:
        raise RecurrenceError(
            _("The recurrence rule must not contain DTSTART; give the first start separately.")
        )
    try:
        recur = Recur.from_rrule(text)
    except ValidationError as err:
        raise RecurrenceError(
            _("Invalid recurrence rule %(rule)r: %(problem)s.")
            % {"rule": text, "problem": _describe_validation_error(err)}
        ) from None
    except (ValueError, TypeError, AttributeError) as err:
        raise RecurrenceError(
            _("Invalid recurrence rule %(rule)r: %(problem)s.") % {"rule": text, "problem": err}
        ) from None
    if recur.until is not None or recur.count is not None:
        # The series' last day is a field of its own (default: the group's cycle end); a second
        # end inside the rule could only disagree with it.
        raise RecurrenceError(
            _("The recurrence rule must not contain UNTIL or COUNT; set the series' last date instead.")
        )
    if recur.freq in _SUB_DAILY:
        # A group meets for hours, not minutes; and a sub-daily rule that never matches makes
        # dateutil test every hour of the search window (see `_expand_instants`).
        raise RecurrenceError(
            _(
                "Invalid recurrence rule %(rule)r: sessions repeat at most daily; "
                "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY."
            )
            % {"rule": text}
        )
    if recur.model_extra:
        # Recur keeps parts it does not know as extras and ignores them when expanding; calendar
        # clients that do know them would then show other dates than we hold sessions on.
        unknown = ", ".join(sorted(k.upper() for k in recur.model_extra))
        raise RecurrenceError(
            _("Invalid recurrence rule %(rule)r: unsupported part(s) %(parts)s.")
            % {"rule": text, "parts": unknown}
        )
    return text, recur


def _shift_years(value: dt.datetime, years: int) -> dt.datetime:
    # Safe for 29 February: the target year has the same leap status (see `_search_shift`).
    return value.replace(year=value.year + years)


def _year_signature(year: int) -> tuple[bool, int]:
    """What makes two years' calendars identical: leap or not, and the weekday of 1 January."""
    return calendar.isleap(year), dt.date(year, 1, 1).weekday()


def _search_shift(first_year: int, last_year: int) -> int:
    """The largest shift in years that maps ``first_year - 1`` .. ``last_year + 1`` onto years with
    the same calendars, ending no later than 9998.

    Identical calendars mean identical month lengths, weekdays, ISO week numbers and day counts
    between any two dates, so the rule yields the same dates there. A shift of 400·k years always
    qualifies (the Gregorian calendar repeats every 400 years), so the search always succeeds;
    between 9901 and 9998 (no century year without a leap day) a 28-year pattern usually lands
    the window within 28 years of 9998.
    """
    wanted = [_year_signature(y) for y in range(first_year - 1, last_year + 2)]
    for shift in range(_MAX_YEAR - 1 - last_year, 0, -1):
        if all(
            _year_signature(year + shift) == sig
            for year, sig in zip(range(first_year - 1, last_year + 2), wanted, strict=True)
        ):
            return shift
    return 0


def _expand_instants(recur: Recur, dtstart: dt.datetime, until: dt.date) -> list[dt.datetime]:
    """Naive local instants of the rule from ``dtstart`` through the end of ``until``.

    dateutil stops at UNTIL only when it produces an instance beyond it. A rule that can never
    match (FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30) therefore searches every day up to the year 9999,
    which took seconds of CPU in a measurement, on the event loop of a web process. Expanding the
    same rule in years with identical calendars just below 9999 yields the same dates and bounds
    that search to a few decades (about 0.1 s for such a daily rule); results are shifted back.
    """
    # One spare year below 9999: dateutil builds the dates of a week that crosses into the year
    # 10000 and fails there, which must stay well behind our window.
    shift = _search_shift(dtstart.year, until.year)
    shifted_until = dt.datetime.combine(until, dt.time.max).replace(year=until.year + shift)
    rule = recur.as_rrule(_shift_years(dtstart, shift)).replace(until=shifted_until)
    found: list[dt.datetime] = []
    instants = iter(rule)
    while len(found) <= MAX_OCCURRENCES:
        try:
            instant = next(instants)
        except StopIteration:
            break
        except (ValueError, OverflowError) as err:
            # The search ran into the year 10000, far beyond the window: every instance up to
            # UNTIL has been produced already (dateutil yields them in order).
            _LOGGER.debug("expansion of %s stopped at the end of the calendar: %s", recur, err)
            break
        found.append(instant)
    return [_shift_years(instant, -shift) for instant in found]


def expand(
    rule: str,
    *,
    dtstart_local: dt.datetime,
    timezone: str,
    until: dt.date,
    duration: dt.timedelta,
    closures: Collection[dt.date] = (),
) -> Expansion:
    """Expand ``rule`` from ``dtstart_local`` through ``until`` (inclusive) in ``timezone``.

    ``dtstart_local`` need not be an instance itself (a Monday for a Tuesday rule): the first
    instance on or after it starts the series. Instants on ``closures`` are left out of
    ``occurrences``; they still count towards ``MAX_OCCURRENCES``.

    Raises ``RecurrenceError`` for an invalid rule or zone, an end before the start, a series
    longer than ``MAX_SPAN_DAYS``, a rule that yields nothing or more than ``MAX_OCCURRENCES``
    sessions, and for sessions that would overlap each other.
    """
    zone = load_zone(timezone)
    if dtstart_local.tzinfo is not None:
        raise RecurrenceError(
            _("The first start must be a local time without offset, got %(value)s.")
            % {"value": dtstart_local.isoformat()},
            field="first_start_local",
        )
    minutes = duration.total_seconds() / 60
    if duration <= dt.timedelta(0) or minutes > MAX_DURATION_MINUTES or minutes != int(minutes):
        raise RecurrenceError(
            _("The duration must be a whole number of minutes from 1 to %(max)d, got %(value)s.")
            % {"max": MAX_DURATION_MINUTES, "value": f"{minutes:g}"},
            field="duration_minutes",
        )
    first_day = dtstart_local.date()
    if until < first_day:
        raise RecurrenceError(
            _("The series ends (%(until)s) before it starts (%(start)s).")
            % {"until": until.isoformat(), "start": first_day.isoformat()},
            field="until",
        )
    if first_day.year < _MIN_SUPPORTED_YEAR or until.year > _MAX_SUPPORTED_YEAR:
        raise RecurrenceError(
            _("Dates before %(low)d or after %(high)d are not supported.")
            % {"low": _MIN_SUPPORTED_YEAR, "high": _MAX_SUPPORTED_YEAR},
            field="until" if until.year > _MAX_SUPPORTED_YEAR else "first_start_local",
        )
    if (until - first_day).days > MAX_SPAN_DAYS:
        raise RecurrenceError(
            _("The series would run from %(start)s to %(until)s; a series may span at most %(days)d days.")
            % {"start": first_day.isoformat(), "until": until.isoformat(), "days": MAX_SPAN_DAYS},
            field="until",
        )
    text, recur = parse_rule(rule)
    instants = _expand_instants(recur, dtstart_local, until)
    if not instants:
        raise RecurrenceError(
            _("The rule %(rule)s yields no session between %(start)s and %(until)s.")
            % {"rule": text, "start": first_day.isoformat(), "until": until.isoformat()}
        )
    if len(instants) > MAX_OCCURRENCES:
        raise RecurrenceError(
            _(
                "The rule %(rule)s yields more than %(max)d sessions between %(start)s and %(until)s; "
                "a series may have at most %(max)d (a KiTa year of weekly sessions has about 40)."
            )
            % {
                "rule": text,
                "max": MAX_OCCURRENCES,
                "start": first_day.isoformat(),
                "until": until.isoformat(),
            }
        )
    starts = [to_utc(instant, zone) for instant in instants]
    for (a_local, a), (b_local, b) in itertools.pairwise(zip(instants, starts, strict=True)):
        if b - a < duration:
            raise RecurrenceError(
                _(
                    "Sessions of the rule %(rule)s would overlap: "
                    "%(a)s and %(b)s are less than %(n)s minutes apart."
                )
                % {
                    "rule": text,
                    "a": a_local.isoformat(" ", "minutes"),
                    "b": b_local.isoformat(" ", "minutes"),
                    "n": f"{minutes:g}",
                }
            )
    closed = frozenset(closures)
    occurrences = tuple(
        Occurrence(recurrence_local=instant, start=start, end=start + duration)
        for instant, start in zip(instants, starts, strict=True)
        if instant.date() not in closed
    )
    skipped = tuple(sorted({i.date() for i in instants if i.date() in closed}))
    _LOGGER.debug("expanded %s from %s: %d instants", text, dtstart_local, len(instants))
    return Expansion(rule=text, instants=tuple(instants), occurrences=occurrences, skipped=skipped)
