"""Properties of the attendance computation over generated, realistic sessions.

A generated session has one or two meetings (a room destroyed and created again), breakout rooms,
several people with reconnects (often overlapping by up to ~90 s) and moves between the main room
and breakout rooms, and bots without a token id. The ground truth is the list of stays; the events
are what event_sync or JaaS would send for it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.jitsi.events import ConferenceEvent
from orchestrator.attendance.compute import (
    Interval,
    PersonAttendance,
    SessionAttendance,
    UnidentifiedOccupant,
    status_for,
    union_intervals,
)
from tests.unit.attendance.factories import (
    JAAS_SESSION,
    MIN,
    START,
    at,
    compute,
    es_created,
    es_destroyed,
    es_stay,
    jaas_created,
    jaas_destroyed,
    jaas_joined,
    jaas_left,
    policy,
)

PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclasses.dataclass(frozen=True)
class Stay:
    """The truth: one connection in one room from ``start`` to ``end`` (Unix seconds)."""

    person: str | None
    connection: str
    breakout: str | None
    start: int
    end: int


@dataclasses.dataclass(frozen=True)
class Meeting:
    created: int
    destroyed: int
    breakouts: tuple[str, ...]
    session: str


@dataclasses.dataclass(frozen=True)
class Scenario:
    source: str
    end: int  # the session's scheduled end; it starts at START
    stays: tuple[Stay, ...]
    events: tuple[ConferenceEvent, ...]

    def run(
        self,
        events: list[ConferenceEvent],
        *,
        now: dt.datetime | None = None,
        close: dt.datetime | None = None,
    ) -> SessionAttendance:
        return compute(events, end=self.end, now=now, close_open_at=close)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    source = draw(st.sampled_from(["event_sync", "jaas"]))
    end = START + draw(st.sampled_from([30, 60, 90, 120])) * MIN

    meetings = []
    moment = START - 25 * MIN + draw(st.integers(0, 20 * MIN))
    for index in range(draw(st.integers(1, 2))):
        destroyed = moment + draw(st.integers(10 * MIN, 110 * MIN))
        breakouts = tuple(f"{index:08x}-3c1b-4d8e-9a51-{k:012x}" for k in range(draw(st.integers(0, 2))))
        meetings.append(Meeting(moment, destroyed, breakouts, f"{JAAS_SESSION[:-1]}{index}"))
        # The next instance is created after this one is gone (created again for the same slot).
        moment = destroyed + draw(st.integers(1, 10 * MIN))

    occupants: list[str | None] = [f"p-{n:016x}" for n in range(draw(st.integers(1, 5)))]
    occupants += [None] * draw(st.integers(0, 2))  # recorder, SIP gateway
    numbers = itertools.count(1)
    stays: list[Stay] = []
    for person in occupants:
        for meeting in meetings:
            previous_end: int | None = None
            for _ in range(draw(st.integers(0, 3))):
                if previous_end is not None and draw(st.booleans()):
                    # A reconnect: the new connection joins while the old one lingers.
                    start = max(meeting.created, previous_end - draw(st.integers(0, 90)))
                else:
                    start = draw(st.integers(meeting.created, meeting.destroyed - 2))
                if start >= meeting.destroyed - 1:
                    break
                stop = draw(st.integers(start + 1, meeting.destroyed))
                previous_end = stop
                n = next(numbers)
                connection = (
                    f"{n:08x}-95f9-4159-a28e-{n:012x}@meet.example.org/r{n}"
                    if source == "event_sync"
                    else f"{n:08x}-77aa-4f0e-b1c2-{n:012x}@8x8.vc"
                )
                # Moves main -> breakout -> main ... at distinct instants inside the stay.
                cuts: list[int] = []
                if meeting.breakouts and stop - start >= 3:
                    cuts = sorted(draw(st.sets(st.integers(start + 1, stop - 1), max_size=3)))
                points = [start, *cuts, stop]
                for k in range(len(points) - 1):
                    room = None if k % 2 == 0 else draw(st.sampled_from(meeting.breakouts))
                    stays.append(Stay(person, connection, room, points[k], points[k + 1]))

    events = _event_sync(meetings, stays) if source == "event_sync" else _jaas(meetings, stays)
    return Scenario(source, end, tuple(stays), tuple(events))


def _in(meeting: Meeting, stay: Stay) -> bool:
    return meeting.created <= stay.start and stay.end <= meeting.destroyed


def _event_sync(meetings: list[Meeting], stays: list[Stay]) -> list[ConferenceEvent]:
    events: list[ConferenceEvent] = []
    for stay in stays:
        events += es_stay(stay.person, stay.connection, stay.start, stay.end, breakout=stay.breakout)
    for meeting in meetings:
        for room in (None, *meeting.breakouts):
            inside = [s for s in stays if _in(meeting, s) and s.breakout == room]
            if room is not None and not inside:
                continue
            created = meeting.created if room is None else min(s.start for s in inside)
            destroyed = meeting.destroyed if room is None else max(s.end for s in inside)
            # prosody keeps one roster entry per connection and room: its latest stay there.
            latest: dict[str, Stay] = {}
            for stay in sorted(inside, key=lambda s: s.start):
                latest[stay.connection] = stay
            roster = [(s.person, s.connection, s.start, s.end) for s in latest.values()]
            events.append(es_created(created, breakout=room))
            events.append(es_destroyed(created, destroyed, roster, breakout=room))
    return events


def _jaas(meetings: list[Meeting], stays: list[Stay]) -> list[ConferenceEvent]:
    events: list[ConferenceEvent] = []
    for meeting in meetings:
        for stay in (s for s in stays if _in(meeting, s)):
            session, room = meeting.session, stay.breakout
            events.append(
                jaas_joined(stay.person, stay.connection, stay.start * 1000, session=session, breakout=room)
            )
            events.append(
                jaas_left(stay.person, stay.connection, stay.end * 1000, session=session, breakout=room)
            )
        for room in (None, *meeting.breakouts):
            inside = [s for s in stays if _in(meeting, s) and s.breakout == room]
            if room is not None and not inside:
                continue
            created = meeting.created if room is None else min(s.start for s in inside)
            destroyed = meeting.destroyed if room is None else max(s.end for s in inside)
            events.append(jaas_created(created * 1000, session=meeting.session, breakout=room))
            events.append(jaas_destroyed(destroyed * 1000, session=meeting.session, breakout=room))
    return events


def _window(scenario: Scenario) -> Interval:
    return at(START - 15 * MIN), at(scenario.end + 30 * MIN)


def _truth(scenario: Scenario, stays: list[Stay]) -> tuple[list[Interval], int]:
    """United stays clipped to the counting window, and their whole minutes."""
    low, high = _window(scenario)
    clipped = [(max(at(s.start), low), min(at(s.end), high)) for s in stays]
    united = union_intervals(c for c in clipped if c[1] >= c[0])
    seconds = sum((b - a).total_seconds() for a, b in united)
    return united, int(seconds // 60)


# --- the same events in any order, with duplicates ----------------------------------------------


@PROPERTY_SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_any_order_with_any_duplicates_gives_the_same_attendance(
    scenario: Scenario, data: st.DataObject
) -> None:
    events = list(scenario.events)
    # Some deliveries were lost for good; the rest may arrive in any order, any number of times.
    lost = data.draw(st.sets(st.integers(0, len(events) - 1), max_size=len(events) // 3), label="lost")
    kept = [e for i, e in enumerate(events) if i not in lost]
    live = data.draw(st.booleans(), label="live")
    now = at(START + data.draw(st.integers(-30 * MIN, 240 * MIN), label="now"))
    close = None if live else at(scenario.end + data.draw(st.integers(0, 120 * MIN), label="close"))

    expected = scenario.run(kept, now=now, close=close)
    duplicates = data.draw(st.lists(st.sampled_from(kept), max_size=len(kept)), label="dups") if kept else []
    redelivered = data.draw(st.permutations(kept + duplicates), label="order")
    assert scenario.run(redelivered, now=now, close=close) == expected


# --- lossless streams give the truth -------------------------------------------------------------


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_a_complete_stream_gives_exactly_the_true_presence(scenario: Scenario) -> None:
    result = scenario.run(list(scenario.events))

    people = {s.person for s in scenario.stays if s.person is not None}
    assert set(result.people) == people
    for person in people:
        intervals, minutes = _truth(scenario, [s for s in scenario.stays if s.person == person])
        assert result.people[person].minutes == minutes
        assert list(result.people[person].intervals) == intervals
        assert not result.people[person].is_open
    bots = sorted({s.connection for s in scenario.stays if s.person is None})
    assert [u.connection_id for u in result.unidentified] == bots
    for bot in result.unidentified:
        assert (
            bot.minutes
            == _truth(scenario, [s for s in scenario.stays if s.connection == bot.connection_id])[1]
        )
    assert {(p.connection_id, p.breakout_room_id, p.joined_at, p.left_at) for p in result.presence} == {
        (s.connection, s.breakout, at(s.start), at(s.end)) for s in scenario.stays
    }
    assert len(result.presence) == len(set(scenario.stays))
    assert result.currently_present == frozenset()


# --- invariants ----------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_minutes_never_exceed_the_window(scenario: Scenario, data: st.DataObject) -> None:
    events = list(scenario.events)
    lost = data.draw(st.sets(st.integers(0, len(events) - 1), max_size=len(events) // 2), label="lost")
    now = at(START + data.draw(st.integers(-60 * MIN, 300 * MIN), label="now"))
    result = scenario.run([e for i, e in enumerate(events) if i not in lost], now=now)

    low, high = _window(scenario)
    window_minutes = (high - low) // dt.timedelta(minutes=1)
    counted: list[PersonAttendance | UnidentifiedOccupant] = [*result.people.values(), *result.unidentified]
    for entry in counted:
        assert 0 <= entry.minutes <= window_minutes
        assert all(low <= a < b <= high for a, b in entry.intervals)
        assert list(entry.intervals) == union_intervals(entry.intervals)
        seconds = sum((b - a for a, b in entry.intervals), dt.timedelta())
        assert entry.minutes == seconds // dt.timedelta(minutes=1)
    for person in result.people.values():
        assert person.status == status_for(person.minutes, result.scheduled_minutes, policy())
    assert result.currently_present == {p for p, a in result.people.items() if a.is_open}


_instants = st.integers(0, 4 * 3600).map(lambda s: at(START + s))
_intervals = st.lists(st.tuples(_instants, _instants).map(lambda t: (min(t), max(t))), max_size=30)


@PROPERTY_SETTINGS
@given(intervals=_intervals, data=st.data())
def test_union_is_idempotent_and_order_independent(intervals: list[Interval], data: st.DataObject) -> None:
    united = union_intervals(intervals)

    assert union_intervals(united) == united
    duplicates = data.draw(st.lists(st.sampled_from(intervals)), label="dups") if intervals else []
    shuffled = data.draw(st.permutations(intervals + duplicates), label="order")
    assert union_intervals(shuffled) == united
    # Sorted, disjoint, not touching, of positive length, and covering every input interval.
    assert all(a < b for a, b in united)
    assert all(prev[1] < nxt[0] for prev, nxt in itertools.pairwise(united))
    for a, b in intervals:
        assert a == b or any(lo <= a and b <= hi for lo, hi in united)
    total = sum((b - a for a, b in united), dt.timedelta())
    assert total <= sum((b - a for a, b in intervals), dt.timedelta())
