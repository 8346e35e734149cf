"""Scheduling use cases: a group's series, the sessions materialised from them, changes to one
session, and closure days.

**Series and sessions.** A series is a recurrence rule in local time (see ``recurrence``). Its
sessions are stored as rows, one per rule instant, each remembering the instant it was made for
(``recurrence_local``, its RECURRENCE-ID in calendars). Rows are what people launch, attend and
link to, so they are kept stable: every change to a series *reconciles* the rows with the rule
instead of regenerating them, and a row keeps its id and room as long as its occurrence exists.

**Frozen sessions.** A session that has begun (by the clock), was launched, is live or ended, or
has any presence, visit or attendance record is history. No series operation changes or deletes
it; only the session operations that make sense for it (editing its theme or note) apply.

**Overrides.** A session moved on its own (its start differs from its rule instant, or its length
from the series') or cancelled on its own is an override. A whole-series change keeps overrides
for occurrences that still exist, by exact instant or else by the same local day (a change of
time keeps Tuesday's moved session attached to Tuesday's new instant) or else the same week (a
new weekday keeps each week's row); an override whose occurrence is gone (every other week, an
earlier end) goes with it. Plain sessions simply take the new time and length.

**Closure days** (centre-wide or per group) get no sessions. Adding one deletes the untouched
future sessions generated for that day; a session someone moved onto it is kept and reported, so a
coordinator decides. Removing one creates the missing sessions again.

**Revisions.** Every change visible in a calendar (time, status, theme, material link) bumps the
session's ``sequence``; a series change bumps the series' ``sequence``; and each use case that
changes what a feed shows bumps the group's ``schedule_version`` once, in ``_schedule_changed``.
Cancelling, moving and restoring a session, and changing a series, also write the notices to
the people concerned (``orchestrator.notifications``) in the same transaction.

All use cases take a sync ``Session`` and keyword-only arguments, check access first, validate
before writing and never commit. The one check that needs the written rows (no two held sessions
of a group overlap) raises inside the transaction, which the caller then rolls back. ``now`` is
a parameter (default: the current time) wherever past and future matter, so tests and workers
can pin it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import secrets
from collections.abc import Collection, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import or_, select
from sqlalchemy.orm import Session as DbSession

from integrations.jitsi.rooms import new_room_name
from orchestrator import audit
from orchestrator.access import Actor, require_centre, require_group
from orchestrator.errors import Conflict, InvalidInput, NotFound
from orchestrator.i18n import gettext
from orchestrator.models import (
    Attendance,
    Centre,
    ClosureDay,
    Group,
    PresenceInterval,
    Series,
    Session,
    SessionVisit,
    utcnow,
)
from orchestrator.notifications import services as notifications
from orchestrator.scheduling import recurrence
from orchestrator.scheduling.recurrence import Expansion, RecurrenceError

__all__ = [
    "ClosureChange",
    "MaterialiseSummary",
    "Schedule",
    "SeriesChange",
    "SessionView",
    "add_closure_day",
    "cancel_session",
    "change_this_and_following",
    "create_series",
    "edit_session",
    "get_schedule",
    "get_series",
    "get_session",
    "is_frozen",
    "list_closure_days",
    "list_series",
    "list_sessions",
    "materialise_series",
    "move_session",
    "remove_closure_day",
    "restore_session",
    "update_series",
]

_LOGGER = logging.getLogger(__name__)

# Ids arrive from URLs and JSON; PostgreSQL's integer columns end here, and a larger id must be
# "not found", not a database error.
_MAX_ID = 2_147_483_647
MAX_TITLE = 200
MAX_THEME = 300
MAX_MATERIAL_URL = 1000
MAX_NOTE = 5000
MAX_REASON = 500
MAX_LABEL = 200
DEFAULT_DURATION_MINUTES = 90
DEFAULT_RULE = "FREQ=WEEKLY"
# Statuses of sessions that happen (or happened): they may not overlap within a group.
_HELD = ("scheduled", "live", "ended")


# --- results -------------------------------------------------------------------------------------


@dataclasses.dataclass
class MaterialiseSummary:
    """What reconciling a series' rows with its rule did."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    frozen: int = 0
    """Rows left alone because they are history (see the module docstring)."""

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def add(self, other: MaterialiseSummary) -> None:
        self.created += other.created
        self.updated += other.updated
        self.deleted += other.deleted
        self.frozen += other.frozen

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SeriesChange:
    series: Series
    summary: MaterialiseSummary


@dataclasses.dataclass(frozen=True)
class SessionView:
    """A session with what showing it needs: its zone and its series' title."""

    session: Session
    timezone: str
    series_title: str = ""

    @property
    def local_start(self) -> dt.datetime:
        return recurrence.to_local(self.session.starts_at, self.timezone)

    @property
    def local_end(self) -> dt.datetime:
        return recurrence.to_local(self.session.ends_at, self.timezone)

    @property
    def duration_minutes(self) -> int:
        return int((self.session.ends_at - self.session.starts_at).total_seconds() // 60)

    @property
    def moved(self) -> bool:
        local = self.session.recurrence_local
        return local is not None and recurrence.to_utc(local, self.timezone) != self.session.starts_at


@dataclasses.dataclass(frozen=True)
class SessionDetail(SessionView):
    group: Group | None = None
    series: Series | None = None
    can_manage: bool = False
    frozen: bool = False


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Everything the group's schedule page shows."""

    group: Group
    timezone: str
    series: list[Series]
    sessions: list[SessionView]
    closures: list[ClosureDay]
    can_manage: bool


@dataclasses.dataclass(frozen=True)
class ClosureChange:
    closure: ClosureDay
    summary: MaterialiseSummary
    conflicts: list[SessionView]
    """Sessions still held on the closure day (moved there by someone, or one-offs)."""


# --- helpers -------------------------------------------------------------------------------------


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return utcnow()
    if now.tzinfo is None:
        raise ValueError("now must be an aware instant")
    return now.astimezone(dt.UTC)


def _no_group() -> str:
    return gettext("There is no such group.")


def _no_series() -> str:
    return gettext("There is no such series.")


def _no_session() -> str:
    return gettext("There is no such session.")


def _check_id(record_id: int, message: str) -> None:
    if not 1 <= record_id <= _MAX_ID:
        raise NotFound(message)


def _load_group(db: DbSession, actor: Actor, group_id: int, *, manage: bool) -> Group:
    """The group if the actor sees it (else "not found"); ``manage``: and may change its schedule.

    Facilitators see their own groups' schedules; changing them is for coordinators and admins,
    so a facilitator of the group is told "forbidden" and anyone else "not found".
    """
    _check_id(group_id, _no_group())
    group = db.get(Group, group_id)
    if group is None:
        raise NotFound(_no_group())
    require_group(actor, group.centre_id, group.id)
    if manage:
        require_centre(actor, group.centre_id, what="schedule")
    return group


def _open_group(group: Group) -> None:
    if group.archived:
        raise Conflict(gettext("The group is archived; its schedule can no longer be changed."))


def _load_series(db: DbSession, actor: Actor, series_id: int, *, manage: bool) -> tuple[Series, Group]:
    _check_id(series_id, _no_series())
    series = db.get(Series, series_id)
    if series is None:
        raise NotFound(_no_series())
    try:
        group = _load_group(db, actor, series.group_id, manage=manage)
    except NotFound:
        raise NotFound(_no_series()) from None
    return series, group


def _load_session(db: DbSession, actor: Actor, session_id: int, *, manage: bool) -> tuple[Session, Group]:
    _check_id(session_id, _no_session())
    session = db.get(Session, session_id)
    if session is None:
        raise NotFound(_no_session())
    try:
        group = _load_group(db, actor, session.group_id, manage=manage)
    except NotFound:
        raise NotFound(_no_session()) from None
    return session, group


def _centre_timezone(db: DbSession, group: Group) -> str:
    return db.get_one(Centre, group.centre_id).timezone


def _session_timezone(db: DbSession, session: Session, group: Group) -> str:
    if session.series_id is not None and (series := db.get(Series, session.series_id)) is not None:
        return series.timezone
    return _centre_timezone(db, group)


def _closure_days(db: DbSession, group: Group) -> set[dt.date]:
    """Closure days that apply to the group: its centre's and its own."""
    rows = db.scalars(
        select(ClosureDay.day).where(
            ClosureDay.centre_id == group.centre_id,
            or_(ClosureDay.group_id.is_(None), ClosureDay.group_id == group.id),
        )
    )
    return set(rows)


def _sessions_with_records(db: DbSession, session_ids: Collection[int]) -> set[int]:
    """Sessions that somebody attended, joined or launched: their rows are history."""
    if not session_ids:
        return set()
    ids = list(session_ids)
    found: set[int] = set()
    for model in (Attendance, PresenceInterval, SessionVisit):
        found.update(db.scalars(select(model.session_id).where(model.session_id.in_(ids)).distinct()))
    return found


def is_frozen(session: Session, now: dt.datetime, with_records: Collection[int] = ()) -> bool:
    """Whether ``session`` is history that schedule changes must not touch (see the module doc)."""
    return (
        session.status in ("live", "ended")
        or session.launched_at is not None
        or session.ended_at is not None
        or session.finalised_at is not None
        or session.starts_at <= now
        or session.id in with_records
    )


def _recurrence_error(err: RecurrenceError) -> InvalidInput:
    return InvalidInput(err.message, field=err.field)


def _expand(
    rule: str,
    *,
    dtstart_local: dt.datetime,
    timezone: str,
    until: dt.date,
    duration_minutes: int,
    closures: Collection[dt.date],
) -> Expansion:
    try:
        return recurrence.expand(
            rule,
            dtstart_local=dtstart_local,
            timezone=timezone,
            until=until,
            duration=dt.timedelta(minutes=duration_minutes),
            closures=closures,
        )
    except RecurrenceError as err:
        raise _recurrence_error(err) from None


def _title(value: str) -> str:
    title = " ".join(value.split())
    if len(title) > MAX_TITLE:
        raise InvalidInput(
            gettext("The title may have at most %(n)d characters.") % {"n": MAX_TITLE}, field="title"
        )
    return title


def _duration(value: int) -> int:
    if not 1 <= value <= recurrence.MAX_DURATION_MINUTES:
        raise InvalidInput(
            gettext("The duration must be between 1 and %(n)d minutes.")
            % {"n": recurrence.MAX_DURATION_MINUTES},
            field="duration_minutes",
        )
    return value


def _naive_local(value: dt.datetime, field: str) -> dt.datetime:
    if value.tzinfo is not None:
        raise InvalidInput(
            gettext("Give the local time without a UTC offset (for example 2026-09-01T09:00)."), field=field
        )
    return value.replace(second=0, microsecond=0)


def _fmt(local: dt.datetime) -> str:
    return local.isoformat(" ", "minutes")


def _schedule_changed(
    db: DbSession,
    changed: Iterable[Group],
    *,
    centre_id: int,
    actor: Actor | None,
    action: str,
    object_type: str,
    object_id: object,
    detail: dict[str, Any],
    now: dt.datetime,
) -> None:
    """Record a schedule change: the feed revision of each group whose calendar changed
    (``changed``), and the audit trail.

    Every use case that changes a schedule ends here exactly once, after its writes, which makes
    this the place where notifying the people concerned attaches.
    """
    for group in changed:
        group.schedule_version += 1
        group.updated_at = now
    audit.record(
        db, actor, action, object_type=object_type, object_id=object_id, centre_id=centre_id, detail=detail
    )
    db.flush()


def _is_moved(session: Session, timezone: str, duration: dt.timedelta) -> bool:
    """A session moved (or resized) on its own, compared with the series it was generated from."""
    if session.recurrence_local is None:
        return True
    return (
        session.starts_at != recurrence.to_utc(session.recurrence_local, timezone)
        or session.ends_at - session.starts_at != duration
    )


def _same_day(local: dt.datetime) -> object:
    return local.date()


def _same_week(local: dt.datetime) -> object:
    year, week, _ = local.isocalendar()
    return (year, week)


def _reconcile(
    db: DbSession,
    series: Series,
    *,
    closures: Collection[dt.date],
    now: dt.datetime,
    old_duration: int | None = None,
    touched: set[int] | None = None,
) -> MaterialiseSummary:
    """Make the series' rows match its rule from ``now`` on, keeping history and overrides.

    ``old_duration`` is the series' duration before the change that led here; it tells sessions
    resized on their own from sessions that simply had the series' length. ``touched`` collects
    the ids of rows whose time was set here (for the overlap check).
    """
    expansion = _expand(
        series.rrule,
        dtstart_local=series.dtstart_local,
        timezone=series.timezone,
        until=series.until,
        duration_minutes=series.duration_minutes,
        closures=(),
    )
    zone = series.timezone
    duration = dt.timedelta(minutes=series.duration_minutes)
    before = dt.timedelta(minutes=old_duration if old_duration is not None else series.duration_minutes)
    closed = set(closures)
    summary = MaterialiseSummary()

    rows = list(db.scalars(select(Session).where(Session.series_id == series.id).order_by(Session.starts_at)))
    with_records = _sessions_with_records(db, [r.id for r in rows])
    frozen_ids = {r.id for r in rows if is_frozen(r, now, with_records)}
    summary.frozen = len(frozen_ids)

    # Pair rows with instants, so that rows (ids, rooms, links) survive a change of the rule:
    # first the row made for exactly that instant (frozen or not, so no second row is ever made
    # for an instant), then a changeable row made for the same local day, then one made for the
    # same week (a new weekday: "this week's session" is now on Thursday). Earlier rows first.
    instants = set(expansion.instants)
    assigned: dict[int, dt.datetime] = {}
    for row in rows:
        if row.recurrence_local in instants:
            assigned[row.id] = row.recurrence_local
    taken = set(assigned.values())
    for key in (_same_day, _same_week):
        free: dict[object, list[dt.datetime]] = {}
        for instant in expansion.instants:
            if instant not in taken:
                free.setdefault(key(instant), []).append(instant)
        for row in rows:
            if row.id in assigned or row.id in frozen_ids or row.recurrence_local is None:
                continue
            candidates = free.get(key(row.recurrence_local))
            if candidates:
                assigned[row.id] = candidates.pop(0)
                taken.add(assigned[row.id])

    # Decide before writing, because "moved" compares a row with the instant it had.
    deletions: list[Session] = []
    updates: list[tuple[Session, dt.datetime, bool]] = []
    for row in rows:
        if row.id in frozen_ids:
            continue
        target = assigned.get(row.id)
        moved = _is_moved(row, zone, before)
        if target is None or (target.date() in closed and not moved):
            deletions.append(row)
        else:
            updates.append((row, target, moved))

    for row in deletions:
        db.delete(row)
        summary.deleted += 1
    if deletions:
        # Deletes first: a deleted row may hold an instant that an update or insert takes next.
        db.flush()

    for row, instant, moved in updates:
        changed = False
        if not moved:
            start = recurrence.to_utc(instant, zone)
            end = start + duration
            # A session is never moved into the past: if its new time has begun already, it
            # keeps the time people were told (and becomes an override of the new instant).
            if (row.starts_at, row.ends_at) != (start, end) and start > now:
                row.starts_at, row.ends_at = start, end
                changed = True
                if touched is not None:
                    touched.add(row.id)
        if row.recurrence_local != instant:
            row.recurrence_local = instant
            changed = True
        if changed:
            row.sequence += 1
            row.updated_at = now
            summary.updated += 1

    created: list[Session] = []
    for occurrence in expansion.occurrences:
        if occurrence.recurrence_local in taken or occurrence.day in closed or occurrence.start <= now:
            continue
        row = Session(
            group_id=series.group_id,
            series_id=series.id,
            recurrence_local=occurrence.recurrence_local,
            starts_at=occurrence.start,
            ends_at=occurrence.end,
            status="scheduled",
            room_name=new_room_name(),
            sequence=0,
            created_at=now,
            updated_at=now,
        )
        db.add(row)
        created.append(row)
    db.flush()
    summary.created = len(created)
    if touched is not None:
        touched.update(row.id for row in created)
    _LOGGER.debug("reconciled series %s: %s", series.id, summary)
    return summary


def _check_no_overlap(db: DbSession, group: Group, touched: Iterable[int], timezone: str) -> None:
    """Refuse a schedule in which a changed session overlaps another held session of the group."""
    ids = set(touched)
    if not ids:
        return
    changed = list(db.scalars(select(Session).where(Session.id.in_(ids), Session.status.in_(_HELD))))
    if not changed:
        return
    low = min(s.starts_at for s in changed)
    high = max(s.ends_at for s in changed)
    others = list(
        db.scalars(
            select(Session)
            .where(
                Session.group_id == group.id,
                Session.status.in_(_HELD),
                Session.starts_at < high,
                Session.ends_at > low,
            )
            .order_by(Session.starts_at)
        )
    )
    for mine in sorted(changed, key=lambda s: s.starts_at):
        for other in others:
            if other.id == mine.id or (other.id in ids and other.id < mine.id):
                continue
            if other.starts_at < mine.ends_at and mine.starts_at < other.ends_at:
                raise Conflict(
                    gettext("The session on %(a)s would overlap the group's session on %(b)s.")
                    % {
                        "a": _fmt(recurrence.to_local(mine.starts_at, timezone)),
                        "b": _fmt(recurrence.to_local(other.starts_at, timezone)),
                    }
                )


def _series_detail(series: Series) -> dict[str, Any]:
    return {
        "title": series.title,
        "rrule": series.rrule,
        "dtstart_local": series.dtstart_local.isoformat(),
        "duration_minutes": series.duration_minutes,
        "timezone": series.timezone,
        "until": series.until.isoformat(),
    }


# --- series --------------------------------------------------------------------------------------


def _new_uid() -> str:
    return f"series-{secrets.token_hex(16)}@rucksack"


def create_series(
    db: DbSession,
    *,
    actor: Actor,
    group_id: int,
    first_start_local: dt.datetime,
    title: str = "",
    rrule: str = DEFAULT_RULE,
    duration_minutes: int = DEFAULT_DURATION_MINUTES,
    until: dt.date | None = None,
    timezone: str | None = None,
    now: dt.datetime | None = None,
) -> Series:
    """A new series for the group, with its sessions materialised.

    The series starts at the rule's first instance on or after ``first_start_local`` (a Tuesday
    rule given a Monday starts on Tuesday) and ends with ``until`` (default: the group's cycle
    end). Its zone defaults to the centre's. Sessions on closure days are not created; a series
    all of whose sessions would fall on closure days, or whose first session has begun already,
    is refused.
    """
    moment = _now(now)
    group = _load_group(db, actor, group_id, manage=True)
    _open_group(group)
    title = _title(title)
    duration_minutes = _duration(duration_minutes)
    first_start_local = _naive_local(first_start_local, "first_start_local")
    zone = timezone or _centre_timezone(db, group)
    until = until or group.cycle_end
    closures = _closure_days(db, group)
    expansion = _expand(
        rrule,
        dtstart_local=first_start_local,
        timezone=zone,
        until=until,
        duration_minutes=duration_minutes,
        closures=closures,
    )
    first = recurrence.to_utc(expansion.first_start_local, zone)
    if first <= moment:
        raise InvalidInput(
            gettext("The first session (%(start)s) would be in the past; choose a later first date.")
            % {"start": _fmt(expansion.first_start_local)},
            field="first_start_local",
        )
    if not expansion.occurrences:
        raise InvalidInput(
            gettext("Every session of this series would fall on a closure day."), field="rrule"
        )

    series = Series(
        group_id=group.id,
        title=title,
        rrule=expansion.rule,
        dtstart_local=expansion.first_start_local,
        duration_minutes=duration_minutes,
        timezone=zone,
        until=until,
        uid=_new_uid(),
        sequence=0,
        created_at=moment,
        updated_at=moment,
    )
    db.add(series)
    db.flush()
    touched: set[int] = set()
    summary = _reconcile(db, series, closures=closures, now=moment, touched=touched)
    _check_no_overlap(db, group, touched, zone)
    _schedule_changed(
        db,
        [group],
        centre_id=group.centre_id,
        actor=actor,
        action="series.create",
        object_type="series",
        object_id=series.id,
        detail={**_series_detail(series), "sessions": summary.as_dict()},
        now=moment,
    )
    return series


@dataclasses.dataclass(frozen=True)
class _SeriesValues:
    title: str
    rule: str
    dtstart_local: dt.datetime
    duration_minutes: int
    until: dt.date


def _new_values(
    series: Series,
    *,
    anchor: dt.datetime,
    title: str | None,
    rrule: str | None,
    start_time: dt.time | None,
    first_start_local: dt.datetime | None,
    duration_minutes: int | None,
    until: dt.date | None,
    closures: Collection[dt.date],
) -> tuple[_SeriesValues, Expansion]:
    """Validate the changed fields of a series and expand the result (nothing is written)."""
    if first_start_local is not None:
        anchor = _naive_local(first_start_local, "first_start_local")
    if start_time is not None:
        anchor = dt.datetime.combine(anchor.date(), start_time.replace(second=0, microsecond=0, tzinfo=None))
    new_title = _title(title) if title is not None else series.title
    new_duration = _duration(duration_minutes) if duration_minutes is not None else series.duration_minutes
    new_until = until if until is not None else series.until
    expansion = _expand(
        rrule if rrule is not None else series.rrule,
        dtstart_local=anchor,
        timezone=series.timezone,
        until=new_until,
        duration_minutes=new_duration,
        closures=closures,
    )
    values = _SeriesValues(
        title=new_title,
        rule=expansion.rule,
        dtstart_local=expansion.first_start_local,
        duration_minutes=new_duration,
        until=new_until,
    )
    return values, expansion


def _apply(series: Series, values: _SeriesValues) -> dict[str, Any]:
    """Set the new values; return {field: [old, new]} of what changed."""
    changes: dict[str, Any] = {}
    for field, attr, new in (
        ("title", "title", values.title),
        ("rrule", "rrule", values.rule),
        ("dtstart_local", "dtstart_local", values.dtstart_local),
        ("duration_minutes", "duration_minutes", values.duration_minutes),
        ("until", "until", values.until),
    ):
        old = getattr(series, attr)
        if old != new:
            changes[field] = [str(old), str(new)]
            setattr(series, attr, new)
    return changes


def update_series(
    db: DbSession,
    *,
    actor: Actor,
    series_id: int,
    title: str | None = None,
    rrule: str | None = None,
    first_start_local: dt.datetime | None = None,
    start_time: dt.time | None = None,
    duration_minutes: int | None = None,
    until: dt.date | None = None,
    now: dt.datetime | None = None,
) -> SeriesChange:
    """Change the whole series; ``None`` keeps a field.

    ``start_time`` changes the time of day and keeps the first day; ``first_start_local`` sets
    both (the series then starts at the rule's first instance on or after it). Frozen sessions
    stay as they are; future ones are reconciled with the new rule: rows keep their ids and rooms
    where their occurrence still exists (same instant, else the same local day, else the same
    week), plain ones take the new time and length, overrides stay (module docstring), and the
    rest is created or deleted.
    """
    moment = _now(now)
    series, group = _load_series(db, actor, series_id, manage=True)
    _open_group(group)
    closures = _closure_days(db, group)
    values, _ = _new_values(
        series,
        anchor=series.dtstart_local,
        title=title,
        rrule=rrule,
        start_time=start_time,
        first_start_local=first_start_local,
        duration_minutes=duration_minutes,
        until=until,
        closures=closures,
    )
    old_duration = series.duration_minutes
    # The next two weeks' starts, to tell people about the sessions this change moves.
    upcoming = notifications.upcoming_starts(db, group_id=group.id, now=moment)
    changes = _apply(series, values)
    if not changes:
        return SeriesChange(series, MaterialiseSummary())
    series.sequence += 1
    series.updated_at = moment
    db.flush()
    touched: set[int] = set()
    summary = _reconcile(
        db, series, closures=closures, now=moment, old_duration=old_duration, touched=touched
    )
    _check_no_overlap(db, group, touched, series.timezone)
    _schedule_changed(
        db,
        [group],
        centre_id=group.centre_id,
        actor=actor,
        action="series.update",
        object_type="series",
        object_id=series.id,
        detail={"changes": changes, "sessions": summary.as_dict()},
        now=moment,
    )
    notifications.notify_rescheduled(
        db, group_id=group.id, before=upcoming, now=moment, actor_id=actor.user_id
    )
    return SeriesChange(series, summary)


def change_this_and_following(
    db: DbSession,
    *,
    actor: Actor,
    session_id: int,
    title: str | None = None,
    rrule: str | None = None,
    first_start_local: dt.datetime | None = None,
    start_time: dt.time | None = None,
    duration_minutes: int | None = None,
    until: dt.date | None = None,
    now: dt.datetime | None = None,
) -> SeriesChange:
    """Change the series from this session on: the returned series holds this and later sessions.

    The current series ends the day before this session's occurrence; a new series (new UID)
    starts at this occurrence with the changed fields (by default everything as before, at this
    occurrence's date). This and the following changeable rows are *moved* to the new series and
    reconciled with it rather than deleted and recreated, so their ids, rooms and links keep
    working; each moved row's ``sequence`` is bumped because it now belongs to another calendar
    event. Frozen rows stay with the old series. From the series' first occurrence this is the
    same as ``update_series``.
    """
    moment = _now(now)
    session, group = _load_session(db, actor, session_id, manage=True)
    _open_group(group)
    if session.series_id is None or session.recurrence_local is None:
        raise InvalidInput(gettext("This session is not part of a series."), field="session_id")
    old = db.get_one(Series, session.series_id)
    if is_frozen(session, moment, _sessions_with_records(db, [session.id])):
        raise Conflict(
            gettext(
                "This session has begun or taken place already; change the schedule from a later session."
            )
        )
    split = session.recurrence_local
    if split == old.dtstart_local:
        return update_series(
            db,
            actor=actor,
            series_id=old.id,
            title=title,
            rrule=rrule,
            first_start_local=first_start_local,
            start_time=start_time,
            duration_minutes=duration_minutes,
            until=until,
            now=moment,
        )
    cut = split.date() - dt.timedelta(days=1)
    if cut < old.dtstart_local.date():
        raise InvalidInput(
            gettext("The series cannot be split within its first day; change the whole series instead."),
            field="session_id",
        )
    closures = _closure_days(db, group)
    values, _ = _new_values(
        old,
        anchor=split,
        title=title,
        rrule=rrule,
        start_time=start_time,
        first_start_local=first_start_local,
        duration_minutes=duration_minutes,
        until=until,
        closures=closures,
    )
    if values.dtstart_local.date() < split.date():
        raise InvalidInput(
            gettext("The new schedule must start on or after the session it changes (%(day)s).")
            % {"day": split.date().isoformat()},
            field="first_start_local",
        )
    if recurrence.to_utc(values.dtstart_local, old.timezone) <= moment:
        raise InvalidInput(
            gettext("The first session of the new schedule (%(start)s) would be in the past.")
            % {"start": _fmt(values.dtstart_local)},
            field="first_start_local",
        )
    unchanged = (
        values.title == old.title
        and values.rule == old.rrule
        and values.duration_minutes == old.duration_minutes
        and values.until == old.until
        and values.dtstart_local == split
    )
    if unchanged:
        return SeriesChange(old, MaterialiseSummary())

    upcoming = notifications.upcoming_starts(db, group_id=group.id, now=moment)
    old_duration = old.duration_minutes
    old_until = old.until
    old.until = cut
    old.sequence += 1
    old.updated_at = moment
    new = Series(
        group_id=group.id,
        title=values.title,
        rrule=values.rule,
        dtstart_local=values.dtstart_local,
        duration_minutes=values.duration_minutes,
        timezone=old.timezone,
        until=values.until,
        uid=_new_uid(),
        sequence=0,
        created_at=moment,
        updated_at=moment,
    )
    db.add(new)
    db.flush()

    rows = list(
        db.scalars(select(Session).where(Session.series_id == old.id, Session.recurrence_local >= split))
    )
    with_records = _sessions_with_records(db, [r.id for r in rows])
    moving = [r for r in rows if not is_frozen(r, moment, with_records)]
    sequences = {r.id: r.sequence for r in moving}
    for row in moving:
        row.series_id = new.id
    db.flush()

    touched: set[int] = set()
    summary = _reconcile(db, new, closures=closures, now=moment, old_duration=old_duration, touched=touched)
    summary.add(_reconcile(db, old, closures=closures, now=moment))
    for row in moving:
        if row in db and row.series_id == new.id and row.sequence == sequences[row.id]:
            row.sequence += 1
            row.updated_at = moment
    db.flush()
    _check_no_overlap(db, group, touched, new.timezone)
    _schedule_changed(
        db,
        [group],
        centre_id=group.centre_id,
        actor=actor,
        action="series.split",
        object_type="series",
        object_id=new.id,
        detail={
            "from_series": old.id,
            "from_session": session.id,
            "old_until": [old_until.isoformat(), cut.isoformat()],
            "new": _series_detail(new),
            "moved_sessions": len(moving),
            "sessions": summary.as_dict(),
        },
        now=moment,
    )
    notifications.notify_rescheduled(
        db, group_id=group.id, before=upcoming, now=moment, actor_id=actor.user_id
    )
    return SeriesChange(new, summary)


def materialise_series(
    db: DbSession, *, series_id: int, actor: Actor | None = None, now: dt.datetime | None = None
) -> MaterialiseSummary:
    """Bring the series' future rows in line with its rule; idempotent (a rerun changes nothing).

    Creates missing future sessions, deletes changeable rows whose occurrence no longer exists
    (or fell on a new closure day), and never touches frozen ones. Workers call it without an
    ``actor`` (no access check); given one, it must manage the group.
    """
    moment = _now(now)
    if actor is not None:
        series, group = _load_series(db, actor, series_id, manage=True)
    else:
        _check_id(series_id, _no_series())
        found = db.get(Series, series_id)
        if found is None:
            raise NotFound(_no_series())
        series, group = found, db.get_one(Group, found.group_id)
    if group.archived:
        return MaterialiseSummary()
    summary = _reconcile(db, series, closures=_closure_days(db, group), now=moment)
    if summary.changed:
        _schedule_changed(
            db,
            [group],
            centre_id=group.centre_id,
            actor=actor,
            action="series.materialise",
            object_type="series",
            object_id=series.id,
            detail={"sessions": summary.as_dict()},
            now=moment,
        )
    return summary


def list_series(db: DbSession, *, actor: Actor, group_id: int) -> list[Series]:
    group = _load_group(db, actor, group_id, manage=False)
    return list(db.scalars(select(Series).where(Series.group_id == group.id).order_by(Series.dtstart_local)))


def get_series(db: DbSession, *, actor: Actor, series_id: int) -> Series:
    series, _ = _load_series(db, actor, series_id, manage=False)
    return series


# --- single sessions -----------------------------------------------------------------------------


def _status_label(status: str) -> str:
    labels = {
        "scheduled": gettext("scheduled"),
        "live": gettext("live"),
        "ended": gettext("ended"),
        "cancelled": gettext("cancelled"),
    }
    return labels.get(status, status)


def _require_changeable(db: DbSession, session: Session, refusal: str) -> None:
    """A session can be cancelled or moved while it is scheduled and nobody has been in it."""
    if session.status != "scheduled":
        raise Conflict(refusal % {"status": _status_label(session.status)})
    if session.launched_at is not None or _sessions_with_records(db, [session.id]):
        raise Conflict(gettext("This session has taken place already (it was launched or joined)."))


def _on_closure_day(db: DbSession, group: Group, local_start: dt.datetime) -> None:
    closure = db.scalars(
        select(ClosureDay).where(
            ClosureDay.centre_id == group.centre_id,
            or_(ClosureDay.group_id.is_(None), ClosureDay.group_id == group.id),
            ClosureDay.day == local_start.date(),
        )
    ).first()
    if closure is not None:
        label = f" ({closure.label})" if closure.label else ""
        raise Conflict(
            gettext("%(day)s is a closure day%(label)s; remove the closure day first to hold a session then.")
            % {"day": closure.day.isoformat(), "label": label}
        )


def _session_changed(
    db: DbSession,
    session: Session,
    group: Group,
    *,
    actor: Actor,
    action: str,
    detail: dict[str, Any],
    now: dt.datetime,
    visible: bool,
) -> None:
    if visible:
        session.sequence += 1
    session.updated_at = now
    _schedule_changed(
        db,
        [group] if visible else [],
        centre_id=group.centre_id,
        actor=actor,
        action=action,
        object_type="session",
        object_id=session.id,
        detail=detail,
        now=now,
    )


def cancel_session(
    db: DbSession, *, actor: Actor, session_id: int, reason: str = "", now: dt.datetime | None = None
) -> Session:
    """Cancel one scheduled session; calendars show it as cancelled, its row and link stay."""
    moment = _now(now)
    session, group = _load_session(db, actor, session_id, manage=True)
    _open_group(group)
    _require_changeable(
        db, session, gettext("Only a scheduled session can be cancelled; this one is %(status)s.")
    )
    reason = " ".join(reason.split())
    if len(reason) > MAX_REASON:
        raise InvalidInput(
            gettext("The reason may have at most %(n)d characters.") % {"n": MAX_REASON}, field="reason"
        )
    session.status = "cancelled"
    session.cancelled_at = moment
    session.cancel_reason = reason
    _session_changed(
        db,
        session,
        group,
        actor=actor,
        action="session.cancel",
        detail={"reason": reason},
        now=moment,
        visible=True,
    )
    # Calendars refresh slowly: the notices are written in this transaction; the web tier sends
    # the delivery job after the commit (beat's delivery run otherwise sends them within a minute).
    notifications.notify_session_changed(
        db, session_id=session.id, change="cancelled", now=moment, actor_id=actor.user_id
    )
    return session


def restore_session(
    db: DbSession, *, actor: Actor, session_id: int, now: dt.datetime | None = None
) -> Session:
    """Un-cancel a session whose time has not passed, unless that day has become a closure day
    or another session of the group now takes its time."""
    moment = _now(now)
    session, group = _load_session(db, actor, session_id, manage=True)
    _open_group(group)
    if session.status != "cancelled":
        raise Conflict(gettext("Only a cancelled session can be restored."))
    if session.ends_at <= moment:
        raise Conflict(gettext("This session's time is over; it cannot be restored."))
    zone = _session_timezone(db, session, group)
    _on_closure_day(db, group, recurrence.to_local(session.starts_at, zone))
    session.status = "scheduled"
    session.cancelled_at = None
    previous = session.cancel_reason
    session.cancel_reason = ""
    db.flush()
    _check_no_overlap(db, group, [session.id], zone)
    _session_changed(
        db,
        session,
        group,
        actor=actor,
        action="session.restore",
        detail={"previous_reason": previous},
        now=moment,
        visible=True,
    )
    notifications.notify_session_changed(
        db, session_id=session.id, change="restored", now=moment, actor_id=actor.user_id
    )
    return session


def move_session(
    db: DbSession,
    *,
    actor: Actor,
    session_id: int,
    new_start_local: dt.datetime,
    duration_minutes: int | None = None,
    now: dt.datetime | None = None,
) -> Session:
    """Move one scheduled session to another local start (and length); it stays the same session.

    Its ``recurrence_local`` stays, so calendars show it as a moved instance of its series.
    Refused: moving into the past, onto a closure day, onto another session of the group, and
    moving a session that is cancelled, live, ended or has taken place.
    """
    moment = _now(now)
    session, group = _load_session(db, actor, session_id, manage=True)
    _open_group(group)
    _require_changeable(
        db, session, gettext("Only a scheduled session can be moved; this one is %(status)s.")
    )
    local = _naive_local(new_start_local, "new_start_local")
    minutes = (
        _duration(duration_minutes)
        if duration_minutes is not None
        else int((session.ends_at - session.starts_at).total_seconds() // 60)
    )
    zone = _session_timezone(db, session, group)
    try:
        start = recurrence.to_utc(local, zone)
    except RecurrenceError as err:
        raise _recurrence_error(err) from None
    end = start + dt.timedelta(minutes=minutes)
    if start <= moment:
        raise InvalidInput(
            gettext("A session cannot be moved into the past (%(start)s).") % {"start": _fmt(local)},
            field="new_start_local",
        )
    if (start, end) == (session.starts_at, session.ends_at):
        return session
    _on_closure_day(db, group, local)
    before = [session.starts_at.isoformat(), session.ends_at.isoformat()]
    previous_start = session.starts_at
    session.starts_at, session.ends_at = start, end
    db.flush()
    _check_no_overlap(db, group, [session.id], zone)
    _session_changed(
        db,
        session,
        group,
        actor=actor,
        action="session.move",
        detail={"from": before, "to": [start.isoformat(), end.isoformat()], "local_start": local.isoformat()},
        now=moment,
        visible=True,
    )
    if start != previous_start:
        notifications.notify_session_changed(
            db,
            session_id=session.id,
            change="moved",
            now=moment,
            previous_start=previous_start,
            actor_id=actor.user_id,
        )
    return session


def _material_url(value: str) -> str:
    url = value.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or any(ch.isspace() for ch in url)
        or len(url) > MAX_MATERIAL_URL
    ):
        raise InvalidInput(
            gettext(
                "The material link must be a web address starting with https:// (at most %(n)d characters)."
            )
            % {"n": MAX_MATERIAL_URL},
            field="material_url",
        )
    return url


def edit_session(
    db: DbSession,
    *,
    actor: Actor,
    session_id: int,
    theme: str | None = None,
    material_url: str | None = None,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> Session:
    """Set a session's theme, material link and note (``None`` keeps a field).

    Allowed in every state (recording afterwards what a session covered is normal). Theme and
    material link show in calendars and bump ``sequence``; the note is for staff only.
    """
    moment = _now(now)
    session, group = _load_session(db, actor, session_id, manage=True)
    _open_group(group)
    changes: dict[str, Any] = {}
    if theme is not None:
        theme = " ".join(theme.split())
        if len(theme) > MAX_THEME:
            raise InvalidInput(
                gettext("The theme may have at most %(n)d characters.") % {"n": MAX_THEME}, field="theme"
            )
        if theme != session.theme:
            changes["theme"] = [session.theme, theme]
    if material_url is not None:
        material_url = _material_url(material_url)
        if material_url != session.material_url:
            changes["material_url"] = [session.material_url, material_url]
    if note is not None:
        note = note.strip()
        if len(note) > MAX_NOTE:
            raise InvalidInput(
                gettext("The note may have at most %(n)d characters.") % {"n": MAX_NOTE}, field="note"
            )
        if note != session.note:
            # The note's text is not copied into the audit trail: it may mention people.
            changes["note"] = "changed"
    if not changes:
        return session
    if "theme" in changes:
        session.theme = changes["theme"][1]
    if "material_url" in changes:
        session.material_url = changes["material_url"][1]
    if "note" in changes and note is not None:
        session.note = note
    visible = bool(changes.keys() & {"theme", "material_url"})
    _session_changed(
        db, session, group, actor=actor, action="session.edit", detail=changes, now=moment, visible=visible
    )
    return session


def get_session(
    db: DbSession, *, actor: Actor, session_id: int, now: dt.datetime | None = None
) -> SessionDetail:
    """One session with its group and series, for the session page and the API."""
    moment = _now(now)
    session, group = _load_session(db, actor, session_id, manage=False)
    series = db.get(Series, session.series_id) if session.series_id is not None else None
    zone = series.timezone if series is not None else _centre_timezone(db, group)
    return SessionDetail(
        session=session,
        timezone=zone,
        series_title=series.title if series is not None else "",
        group=group,
        series=series,
        can_manage=actor.can_manage_centre(group.centre_id),
        frozen=is_frozen(session, moment, _sessions_with_records(db, [session.id])),
    )


def _views(db: DbSession, group: Group, sessions: Sequence[Session]) -> list[SessionView]:
    series_ids = {s.series_id for s in sessions if s.series_id is not None}
    series = (
        {s.id: s for s in db.scalars(select(Series).where(Series.id.in_(series_ids)))} if series_ids else {}
    )
    centre_zone = _centre_timezone(db, group)
    views = []
    for s in sessions:
        owner = series.get(s.series_id) if s.series_id is not None else None
        views.append(
            SessionView(
                session=s,
                timezone=owner.timezone if owner else centre_zone,
                series_title=owner.title if owner else "",
            )
        )
    return views


def _bound(value: dt.date | dt.datetime | None, zone: str, *, end: bool, field: str) -> dt.datetime | None:
    """A list bound as an instant: a date means its local day (``end``: through its end)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise InvalidInput(
                gettext("Give a date (2026-09-01) or a time with its offset (2026-09-01T09:00+02:00)."),
                field=field,
            )
        return value.astimezone(dt.UTC)
    day = value + dt.timedelta(days=1) if end else value
    return recurrence.to_utc(dt.datetime.combine(day, dt.time.min), zone)


def list_sessions(
    db: DbSession,
    *,
    actor: Actor,
    group_id: int,
    starts_from: dt.date | dt.datetime | None = None,
    starts_until: dt.date | dt.datetime | None = None,
) -> list[SessionView]:
    """The group's sessions (every status) starting from ``starts_from`` up to ``starts_until``.

    A date bound is a whole local day in the centre's zone, both ends included; an aware instant
    bound is exact (``starts_until`` excluded).
    """
    group = _load_group(db, actor, group_id, manage=False)
    zone = _centre_timezone(db, group)
    low = _bound(starts_from, zone, end=False, field="from")
    high = _bound(starts_until, zone, end=True, field="to")
    query = select(Session).where(Session.group_id == group.id)
    if low is not None:
        query = query.where(Session.starts_at >= low)
    if high is not None:
        query = query.where(Session.starts_at < high)
    return _views(db, group, list(db.scalars(query.order_by(Session.starts_at, Session.id))))


def get_schedule(db: DbSession, *, actor: Actor, group_id: int) -> Schedule:
    """The group's series, all its sessions and the closure days that apply to it."""
    group = _load_group(db, actor, group_id, manage=False)
    series = list(
        db.scalars(select(Series).where(Series.group_id == group.id).order_by(Series.dtstart_local))
    )
    sessions = list(
        db.scalars(
            select(Session).where(Session.group_id == group.id).order_by(Session.starts_at, Session.id)
        )
    )
    return Schedule(
        group=group,
        timezone=_centre_timezone(db, group),
        series=series,
        sessions=_views(db, group, sessions),
        closures=_closures_of(db, group),
        can_manage=actor.can_manage_centre(group.centre_id),
    )


# --- closure days --------------------------------------------------------------------------------


def _closures_of(db: DbSession, group: Group) -> list[ClosureDay]:
    return list(
        db.scalars(
            select(ClosureDay)
            .where(
                ClosureDay.centre_id == group.centre_id,
                or_(ClosureDay.group_id.is_(None), ClosureDay.group_id == group.id),
            )
            .order_by(ClosureDay.day, ClosureDay.group_id)
        )
    )


def list_closure_days(db: DbSession, *, actor: Actor, group_id: int) -> list[ClosureDay]:
    """Closure days that apply to the group: its centre's (``group_id`` None) and its own."""
    group = _load_group(db, actor, group_id, manage=False)
    return _closures_of(db, group)


def _affected_groups(db: DbSession, centre_id: int, group_id: int | None) -> list[Group]:
    query = select(Group).where(Group.centre_id == centre_id, Group.archived.is_(False))
    if group_id is not None:
        query = query.where(Group.id == group_id)
    return list(db.scalars(query.order_by(Group.id)))


def _rematerialise(
    db: DbSession, groups: Sequence[Group], day: dt.date, *, now: dt.datetime
) -> tuple[MaterialiseSummary, dict[int, MaterialiseSummary]]:
    total = MaterialiseSummary()
    per_group: dict[int, MaterialiseSummary] = {}
    for group in groups:
        closures = _closure_days(db, group)
        summary = MaterialiseSummary()
        for series in db.scalars(
            select(Series).where(Series.group_id == group.id, Series.until >= day).order_by(Series.id)
        ):
            if series.dtstart_local.date() <= day:
                summary.add(_reconcile(db, series, closures=closures, now=now))
        per_group[group.id] = summary
        total.add(summary)
    return total, per_group


def _held_on(db: DbSession, groups: Sequence[Group], day: dt.date, now: dt.datetime) -> list[SessionView]:
    """Future held sessions of the groups whose local start falls on ``day``."""
    found: list[SessionView] = []
    low = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC) - dt.timedelta(days=1)
    high = low + dt.timedelta(days=3)
    for group in groups:
        rows = list(
            db.scalars(
                select(Session).where(
                    Session.group_id == group.id,
                    Session.status == "scheduled",
                    Session.starts_at > now,
                    Session.starts_at >= low,
                    Session.starts_at < high,
                )
            )
        )
        found.extend(v for v in _views(db, group, rows) if v.local_start.date() == day)
    return sorted(found, key=lambda v: v.session.starts_at)


def add_closure_day(
    db: DbSession,
    *,
    actor: Actor,
    group_id: int,
    day: dt.date,
    label: str = "",
    centre_wide: bool = False,
    now: dt.datetime | None = None,
) -> ClosureChange:
    """Close ``day`` for the group (or, ``centre_wide``, for every group of its centre).

    Untouched future sessions generated for that day are deleted; sessions moved onto it (and
    one-off sessions) stay and are returned as ``conflicts`` for a coordinator to decide.
    """
    moment = _now(now)
    group = _load_group(db, actor, group_id, manage=True)
    _open_group(group)
    label = " ".join(label.split())
    if len(label) > MAX_LABEL:
        raise InvalidInput(
            gettext("The label may have at most %(n)d characters.") % {"n": MAX_LABEL}, field="label"
        )
    existing = db.scalars(
        select(ClosureDay).where(
            ClosureDay.centre_id == group.centre_id,
            ClosureDay.day == day,
            # A centre-wide day covers the group; a new centre-wide day may join group ones.
            ClosureDay.group_id.is_(None)
            if centre_wide
            else or_(ClosureDay.group_id.is_(None), ClosureDay.group_id == group.id),
        )
    ).first()
    if existing is not None:
        raise Conflict(gettext("%(day)s is a closure day already.") % {"day": day.isoformat()}, field="day")
    closure = ClosureDay(
        centre_id=group.centre_id, group_id=None if centre_wide else group.id, day=day, label=label
    )
    db.add(closure)
    db.flush()
    groups = _affected_groups(db, group.centre_id, None if centre_wide else group.id)
    upcoming = {g.id: notifications.upcoming_starts(db, group_id=g.id, now=moment) for g in groups}
    total, per_group = _rematerialise(db, groups, day, now=moment)
    conflicts = _held_on(db, groups, day, moment)
    detail = {
        "day": day.isoformat(),
        "label": label,
        "centre_wide": centre_wide,
        "sessions": total.as_dict(),
        "kept_on_day": [c.session.id for c in conflicts],
    }
    _schedule_changed(
        db,
        [g for g in groups if per_group[g.id].changed],
        centre_id=group.centre_id,
        actor=actor,
        action="closure.add",
        object_type="closure_day",
        object_id=closure.id,
        detail=detail,
        now=moment,
    )
    for affected in groups:
        notifications.notify_rescheduled(
            db, group_id=affected.id, before=upcoming[affected.id], now=moment, actor_id=actor.user_id
        )
    return ClosureChange(closure, total, conflicts)


def remove_closure_day(
    db: DbSession, *, actor: Actor, closure_id: int, now: dt.datetime | None = None
) -> ClosureChange:
    """Open a closed day again; the sessions the series have on it are created (if still ahead)."""
    moment = _now(now)
    message = gettext("There is no such closure day.")
    _check_id(closure_id, message)
    closure = db.get(ClosureDay, closure_id)
    if closure is None:
        raise NotFound(message)
    if closure.group_id is not None:
        try:
            group = _load_group(db, actor, closure.group_id, manage=True)
        except NotFound:
            raise NotFound(message) from None
    else:
        require_centre(actor, closure.centre_id, what="closure day")
        group = None
    groups = _affected_groups(db, closure.centre_id, closure.group_id)
    upcoming = {g.id: notifications.upcoming_starts(db, group_id=g.id, now=moment) for g in groups}
    day, label = closure.day, closure.label
    db.delete(closure)
    db.flush()
    total, per_group = _rematerialise(db, groups, day, now=moment)
    _schedule_changed(
        db,
        [g for g in groups if per_group[g.id].changed],
        centre_id=closure.centre_id,
        actor=actor,
        action="closure.remove",
        object_type="closure_day",
        object_id=closure_id,
        detail={
            "day": day.isoformat(),
            "label": label,
            "group_id": group.id if group is not None else None,
            "sessions": total.as_dict(),
        },
        now=moment,
    )
    for affected in groups:
        notifications.notify_rescheduled(
            db, group_id=affected.id, before=upcoming[affected.id], now=moment, actor_id=actor.user_id
        )
    return ClosureChange(closure, total, [])
