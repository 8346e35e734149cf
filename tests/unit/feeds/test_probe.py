"""Reading the probe statement's rows: valid owners, refusals, versions and dates."""

from __future__ import annotations

import datetime as dt

import pytest

from orchestrator.feeds.probe import interpret, make_reader

CREATED = "2026-01-05 10:00:00.000000"


def row(**values):
    """One result row, as sqlite3 returns it (column order of the statement)."""
    base = {
        "id": 1, "revoked": None, "created": CREATED, "parent": 10, "staff": None, "chosen": "[]",
        "lang": "tr", "erased": None, "active": None, "kind": "parent",
        "gid": 3, "g_version": 4, "g_updated": "2026-01-07 12:30:00.250000", "g_archived": 0,
        "joined": "2026-01-01 09:00:00.000000", "left": None,
    }  # fmt: skip
    base.update(values)
    return tuple(base.values())


def staff_row(role: str, **values):
    base = {"parent": None, "staff": 5, "lang": "de", "active": 1, "kind": role, "joined": None}
    base.update(values)
    return row(**base)


def test_a_parent_feed():
    rows = [row(gid=4, g_updated="2026-01-08 07:00:00.000000"), row()]
    probe = interpret(rows)
    assert probe is not None
    assert (probe.kind, probe.owner_id, probe.language, probe.secret_id) == ("parent", 10, "tr", 1)
    assert probe.last_modified == dt.datetime(2026, 1, 8, 7, 0, tzinfo=dt.UTC)
    # The order of the rows does not matter.
    assert probe.version == interpret(list(reversed(rows))).version


@pytest.mark.parametrize(
    "change",
    [
        {"g_version": 5},
        {"g_updated": "2026-01-07 12:30:00.250001"},
        {"left": "2026-02-01 00:00:00.000000"},
        {"lang": "ar"},
        {"g_archived": 1},
        {"gid": 9},
    ],
)
def test_every_change_is_a_new_version(change):
    assert interpret([row()]).version != interpret([row(**change)]).version


def test_leaving_moves_last_modified():
    probe = interpret([row(left="2026-03-01 08:00:00.000000")])
    assert probe is not None
    assert probe.last_modified == dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


def test_postgres_values():
    probe = interpret(
        [
            row(
                created=dt.datetime(2026, 1, 5, 10, 0),
                joined=dt.datetime(2026, 1, 1),
                g_updated=dt.datetime(2026, 1, 9, 6, 0),
                g_archived=False,
                chosen=[],
            )
        ]
    )
    assert probe is not None
    assert probe.last_modified == dt.datetime(2026, 1, 9, 6, 0, tzinfo=dt.UTC)


def test_staff_feeds():
    facilitator = interpret([staff_row("facilitator")])
    assert facilitator is not None
    assert (facilitator.kind, facilitator.owner_id, facilitator.language) == ("facilitator", 5, "de")
    coordinator = interpret([staff_row("coordinator", lang="en", active=True, chosen="[3, 1]")])
    assert coordinator is not None
    assert coordinator.version[2] == (1, 3)
    # A feed without any group (a new facilitator) is still a feed, dated by the secret.
    empty = interpret([staff_row("facilitator", gid=None, g_version=None, g_updated=None, g_archived=None)])
    assert empty is not None
    assert empty.version[3] == ()
    assert empty.last_modified == dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "rows",
    [
        [],
        [row(revoked="2026-01-06 00:00:00.000000")],
        [row(erased="2026-01-06 00:00:00.000000")],
        [staff_row("facilitator", active=0)],
        [staff_row("coordinator", active=False, revoked="2026-01-06 00:00:00.000000")],
    ],
)
def test_refused(rows):
    assert interpret(rows) is None


def test_readers_need_a_database_file():
    with pytest.raises(ValueError, match="file"):
        make_reader("sqlite://")
    make_reader("sqlite:////tmp/x.sqlite3")
    make_reader("postgresql://user:pw@db.example/rucksack")
    make_reader("postgres://user@db.example/rucksack")
