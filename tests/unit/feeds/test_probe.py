"""Reading the probe statement's rows: valid owners, refusals, versions and dates."""

from __future__ import annotations

import datetime as dt

import pytest

from orchestrator.feeds.probe import interpret, make_reader

CREATED = "2026-01-05 10:00:00.000000"


def row(**values):
    base = {
        "id": 1, "revoked": None, "created": CREATED, "parent": 10, "staff": None, "chosen": "[]",
        "p_lang": "tr", "p_erased": None, "u_lang": None, "u_active": None, "u_role": None, "u_centre": None,
        "gid": 3, "joined": "2026-01-01 09:00:00.000000", "left": None, "g_version": 4,
        "g_updated": "2026-01-02 09:00:00.000000", "g_archived": 0,
        "s_count": 40, "s_updated": "2026-01-07 12:30:00.250000", "s_seq": 3,
        "r_count": 1, "r_updated": "2026-01-01 08:00:00.000000", "r_seq": 0,
    }  # fmt: skip
    base.update(values)
    return tuple(base.values())


def test_a_parent_feed():
    probe = interpret([row(), row(gid=4, s_updated="2026-01-08 07:00:00.000000")])
    assert probe is not None
    assert (probe.kind, probe.owner_id, probe.language, probe.secret_id) == ("parent", 10, "tr", 1)
    assert probe.last_modified == dt.datetime(2026, 1, 8, 7, 0, tzinfo=dt.UTC)
    assert probe.version == interpret([row(), row(gid=4, s_updated="2026-01-08 07:00:00.000000")]).version


@pytest.mark.parametrize(
    "change",
    [
        {"s_seq": 4},
        {"s_count": 39},
        {"s_updated": "2026-01-07 12:30:00.250001"},
        {"g_version": 5},
        {"left": "2026-02-01 00:00:00.000000"},
        {"p_lang": "ar"},
        {"r_updated": "2026-01-09 08:00:00.000000"},
        {"g_archived": 1},
    ],
)
def test_every_change_is_a_new_version(change):
    assert interpret([row()]).version != interpret([row(**change)]).version


def test_postgres_values():
    probe = interpret(
        [
            row(
                created=dt.datetime(2026, 1, 5, 10, 0),
                joined=dt.datetime(2026, 1, 1),
                g_updated=dt.datetime(2026, 1, 2),
                s_updated=dt.datetime(2026, 1, 9, 6, 0),
                r_updated=None,
                g_archived=False,
            )
        ]
    )
    assert probe is not None
    assert probe.last_modified == dt.datetime(2026, 1, 9, 6, 0, tzinfo=dt.UTC)


def test_staff_feeds():
    facilitator = interpret(
        [row(parent=None, p_lang=None, staff=5, u_lang="de", u_active=1, u_role="facilitator")]
    )
    assert facilitator is not None
    assert (facilitator.kind, facilitator.owner_id, facilitator.language) == ("facilitator", 5, "de")
    coordinator = interpret(
        [
            row(
                parent=None,
                p_lang=None,
                staff=6,
                u_lang="en",
                u_active=True,
                u_role="coordinator",
                chosen="[3, 1]",
            )
        ]
    )
    assert coordinator is not None
    assert coordinator.version[2] == (1, 3)
    # A feed without any group (a new facilitator) is still a feed.
    empty = interpret(
        [row(parent=None, p_lang=None, staff=5, u_lang="de", u_active=1, u_role="facilitator", gid=None)]
    )
    assert empty is not None
    assert empty.version[3] == ()


@pytest.mark.parametrize(
    "rows",
    [
        [],
        [row(revoked="2026-01-06 00:00:00.000000")],
        [row(p_erased="2026-01-06 00:00:00.000000")],
        [row(parent=None, p_lang=None, staff=5, u_lang="de", u_active=0, u_role="facilitator")],
        [row(parent=None, p_lang=None, staff=5, u_lang="de", u_active=1, u_role="admin")],
        [row(parent=None, p_lang=None, staff=None)],
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
