"""The report period: the KiTa year by default, one year from or up to a single given end."""

from __future__ import annotations

import datetime as dt

import pytest

from orchestrator.errors import InvalidInput
from orchestrator.reports.services import _check_range, kita_year

D = dt.date


@pytest.mark.parametrize(
    ("today", "year"),
    [
        (D(2026, 11, 28), (D(2026, 8, 1), D(2027, 7, 31))),
        (D(2027, 7, 31), (D(2026, 8, 1), D(2027, 7, 31))),
        (D(2027, 8, 1), (D(2027, 8, 1), D(2028, 7, 31))),
        (D(2026, 1, 15), (D(2025, 8, 1), D(2026, 7, 31))),
    ],
)
def test_kita_year(today, year):
    assert kita_year(today) == year


def test_range_defaults_and_single_ends():
    today = D(2026, 11, 28)
    assert _check_range(None, None, today) == (D(2026, 8, 1), D(2027, 7, 31))
    assert _check_range(D(2025, 8, 1), None, today) == (D(2025, 8, 1), D(2026, 7, 31))
    assert _check_range(None, D(2026, 7, 31), today) == (D(2025, 8, 1), D(2026, 7, 31))
    assert _check_range(D(2026, 10, 1), D(2026, 10, 1), today) == (D(2026, 10, 1), D(2026, 10, 1))


def test_range_errors_name_the_field():
    today = D(2026, 11, 28)
    with pytest.raises(InvalidInput) as e:
        _check_range(D(2026, 10, 2), D(2026, 10, 1), today)
    assert e.value.field == "to"
    with pytest.raises(InvalidInput):
        _check_range(D(2020, 1, 1), D(2026, 1, 1), today)
