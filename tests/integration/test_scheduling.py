"""Scheduling use cases against a real database, on SQLite and PostgreSQL.

``now`` is passed explicitly wherever past and future matter: the group's cycle runs from
September 2026 to June 2027 and "now" is placed before or inside it as each test needs.
"""

from __future__ import annotations

import datetime as dt
import itertools
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from orchestrator import models as m
from orchestrator.access import Actor
from orchestrator.errors import Conflict, Forbidden, InvalidInput, NotFound
from orchestrator.i18n import language_scope
from orchestrator.scheduling import services as s
from orchestrator.security import hash_password, new_pseudonym
from tests import factories

UTC = dt.UTC
BEFORE_CYCLE = dt.datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
MID_CYCLE = dt.datetime(2026, 11, 1, 12, 0, tzinfo=UTC)  # a Sunday; 9 Tuesdays are past
_HASH: list[str] = []
_SEQ = itertools.count(1)


def staff(db, role, centre, **kw) -> m.StaffUser:
    """A staff user without paying argon2 per account (all share one hash of the test password)."""
    if not _HASH:
        _HASH.append(hash_password(factories.PASSWORD))
    n = next(_SEQ)
    row = m.StaffUser(
        role=role,
        centre_id=centre.id,
        email=kw.pop("email", f"sched-{role}{n}@example.org"),
        display_name=kw.pop("display_name", f"{role.title()} {n}"),
        password_hash=_HASH[0],
        pseudonym=new_pseudonym("f"),
        **kw,
    )
    db.add(row)
    db.flush()
    return row


def actor_of(user: m.StaffUser, group_ids=()) -> Actor:
    return Actor(
        user_id=user.id,
        role=user.role,
        centre_id=user.centre_id,
        display_name=user.display_name,
        language="en",
        group_ids=frozenset(group_ids),
    )


@pytest.fixture(autouse=True)
def english():
    with language_scope("en"):
        yield


@pytest.fixture
def world(db):
    centre = factories.centre(db)
    other_centre = factories.centre(db)
    coordinator = staff(db, "coordinator", centre)
    facilitator = staff(db, "facilitator", centre)
    stranger = staff(db, "coordinator", other_centre)
    group = factories.group(db, centre, facilitators=[facilitator])
    parent = factories.parent(db, centre, groups=[group])
    db.commit()
    return SimpleNamespace(
        centre=centre,
        group=group,
        parent=parent,
        coordinator=actor_of(coordinator),
        facilitator=actor_of(facilitator, [group.id]),
        stranger=actor_of(stranger),
    )


def sessions_of(db, group_id) -> list[m.Session]:
    db.expire_all()
    return list(
        db.scalars(select(m.Session).where(m.Session.group_id == group_id).order_by(m.Session.starts_at))
    )


def count(db, model):
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model))


def rec(row: m.Session) -> dt.datetime:
    """The session's RECURRENCE-ID (series sessions always have one)."""
    assert row.recurrence_local is not None
    return row.recurrence_local


def tuesday_series(db, w, *, now=BEFORE_CYCLE, **kw) -> m.Series:
    kw.setdefault("first_start_local", dt.datetime(2026, 9, 1, 9, 0))
    series = s.create_series(db, actor=w.coordinator, group_id=w.group.id, now=now, **kw)
    db.commit()
    return series


def by_local_day(rows, zone="Europe/Berlin"):
    from orchestrator.scheduling.recurrence import to_local

    return {to_local(r.starts_at, zone).date(): r for r in rows}


# --- creating and materialising ------------------------------------------------------------------


def test_create_series_materialises_every_session(db, world):
    series = tuesday_series(db, world, title="Rucksack")
    rows = sessions_of(db, world.group.id)
    assert len(rows) == 44  # every Tuesday from 1 September 2026 to 29 June 2027
    assert series.uid.startswith("series-")
    assert series.uid.endswith("@rucksack")
    assert series.dtstart_local == dt.datetime(2026, 9, 1, 9, 0)
    assert series.until == world.group.cycle_end
    assert series.timezone == "Europe/Berlin"
    assert {r.status for r in rows} == {"scheduled"}
    assert {r.sequence for r in rows} == {0}
    assert {r.series_id for r in rows} == {series.id}
    assert len({r.room_name for r in rows}) == 44
    assert all(r.recurrence_local is not None for r in rows)
    db.expire_all()
    assert db.get(m.Group, world.group.id).schedule_version == 2
    assert (
        db.scalar(select(m.AuditEntry.action).where(m.AuditEntry.object_id == str(series.id)))
        == "series.create"
    )


def test_stored_instants_follow_daylight_saving_time_and_local_time_does_not(db, world):
    tuesday_series(db, world)
    days = by_local_day(sessions_of(db, world.group.id))
    # Before and after the last Sunday of October 2026 and of March 2027.
    assert days[dt.date(2026, 10, 20)].starts_at == dt.datetime(2026, 10, 20, 7, 0, tzinfo=UTC)
    assert days[dt.date(2026, 10, 27)].starts_at == dt.datetime(2026, 10, 27, 8, 0, tzinfo=UTC)
    assert days[dt.date(2027, 3, 23)].starts_at == dt.datetime(2027, 3, 23, 8, 0, tzinfo=UTC)
    assert days[dt.date(2027, 3, 30)].starts_at == dt.datetime(2027, 3, 30, 7, 0, tzinfo=UTC)
    assert {rec(r).time() for r in days.values()} == {dt.time(9, 0)}


def test_closure_days_of_the_centre_and_of_the_group_get_no_session(db, world):
    db.add(m.ClosureDay(centre_id=world.centre.id, day=dt.date(2026, 12, 22), label="Weihnachten"))
    db.add(m.ClosureDay(centre_id=world.centre.id, group_id=world.group.id, day=dt.date(2026, 12, 29)))
    other = factories.group(db, world.centre)
    db.add(m.ClosureDay(centre_id=world.centre.id, group_id=other.id, day=dt.date(2027, 1, 5)))
    db.commit()
    tuesday_series(db, world)
    days = by_local_day(sessions_of(db, world.group.id))
    assert dt.date(2026, 12, 22) not in days
    assert dt.date(2026, 12, 29) not in days
    assert dt.date(2027, 1, 5) in days  # another group's closure
    assert len(days) == 42


def test_materialise_is_idempotent_and_never_touches_the_past(db, world):
    series = tuesday_series(db, world)
    rows = sessions_of(db, world.group.id)
    ids = [r.id for r in rows]
    assert s.materialise_series(db, series_id=series.id, now=BEFORE_CYCLE).changed is False
    db.commit()
    assert [r.id for r in sessions_of(db, world.group.id)] == ids
    # A lost future row comes back; a lost past row does not.
    db.delete(db.get(m.Session, rows[2].id))  # 15 September: past at MID_CYCLE
    db.delete(db.get(m.Session, rows[20].id))  # 19 January 2027: future
    db.commit()
    version = db.get(m.Group, world.group.id).schedule_version
    summary = s.materialise_series(db, series_id=series.id, now=MID_CYCLE)
    db.commit()
    assert (summary.created, summary.updated, summary.deleted) == (1, 0, 0)
    assert summary.frozen == 8
    after = sessions_of(db, world.group.id)
    assert len(after) == 43
    assert dt.date(2026, 9, 15) not in by_local_day(after)
    assert dt.date(2027, 1, 19) in by_local_day(after)
    assert db.get(m.Group, world.group.id).schedule_version == version + 1
    again = s.materialise_series(db, series_id=series.id, now=MID_CYCLE)
    assert again.changed is False
    assert [r.id for r in sessions_of(db, world.group.id)] == [r.id for r in after]


def test_a_series_whose_first_session_is_past_is_refused(db, world):
    with pytest.raises(InvalidInput) as err:
        s.create_series(
            db, actor=world.coordinator, group_id=world.group.id,
            first_start_local=dt.datetime(2026, 9, 1, 9, 0), now=MID_CYCLE,
        )  # fmt: skip
    assert "past" in err.value.message
    db.rollback()
    assert count(db, m.Series) == 0


@pytest.mark.parametrize(
    ("kw", "field", "words"),
    [
        ({"until": dt.date(2026, 8, 31)}, "until", "before it starts"),
        ({"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "rrule", "no session"),
        ({"rrule": "FREQ=DAILY"}, "rrule", "200"),
        ({"rrule": "FREQ=WEEKLY;COUNT=5"}, "rrule", "COUNT"),
        ({"rrule": "FREQ=SOMETIMES"}, "rrule", "FREQ"),
        ({"duration_minutes": 0}, "duration_minutes", "minutes"),
        ({"timezone": "Mars/Olympus"}, "timezone", "Mars/Olympus"),
        ({"title": "x" * 201}, "title", "200"),
        ({"first_start_local": dt.datetime(2026, 9, 1, 9, tzinfo=UTC)}, "first_start_local", "offset"),
    ],
)
def test_bad_series_are_refused_and_nothing_is_written(db, world, kw, field, words):
    before = (count(db, m.Series), count(db, m.Session), count(db, m.AuditEntry))
    with pytest.raises(InvalidInput) as err:
        tuesday_series(db, world, **kw)
    db.rollback()
    assert err.value.field == field
    assert words.lower() in err.value.message.lower()
    assert (count(db, m.Series), count(db, m.Session), count(db, m.AuditEntry)) == before


def test_every_session_on_a_closure_day_is_refused(db, world):
    db.add(m.ClosureDay(centre_id=world.centre.id, day=dt.date(2026, 9, 1)))
    db.commit()
    with pytest.raises(InvalidInput) as err:
        tuesday_series(db, world, until=dt.date(2026, 9, 1))
    assert "closure" in err.value.message
    db.rollback()
    assert count(db, m.Session) == 0


# --- single sessions -----------------------------------------------------------------------------


def test_cancel_restore_move_edit_bump_sequences_and_record_everything(db, world):
    tuesday_series(db, world)
    target = sessions_of(db, world.group.id)[20]  # 19 January 2027, 09:00 local
    version = db.get(m.Group, world.group.id).schedule_version
    now = MID_CYCLE

    s.cancel_session(db, actor=world.coordinator, session_id=target.id, reason="  Krankheit  ", now=now)
    db.commit()
    row = db.get(m.Session, target.id)
    assert (row.status, row.cancel_reason, row.sequence) == ("cancelled", "Krankheit", 1)
    assert row.cancelled_at == now
    assert row.updated_at == now

    s.restore_session(db, actor=world.coordinator, session_id=target.id, now=now)
    db.commit()
    row = db.get(m.Session, target.id)
    assert (row.status, row.cancel_reason, row.cancelled_at, row.sequence) == ("scheduled", "", None, 2)

    s.move_session(
        db, actor=world.coordinator, session_id=target.id,
        new_start_local=dt.datetime(2027, 1, 20, 15, 30), duration_minutes=60, now=now,
    )  # fmt: skip
    db.commit()
    row = db.get(m.Session, target.id)
    assert row.starts_at == dt.datetime(2027, 1, 20, 14, 30, tzinfo=UTC)
    assert row.ends_at - row.starts_at == dt.timedelta(minutes=60)
    assert row.recurrence_local == dt.datetime(2027, 1, 19, 9, 0)  # its RECURRENCE-ID stays
    assert row.sequence == 3

    s.edit_session(
        db, actor=world.coordinator, session_id=target.id,
        theme="Sprache im Alltag", material_url="https://example.org/theme-3.pdf", now=now,
    )  # fmt: skip
    db.commit()
    assert db.get(m.Session, target.id).sequence == 4
    s.edit_session(db, actor=world.coordinator, session_id=target.id, note="Raum 2 buchen", now=now)
    db.commit()
    row = db.get(m.Session, target.id)
    assert row.note == "Raum 2 buchen"
    assert row.sequence == 4  # a staff note is not in any calendar
    assert db.get(m.Group, world.group.id).schedule_version == version + 4

    actions = list(
        db.scalars(
            select(m.AuditEntry.action)
            .where(m.AuditEntry.object_type == "session", m.AuditEntry.object_id == str(target.id))
            .order_by(m.AuditEntry.id)
        )
    )
    assert actions == ["session.cancel", "session.restore", "session.move", "session.edit", "session.edit"]


def test_unchanged_values_change_nothing(db, world):
    tuesday_series(db, world)
    target = sessions_of(db, world.group.id)[20]
    s.move_session(
        db, actor=world.coordinator, session_id=target.id,
        new_start_local=dt.datetime(2027, 1, 19, 9, 0), now=MID_CYCLE,
    )  # fmt: skip
    s.edit_session(db, actor=world.coordinator, session_id=target.id, theme="", note="", now=MID_CYCLE)
    db.commit()
    assert db.get(m.Session, target.id).sequence == 0


def test_move_rules(db, world):
    tuesday_series(db, world)
    rows = sessions_of(db, world.group.id)
    target, neighbour = rows[20], rows[21]  # 19 and 26 January 2027
    db.add(m.ClosureDay(centre_id=world.centre.id, day=dt.date(2027, 1, 21), label="Brückentag"))
    db.commit()

    def move(local, session_id=target.id, now=MID_CYCLE):
        return s.move_session(
            db, actor=world.coordinator, session_id=session_id, new_start_local=local, now=now
        )

    with pytest.raises(InvalidInput, match="past"):
        move(dt.datetime(2026, 10, 30, 9, 0))
    with pytest.raises(Conflict, match="overlap"):
        move(dt.datetime(2027, 1, 26, 10, 0))  # into the neighbour's 09:00-10:30
    with pytest.raises(Conflict, match="closure day"):
        move(dt.datetime(2027, 1, 21, 9, 0))
    with pytest.raises(InvalidInput, match="offset"):
        move(dt.datetime(2027, 1, 22, 9, 0, tzinfo=UTC))
    move(dt.datetime(2027, 1, 26, 10, 30))  # right after the neighbour is fine
    db.commit()

    s.cancel_session(db, actor=world.coordinator, session_id=neighbour.id, now=MID_CYCLE)
    with pytest.raises(Conflict, match="cancelled"):
        move(dt.datetime(2027, 1, 27, 9, 0), session_id=neighbour.id)
    db.rollback()
    live = db.get(m.Session, rows[25].id)
    live.status, live.launched_at = "live", MID_CYCLE
    db.commit()
    with pytest.raises(Conflict, match="live"):
        move(dt.datetime(2027, 3, 1, 9, 0), session_id=live.id)
    with pytest.raises(Conflict):
        s.cancel_session(db, actor=world.coordinator, session_id=live.id, now=MID_CYCLE)


def test_restore_refuses_a_session_whose_time_is_over_or_whose_slot_is_taken(db, world):
    tuesday_series(db, world)
    rows = sessions_of(db, world.group.id)
    s.cancel_session(db, actor=world.coordinator, session_id=rows[20].id, now=MID_CYCLE)
    s.move_session(
        db, actor=world.coordinator, session_id=rows[21].id,
        new_start_local=dt.datetime(2027, 1, 19, 9, 30), now=MID_CYCLE,
    )  # fmt: skip
    db.commit()
    with pytest.raises(Conflict, match="overlap"):
        s.restore_session(db, actor=world.coordinator, session_id=rows[20].id, now=MID_CYCLE)
    db.rollback()
    with pytest.raises(Conflict, match="over"):
        s.restore_session(
            db, actor=world.coordinator, session_id=rows[20].id, now=dt.datetime(2027, 2, 1, tzinfo=UTC)
        )
    db.rollback()
    assert db.get(m.Session, rows[20].id).status == "cancelled"


def test_edit_session_validates_the_material_link(db, world):
    tuesday_series(db, world)
    target = sessions_of(db, world.group.id)[20]
    for bad in ("javascript:alert(1)", "ftp://example.org/x", "https://", "https://exa mple.org"):
        with pytest.raises(InvalidInput) as err:
            s.edit_session(db, actor=world.coordinator, session_id=target.id, material_url=bad, now=MID_CYCLE)
        assert err.value.field == "material_url"


# --- whole-series changes ------------------------------------------------------------------------


def test_changing_the_whole_series_keeps_the_past_and_its_attendance(db, world):
    series = tuesday_series(db, world)
    rows = sessions_of(db, world.group.id)
    past, future = rows[:9], rows[9:]  # 1 September to 27 October 2026 are over at MID_CYCLE
    attended = past[3]
    db.add(
        m.Attendance(
            session_id=attended.id, parent_id=world.parent.id, role="parent",
            computed_status="present", computed_minutes=85,
        )
    )  # fmt: skip
    moved, cancelled = future[5], future[6]  # 8 and 15 December
    s.move_session(
        db, actor=world.coordinator, session_id=moved.id,
        new_start_local=dt.datetime(2026, 12, 9, 17, 0), now=MID_CYCLE,
    )  # fmt: skip
    s.cancel_session(db, actor=world.coordinator, session_id=cancelled.id, reason="Feier", now=MID_CYCLE)
    db.commit()
    before = {r.id: (r.starts_at, r.room_name, r.sequence) for r in sessions_of(db, world.group.id)}

    change = s.update_series(
        db, actor=world.coordinator, series_id=series.id,
        start_time=dt.time(10, 15), duration_minutes=75, now=MID_CYCLE,
    )  # fmt: skip
    db.commit()
    assert (change.summary.created, change.summary.deleted) == (0, 0)
    assert change.summary.frozen == 9
    assert change.series.sequence == 1
    assert change.series.dtstart_local == dt.datetime(2026, 9, 1, 10, 15)

    after = {r.id: r for r in sessions_of(db, world.group.id)}
    assert set(after) == set(before)  # same ids, rooms survive
    for r in past:
        assert (after[r.id].starts_at, after[r.id].sequence) == (before[r.id][0], before[r.id][2])
        assert rec(after[r.id]).time() == dt.time(9, 0)
    assert db.scalar(select(m.Attendance.session_id)) == attended.id
    for r in future:
        row = after[r.id]
        assert row.room_name == before[r.id][1]
        assert rec(row).time() == dt.time(10, 15)
        if r.id == moved.id:
            # The individual move wins: same time and length, re-pointed to the new instant.
            assert row.starts_at == before[r.id][0]
            assert row.recurrence_local == dt.datetime(2026, 12, 8, 10, 15)
            continue
        assert row.ends_at - row.starts_at == dt.timedelta(minutes=75)
        assert row.sequence == before[r.id][2] + 1
    assert after[cancelled.id].status == "cancelled"
    assert after[cancelled.id].cancel_reason == "Feier"
    assert by_local_day(after.values())[dt.date(2027, 1, 19)].starts_at == dt.datetime(
        2027, 1, 19, 9, 15, tzinfo=UTC
    )


def test_a_new_weekday_keeps_each_week_s_session(db, world):
    series = tuesday_series(db, world)
    rows = sessions_of(db, world.group.id)
    change = s.update_series(
        db, actor=world.coordinator, series_id=series.id, rrule="FREQ=WEEKLY;BYDAY=TH", now=MID_CYCLE
    )
    db.commit()
    after = {r.id: r for r in sessions_of(db, world.group.id)}
    # Tuesday 29 June 2027 has no Thursday before the end (30 June): that week's session goes.
    assert change.summary.deleted == 1
    assert change.summary.created == 0
    moved_over = [after[r.id] for r in rows[9:-1]]
    assert {(rec(r).weekday(), rec(r).time()) for r in moved_over} == {(3, dt.time(9, 0))}
    assert rows[-1].id not in after
    assert all(rec(after[r.id]).weekday() == 1 for r in rows[:9])


def test_a_shorter_series_removes_only_future_untouched_sessions(db, world):
    series = tuesday_series(db, world)
    rows = sessions_of(db, world.group.id)
    change = s.update_series(
        db, actor=world.coordinator, series_id=series.id, until=dt.date(2026, 12, 31), now=MID_CYCLE
    )
    db.commit()
    assert change.summary.deleted == len([r for r in rows if r.starts_at.date() > dt.date(2026, 12, 31)])
    assert len(sessions_of(db, world.group.id)) == 18


def test_an_unchanged_series_is_not_bumped(db, world):
    series = tuesday_series(db, world)
    change = s.update_series(
        db,
        actor=world.coordinator,
        series_id=series.id,
        rrule="freq=weekly",
        start_time=dt.time(9, 0),
        now=MID_CYCLE,
    )
    assert change.series.sequence == 0
    assert not change.summary.changed


def test_an_invalid_change_writes_nothing(db, world):
    series = tuesday_series(db, world)
    before = [(r.id, r.starts_at, r.sequence) for r in sessions_of(db, world.group.id)]
    with pytest.raises(InvalidInput, match="200"):
        s.update_series(db, actor=world.coordinator, series_id=series.id, rrule="FREQ=DAILY", now=MID_CYCLE)
    db.rollback()
    assert [(r.id, r.starts_at, r.sequence) for r in sessions_of(db, world.group.id)] == before
    assert db.get(m.Series, series.id).rrule == "FREQ=WEEKLY"


# --- this and following --------------------------------------------------------------------------


def test_this_and_following_splits_the_series_and_keeps_the_rows(db, world):
    old = tuesday_series(db, world)
    rows = sessions_of(db, world.group.id)
    split = rows[20]  # Tuesday 19 January 2027
    change = s.change_this_and_following(
        db, actor=world.coordinator, session_id=split.id,
        rrule="FREQ=WEEKLY;BYDAY=WE", start_time=dt.time(16, 0), now=MID_CYCLE,
    )  # fmt: skip
    db.commit()
    new = change.series
    db.expire_all()
    old = db.get(m.Series, old.id)
    assert old.until == dt.date(2027, 1, 18)
    assert old.sequence == 1
    assert new.id != old.id
    assert new.uid != old.uid
    assert new.dtstart_local == dt.datetime(2027, 1, 20, 16, 0)
    assert new.until == dt.date(2027, 6, 30)
    after = {r.id: r for r in sessions_of(db, world.group.id)}
    for r in rows[:20]:
        assert after[r.id].series_id == old.id
        assert after[r.id].starts_at == r.starts_at
        assert after[r.id].sequence == 0
    for r in rows[20:]:
        row = after[r.id]
        assert row.recurrence_local is not None
        assert row.series_id == new.id
        assert row.room_name == r.room_name
        assert rec(row).weekday() == 2
        assert rec(row).time() == dt.time(16, 0)
        assert row.sequence == 1
    assert len(after) == 44


def test_this_and_following_from_the_first_session_changes_the_whole_series(db, world):
    old = tuesday_series(db, world)
    first = sessions_of(db, world.group.id)[0]
    change = s.change_this_and_following(
        db, actor=world.coordinator, session_id=first.id, start_time=dt.time(8, 0), now=BEFORE_CYCLE
    )
    assert change.series.id == old.id
    assert change.series.dtstart_local == dt.datetime(2026, 9, 1, 8, 0)


def test_this_and_following_refuses_a_past_session(db, world):
    tuesday_series(db, world)
    past = sessions_of(db, world.group.id)[3]
    with pytest.raises(Conflict, match="begun"):
        s.change_this_and_following(
            db, actor=world.coordinator, session_id=past.id, start_time=dt.time(8, 0), now=MID_CYCLE
        )


def test_this_and_following_without_changes_changes_nothing(db, world):
    old = tuesday_series(db, world)
    target = sessions_of(db, world.group.id)[20]
    change = s.change_this_and_following(db, actor=world.coordinator, session_id=target.id, now=MID_CYCLE)
    assert change.series.id == old.id
    assert count(db, m.Series) == 1


# --- closure days --------------------------------------------------------------------------------


def test_a_new_closure_day_removes_untouched_sessions_and_keeps_deliberate_ones(db, world):
    tuesday_series(db, world)
    rows = sessions_of(db, world.group.id)
    one_off = factories.session(db, world.group, starts_at=dt.datetime(2027, 2, 2, 15, 0, tzinfo=UTC))
    db.commit()
    # 2 February: the series' session and a one-off session that day.
    change = s.add_closure_day(
        db,
        actor=world.coordinator,
        group_id=world.group.id,
        day=dt.date(2027, 2, 2),
        label="Team day",
        now=MID_CYCLE,
    )
    db.commit()
    assert change.summary.deleted == 1
    assert [v.session.id for v in change.conflicts] == [one_off.id]
    assert rows[22].id not in {r.id for r in sessions_of(db, world.group.id)}

    # A session moved onto a closure day stays; so does one moved away from it.
    s.move_session(
        db, actor=world.coordinator, session_id=rows[23].id,
        new_start_local=dt.datetime(2027, 2, 10, 9, 0), now=MID_CYCLE,
    )  # fmt: skip
    db.commit()
    change = s.add_closure_day(
        db, actor=world.coordinator, group_id=world.group.id, day=dt.date(2027, 2, 9), now=MID_CYCLE
    )
    db.commit()
    assert change.summary.deleted == 0
    assert db.get(m.Session, rows[23].id) is not None

    with pytest.raises(Conflict, match="already"):
        s.add_closure_day(
            db, actor=world.coordinator, group_id=world.group.id, day=dt.date(2027, 2, 2), now=MID_CYCLE
        )
    db.rollback()


def test_a_centre_wide_closure_day_applies_to_every_group(db, world):
    tuesday_series(db, world)
    other = factories.group(db, world.centre)
    db.commit()
    s.create_series(
        db, actor=world.coordinator, group_id=other.id,
        first_start_local=dt.datetime(2026, 9, 1, 14, 0), now=BEFORE_CYCLE,
    )  # fmt: skip
    db.commit()
    versions = {g: db.get(m.Group, g).schedule_version for g in (world.group.id, other.id)}
    change = s.add_closure_day(
        db, actor=world.coordinator, group_id=world.group.id, day=dt.date(2027, 3, 2),
        centre_wide=True, now=MID_CYCLE,
    )  # fmt: skip
    db.commit()
    assert change.summary.deleted == 2
    assert change.closure.group_id is None
    for g in (world.group.id, other.id):
        assert dt.date(2027, 3, 2) not in by_local_day(sessions_of(db, g))
        assert db.get(m.Group, g).schedule_version == versions[g] + 1
    listed = s.list_closure_days(db, actor=world.facilitator, group_id=world.group.id)
    assert [c.day for c in listed] == [dt.date(2027, 3, 2)]

    removed = s.remove_closure_day(db, actor=world.coordinator, closure_id=change.closure.id, now=MID_CYCLE)
    db.commit()
    assert removed.summary.created == 2
    for g in (world.group.id, other.id):
        assert dt.date(2027, 3, 2) in by_local_day(sessions_of(db, g))


# --- reading and access --------------------------------------------------------------------------


def test_lists_by_local_days_and_one_session_with_its_group(db, world):
    tuesday_series(db, world, title="Elterncafé")
    views = s.list_sessions(
        db, actor=world.facilitator, group_id=world.group.id,
        starts_from=dt.date(2026, 12, 1), starts_until=dt.date(2026, 12, 15),
    )  # fmt: skip
    assert [v.local_start for v in views] == [
        dt.datetime(2026, 12, 1, 9, 0), dt.datetime(2026, 12, 8, 9, 0), dt.datetime(2026, 12, 15, 9, 0)
    ]  # fmt: skip
    detail = s.get_session(db, actor=world.facilitator, session_id=views[0].session.id, now=MID_CYCLE)
    assert detail.group is not None
    assert detail.group.id == world.group.id
    assert detail.series_title == "Elterncafé"
    assert detail.can_manage is False
    assert detail.frozen is False
    schedule = s.get_schedule(db, actor=world.coordinator, group_id=world.group.id)
    assert len(schedule.sessions) == 44
    assert schedule.can_manage
    with pytest.raises(InvalidInput):
        s.list_sessions(
            db, actor=world.coordinator, group_id=world.group.id, starts_from=dt.datetime(2026, 12, 1)
        )


def test_access(db, world):
    series = tuesday_series(db, world)
    target = sessions_of(db, world.group.id)[20]
    # Facilitators of the group see, but may not change.
    assert s.list_series(db, actor=world.facilitator, group_id=world.group.id)[0].id == series.id
    with pytest.raises(Forbidden):
        s.cancel_session(db, actor=world.facilitator, session_id=target.id, now=MID_CYCLE)
    with pytest.raises(Forbidden):
        s.update_series(db, actor=world.facilitator, series_id=series.id, title="x", now=MID_CYCLE)
    # Another centre's coordinator is told nothing exists.
    for call in (
        lambda: s.get_schedule(db, actor=world.stranger, group_id=world.group.id),
        lambda: s.get_series(db, actor=world.stranger, series_id=series.id),
        lambda: s.get_session(db, actor=world.stranger, session_id=target.id),
        lambda: s.cancel_session(db, actor=world.stranger, session_id=target.id, now=MID_CYCLE),
        lambda: s.create_series(
            db, actor=world.stranger, group_id=world.group.id, first_start_local=dt.datetime(2027, 1, 5, 9)
        ),
    ):
        with pytest.raises(NotFound):
            call()
    # A facilitator of another group of the same centre neither.
    other = factories.group(db, world.centre)
    db.commit()
    other_facilitator = Actor(
        user_id=world.facilitator.user_id, role="facilitator", centre_id=world.centre.id,
        display_name="x", group_ids=frozenset({other.id}),
    )  # fmt: skip
    with pytest.raises(NotFound):
        s.get_session(db, actor=other_facilitator, session_id=target.id)
    with pytest.raises(NotFound):
        s.get_session(db, actor=world.coordinator, session_id=2**40)


def test_archived_groups_keep_their_schedule(db, world):
    series = tuesday_series(db, world)
    db.get(m.Group, world.group.id).archived = True
    db.commit()
    with pytest.raises(Conflict, match="archived"):
        s.update_series(db, actor=world.coordinator, series_id=series.id, title="x", now=MID_CYCLE)
    assert s.materialise_series(db, series_id=series.id, now=MID_CYCLE).changed is False


def test_a_second_series_may_not_overlap_the_first(db, world):
    tuesday_series(db, world)
    before = (count(db, m.Series), count(db, m.Session))
    with pytest.raises(Conflict, match="overlap"):
        tuesday_series(
            db, world, first_start_local=dt.datetime(2026, 9, 1, 10, 0), rrule="FREQ=WEEKLY;INTERVAL=2"
        )
    db.rollback()
    assert (count(db, m.Series), count(db, m.Session)) == before
    # Right after the first one is fine.
    tuesday_series(
        db, world, first_start_local=dt.datetime(2026, 9, 1, 10, 30), rrule="FREQ=WEEKLY;INTERVAL=2"
    )
    assert count(db, m.Series) == 2
