"""Attendance from realistic event streams of both senders, with exact expected minutes.

Every stream is built from the shapes of the reference payloads (see ``factories``). The session
is 04:30-05:30 UTC (60 minutes); the counting window is 04:15-06:00 with the default clipping.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import pytest

from integrations.jitsi.events import ConferenceEvent
from orchestrator.attendance.compute import (
    Policy,
    SessionAttendance,
    status_for,
    union_intervals,
)
from tests.unit.attendance.factories import (
    AYSE,
    AYSE_JID,
    AYSE_JID_2,
    AYSE_PJID,
    AYSE_PJID_2,
    BREAKOUT,
    CREATED,
    DESTROYED,
    END,
    FACILITATOR,
    FACILITATOR_JID,
    FIRST_LEFT,
    JAAS_SESSION_2,
    JIGASI_PJID,
    JOINED,
    LAST_LEFT,
    MARIA,
    MARIA_JID,
    MARIA_PJID,
    MIN,
    RECONNECTED,
    RECORDER_JID,
    RECORDER_JOINED,
    START,
    TO_BREAKOUT,
    at,
    at_ms,
    compute,
    es_created,
    es_destroyed,
    es_joined,
    es_left,
    es_stay,
    jaas_created,
    jaas_destroyed,
    jaas_joined,
    jaas_left,
    jaas_lobby,
    jaas_other,
    policy,
)

BACK = 1795842200  # 05:03:20, back from the breakout room
RECORDER_LEFT = 1795843600  # 05:26:40


def event_sync_stream() -> list[ConferenceEvent]:
    """The reference payloads as one meeting: Ayşe reconnects (60 s overlap), the recorder is in."""
    return [
        es_created(CREATED),
        *es_stay(AYSE, AYSE_JID, JOINED, FIRST_LEFT),
        *es_stay(None, RECORDER_JID, RECORDER_JOINED, RECORDER_LEFT),
        *es_stay(AYSE, AYSE_JID_2, RECONNECTED, LAST_LEFT),
        es_destroyed(
            CREATED,
            DESTROYED,
            [
                (AYSE, AYSE_JID, JOINED, FIRST_LEFT),
                (None, RECORDER_JID, RECORDER_JOINED, RECORDER_LEFT),
                (AYSE, AYSE_JID_2, RECONNECTED, LAST_LEFT),
            ],
        ),
    ]


def jaas_stream() -> list[ConferenceEvent]:
    """The JaaS payloads as one meeting: Ayşe's connection is lost and she is back 60 s before it drops."""
    return [
        jaas_created(1795840072123),
        jaas_lobby(AYSE, AYSE_PJID, 1795840070000),
        jaas_lobby(AYSE, AYSE_PJID, 1795840080000, left=True),
        jaas_joined(AYSE, AYSE_PJID, 1795840080345),
        jaas_joined(None, JIGASI_PJID, 1795840300000),
        jaas_joined(AYSE, AYSE_PJID_2, 1795841840500),
        jaas_left(AYSE, AYSE_PJID, 1795841900001, reason="unknown"),
        jaas_left(None, JIGASI_PJID, 1795842100000),
        jaas_left(AYSE, AYSE_PJID_2, 1795843620200),
        jaas_destroyed(1795843700777),
    ]


def only(result: SessionAttendance, person: str) -> int:
    return result.people[person].minutes


# --- reconnects -----------------------------------------------------------------------------------


def test_event_sync_reconnect_overlap_counts_once() -> None:
    result = compute(event_sync_stream())

    ayse = result.people[AYSE]
    # 04:28:00-04:58:20 and 04:57:20-05:27:00: united 59 min (the sum would be 60).
    assert ayse.minutes == 59
    assert ayse.intervals == ((at(JOINED), at(LAST_LEFT)),)
    assert (ayse.first_join, ayse.last_leave) == (at(JOINED), at(LAST_LEFT))
    assert (ayse.late, ayse.left_early, ayse.is_open, ayse.status) == (False, False, False, "present")
    assert [p.connection_id for p in result.presence if p.person_id == AYSE] == [AYSE_JID, AYSE_JID_2]
    assert result.scheduled_minutes == 60


def test_jaas_reconnect_overlap_counts_once() -> None:
    result = compute(jaas_stream())

    ayse = result.people[AYSE]
    # 04:28:00.345-05:27:00.200 = 3539.855 s, floored: 58 min (the sum would be 59.9).
    assert ayse.minutes == 58
    assert ayse.intervals == ((at_ms(1795840080345), at_ms(1795843620200)),)
    assert ayse.status == "present"


# --- breakout rooms -------------------------------------------------------------------------------


def test_event_sync_breakout_move_and_back_counts() -> None:
    breakout_created = TO_BREAKOUT - 10
    events = [
        es_created(CREATED),
        *es_stay(AYSE, AYSE_JID, JOINED, TO_BREAKOUT),
        es_created(breakout_created, breakout=BREAKOUT),
        *es_stay(AYSE, AYSE_JID, TO_BREAKOUT, BACK, breakout=BREAKOUT),
        es_destroyed(breakout_created, BACK + 5, [(AYSE, AYSE_JID, TO_BREAKOUT, BACK)], breakout=BREAKOUT),
        *es_stay(AYSE, AYSE_JID, BACK, LAST_LEFT),
        # prosody keeps one entry per connection and room: her first main-room stay was overwritten.
        es_destroyed(CREATED, DESTROYED, [(AYSE, AYSE_JID, BACK, LAST_LEFT)]),
    ]
    result = compute(events)

    # 04:28:00-04:43:20 main, -05:03:20 breakout, -05:27:00 main: 59 min, 20 of them in the breakout.
    assert only(result, AYSE) == 59
    assert result.people[AYSE].intervals == ((at(JOINED), at(LAST_LEFT)),)
    assert [(p.in_breakout, p.joined_at, p.left_at) for p in result.presence] == [
        (False, at(JOINED), at(TO_BREAKOUT)),
        (True, at(TO_BREAKOUT), at(BACK)),
        (False, at(BACK), at(LAST_LEFT)),
    ]


def test_jaas_breakout_move_and_back_counts() -> None:
    events = [
        jaas_created(1795840072000),
        jaas_joined(AYSE, AYSE_PJID, 1795840080000),
        jaas_left(AYSE, AYSE_PJID, 1795841000000, reason="switch_room"),
        jaas_created(1795840990000, breakout=BREAKOUT),
        jaas_joined(AYSE, AYSE_PJID, 1795841000000, breakout=BREAKOUT),
        jaas_left(AYSE, AYSE_PJID, 1795842200000, reason="switch_room", breakout=BREAKOUT),
        jaas_destroyed(1795842205000, breakout=BREAKOUT),
        jaas_joined(AYSE, AYSE_PJID, 1795842200000),
        jaas_left(AYSE, AYSE_PJID, 1795843620000),
        jaas_destroyed(1795843700000),
    ]
    result = compute(events)

    assert only(result, AYSE) == 59
    assert sum(p.in_breakout for p in result.presence) == 1


def test_lost_switch_leave_is_closed_by_the_connections_return() -> None:
    # The main-room leave on the move to the breakout was lost, and prosody's roster only lists
    # her last main-room stay: the open first stay ends where the connection joins the room again.
    events = [
        es_joined(AYSE, AYSE_JID, JOINED),
        *es_stay(AYSE, AYSE_JID, TO_BREAKOUT, BACK, breakout=BREAKOUT),
        *es_stay(AYSE, AYSE_JID, BACK, LAST_LEFT),
        es_destroyed(CREATED, DESTROYED, [(AYSE, AYSE_JID, BACK, LAST_LEFT)]),
    ]
    # Closed at the destruction instead, it would be 04:28:00-05:28:20, 60 min.
    assert only(compute(events), AYSE) == 59


# --- occupants without a token id -----------------------------------------------------------------


def test_bots_are_unidentified_never_people() -> None:
    es = compute(event_sync_stream())
    jaas = compute(jaas_stream())

    assert set(es.people) == {AYSE} == set(jaas.people)
    # The recorder: 04:28:20-05:26:40 = 58:20; the SIP gateway: 04:31:40-05:01:40.
    assert [(u.connection_id, u.minutes, u.is_open) for u in es.unidentified] == [(RECORDER_JID, 58, False)]
    assert [(u.connection_id, u.minutes) for u in jaas.unidentified] == [(JIGASI_PJID, 30)]
    assert [p.person_id for p in es.presence if p.connection_id == RECORDER_JID] == [None]


def test_a_connection_is_credited_to_the_id_any_of_its_events_carries() -> None:
    events = [
        jaas_joined(AYSE, AYSE_PJID, (START + 5 * MIN) * 1000),
        jaas_left(None, AYSE_PJID, (START + 50 * MIN) * 1000),
    ]
    result = compute(events)

    assert only(result, AYSE) == 45
    assert result.unidentified == ()


def test_events_naming_neither_person_nor_connection_are_ignored() -> None:
    nameless = dataclasses.replace(jaas_joined(None, "x", START * 1000), connection_id=None)
    assert compute([nameless]) == compute([])


def test_a_person_without_connection_ids_counts_as_one_connection() -> None:
    events = [
        dataclasses.replace(jaas_joined(AYSE, "x", START * 1000), connection_id=None),
        dataclasses.replace(jaas_left(AYSE, "x", (START + 40 * MIN) * 1000), connection_id=None),
    ]
    assert only(compute(events), AYSE) == 40


# --- redelivery and order -------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [event_sync_stream, jaas_stream])
def test_duplicate_deliveries_change_nothing(stream: Callable[[], list[ConferenceEvent]]) -> None:
    events = stream()
    # With the receiver answering 500, event_sync delivered every event three times.
    tripled = [e for e in events for _ in range(3)]
    assert compute(tripled) == compute(events)


@pytest.mark.parametrize("stream", [event_sync_stream, jaas_stream])
def test_reordered_deliveries_change_nothing(stream: Callable[[], list[ConferenceEvent]]) -> None:
    events = stream()
    expected = compute(events)
    assert compute(list(reversed(events))) == expected
    # Destruction first, creation last ("PARTICIPANT_JOINED might be received prior to ROOM_CREATED").
    assert compute(events[-1:] + events[1:-1] + events[:1]) == expected
    for shift in range(1, len(events)):
        assert compute(events[shift:] + events[:shift]) == expected


def test_other_event_types_are_ignored() -> None:
    events = jaas_stream()
    noise = [jaas_other("RECORDING_STARTED", 1795840500000), jaas_other("CHAT_UPLOADED", 1795843000000)]
    assert compute(events + noise) == compute(events)


# --- missing leaves -------------------------------------------------------------------------------


def test_missing_leave_is_closed_at_room_destruction() -> None:
    events = [
        jaas_created(1795840072123),
        jaas_joined(AYSE, AYSE_PJID, 1795840080345),
        jaas_destroyed(1795843700777),
    ]
    ayse = compute(events).people[AYSE]

    # 04:28:00.345-05:28:20.777 = 3620.432 s.
    assert ayse.minutes == 60
    assert ayse.last_leave == at_ms(1795843700777)
    assert not ayse.is_open


def test_missing_leave_is_closed_at_finalisation() -> None:
    events = [jaas_joined(AYSE, AYSE_PJID, (START + 5 * MIN) * 1000)]

    ayse = compute(events, close_open_at=at(END + 10 * MIN)).people[AYSE]
    assert (ayse.minutes, ayse.last_leave, ayse.is_open) == (65, at(END + 10 * MIN), False)

    # Finalised long after the window closed: closed at the window's end (05:30 + 30 min).
    ayse = compute(events, close_open_at=at(END + 120 * MIN)).people[AYSE]
    assert (ayse.minutes, ayse.last_leave) == (85, at(END + 30 * MIN))


def test_open_connection_counts_up_to_now_while_live() -> None:
    events = [
        jaas_created(1795840072123),
        jaas_joined(AYSE, AYSE_PJID, (START + 5 * MIN) * 1000),
        jaas_joined(MARIA, MARIA_PJID, (START + 2 * MIN) * 1000),
        jaas_left(MARIA, MARIA_PJID, (START + 12 * MIN) * 1000),
    ]
    result = compute(events, now=at(START + 20 * MIN))

    ayse = result.people[AYSE]
    assert (ayse.minutes, ayse.is_open, ayse.last_leave, ayse.left_early) == (15, True, None, False)
    assert ayse.status == "partial"
    assert result.currently_present == frozenset({AYSE})
    assert [p.left_at for p in result.presence if p.person_id == AYSE] == [None]

    # Still in hours later: counted up to the window's end only, still open.
    late_view = compute(events, now=at(END + 180 * MIN)).people[AYSE]
    assert (late_view.minutes, late_view.is_open) == (85, True)


def test_event_sync_all_occupants_corrects_a_lost_leave() -> None:
    lost = es_left(AYSE, AYSE_JID_2, RECONNECTED, LAST_LEFT)
    events = [e for e in event_sync_stream() if e != lost]
    result = compute(events)

    # The roster at room/destroyed says she left at 05:27:00, not at the destruction (05:28:20).
    assert only(result, AYSE) == 59
    assert result == compute(event_sync_stream())


def test_event_sync_roster_is_authoritative_over_a_left_event() -> None:
    events = [
        es_joined(AYSE, AYSE_JID, JOINED),
        es_left(AYSE, AYSE_JID, JOINED, LAST_LEFT - 20 * MIN),
        es_destroyed(CREATED, DESTROYED, [(AYSE, AYSE_JID, JOINED, LAST_LEFT)]),
    ]
    assert only(compute(events), AYSE) == 59


def test_roster_entry_without_left_at_ends_at_destruction() -> None:
    events = [
        es_joined(AYSE, AYSE_JID, JOINED),
        es_destroyed(CREATED, DESTROYED, [(AYSE, AYSE_JID, JOINED, None)]),
    ]
    # 04:28:00-05:28:20
    assert only(compute(events), AYSE) == 60


def test_main_room_destruction_closes_breakout_stays_but_not_the_reverse() -> None:
    events = [
        jaas_created(START * 1000),
        jaas_joined(AYSE, AYSE_PJID, START * 1000, breakout=BREAKOUT),
        jaas_joined(MARIA, MARIA_PJID, START * 1000),
        # Both leaves were lost. The breakout room goes at 04:50, the main room at 05:20.
        jaas_destroyed((START + 20 * MIN) * 1000, breakout=BREAKOUT),
        jaas_destroyed((START + 50 * MIN) * 1000),
    ]
    result = compute(events)
    assert (only(result, AYSE), only(result, MARIA)) == (20, 50)
    # Had JaaS not named the breakout room, its destruction could be any breakout room's: only
    # the main room's destruction closes her stay.
    unnamed = [dataclasses.replace(e, breakout_room_id=None) for e in events]
    assert only(compute(unnamed), AYSE) == 50


def test_leave_stamped_after_destruction_is_clipped_to_it() -> None:
    events = [
        jaas_joined(AYSE, AYSE_PJID, 1795840080345),
        jaas_destroyed(1795843700777),
        jaas_left(AYSE, AYSE_PJID, 1795843760000),
    ]
    ayse = compute(events).people[AYSE]
    assert (ayse.minutes, ayse.last_leave) == (60, at_ms(1795843700777))


# --- leaves without joins -------------------------------------------------------------------------


def test_event_sync_leave_without_join_carries_its_own_join() -> None:
    assert only(compute([es_left(AYSE, AYSE_JID, JOINED, LAST_LEFT)]), AYSE) == 59


def test_jaas_leave_without_join_starts_at_room_creation() -> None:
    events = [jaas_created(1795840072123), jaas_left(AYSE, AYSE_PJID, 1795843620000)]
    ayse = compute(events).people[AYSE]
    # 04:27:52.123-05:27:00 = 3547.877 s
    assert (ayse.minutes, ayse.first_join) == (59, at_ms(1795840072123))


def test_jaas_leave_without_join_or_creation_starts_at_scheduled_start() -> None:
    # A creation of another meeting (another sessionId) says nothing about this one.
    other_meeting = jaas_created(1795839000000, session=JAAS_SESSION_2)
    for events in (
        [jaas_left(AYSE, AYSE_PJID, 1795843620000)],
        [other_meeting, jaas_left(AYSE, AYSE_PJID, 1795843620000)],
    ):
        ayse = compute(events).people[AYSE]
        # 04:30:00-05:27:00
        assert (ayse.minutes, ayse.first_join) == (57, at(START))


def test_jaas_breakout_leave_without_join_starts_at_breakout_creation() -> None:
    events = [
        jaas_created(1795840072000),
        jaas_created(1795841000000, breakout=BREAKOUT),
        jaas_left(AYSE, AYSE_PJID, 1795842200000, breakout=BREAKOUT),
    ]
    # 04:43:20-05:03:20, not from the main room's creation at 04:27:52
    assert only(compute(events), AYSE) == 20


def test_second_leave_without_join_starts_after_the_previous_leave() -> None:
    events = [
        jaas_created((START - 10 * MIN) * 1000),
        jaas_joined(AYSE, AYSE_PJID, (START + 5 * MIN) * 1000),
        jaas_left(AYSE, AYSE_PJID, (START + 10 * MIN) * 1000),
        # Her rejoin on the same connection was lost; only the leave arrived. She was out after
        # 04:40, so the stay cannot reach back to the room's creation at 04:20.
        jaas_left(AYSE, AYSE_PJID, (START + 30 * MIN) * 1000),
    ]
    # 04:35-04:40 and 04:40-05:00
    assert only(compute(events), AYSE) == 25


def test_leave_without_join_in_a_reused_room_starts_at_the_latest_creation_before_it() -> None:
    # event_sync keys every instance of a reused room by its JID; a leave that did not say when
    # it joined (not something event_sync sends, but a parser may one day) belongs to the
    # instance created last before it.
    first, second = START - 10 * MIN, START + 20 * MIN
    bare_leave = dataclasses.replace(es_left(AYSE, AYSE_JID_2, second, START + 40 * MIN), joined_at=None)
    events = [es_created(first), es_destroyed(first, START + 15 * MIN), es_created(second), bare_leave]
    # 04:50-05:10
    assert only(compute(events), AYSE) == 20


# --- rooms destroyed and created again ------------------------------------------------------------


def test_room_destroyed_and_recreated_adds_up() -> None:
    first_end = START + 20 * MIN
    second = START + 23 * MIN
    events = [
        es_created(START - 5 * MIN),
        *es_stay(FACILITATOR, FACILITATOR_JID, START - 3 * MIN, first_end),
        *es_stay(AYSE, AYSE_JID, START - 2 * MIN, first_end),
        es_destroyed(
            START - 5 * MIN,
            first_end + 10,
            [
                (FACILITATOR, FACILITATOR_JID, START - 3 * MIN, first_end),
                (AYSE, AYSE_JID, START - 2 * MIN, first_end),
            ],
        ),
        es_created(second),
        # Her leave from the second meeting was lost; its roster has it.
        es_joined(AYSE, AYSE_JID_2, second),
        es_destroyed(second, START + 59 * MIN, [(AYSE, AYSE_JID_2, second, START + 58 * MIN)]),
    ]
    result = compute(events)

    # 04:28-04:50 and 04:53-05:28
    assert only(result, AYSE) == 22 + 35
    assert result.people[AYSE].intervals == (
        (at(START - 2 * MIN), at(first_end)),
        (at(second), at(START + 58 * MIN)),
    )
    assert only(result, FACILITATOR) == 23


def test_recreated_room_joined_in_the_second_of_the_old_ones_destruction() -> None:
    gone = START + 20 * MIN
    events = [
        es_created(START - 60),
        *es_stay(AYSE, AYSE_JID, START, gone),
        es_destroyed(START - 60, gone, [(AYSE, AYSE_JID, START, gone)]),
        es_created(gone),
        es_joined(AYSE, AYSE_JID_2, gone),
    ]
    result = compute(events, now=at(gone + 10 * MIN))

    # The old room's destruction does not close the new room's join from the same second.
    assert (only(result, AYSE), result.people[AYSE].is_open) == (30, True)
    assert result.currently_present == frozenset({AYSE})


def test_jaas_room_recreated_with_a_new_session_id() -> None:
    events = [
        jaas_created(START * 1000),
        jaas_joined(AYSE, AYSE_PJID, START * 1000),
        jaas_destroyed((START + 15 * MIN) * 1000),
        jaas_created((START + 16 * MIN) * 1000, session=JAAS_SESSION_2),
        jaas_joined(AYSE, AYSE_PJID_2, (START + 16 * MIN) * 1000, session=JAAS_SESSION_2),
        jaas_left(AYSE, AYSE_PJID_2, (START + 46 * MIN) * 1000, session=JAAS_SESSION_2),
        jaas_destroyed((START + 47 * MIN) * 1000, session=JAAS_SESSION_2),
    ]
    assert only(compute(events), AYSE) == 45


# --- lobby ----------------------------------------------------------------------------------------


def test_lobby_only_participant_is_not_attending() -> None:
    events = [
        *jaas_stream(),
        jaas_lobby(MARIA, MARIA_PJID, (START + 2 * MIN) * 1000),
        jaas_lobby(MARIA, MARIA_PJID, (START + 40 * MIN) * 1000, left=True),
    ]
    result = compute(events)

    assert MARIA not in result.people
    assert result == compute(jaas_stream())
    # Still waiting in the lobby during a live view: not "in".
    live = compute([jaas_lobby(MARIA, MARIA_PJID, (START + 2 * MIN) * 1000)], now=at(START + 10 * MIN))
    assert live.people == {}
    assert live.currently_present == frozenset()


def test_lobby_time_before_admission_does_not_count() -> None:
    events = [
        jaas_lobby(AYSE, AYSE_PJID, (START - 5 * MIN) * 1000),
        jaas_lobby(AYSE, AYSE_PJID, (START + 5 * MIN) * 1000, left=True),
        jaas_joined(AYSE, AYSE_PJID, (START + 5 * MIN) * 1000),
        jaas_left(AYSE, AYSE_PJID, (START + 45 * MIN) * 1000),
    ]
    ayse = compute(events).people[AYSE]
    assert (ayse.minutes, ayse.first_join) == (40, at(START + 5 * MIN))


# --- the counting window --------------------------------------------------------------------------


def test_presence_is_clipped_to_the_counting_window() -> None:
    events = [
        *es_stay(FACILITATOR, FACILITATOR_JID, START - 60 * MIN, END + 60 * MIN),
        *es_stay(MARIA, MARIA_JID, START - 120 * MIN, START - 30 * MIN),
    ]
    result = compute(events)

    facilitator = result.people[FACILITATOR]
    # 04:15 (start - 15) to 06:00 (end + 30)
    assert facilitator.minutes == 105
    assert (facilitator.first_join, facilitator.last_leave) == (at(START - 15 * MIN), at(END + 30 * MIN))
    # Only in the room long before: known, but absent.
    maria = result.people[MARIA]
    assert (maria.minutes, maria.status, maria.intervals, maria.first_join, maria.late) == (
        0,
        "absent",
        (),
        None,
        False,
    )
    # The stored presence keeps the real times.
    assert result.presence[0].joined_at == at(START - 120 * MIN)


def test_clipping_follows_the_policy() -> None:
    events = es_stay(FACILITATOR, FACILITATOR_JID, START - 60 * MIN, END + 60 * MIN)
    rules = policy(clip_before_minutes=0, clip_after_minutes=5)
    assert only(compute(events, rules=rules), FACILITATOR) == 65


# --- late and early -------------------------------------------------------------------------------


def test_late_and_left_early_flags() -> None:
    events = [
        # Exactly at the tolerances: neither late nor early.
        *es_stay(AYSE, AYSE_JID, START + 10 * MIN, END - 10 * MIN),
        # One second beyond each.
        *es_stay(MARIA, MARIA_JID, START + 10 * MIN + 1, END - 10 * MIN - 1),
    ]
    result = compute(events)

    ayse, maria = result.people[AYSE], result.people[MARIA]
    assert (ayse.minutes, ayse.late, ayse.left_early) == (40, False, False)
    assert (maria.minutes, maria.late, maria.left_early) == (39, True, True)


def test_someone_still_in_has_not_left_early() -> None:
    events = [es_joined(AYSE, AYSE_JID, START + 15 * MIN)]
    ayse = compute(events, now=at(END - 20 * MIN)).people[AYSE]
    assert (ayse.minutes, ayse.late, ayse.left_early, ayse.last_leave) == (25, True, False, None)


# --- status ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "scheduled", "expected"),
    [
        (0, 60, "absent"),
        (1, 60, "partial"),
        (29, 60, "partial"),
        (30, 60, "present"),  # 50 % of 60 reached: the share suffices
        (44, 120, "partial"),  # 36.7 % and below 45 min
        (45, 120, "present"),  # 45 min suffice although only 37.5 %
        (60, 120, "present"),
        (10, 0, "present"),  # a session of no scheduled length: any presence is the whole share
    ],
)
def test_status_by_minutes_or_share(minutes: int, scheduled: int, expected: str) -> None:
    assert status_for(minutes, scheduled, policy()) == expected


def test_zero_minutes_is_absent_even_with_zero_thresholds() -> None:
    lenient = policy(present_min_minutes=0, present_min_share=0)
    assert status_for(0, 90, lenient) == "absent"
    assert status_for(1, 90, lenient) == "present"


def test_status_thresholds_through_computation() -> None:
    def stay(minutes: int, end: int = END) -> str:
        events = es_stay(AYSE, AYSE_JID, START, START + minutes * MIN)
        return compute(events, end=end).people[AYSE].status

    assert (stay(30), stay(29)) == ("present", "partial")  # by share of 60 min
    two_hours = START + 120 * MIN
    assert (stay(45, two_hours), stay(44, two_hours)) == ("present", "partial")  # by minutes
    # 59 s in the room: 0 whole minutes, absent.
    assert compute(es_stay(AYSE, AYSE_JID, START, START + 59)).people[AYSE].status == "absent"


# --- helpers and input checks ---------------------------------------------------------------------


def test_union_intervals() -> None:
    a, b, c, d = (at(START + n * MIN) for n in (0, 10, 20, 30))
    assert union_intervals([]) == []
    assert union_intervals([(c, d), (a, b)]) == [(a, b), (c, d)]
    assert union_intervals([(a, b), (b, c)]) == [(a, c)]  # touching intervals merge
    assert union_intervals([(a, d), (b, c), (a, d)]) == [(a, d)]
    assert union_intervals([(a, a), (b, c)]) == [(b, c)]  # an empty interval adds nothing
    with pytest.raises(ValueError, match="ends before it starts"):
        union_intervals([(b, a)])


@pytest.mark.parametrize(
    "bad",
    [
        {"present_min_minutes": -1},
        {"present_min_share": 101},
        {"late_after_minutes": True},
        {"clip_after_minutes": 1.5},
    ],
)
def test_policy_rejects_nonsense(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="Policy"):
        policy(**bad)  # type: ignore[arg-type]


def test_inputs_must_be_aware_and_ordered() -> None:
    naive = dt.datetime(2026, 11, 28, 4, 30)
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        compute([], now=naive)
    with pytest.raises(ValueError, match="close_open_at must be timezone-aware"):
        compute([], close_open_at=naive)
    with pytest.raises(ValueError, match="before scheduled_start"):
        compute([], end=START - 1)
    naive_event = dataclasses.replace(es_joined(AYSE, AYSE_JID, JOINED), joined_at=naive)
    with pytest.raises(ValueError, match="joined_at must be timezone-aware"):
        compute([naive_event])
    with pytest.raises(ValueError, match="negative"):
        status_for(-1, 60, policy())


def test_times_in_other_zones_are_the_same_instants() -> None:
    berlin = dt.timezone(dt.timedelta(hours=1))
    events = event_sync_stream()
    shifted = [dataclasses.replace(e, occurred_at=e.occurred_at.astimezone(berlin)) for e in events]
    shifted = [
        dataclasses.replace(e, joined_at=e.joined_at.astimezone(berlin)) if e.joined_at else e
        for e in shifted
    ]
    assert compute(shifted) == compute(events)
    first_join = compute(shifted).people[AYSE].first_join
    assert first_join is not None
    assert first_join.tzinfo is dt.UTC


def test_policy_is_frozen_and_keyword_only() -> None:
    with pytest.raises(TypeError):
        Policy(45, 50, 10, 10)  # type: ignore[call-arg]
    rules = policy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.present_min_minutes = 1  # type: ignore[misc]
    assert (rules.clip_before_minutes, rules.clip_after_minutes) == (15, 30)


def test_room_events_alone_make_no_people() -> None:
    result = compute([es_created(CREATED), es_destroyed(CREATED, CREATED + 3)])
    assert (result.people, result.unidentified, result.presence) == ({}, (), ())
