"""Property: replaying a session's events in any order, with duplicates, gives the same attendance.

Design §5 on both databases, through the processing use case: the events of a realistic
session (each format) are put into the inbox in a random order, with random redeliveries that
reach the worker (a redelivery whose dedupe key differs, as a resent event_sync body with another
occupant count would), in random portions processed in chunks of random size. The attendance rows
and presence intervals must equal those of one clean, ordered run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.orm import Session as DbSession

from integrations.jitsi import parse_event_sync, parse_jaas
from orchestrator.attendance.processing import process_pending_events
from orchestrator.hooks.inbox import InboxRow
from orchestrator.models import Attendance, ConferenceEvent, JitsiDeployment, PresenceInterval
from tests.integration.test_attendance_streams import (
    Delivery,
    World,
    event_sync_session,
    jaas_session,
    make_world,
)


@pytest.fixture
def world(db, settings) -> World:
    return make_world(db, settings)


NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)  # long after the session: everything is closed
GRACE = dt.timedelta(minutes=30)


def inbox_rows(stream: list[Delivery], deployment_id: int) -> list[InboxRow]:
    rows = []
    for d in stream:
        event = parse_event_sync(d.endpoint, d.body) if d.source == "event_sync" else parse_jaas(d.body)
        rows.append(InboxRow.for_event(event, deployment_id=deployment_id, body=d.body, headers={}))
    return rows


def replay(db: DbSession, session_id: int, rows: list[InboxRow], portions: list[int], chunk: int) -> None:
    """Empties the session's inbox and results, then feeds ``rows`` in portions, processing each."""
    db.execute(delete(ConferenceEvent))
    db.execute(delete(PresenceInterval).where(PresenceInterval.session_id == session_id))
    db.execute(delete(Attendance).where(Attendance.session_id == session_id))
    db.commit()
    start = 0
    for size in [*portions, len(rows)]:
        part, start = rows[start : start + size], start + size
        for row in part:
            db.add(ConferenceEvent(**row.as_values()))
        db.commit()
        while process_pending_events(db, now=NOW, finalise_grace=GRACE, limit=chunk).claimed:
            db.commit()
        db.commit()
        if start >= len(rows):
            break


def snapshot(db: DbSession, session_id: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    db.expire_all()
    attendance = sorted(
        (
            a.parent_id or 0,
            a.staff_user_id or 0,
            a.role,
            a.computed_minutes,
            a.computed_status,
            a.first_join,
            a.last_leave,
            a.late,
            a.left_early,
        )
        for a in db.scalars(select(Attendance).where(Attendance.session_id == session_id))
    )
    intervals = sorted(
        (
            i.person_key,
            i.parent_id or 0,
            i.staff_user_id or 0,
            i.connection_id,
            i.joined_at,
            i.left_at or NOW,
            i.in_breakout,
        )
        for i in db.scalars(select(PresenceInterval).where(PresenceInterval.session_id == session_id))
    )
    return attendance, intervals


_EXPECTED: dict[tuple[int, str], tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = {}


def _property(db: DbSession, session_id: int, stream: list[Delivery], data: st.DataObject) -> None:
    kind = "self_hosted" if stream[0].source == "event_sync" else "jaas"
    deployment_id = db.scalar(select(JitsiDeployment.id).where(JitsiDeployment.kind == kind))
    rows = inbox_rows(stream, deployment_id)

    # The clean, ordered run, once per test (fixtures live for all examples of a test).
    key = (id(db), kind)
    if key not in _EXPECTED:
        replay(db, session_id, rows, portions=[], chunk=1000)
        _EXPECTED[key] = snapshot(db, session_id)
    expected = _EXPECTED[key]
    assert len(expected[0]) == 4  # three parents and the leader

    order = data.draw(st.permutations(range(len(rows))), label="order")
    extra = data.draw(st.lists(st.sampled_from(range(len(rows))), max_size=8), label="redeliveries")
    shuffled = [rows[i] for i in order]
    for n, i in enumerate(extra):
        copy = InboxRow(**{**rows[i].as_values(), "dedupe_key": f"{rows[i].dedupe_key}#redelivered-{n}"})
        shuffled.insert(data.draw(st.integers(0, len(shuffled)), label="position"), copy)
    portions = data.draw(st.lists(st.integers(1, 8), max_size=4), label="portions")
    chunk = data.draw(st.integers(1, 12), label="chunk")

    replay(db, session_id, shuffled, portions=portions, chunk=chunk)
    assert snapshot(db, session_id) == expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_event_sync_replay_in_any_order_with_duplicates_gives_the_same_attendance(db, world, data):
    _property(db, world.session_id, event_sync_session(), data)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_jaas_replay_in_any_order_with_duplicates_gives_the_same_attendance(db, world, data):
    _property(db, world.session_id, jaas_session(), data)
