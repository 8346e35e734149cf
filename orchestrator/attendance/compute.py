"""Attendance of one session, computed from the conference events known for it.

Pure: no database, no clock, no I/O. The caller passes every ``ConferenceEvent`` stored for one
session (any order, duplicates included), the session's scheduled window, the centre's ``Policy``
and ``now``; it gets back a ``SessionAttendance``. Design §5 ("Nothing lost") requires that
replaying the events in any order, with duplicates, yields the same attendance. So nothing here
looks at arrival order: the events are first reduced to *sets of facts*, and everything after that
is computed from those sets (minima, maxima, sorted sequences), never from "the last event seen".

The model, from the events up
-----------------------------

**Stint**: one connection in one room of the session, i.e. the key
``(room_name, segment, connection_id)`` where ``segment`` is ``None`` for the main room and the
breakout room's id otherwise. ``connection_id`` is the occupant JID (event_sync) or
``participantJid`` (JaaS); it is new on every reconnect, but a connection keeps it when it moves
between the main room and a breakout room (event_sync reports the same occupant JID in both),
which is why the room is part of the key. Facts per stint:

- *joins*: instants (event_sync ``joined_at``; JaaS only has the event's own time);
- *paired leaves*: ``joined_at -> left_at`` (event_sync left events carry both times);
- *roster entries*: ``joined_at -> left_at`` from a ``room_destroyed`` event's ``occupants``
  (event_sync ``all_occupants``); an entry without ``left_at`` means "still in at destruction";
- *bare leaves*: instants of leaves that do not say when they joined (JaaS).

**Intervals of a stint**:

1. Every ``joined_at`` named by a paired leave or a roster entry is an exact interval. The roster
   is authoritative for the connections it lists (it is prosody's own record, sent once the room
   is gone): where it and a left event disagree, the roster wins. This is how a lost left event
   is corrected at ``room/destroyed``.
2. The remaining joins and the bare leaves are paired along the time line: a join opens the stint
   (a second join while open changes nothing: the connection was already in), a leave closes it.
   A leave with no open join (its join event was lost, or is a JaaS leave with no join) starts at
   the latest ``ROOM_CREATED`` of the same meeting (``meeting_key``) and room at or before it
   (the breakout room's own creation if known, else the main room's), else at the scheduled
   start; never before the previous leave of the same stint, never after the leave itself.
3. An interval still without an end ends where the same stint's next interval starts: a
   connection cannot join a room it is still in.
4. Destruction: a room destroyed *after* an interval started ends it, at the earliest such
   destruction. This closes connections whose leave never arrived and clips a leave stamped
   later than the destruction (JaaS). A main-room destruction ends breakout intervals too
   (breakout rooms do not outlive their main room); a breakout room's destruction ends only its
   own intervals, and one that does not name its room ends none. "After", strictly: with
   event_sync's one-second resolution a re-created room's first join can share the second in
   which the previous instance was destroyed, and must not be closed by it (the old instance's
   own occupants are closed by its roster).
5. Still open: closed at ``min(close_open_at, scheduled_end + clip_after)`` when the session is
   finalised; otherwise it stays open and counts up to ``now`` (live views).

Rooms and meetings are matched by ``room_name`` and by time, not by ``meeting_key``: event_sync
uses the room JID as the key of every instance of a reused room, so only time tells the
instances apart, and a room destroyed and created again inside one session simply yields more
intervals that add up.

**People**: ``person_id`` is the token's ``context.user.id`` and the only identity. A
connection's person is the id its events carry (if events of one connection disagree, the
smallest id, so that the choice does not depend on order). Events without a ``connection_id``
but with a ``person_id`` are treated as one connection of that person. Events with neither name
nobody and are ignored. Connections without a person (recorder, SIP gateway, guests) are
reported as ``unidentified``, per connection, never as a person.

**Counting**: a person's intervals from all connections and rooms (breakout time counts) are
clipped to the counting window ``[scheduled_start - clip_before, scheduled_end + clip_after]``
and united (reconnects overlap by ~60 s: union, not sum). ``minutes`` is the floor of the united
length in seconds divided by 60: presence is never rounded up, and 59 s count as 0 minutes.
Everything in ``PersonAttendance`` describes the counting window: ``intervals`` are the united,
clipped intervals the minutes were counted from (an open one ends at ``min(now, window end)``),
and ``first_join`` / ``last_leave`` are their outer ends (the unclipped times are in
``SessionAttendance.presence``). ``last_leave`` is ``None`` while the person is still in.
``people`` lists everyone who was in a room at all; someone who was there only outside the
counting window is listed with 0 minutes (absent). ``scheduled_minutes`` is the scheduled length
in whole minutes (floored, like presence).

**Status** (``status_for``): ``absent`` at 0 minutes, whatever the policy (so a threshold of 0
never makes an absent person present); ``present`` when ``minutes >= present_min_minutes`` or
``minutes * 100 >= present_min_share * scheduled_minutes``; ``partial`` otherwise. It depends on
the minutes only, so a manual entry gets the same status as the same minutes from webhooks.
``excused`` is only ever set by staff. ``late``: the first join is later than
``scheduled_start + late_after_minutes``; ``left_early``: the person is no longer in and the last
leave is earlier than ``scheduled_end - early_leave_minutes``. Both are false without presence.

Lobby events never count (people waiting in the lobby were not admitted) and ``OTHER`` events are
ignored. Roles are not known here: the caller maps person ids to parents and facilitators.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Literal

from integrations.jitsi.events import ConferenceEvent, EventKind

__all__ = [
    "ConnectionPresence",
    "Interval",
    "PersonAttendance",
    "Policy",
    "SessionAttendance",
    "Status",
    "UnidentifiedOccupant",
    "compute_attendance",
    "judge",
    "status_for",
    "union_intervals",
]

Status = Literal["present", "partial", "absent"]
Interval = tuple[dt.datetime, dt.datetime]

_MINUTE = dt.timedelta(minutes=1)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """A centre's attendance policy. All values are whole minutes, except the share (percent).

    The thresholds have no defaults on purpose: they are the centre's configuration, and a second
    set of defaults here could silently disagree with it.
    """

    present_min_minutes: int
    present_min_share: int  # percent of the scheduled length
    late_after_minutes: int
    early_leave_minutes: int
    # The counting window: people arrive early and groups overrun a little; presence far outside
    # the slot (a facilitator testing the room in the morning) is not session attendance.
    clip_before_minutes: int = 15
    clip_after_minutes: int = 30

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Policy.{field.name} must be a non-negative integer, got {value!r}")
        if self.present_min_share > 100:
            raise ValueError(
                f"Policy.present_min_share is a percentage (0-100), got {self.present_min_share}"
            )


@dataclasses.dataclass(frozen=True, slots=True)
class PersonAttendance:
    """One identified person's presence in the counting window (see the module docstring)."""

    person_id: str
    intervals: tuple[Interval, ...]  # united, clipped, sorted; what ``minutes`` counts
    minutes: int
    first_join: dt.datetime | None
    last_leave: dt.datetime | None  # None while still in, or without presence
    late: bool
    left_early: bool
    status: Status
    is_open: bool  # has a connection that has not left (only when not finalised)


@dataclasses.dataclass(frozen=True, slots=True)
class UnidentifiedOccupant:
    """A connection without a token id (recorder, SIP gateway, guest): reported, never a person."""

    connection_id: str
    intervals: tuple[Interval, ...]
    minutes: int
    is_open: bool


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectionPresence:
    """One interval of one connection in one room, unclipped: the rows to store as presence.

    ``left_at`` is ``None`` while the connection is still in (only when not finalised).
    """

    person_id: str | None
    connection_id: str | None
    room_name: str
    breakout_room_id: str | None  # "" for a breakout room whose id the event did not give
    joined_at: dt.datetime
    left_at: dt.datetime | None

    @property
    def in_breakout(self) -> bool:
        return self.breakout_room_id is not None


@dataclasses.dataclass(frozen=True, slots=True)
class SessionAttendance:
    """Everything computed for one session; equal for equal sets of events."""

    people: dict[str, PersonAttendance]  # person_id -> attendance; anyone who was in a room
    unidentified: tuple[UnidentifiedOccupant, ...]  # sorted by connection_id
    currently_present: frozenset[str]  # person_ids with an open connection ("who is in now")
    presence: tuple[ConnectionPresence, ...]  # sorted by joined_at
    scheduled_minutes: int


def union_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """The union of closed intervals as sorted, disjoint intervals of positive length.

    Overlapping and touching intervals merge; empty ones (start == end) contribute nothing and
    vanish. The result depends only on the set of intervals given, not on their order or
    repetition. An interval that ends before it starts is an input error (``ValueError``).
    """
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if end < start:
            raise ValueError(f"interval ends before it starts: {start.isoformat()} > {end.isoformat()}")
        if end == start:
            continue
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def status_for(minutes: int, scheduled_minutes: int, policy: Policy) -> Status:
    """The status that ``minutes`` of presence earn in a session scheduled for ``scheduled_minutes``."""
    if minutes < 0 or scheduled_minutes < 0:
        raise ValueError(f"minutes must not be negative (got {minutes}, {scheduled_minutes})")
    if minutes == 0:
        return "absent"
    if (
        minutes >= policy.present_min_minutes
        # Integer arithmetic: no float rounding at the threshold (45 of 90 at 50 % is present).
        or minutes * 100 >= policy.present_min_share * scheduled_minutes
    ):
        return "present"
    return "partial"


def judge(
    minutes: int,
    first_join: dt.datetime | None,
    last_leave: dt.datetime | None,
    *,
    scheduled_start: dt.datetime,
    scheduled_end: dt.datetime,
    policy: Policy,
) -> tuple[Status, bool, bool]:
    """``(status, late, left_early)`` for presence summed up as ``minutes`` between ``first_join``
    and ``last_leave`` (``None`` while still in): what the policy makes of it, apart from how the
    minutes were counted. Applying a changed policy to recorded attendance uses it too."""
    return (
        status_for(minutes, (scheduled_end - scheduled_start) // _MINUTE, policy),
        first_join is not None
        and first_join > scheduled_start + dt.timedelta(minutes=policy.late_after_minutes),
        last_leave is not None
        and last_leave < scheduled_end - dt.timedelta(minutes=policy.early_leave_minutes),
    )


def compute_attendance(
    events: Iterable[ConferenceEvent],
    *,
    scheduled_start: dt.datetime,
    scheduled_end: dt.datetime,
    policy: Policy,
    now: dt.datetime,
    close_open_at: dt.datetime | None = None,
) -> SessionAttendance:
    """Attendance of one session from all conference events known for it (see the module docstring).

    ``close_open_at``: the instant the session is finalised; connections still open are closed
    at ``min(close_open_at, scheduled_end + clip_after)``. ``None`` leaves them open, counted up
    to ``now``. All datetimes must be timezone-aware (``ValueError`` otherwise).
    """
    scheduled_start = _utc(scheduled_start, "scheduled_start")
    scheduled_end = _utc(scheduled_end, "scheduled_end")
    now = _utc(now, "now")
    if close_open_at is not None:
        close_open_at = _utc(close_open_at, "close_open_at")
    if scheduled_end < scheduled_start:
        raise ValueError("scheduled_end is before scheduled_start")
    window = (
        scheduled_start - dt.timedelta(minutes=policy.clip_before_minutes),
        scheduled_end + dt.timedelta(minutes=policy.clip_after_minutes),
    )
    scheduled_minutes = (scheduled_end - scheduled_start) // _MINUTE

    facts = _Facts.collect(events)
    close_at = None if close_open_at is None else min(close_open_at, window[1])
    stints = _stint_intervals(facts, scheduled_start, close_at)

    presence: set[ConnectionPresence] = set()
    by_person: defaultdict[str, list[_Raw]] = defaultdict(list)
    by_connection: defaultdict[str, list[_Raw]] = defaultdict(list)
    for (room_name, segment, connection_id, own_person), intervals in stints.items():
        person_id = own_person if connection_id is None else facts.person_of(connection_id)
        for joined_at, left_at in intervals:
            presence.add(ConnectionPresence(person_id, connection_id, room_name, segment, joined_at, left_at))
        if person_id is not None:
            by_person[person_id].extend(intervals)
        elif connection_id is not None:
            by_connection[connection_id].extend(intervals)

    people = {
        person_id: _person(person_id, raw, scheduled_start, scheduled_end, window, now, policy)
        for person_id, raw in sorted(by_person.items())
    }
    unidentified = []
    for connection_id, raw in sorted(by_connection.items()):
        counted = _counted(raw, window, now)
        unidentified.append(
            UnidentifiedOccupant(connection_id, tuple(counted), _minutes(counted), _is_open(raw))
        )
    return SessionAttendance(
        people=people,
        unidentified=tuple(unidentified),
        currently_present=frozenset(p for p, a in people.items() if a.is_open),
        presence=tuple(sorted(presence, key=_presence_order)),
        scheduled_minutes=scheduled_minutes,
    )


# --- facts ----------------------------------------------------------------------------------------

# None: the main room; otherwise a breakout room's id ("" when a breakout event gave none).
_Segment = str | None
# (room_name, segment, connection_id, person_id standing in for a missing connection_id)
_StintKey = tuple[str, _Segment, str | None, str | None]
_Raw = tuple[dt.datetime, dt.datetime | None]


@dataclasses.dataclass(slots=True)
class _Facts:
    """What the events say, as sets: duplicates collapse, and order is gone by construction."""

    persons_of_connection: defaultdict[str, set[str]] = dataclasses.field(
        default_factory=lambda: defaultdict(set)
    )
    joins: defaultdict[_StintKey, set[dt.datetime]] = dataclasses.field(
        default_factory=lambda: defaultdict(set)
    )
    paired_leaves: defaultdict[_StintKey, defaultdict[dt.datetime, set[dt.datetime]]] = dataclasses.field(
        default_factory=lambda: defaultdict(lambda: defaultdict(set))
    )
    roster: defaultdict[_StintKey, defaultdict[dt.datetime, set[dt.datetime]]] = dataclasses.field(
        default_factory=lambda: defaultdict(lambda: defaultdict(set))
    )
    # (left_at, meeting_key): the meeting picks the ROOM_CREATED a join-less leave starts from.
    bare_leaves: defaultdict[_StintKey, set[tuple[dt.datetime, str]]] = dataclasses.field(
        default_factory=lambda: defaultdict(set)
    )
    # (room_name, segment) -> destruction instants
    destroyed: defaultdict[tuple[str, _Segment], set[dt.datetime]] = dataclasses.field(
        default_factory=lambda: defaultdict(set)
    )
    # (meeting_key, room_name, segment) -> creation instants
    created: defaultdict[tuple[str, str, _Segment], set[dt.datetime]] = dataclasses.field(
        default_factory=lambda: defaultdict(set)
    )

    @classmethod
    def collect(cls, events: Iterable[ConferenceEvent]) -> _Facts:
        facts = cls()
        for event in events:
            kind = event.kind
            segment = _segment(event.is_breakout, event.breakout_room_id)
            if kind is EventKind.OCCUPANT_JOINED or kind is EventKind.OCCUPANT_LEFT:
                key = facts._key(event.room_name, segment, event.connection_id, event.person_id)
                if key is None:
                    continue
                if kind is EventKind.OCCUPANT_JOINED:
                    joined = event.joined_at if event.joined_at is not None else event.occurred_at
                    facts.joins[key].add(_utc(joined, "joined_at"))
                else:
                    left = _utc(event.left_at if event.left_at is not None else event.occurred_at, "left_at")
                    if event.joined_at is not None:
                        facts.paired_leaves[key][_utc(event.joined_at, "joined_at")].add(left)
                    else:
                        facts.bare_leaves[key].add((left, event.meeting_key))
            elif kind is EventKind.ROOM_CREATED:
                created = event.room_created_at if event.room_created_at is not None else event.occurred_at
                facts.created[(event.meeting_key, event.room_name, segment)].add(_utc(created, "created"))
            elif kind is EventKind.ROOM_DESTROYED:
                destroyed = _utc(
                    event.room_destroyed_at if event.room_destroyed_at is not None else event.occurred_at,
                    "destroyed",
                )
                if segment != "":
                    # A breakout room's destruction that does not say which room (JaaS may
                    # omit breakoutRoomId) could be any of them: closing all breakout stays at
                    # it would cut people off in rooms that are still running.
                    facts.destroyed[(event.room_name, segment)].add(destroyed)
                for occupant in event.occupants:
                    key = facts._key(event.room_name, segment, occupant.connection_id, occupant.person_id)
                    if key is None:
                        continue
                    # Listed without left_at: still in when the room went away.
                    left = destroyed if occupant.left_at is None else _utc(occupant.left_at, "left_at")
                    facts.roster[key][_utc(occupant.joined_at, "joined_at")].add(left)
            # LOBBY_JOINED / LOBBY_LEFT: waiting to be admitted is not attendance (and a lobby
            # connection id may reappear in the room, so lobby events must not feed any fact).
            # OTHER: stored by the caller, meaningless here.
        return facts

    def _key(
        self, room_name: str, segment: _Segment, connection_id: str | None, person_id: str | None
    ) -> _StintKey | None:
        if connection_id is None:
            # No connection: the person stands in for it; with neither, nobody can be credited.
            return None if person_id is None else (room_name, segment, None, person_id)
        if person_id is not None:
            self.persons_of_connection[connection_id].add(person_id)
        return (room_name, segment, connection_id, None)

    def person_of(self, connection_id: str) -> str | None:
        persons = self.persons_of_connection.get(connection_id)
        # One token per connection, so normally one id; min() keeps a conflict order-independent.
        return min(persons) if persons else None

    def creation_before(
        self, meeting_key: str, room_name: str, segment: _Segment, at: dt.datetime
    ) -> dt.datetime | None:
        """The room's latest creation at or before ``at``: the breakout room's own, else the main room's."""
        segments: tuple[_Segment, ...] = (segment, None) if segment is not None else (None,)
        for candidate in segments:
            earlier = [c for c in self.created.get((meeting_key, room_name, candidate), ()) if c <= at]
            if earlier:
                return max(earlier)
        return None


def _segment(is_breakout: bool, breakout_room_id: str | None) -> _Segment:
    if not is_breakout:
        return None
    return breakout_room_id or ""


def _utc(value: dt.datetime, what: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value.isoformat()}")
    return value.astimezone(dt.UTC)


# --- intervals per stint ----------------------------------------------------------------------------


def _stint_intervals(
    facts: _Facts, scheduled_start: dt.datetime, close_at: dt.datetime | None
) -> dict[_StintKey, list[_Raw]]:
    result: dict[_StintKey, list[_Raw]] = {}
    keys = set(facts.joins) | set(facts.paired_leaves) | set(facts.roster) | set(facts.bare_leaves)
    for key in keys:
        room_name, segment, _, _ = key
        # Rule 1: exact intervals; the roster is applied last because it is authoritative.
        exact: dict[dt.datetime, dt.datetime] = {}
        for source in (facts.paired_leaves.get(key), facts.roster.get(key)):
            for joined, lefts in (source or {}).items():
                exact[joined] = max(joined, max(lefts))
        intervals: list[_Raw] = list(exact.items())
        # Rule 2: the rest, paired along the time line.
        unmatched = facts.joins.get(key, set()) - exact.keys()
        intervals += _pair(unmatched, facts.bare_leaves.get(key, set()), facts, key, scheduled_start)
        # Rule 3: an open interval ends where the stint's next one starts.
        starts = sorted({start for start, _ in intervals})
        destructions = sorted(facts.destroyed.get((room_name, None), set()))
        if segment is not None:
            destructions = sorted(set(destructions) | facts.destroyed.get((room_name, segment), set()))
        closed: list[_Raw] = []
        for start, end in intervals:
            if end is None:
                later = bisect.bisect_right(starts, start)
                end = starts[later] if later < len(starts) else None
            # Rule 4: the earliest destruction strictly after the start ends it.
            after = bisect.bisect_right(destructions, start)
            if after < len(destructions) and (end is None or end > destructions[after]):
                end = destructions[after]
            # Rule 5: finalised sessions have no open intervals.
            if end is None and close_at is not None:
                end = max(start, close_at)
            closed.append((start, end))
        result[key] = closed
    return result


def _pair(
    joins: Iterable[dt.datetime],
    leaves: Iterable[tuple[dt.datetime, str]],
    facts: _Facts,
    key: _StintKey,
    scheduled_start: dt.datetime,
) -> list[_Raw]:
    # Joins sort before leaves at the same instant: a join and a leave stamped alike are a stay
    # of zero length, not a leave without a join (which would reach back to the room's creation).
    timeline = sorted([(at, 0, "") for at in joins] + [(at, 1, meeting) for at, meeting in leaves])
    out: list[_Raw] = []
    open_since: dt.datetime | None = None
    previous_leave: dt.datetime | None = None
    for at, is_leave, meeting_key in timeline:
        if not is_leave:
            if open_since is None:
                open_since = at
            continue
        if open_since is not None:
            out.append((open_since, at))
            open_since = None
        else:
            start = facts.creation_before(meeting_key, key[0], key[1], at) or scheduled_start
            if previous_leave is not None:
                # The connection was out after its previous leave: the lost join came later.
                start = max(start, previous_leave)
            out.append((min(start, at), at))
        previous_leave = at
    if open_since is not None:
        out.append((open_since, None))
    return out


# --- counting -------------------------------------------------------------------------------------


def _counted(
    raw: Sequence[_Raw], window: tuple[dt.datetime, dt.datetime], now: dt.datetime
) -> list[Interval]:
    pieces: list[Interval] = []
    for start, end in raw:
        counted_end = end if end is not None else max(start, now)
        clipped = (max(start, window[0]), min(counted_end, window[1]))
        if clipped[1] > clipped[0]:
            pieces.append(clipped)
    return union_intervals(pieces)


def _minutes(intervals: Sequence[Interval]) -> int:
    # Floor: whole minutes actually present; the sum is exact (timedelta is integral µs).
    return sum((end - start for start, end in intervals), dt.timedelta()) // _MINUTE


def _is_open(raw: Sequence[_Raw]) -> bool:
    return any(end is None for _, end in raw)


def _person(
    person_id: str,
    raw: Sequence[_Raw],
    scheduled_start: dt.datetime,
    scheduled_end: dt.datetime,
    window: tuple[dt.datetime, dt.datetime],
    now: dt.datetime,
    policy: Policy,
) -> PersonAttendance:
    counted = _counted(raw, window, now)
    minutes = _minutes(counted)
    is_open = _is_open(raw)
    first_join = counted[0][0] if counted else None
    last_leave = counted[-1][1] if counted and not is_open else None
    status, late, left_early = judge(
        minutes,
        first_join,
        last_leave,
        scheduled_start=scheduled_start,
        scheduled_end=scheduled_end,
        policy=policy,
    )
    return PersonAttendance(
        person_id=person_id,
        intervals=tuple(counted),
        minutes=minutes,
        first_join=first_join,
        last_leave=last_leave,
        late=late,
        left_early=left_early,
        status=status,
        is_open=is_open,
    )


def _presence_order(
    p: ConnectionPresence,
) -> tuple[dt.datetime, str, tuple[int, str], tuple[int, str], tuple[int, str], bool, dt.datetime]:
    # A total order over every field (None sorts apart from any string), so that equal sets of
    # events give equal tuples whatever order the set was filled in.
    def optional(value: str | None) -> tuple[int, str]:
        return (0, "") if value is None else (1, value)

    return (
        p.joined_at,
        p.room_name,
        optional(p.breakout_room_id),
        optional(p.connection_id),
        optional(p.person_id),
        p.left_at is None,
        p.left_at or p.joined_at,
    )
