"""The beat schedule, in one place: every periodic job of the service and how often it runs."""

from __future__ import annotations

from typing import Any

__all__ = ["beat_schedule"]


def beat_schedule() -> dict[str, dict[str, Any]]:
    return {
        # Catch up work whose job message was lost (broker down, worker killed): series whose
        # sessions are not materialised yet.
        "materialise-series": {"task": "rucksack.materialise_all_series", "schedule": 3600.0},
    }
