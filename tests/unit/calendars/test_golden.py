"""Golden files: the exact bytes of the sample feed and of a single-session download.

Run with ``UPDATE_GOLDEN=1`` to rewrite the files after an intended change, then review the diff
of ``tests/unit/calendars/golden/`` like code: every changed byte reaches every subscriber.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from calendars import render_feed, render_single_event

from .lint import assert_lint_clean
from .samples import golden_feed

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _check(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_bytes(data)
    if not path.exists():
        pytest.fail(f"{path} is missing; run with UPDATE_GOLDEN=1 to create it")
    assert data == path.read_bytes(), f"{name} changed; run with UPDATE_GOLDEN=1 if intended"


def test_feed_matches_golden_file() -> None:
    data = render_feed(golden_feed())
    assert_lint_clean(data)
    _check("feed.ics", data)


def test_single_session_download_matches_golden_file() -> None:
    feed = golden_feed()
    series = feed.series[0]
    moved = next(occ for occ in series.occurrences if occ.start_local != occ.recurrence_local)
    data = render_single_event(
        moved, series=series, prodid=feed.prodid, cancelled_prefix=feed.cancelled_prefix
    )
    assert_lint_clean(data)
    _check("session.ics", data)


def test_one_off_download_matches_golden_file() -> None:
    feed = golden_feed()
    data = render_single_event(
        feed.single_sessions[0], prodid=feed.prodid, cancelled_prefix=feed.cancelled_prefix
    )
    assert_lint_clean(data)
    _check("one-off.ics", data)
