"""Equal data gives equal bytes (and ETag); any visible change gives different ones.

The web tier answers If-None-Match with 304 on the ETag, so a render that varied by clock, hash
seed or set order would defeat caching, and a change that did not alter the bytes would never
reach a subscriber.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from calendars import Feed, FeedOneOff, etag_for, render_feed

from .samples import golden_feed

ROOT = Path(__file__).resolve().parents[3]


def test_same_input_twice_gives_the_same_bytes_and_etag() -> None:
    first, second = render_feed(golden_feed()), render_feed(golden_feed())
    assert first == second
    assert etag_for(first) == etag_for(second)


def test_bytes_do_not_depend_on_the_order_of_the_input() -> None:
    feed = golden_feed()
    shuffled = replace(
        feed,
        series=tuple(
            replace(series, occurrences=tuple(reversed(series.occurrences)))
            for series in reversed(feed.series)
        ),
        single_sessions=tuple(reversed((*feed.single_sessions, _second_one_off(feed)))),
    )
    in_order = replace(feed, single_sessions=(*feed.single_sessions, _second_one_off(feed)))
    assert render_feed(shuffled) == render_feed(in_order)


def _second_one_off(feed: Feed) -> FeedOneOff:
    first = feed.single_sessions[0]
    return replace(
        first,
        uid="session-982@rucksack.example",
        start_local=first.start_local - datetime.timedelta(days=1),
        end_local=first.end_local - datetime.timedelta(days=1),
    )


def test_bytes_do_not_depend_on_the_process() -> None:
    # Different hash seeds change set and dict-of-set iteration order; the output must not.
    script = (
        "import sys\n"
        "from calendars import render_feed\n"
        "from tests.unit.calendars.samples import golden_feed\n"
        "sys.stdout.buffer.write(render_feed(golden_feed()))\n"
    )
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, check=True)
        outputs.add(result.stdout)
    assert outputs == {render_feed(golden_feed())}


def test_etag_is_strong_and_quoted() -> None:
    tag = etag_for(b"BEGIN:VCALENDAR\r\n")
    assert tag.startswith('"')
    assert tag.endswith('"')
    assert not tag.startswith("W/")
    assert len(tag) == 66


def _change_one_session(feed: Feed, **changes: object) -> Feed:
    series = feed.series[1]
    occurrences = list(series.occurrences)
    occurrences[2] = replace(occurrences[2], **changes)  # type: ignore[arg-type]
    return replace(feed, series=(feed.series[0], replace(series, occurrences=tuple(occurrences))))


@pytest.mark.parametrize(
    "changes",
    [
        {"sequence": 1},
        {
            "start_local": datetime.datetime(2026, 3, 19, 17, 0),
            "end_local": datetime.datetime(2026, 3, 19, 18, 30),
            "sequence": 1,
        },
        {"status": "cancelled"},
        {"summary": "Neues Thema"},
    ],
    ids=["sequence", "time", "cancelled", "summary"],
)
def test_a_change_to_one_session_changes_bytes_and_etag(changes: dict[str, object]) -> None:
    before = render_feed(golden_feed())
    after = render_feed(_change_one_session(golden_feed(), **changes))
    assert after != before
    assert etag_for(after) != etag_for(before)


def test_deleting_one_session_changes_bytes_and_etag() -> None:
    feed = golden_feed()
    series = feed.series[1]
    shorter = replace(series, occurrences=series.occurrences[:2] + series.occurrences[3:])
    after = render_feed(replace(feed, series=(feed.series[0], shorter)))
    assert etag_for(after) != etag_for(render_feed(feed))
