"""Small-cell suppression of the anonymous statistics: primary and secondary."""

from __future__ import annotations

import itertools

import pytest

from orchestrator.reports import aggregate as agg
from orchestrator.reports.aggregate import StatInput


def hidden(values, total):
    cells, total_hidden = agg.suppress_line(values, total)
    return [i for i, h in enumerate(cells) if h], total_hidden


def test_nothing_small_nothing_hidden():
    assert hidden([5, 9, 12], 26) == ([], False)


def test_primary_suppression_includes_zero():
    # 0 and 3 are both below 5; together they add up to 3 < 5, so the next smallest (7) goes too.
    assert hidden([0, 3, 7, 20], 30) == ([0, 1, 2], False)


def test_a_single_small_cell_gets_a_partner():
    # Without secondary suppression 30 - 12 - 15 would give the hidden 3 away.
    assert hidden([3, 12, 15], 30) == ([0, 1], False)


def test_two_small_cells_adding_up_to_five_are_enough():
    assert hidden([2, 3, 40], 45) == ([0, 1], False)


def test_two_small_cells_below_five_together_need_a_third():
    assert hidden([1, 2, 40, 50], 93) == ([0, 1, 2], False)


def test_a_single_cell_line_hides_its_total():
    assert hidden([3], 3) == ([0], True)


def test_small_total_is_hidden():
    assert hidden([1, 2], 3) == ([0, 1], True)


def test_all_cells_hidden_and_still_too_small_hides_the_total():
    # An overlapping line (languages) whose cells exceed nothing: 1 + 2 < 5, nothing left to hide.
    assert hidden([1, 2], 7) == ([0, 1], True)


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_no_hidden_cell_can_be_recovered_from_the_total(width):
    """For additive lines of every shape: the hidden cells are at least two and add up to at
    least 5, or the total is hidden too; so subtracting the shown cells from the total never
    isolates a hidden cell, nor pins hidden cells down to a sum below 5."""
    for values in itertools.product([0, 1, 2, 4, 5, 6, 11], repeat=width):
        total = sum(values)
        cells, total_hidden = agg.suppress_line(values, total)
        assert all(cells[i] for i, v in enumerate(values) if v < 5), values
        hidden_values = [v for v, h in zip(values, cells, strict=True) if h]
        if hidden_values and not total_hidden:
            assert len(hidden_values) >= 2, values
            assert sum(hidden_values) >= 5, values
        if total < 5:
            assert total_hidden, values


def stat_input(**kw):
    base = {
        "groups": {1: ("Köln", ("tr", "ar")), 2: ("Köln", ("ru",)), 3: ("Bonn", ("tr",))},
        "sessions": {
            (1, "2026-09"): 2,
            (1, "2026-10"): 2,
            (2, "2026-10"): 1,
            (2, "2026-11"): 1,
            (3, "2026-10"): 1,
        },
        "participations": {
            (1, "2026-09"): 6,
            (1, "2026-10"): 5,
            (2, "2026-10"): 1,
            (2, "2026-11"): 2,
            (3, "2026-10"): 1,
        },
        "families_by_month": {"2026-09": 3, "2026-10": 5, "2026-11": 2},
        "families_by_municipality": {"Köln": 5, "Bonn": 1},
        "families_total": 6,
        "group_parents": [(1, 1), (1, 2), (1, 3), (1, 4), (2, 1), (2, 6), (3, 7)],
    }
    base.update(kw)
    return StatInput(**base)


def test_build_statistics_tables():
    overall, tables = agg.build_statistics(stat_input())
    assert overall.values == (7, 15, 6)
    by = {t.dimension: {r.key: r.values for r in t.rows} for t in tables}
    # Languages: ar 4/11/4, ru 2/3/2, tr 5/12/5. Sessions: ar and ru hidden (4 + 2 >= 5).
    # Participations: ru 3 hidden, so the smallest other (ar 11) is hidden with it.
    assert by["language"] == {"ar": (None, None, None), "ru": (None, None, None), "tr": (5, 12, 5)}
    # Municipalities: Bonn is 1/1/1, and with two rows Köln must be hidden with it everywhere.
    assert by["municipality"] == {"Bonn": (None, None, None), "Köln": (None, None, None)}
    # Months: sessions 2/4/1 all hidden (sum 7); participations 6/7/2: 2 and 6 hidden;
    # families 3/5/2: 3 and 2 hidden (sum 5).
    assert by["month"] == {
        "2026-09": (None, None, None),
        "2026-10": (None, 7, 5),
        "2026-11": (None, None, None),
    }
    for t in tables:
        assert t.total.values == (7, 15, 6)


def test_groups_without_language_count_under_the_empty_key():
    _overall, tables = agg.build_statistics(
        stat_input(groups={1: ("Köln", ()), 2: ("Köln", ("ru",)), 3: ("Bonn", ("tr",))})
    )
    language = next(t for t in tables if t.dimension == "language")
    assert [r.key for r in language.rows] == ["", "ru", "tr"]


def test_a_tiny_total_is_hidden_in_every_table():
    data = StatInput(
        groups={1: ("Köln", ("tr",))},
        sessions={(1, "2026-09"): 3},
        participations={(1, "2026-09"): 9},
        families_by_month={"2026-09": 3},
        families_by_municipality={"Köln": 3},
        families_total=3,
        group_parents=[(1, 1), (1, 2), (1, 3)],
    )
    overall, tables = agg.build_statistics(data)
    assert overall.values == (None, 9, None)
    for t in tables:
        assert t.total.values == (None, 9, None)
        assert [r.values for r in t.rows] == [(None, 9, None)]


def test_empty_statistics():
    overall, tables = agg.build_statistics(StatInput({}, {}, {}, {}, {}, 0, ()))
    assert overall.values == (None, None, None)
    assert all(t.rows == () for t in tables)
