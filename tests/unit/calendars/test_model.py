"""The input dataclasses refuse data that would render a silently wrong calendar."""

from __future__ import annotations

import datetime
from dataclasses import replace

import pytest

from calendars import Feed, FeedOccurrence

from .samples import golden_feed

UTC = datetime.UTC


def _occurrence() -> FeedOccurrence:
    feed = golden_feed()
    return feed.series[0].occurrences[0]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"start_local": datetime.datetime(2025, 10, 7, 9, 30, tzinfo=UTC)}, "naive local"),
        ({"recurrence_local": datetime.datetime(2025, 10, 7, 9, 30, tzinfo=UTC)}, "naive local"),
        ({"end_local": datetime.datetime(2025, 10, 7, 9, 30)}, "must be after start"),
        ({"status": "postponed"}, "status must be one of"),
        ({"sequence": -1}, "must not be negative"),
        ({"last_modified": datetime.datetime(2025, 10, 7, 9, 30)}, "aware instant"),
        ({"url": "https://example.org/a b"}, "whitespace"),
        ({"url": "https://example.org/a\r\nX-EVIL:1"}, "whitespace or control"),
        ({"url": "/relative/link"}, "absolute URL"),
    ],
)
def test_occurrence_refuses(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(_occurrence(), **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"uid": ""}, "uid"),
        ({"uid": "a\nb"}, "uid"),
        ({"timezone": "Europe/Bonn"}, "unknown IANA time zone"),
        ({"timezone": "../etc/passwd"}, "unknown IANA time zone"),
        ({"until_local": datetime.datetime(2025, 1, 1)}, "before dtstart"),
        ({"duration": datetime.timedelta(0)}, "duration must be positive"),
    ],
)
def test_series_refuses(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(golden_feed().series[0], **changes)  # type: ignore[arg-type]


def test_series_refuses_a_session_without_recurrence_instant() -> None:
    series = golden_feed().series[0]
    loose = replace(series.occurrences[0], recurrence_local=None)
    with pytest.raises(ValueError, match="FeedOneOff"):
        replace(series, occurrences=(loose,))


def test_series_refuses_two_sessions_for_one_instant() -> None:
    series = golden_feed().series[0]
    with pytest.raises(ValueError, match="two sessions"):
        replace(series, occurrences=(series.occurrences[0], series.occurrences[0]))


def test_feed_refuses_duplicate_uids() -> None:
    feed = golden_feed()
    with pytest.raises(ValueError, match="own uid"):
        replace(feed, series=(feed.series[0], feed.series[0]))


def test_feed_refuses_a_non_positive_refresh_interval() -> None:
    with pytest.raises(ValueError, match="refresh_interval"):
        replace(golden_feed(), refresh_interval=datetime.timedelta(0))


def test_feed_defaults() -> None:
    feed = Feed(name="n", cancelled_prefix="x", prodid="p")
    assert feed.refresh_interval == datetime.timedelta(hours=1)
    assert feed.series == ()
    assert feed.single_sessions == ()
