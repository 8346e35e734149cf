"""How a series' sessions map onto one master event, overrides, EXDATEs and RDATEs.

The master VEVENT's RRULE yields a set of rule instants. Each session names the rule instant it was
generated for (`FeedOccurrence.recurrence_local`). `plan_series` compares the two: an instant with
no session left is an EXDATE, a session that differs from what the master would show becomes an
override with that instant as RECURRENCE-ID, and a session whose instant the rule does not (or no
longer) yield is added as an RDATE so that its override still has an instance to replace.
"""

from __future__ import annotations

import datetime
import itertools
import zoneinfo
from dataclasses import dataclass

from ical.types import Recur

from .model import FeedOccurrence, FeedSeries

__all__ = ["MAX_RULE_INSTANTS", "SeriesPlan", "plan_series", "rule_instants"]

MAX_RULE_INSTANTS = 2000
"""Upper bound on the instants one rule may yield (a KiTa year has about 40 weekly sessions).

The expansion runs on every uncached render, so a typo such as FREQ=MINUTELY must fail loudly
instead of producing a feed with hundreds of thousands of EXDATEs."""


@dataclass(frozen=True, slots=True)
class SeriesPlan:
    """What the feed writes for one series; all times naive local in the series' zone."""

    recur: Recur
    """The rule with UNTIL set (in UTC)."""
    exdates: tuple[datetime.datetime, ...]
    """Rule instants with no session at all (closure days, deleted sessions)."""
    rdates: tuple[datetime.datetime, ...]
    """Sessions whose recurrence instant the rule does not yield."""
    overrides: tuple[tuple[datetime.datetime, FeedOccurrence], ...]
    """(recurrence instant, session) for every session that differs from what the master
    produces, ordered by recurrence instant."""


def _parse_rule(series: FeedSeries) -> Recur:
    try:
        recur = Recur.from_rrule(series.rrule)
    except (ValueError, AttributeError) as err:
        # ValueError covers pydantic's ValidationError; ical 14.3.1 raises AttributeError while
        # formatting its own message for a part without "=".
        raise ValueError(f"series {series.uid}: invalid RRULE {series.rrule!r}: {err}") from err
    if recur.until is not None or recur.count is not None:
        raise ValueError(f"series {series.uid}: RRULE must not carry UNTIL or COUNT; pass until_local")
    if recur.model_extra:
        # Recur keeps unknown parts as extras and ignores them when expanding, which would make our
        # EXDATE derivation disagree with clients that do understand them.
        raise ValueError(f"series {series.uid}: unsupported RRULE parts {sorted(recur.model_extra)}")
    zone = zoneinfo.ZoneInfo(series.timezone)
    recur.until = series.until_local.replace(tzinfo=zone).astimezone(datetime.UTC)
    return recur


def rule_instants(series: FeedSeries, recur: Recur | None = None) -> tuple[datetime.datetime, ...]:
    """Return the naive local starts the series' rule yields, up to and including UNTIL.

    The rule is expanded on aware wall-clock times in the series' zone and bounded by UNTIL in UTC,
    the way calendar clients expand ``DTSTART;TZID=...`` with ``UNTIL=...Z``.
    """
    if recur is None:
        recur = _parse_rule(series)
    zone = zoneinfo.ZoneInfo(series.timezone)
    expansion = recur.as_rrule(series.dtstart_local.replace(tzinfo=zone))
    instants = tuple(
        instant.replace(tzinfo=None) for instant in itertools.islice(expansion, MAX_RULE_INSTANTS + 1)
    )
    if len(instants) > MAX_RULE_INSTANTS:
        raise ValueError(f"series {series.uid}: the rule yields more than {MAX_RULE_INSTANTS} instants")
    return instants


def _differs_from_master(series: FeedSeries, occurrence: FeedOccurrence) -> bool:
    return (
        occurrence.status == "cancelled"
        or occurrence.start_local != occurrence.recurrence_local
        or occurrence.end_local - occurrence.start_local != series.duration
        or occurrence.summary != series.summary
        or occurrence.description != series.description
        or occurrence.url != series.url
        or occurrence.location != series.location
        # A revision the master does not carry (for example a session moved and moved back) is
        # written out so that clients see its SEQUENCE; a lower one is covered by the master's.
        or occurrence.sequence > series.sequence
    )


def plan_series(series: FeedSeries) -> SeriesPlan | None:
    """Derive EXDATEs, RDATEs and overrides; None when no session of the series is left."""
    if not series.occurrences:
        # A master whose every instance is excluded is legal but pointless, and some clients
        # show the bare master anyway; leaving the series out is what the data says.
        return None
    recur = _parse_rule(series)
    instants = rule_instants(series, recur)
    if not instants or instants[0] != series.dtstart_local:
        # RFC 5545 leaves a DTSTART that is not an instance of its rule undefined; clients differ.
        raise ValueError(
            f"series {series.uid}: dtstart_local {series.dtstart_local.isoformat()} "
            f"is not an instance of {series.rrule}"
        )
    by_instant: dict[datetime.datetime, FeedOccurrence] = {}
    for occ in series.occurrences:
        if occ.recurrence_local is None:  # FeedSeries refuses these; kept for the type checker
            raise ValueError(f"series {series.uid}: session without recurrence_local")
        by_instant[occ.recurrence_local] = occ
    instant_set = frozenset(instants)
    exdates = tuple(instant for instant in instants if instant not in by_instant)
    rdates = tuple(sorted(instant for instant in by_instant if instant not in instant_set))
    overrides = tuple(
        (instant, by_instant[instant])
        for instant in sorted(by_instant)
        if _differs_from_master(series, by_instant[instant])
    )
    return SeriesPlan(recur=recur, exdates=exdates, rdates=rdates, overrides=overrides)
