"""Sample feeds shared by the calendar tests (and usable by the web tier's tests).

`golden_feed()` is the feed of the golden file: a weekly Europe/Berlin series across both DST
changes of a KiTa year with one moved, one cancelled and one deleted session, and long Arabic and
Cyrillic texts that must fold; `benchmark_feed()` is the 2 series x 40 sessions timing case.
"""

from __future__ import annotations

import datetime
from dataclasses import replace

from calendars import Feed, FeedOccurrence, FeedOneOff, FeedSeries

__all__ = ["BASE_URL", "benchmark_feed", "golden_feed", "occurrences_for", "weekly_series"]

BASE_URL = "https://rucksack.example/j/Zk3q9PxT2mVb"
UTC = datetime.UTC


def occurrences_for(
    starts: list[datetime.datetime],
    duration: datetime.timedelta,
    *,
    summary: str,
    description: str,
    url: str,
    location: str,
    sequence: int,
    last_modified: datetime.datetime,
) -> tuple[FeedOccurrence, ...]:
    """Sessions exactly as the master would produce them (no overrides)."""
    return tuple(
        FeedOccurrence(
            recurrence_local=start,
            start_local=start,
            end_local=start + duration,
            status="scheduled",
            sequence=sequence,
            last_modified=last_modified,
            summary=summary,
            description=description,
            url=url,
            location=location,
        )
        for start in starts
    )


def weekly_series(
    *,
    uid: str,
    first: datetime.datetime,
    weeks: int,
    summary: str,
    description: str,
    rrule: str = "FREQ=WEEKLY",
    timezone: str = "Europe/Berlin",
    duration: datetime.timedelta = datetime.timedelta(minutes=90),
    sequence: int = 0,
    last_modified: datetime.datetime = datetime.datetime(2025, 8, 20, 7, 15, tzinfo=UTC),
) -> FeedSeries:
    """A weekly series with one unchanged session per week."""
    url = f"{BASE_URL}/{uid.split('@')[0]}"
    starts = [first + datetime.timedelta(weeks=i) for i in range(weeks)]
    return FeedSeries(
        uid=uid,
        timezone=timezone,
        rrule=rrule,
        dtstart_local=first,
        duration=duration,
        until_local=starts[-1],
        summary=summary,
        description=description,
        url=url,
        location=url,
        sequence=sequence,
        last_modified=last_modified,
        occurrences=occurrences_for(
            starts,
            duration,
            summary=summary,
            description=description,
            url=url,
            location=url,
            sequence=sequence,
            last_modified=last_modified,
        ),
    )


ARABIC_SUMMARY = "مجموعة الآباء والأمهات «روكزاك» — اللقاء الأسبوعي في روضة الأطفال زونينبلومه، شارع المدرسة"
ARABIC_DESCRIPTION = (
    "موضوع هذا الأسبوع: اللغة والقراءة مع الأطفال في البيت.\n"
    "الرابط الشخصي للانضمام إلى الجلسة موجود أدناه؛ لا تشاركوه مع أحد."
)
CYRILLIC_SUMMARY = (
    "Родительская группа «Рюкзак» — еженедельная встреча в детском саду «Подсолнух», Школьная улица"
)
CYRILLIC_DESCRIPTION = (
    "Тема недели: язык и чтение с детьми дома.\nЛичная ссылка для входа — ниже; не пересылайте её."
)
FEED_NAME = "Rucksack: مجموعة الآباء والأمهات / Родительская группа — Kita Sonnenblume, Schulstraße 12"


def golden_feed() -> Feed:
    """The golden-file feed; every special case is described where it is made."""
    # Tuesdays 09:30-11:00 Berlin time from 7 Oct 2025 to 14 Apr 2026: crosses the end of summer
    # time (26 Oct 2025) and its start (29 Mar 2026).
    arabic = weekly_series(
        uid="series-17@rucksack.example",
        first=datetime.datetime(2025, 10, 7, 9, 30),
        weeks=28,
        rrule="FREQ=WEEKLY;BYDAY=TU",
        summary=ARABIC_SUMMARY,
        description=ARABIC_DESCRIPTION,
        sequence=1,
    )
    changed = datetime.datetime(2025, 11, 2, 18, 4, 5, tzinfo=UTC)
    occurrences = []
    for occ in arabic.occurrences:
        assert occ.recurrence_local is not None
        day = occ.recurrence_local.date()
        if day == datetime.date(2025, 12, 23):
            continue  # deleted (closure day): must become an EXDATE
        if day == datetime.date(2025, 11, 4):
            # moved to Thursday afternoon: an override at the new time
            occ = replace(
                occ,
                start_local=datetime.datetime(2025, 11, 6, 15, 0),
                end_local=datetime.datetime(2025, 11, 6, 16, 30),
                sequence=2,
                last_modified=changed,
                url=f"{arabic.url}/20251104",
                location=f"{arabic.url}/20251104",
            )
        if day == datetime.date(2026, 3, 31):
            # cancelled, just after the change to summer time
            occ = replace(occ, status="cancelled", sequence=3, last_modified=changed)
        if day == datetime.date(2025, 10, 28):
            occ = replace(occ, status="ended")  # a past session: no override needed
        occurrences.append(occ)
    arabic = replace(arabic, occurrences=tuple(occurrences))

    # Thursdays 16:00-17:30 with a Cyrillic title; the rule has no BYDAY (weekday of DTSTART).
    cyrillic = weekly_series(
        uid="series-23@rucksack.example",
        first=datetime.datetime(2026, 3, 5, 16, 0),
        weeks=6,
        summary=CYRILLIC_SUMMARY,
        description=CYRILLIC_DESCRIPTION,
    )
    one_off = FeedOneOff(
        uid="session-981@rucksack.example",
        timezone="Europe/Berlin",
        start_local=datetime.datetime(2025, 10, 25, 10, 0),
        end_local=datetime.datetime(2025, 10, 25, 12, 0),
        status="scheduled",
        sequence=0,
        last_modified=datetime.datetime(2025, 9, 30, 12, 0, tzinfo=UTC),
        summary="Elternabend; Fragen, Antworten \\ Austausch",
        description="Alle Gruppen gemeinsam.",
        url=f"{BASE_URL}/session-981",
        location=f"{BASE_URL}/session-981",
    )
    return Feed(
        name=FEED_NAME,
        series=(arabic, cyrillic),
        single_sessions=(one_off,),
        cancelled_prefix="Abgesagt: ",
        prodid="-//Rucksack Orchestrator//Calendar Feed 1.0//DE",
    )


def benchmark_feed() -> Feed:
    """2 series x 40 weekly sessions, each with one moved, one cancelled and one deleted session."""
    series = []
    for number, (first, rrule) in enumerate(
        [
            (datetime.datetime(2025, 9, 2, 9, 30), "FREQ=WEEKLY;BYDAY=TU"),
            (datetime.datetime(2025, 9, 4, 16, 0), "FREQ=WEEKLY;BYDAY=TH"),
        ]
    ):
        base = weekly_series(
            uid=f"series-{number}@rucksack.example",
            first=first,
            weeks=41,
            rrule=rrule,
            summary=CYRILLIC_SUMMARY if number else ARABIC_SUMMARY,
            description=CYRILLIC_DESCRIPTION if number else ARABIC_DESCRIPTION,
        )
        kept: list[FeedOccurrence] = []
        for index, occ in enumerate(base.occurrences):
            if index == 10:
                continue  # deleted
            if index == 5:
                occ = replace(
                    occ,
                    start_local=occ.start_local + datetime.timedelta(hours=2),
                    end_local=occ.end_local + datetime.timedelta(hours=2),
                    sequence=1,
                )
            if index in (20, 30):
                occ = replace(occ, status="cancelled", sequence=1)
            kept.append(occ)
        series.append(replace(base, occurrences=tuple(kept)))
    return Feed(
        name=FEED_NAME,
        series=tuple(series),
        cancelled_prefix="Abgesagt: ",
        prodid="-//Rucksack Orchestrator//Calendar Feed 1.0//DE",
    )
