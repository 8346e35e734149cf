"""The whole domain of design §4 as SQLAlchemy 2 models.

One module holds every table so that Alembic sees one metadata and the migrations stay linear.
Instants are stored in UTC (``UTCDateTime``); schedules are kept in local time with a named zone
(``Series.timezone``), and every session keeps the local start it was generated for
(``Session.recurrence_local``) so that calendars can address it as a RECURRENCE-ID.

Constraints live in the database: roles, statuses and kinds are CHECKed, ownership is a foreign
key, and uniqueness (pseudonyms, room names, secret hashes, dedupe keys) is a unique index.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "AccessSecret",
    "ApiToken",
    "Attendance",
    "AuditEntry",
    "Base",
    "Centre",
    "ClosureDay",
    "ConferenceEvent",
    "Enrolment",
    "Group",
    "GroupFacilitator",
    "JitsiDeployment",
    "LoginFailure",
    "Notification",
    "Parent",
    "PresenceInterval",
    "Series",
    "Session",
    "SessionVisit",
    "StaffLogin",
    "StaffUser",
    "utcnow",
]

ROLES = ("admin", "coordinator", "facilitator")
SESSION_STATUSES = ("scheduled", "live", "ended", "cancelled")
ATTENDANCE_STATUSES = ("present", "partial", "absent", "excused")
DEPLOYMENT_KINDS = ("self_hosted", "jaas")
PARENT_LANGUAGES = ("de", "en", "tr", "ar", "ru", "uk", "pl", "ro", "bg", "fa")
STAFF_LANGUAGES = ("de", "en")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An aware UTC instant on every backend.

    SQLite has no time-zone type and hands back naive values; storing naive UTC everywhere and
    re-attaching UTC on the way out gives the same Python values on SQLite and PostgreSQL, so the
    same tests hold on both.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC instant is required")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=naming_convention)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Centre(Base):
    """A Kommunales Integrationszentrum, with its per-centre policies."""

    __tablename__ = "centres"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    municipality: Mapped[str] = mapped_column(String(200), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    default_language: Mapped[str] = mapped_column(String(8), default="de")
    # Minutes before a session at which reminders go out.
    reminder_offsets: Mapped[list[Any]] = mapped_column(default=lambda: [1440, 60])
    # Attendance policy: present when minutes >= present_min_minutes or share >= present_min_share;
    # partial when there was any presence at all but below that.
    present_min_minutes: Mapped[int] = mapped_column(Integer, default=45)
    present_min_share: Mapped[int] = mapped_column(Integer, default=50)  # percent
    late_after_minutes: Mapped[int] = mapped_column(Integer, default=10)
    # Left early: no longer in, and the last leave more than this before the scheduled end.
    early_leave_minutes: Mapped[int] = mapped_column(Integer, default=10)
    regular_threshold_percent: Mapped[int] = mapped_column(Integer, default=50)
    # Retention (days).
    raw_event_retention_days: Mapped[int] = mapped_column(Integer, default=30)
    contact_grace_days: Mapped[int] = mapped_column(Integer, default=90)
    attendance_retention_days: Mapped[int] = mapped_column(Integer, default=5 * 366)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint(_in("default_language", PARENT_LANGUAGES), name="language"),
        CheckConstraint("present_min_share BETWEEN 0 AND 100", name="share_percent"),
        CheckConstraint("regular_threshold_percent BETWEEN 0 AND 100", name="regular_percent"),
    )


class JitsiDeployment(Base):
    """A Jitsi installation (self-hosted) or a JaaS app that a centre's groups meet on.

    ``signing_secret`` and ``webhook_secret`` hold either the secret itself or a reference
    ``env:NAME`` / ``file:/path`` resolved at use, so production secrets need not sit in the
    database. Neither is ever rendered back to a page or an API response.
    """

    __tablename__ = "jitsi_deployments"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int | None] = mapped_column(ForeignKey("centres.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="self_hosted")
    # Host name of the deployment ("meet.example.org"), used as `sub` for self-hosted tokens.
    domain: Mapped[str] = mapped_column(String(255))
    # Public base URL ("https://meet.example.org"); for JaaS "https://8x8.vc".
    base_url: Mapped[str] = mapped_column(String(500))
    tenant: Mapped[str | None] = mapped_column(String(100))
    app_id: Mapped[str] = mapped_column(String(200))
    algorithm: Mapped[str] = mapped_column(String(8), default="HS256")
    key_id: Mapped[str | None] = mapped_column(String(200))
    signing_secret: Mapped[str] = mapped_column(Text, default="")
    webhook_secret: Mapped[str] = mapped_column(Text, default="")
    token_in_query: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint(_in("kind", DEPLOYMENT_KINDS), name="kind"),
        CheckConstraint(_in("algorithm", ("HS256", "RS256")), name="algorithm"),
    )


class StaffUser(Base):
    """An admin, coordinator or facilitator who logs in with a password."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int | None] = mapped_column(ForeignKey("centres.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(8), default="de")
    # Stable pseudonymous id used in room tokens (context.user.id) and so in webhooks.
    pseudonym: Mapped[str] = mapped_column(String(40), unique=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column()

    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="role"),
        CheckConstraint(_in("language", STAFF_LANGUAGES), name="language"),
        # Only admins work across centres.
        CheckConstraint("role = 'admin' OR centre_id IS NOT NULL", name="centre_required"),
    )


class StaffLogin(Base):
    """A server-side login session; the cookie carries a random token, the row only its hash."""

    __tablename__ = "staff_logins"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()


class LoginFailure(Base):
    """Failed logins, counted per account and per client for throttling."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class ApiToken(Base):
    """A bearer token for automation, acting as its user within the given scopes."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Space-separated: "read", "write".
    scopes: Mapped[str] = mapped_column(String(200), default="read")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column()
    revoked_at: Mapped[dt.datetime | None] = mapped_column()
    last_used_at: Mapped[dt.datetime | None] = mapped_column()


class Group(Base):
    """A Rucksack group at one KiTa over one cycle (KiTa year)."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    site_name: Mapped[str] = mapped_column(String(200), default="")
    # Group languages (family languages live here, never on the parent).
    languages: Mapped[list[Any]] = mapped_column(default=list)
    deployment_id: Mapped[int | None] = mapped_column(ForeignKey("jitsi_deployments.id", ondelete="SET NULL"))
    cycle_start: Mapped[dt.date] = mapped_column(Date)
    cycle_end: Mapped[dt.date] = mapped_column(Date)
    # Bumped on every change that a calendar feed of this group shows.
    schedule_version: Mapped[int] = mapped_column(Integer, default=1)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    facilitators: Mapped[list[StaffUser]] = relationship(
        secondary="group_facilitators", lazy="selectin", order_by="StaffUser.display_name"
    )

    __table_args__ = (CheckConstraint("cycle_end >= cycle_start", name="cycle_order"),)


class GroupFacilitator(Base):
    __tablename__ = "group_facilitators"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Parent(Base):
    """A parent (mostly a mother) in one or more groups.

    ``display_name`` is chosen with them; a first name or a pseudonym is fine. ``pseudonym`` is the
    stable id that travels in tokens and webhooks. Contacts are optional and used only for the
    channels they consented to.
    """

    __tablename__ = "parents"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="de")
    pseudonym: Mapped[str] = mapped_column(String(40), unique=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(320))
    sms_consent_at: Mapped[dt.datetime | None] = mapped_column()
    email_consent_at: Mapped[dt.datetime | None] = mapped_column()
    erased_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (CheckConstraint(_in("language", PARENT_LANGUAGES), name="language"),)


class Enrolment(Base):
    __tablename__ = "enrolments"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    enrolled_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    left_at: Mapped[dt.datetime | None] = mapped_column()

    __table_args__ = (UniqueConstraint("parent_id", "group_id"),)


class EnrolmentBreak(Base):
    """A time a parent was out of a group they later re-joined: from ``left_at`` until
    ``rejoined_at``.

    One enrolment row per parent and group stays (it is what attendance, feeds and notices look
    up); re-enrolling clears ``Enrolment.left_at`` and keeps the time away here, so that sessions
    held meanwhile are not counted as missed (processing creates no rows for them, reports leave
    them out of the parent's rate).
    """

    __tablename__ = "enrolment_breaks"

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id", ondelete="CASCADE"), index=True)
    left_at: Mapped[dt.datetime] = mapped_column()
    rejoined_at: Mapped[dt.datetime] = mapped_column()

    __table_args__ = (CheckConstraint("left_at <= rejoined_at", name="ordered"),)


class AccessSecret(Base):
    """A secret in a link: a parent's personal page, or a calendar feed of a parent or staff user.

    Only the SHA-256 of the secret is stored. Revoking sets ``revoked_at``; re-issuing revokes
    the old one and creates a new row.
    """

    __tablename__ = "access_secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("parents.id", ondelete="CASCADE"), index=True)
    staff_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    # For a coordinator's feed: the chosen group ids (empty = the whole centre).
    group_ids: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column()

    __table_args__ = (
        CheckConstraint(_in("purpose", ("personal", "feed")), name="purpose"),
        CheckConstraint("(parent_id IS NULL) <> (staff_user_id IS NULL)", name="one_owner"),
        CheckConstraint("purpose = 'feed' OR parent_id IS NOT NULL", name="personal_is_parent"),
    )


class ClosureDay(Base):
    """A day without sessions (holiday, KiTa closure): for the whole centre or one group."""

    __tablename__ = "closure_days"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date)
    label: Mapped[str] = mapped_column(String(200), default="")

    __table_args__ = (
        UniqueConstraint("centre_id", "group_id", "day"),
        # NULLs are distinct in the constraint above, so centre-wide days need their own index.
        Index(
            "uq_closure_days_centre_wide",
            "centre_id",
            "day",
            unique=True,
            sqlite_where=text("group_id IS NULL"),
            postgresql_where=text("group_id IS NULL"),
        ),
    )


class Series(Base):
    """A recurring schedule of a group, in local time with a named zone.

    ``dtstart_local`` is the naive local start of the first occurrence; ``rrule`` is the RFC 5545
    rule without DTSTART (UNTIL, if any, is derived from ``until``). Sessions are materialised
    from it as rows; a "this and following" change ends this series and starts a new one.
    """

    __tablename__ = "series"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    rrule: Mapped[str] = mapped_column(String(500), default="FREQ=WEEKLY")
    dtstart_local: Mapped[dt.datetime] = mapped_column(DateTime)
    duration_minutes: Mapped[int] = mapped_column(Integer, default=90)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    until: Mapped[dt.date] = mapped_column(Date)
    uid: Mapped[str] = mapped_column(String(100), unique=True)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (CheckConstraint("duration_minutes > 0 AND duration_minutes <= 600", name="duration"),)


class Session(Base):
    """One occurrence of a series (or a one-off), the unit that is launched and attended."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    series_id: Mapped[int | None] = mapped_column(ForeignKey("series.id", ondelete="SET NULL"))
    # The local start this occurrence was generated for (its RECURRENCE-ID). Moving one session
    # keeps it; a change of the whole series re-points it to the new rule's instance.
    recurrence_local: Mapped[dt.datetime | None] = mapped_column(DateTime)
    starts_at: Mapped[dt.datetime] = mapped_column(index=True)
    ends_at: Mapped[dt.datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    room_name: Mapped[str] = mapped_column(String(100), unique=True)
    theme: Mapped[str] = mapped_column(String(300), default="")
    material_url: Mapped[str] = mapped_column(String(1000), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    launched_at: Mapped[dt.datetime | None] = mapped_column()
    launched_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    ended_at: Mapped[dt.datetime | None] = mapped_column()
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column()
    cancel_reason: Mapped[str] = mapped_column(String(500), default="")
    finalised_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint(_in("status", SESSION_STATUSES), name="status"),
        CheckConstraint("ends_at > starts_at", name="time_order"),
        UniqueConstraint("series_id", "recurrence_local"),
    )


class SessionVisit(Base):
    """A launch by a facilitator or a join through our join endpoint: an attendance signal."""

    __tablename__ = "session_visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("parents.id", ondelete="SET NULL"))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (CheckConstraint(_in("kind", ("launch", "join", "end")), name="kind"),)


class ConferenceEvent(Base):
    """A webhook exactly as received (the inbox), plus what parsing it at the door found.

    The raw body is kept for diagnosis and replay; the columns the receiver fills let the worker
    match events to sessions, and ``normalised`` is the event as the worker parsed it when it
    claimed the row (``None`` until then). ``dedupe_key`` is the JaaS idempotencyKey or a synthetic
    key for event_sync; the unique index makes a redelivery a no-op.
    """

    __tablename__ = "conference_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int | None] = mapped_column(
        ForeignKey("jitsi_deployments.id", ondelete="SET NULL"), index=True
    )
    source: Mapped[str] = mapped_column(String(16))
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    kind: Mapped[str] = mapped_column(String(40), default="")
    room_name: Mapped[str] = mapped_column(String(200), default="", index=True)
    meeting_key: Mapped[str] = mapped_column(String(300), default="")
    person_id: Mapped[str | None] = mapped_column(String(200))
    connection_id: Mapped[str | None] = mapped_column(String(300))
    occurred_at: Mapped[dt.datetime | None] = mapped_column()
    normalised: Mapped[dict[str, Any] | None] = mapped_column()
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    error: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    processed_at: Mapped[dt.datetime | None] = mapped_column()
    session_id: Mapped[int | None] = mapped_column(ForeignKey("sessions.id", ondelete="SET NULL"), index=True)

    __table_args__ = (
        CheckConstraint(_in("source", ("event_sync", "jaas")), name="source"),
        CheckConstraint(
            _in("state", ("pending", "processed", "ignored", "rejected", "unmatched", "error")),
            name="state",
        ),
        UniqueConstraint("deployment_id", "dedupe_key"),
        Index("ix_conference_events_pending", "state", "received_at"),
    )


class PresenceInterval(Base):
    """Someone in a session's room from ``joined_at`` to ``left_at`` (open while unknown).

    ``person_key`` is the token's ``context.user.id`` or, for occupants without one (recorder,
    SIP gateway, guests), ``unidentified:<connection>``; those are never matched to a parent.
    Intervals are derived from the inbox and can always be rebuilt from it.
    """

    __tablename__ = "presence_intervals"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    person_key: Mapped[str] = mapped_column(String(300))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("parents.id", ondelete="SET NULL"))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    connection_id: Mapped[str] = mapped_column(String(300), default="")
    meeting_key: Mapped[str] = mapped_column(String(300), default="")
    joined_at: Mapped[dt.datetime] = mapped_column()
    left_at: Mapped[dt.datetime | None] = mapped_column()
    in_breakout: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(16), default="webhook")


class Attendance(Base):
    """Session × person: what the events say (computed_*) and what staff decided (override_*).

    Reprocessing events rewrites only the computed columns, so a correction survives it. After
    erasure ``parent_id`` is cleared and the row stays, so counts and aggregates remain.
    """

    __tablename__ = "attendance"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("parents.id", ondelete="SET NULL"), index=True)
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    role: Mapped[str] = mapped_column(String(16), default="parent")
    computed_minutes: Mapped[int] = mapped_column(Integer, default=0)
    computed_status: Mapped[str] = mapped_column(String(16), default="absent")
    first_join: Mapped[dt.datetime | None] = mapped_column()
    last_leave: Mapped[dt.datetime | None] = mapped_column()
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    left_early: Mapped[bool] = mapped_column(Boolean, default=False)
    override_status: Mapped[str | None] = mapped_column(String(16))
    override_minutes: Mapped[int | None] = mapped_column(Integer)
    override_reason: Mapped[str] = mapped_column(String(500), default="")
    corrected_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    corrected_at: Mapped[dt.datetime | None] = mapped_column()
    anonymised_at: Mapped[dt.datetime | None] = mapped_column()
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint(_in("role", ("parent", "facilitator")), name="role"),
        CheckConstraint(_in("computed_status", ATTENDANCE_STATUSES), name="computed_status"),
        CheckConstraint(
            "override_status IS NULL OR " + _in("override_status", ATTENDANCE_STATUSES),
            name="override_status",
        ),
        CheckConstraint("computed_minutes >= 0", name="minutes"),
        CheckConstraint(
            "(role = 'parent' AND staff_user_id IS NULL) OR (role = 'facilitator' AND parent_id IS NULL)",
            name="role_person",
        ),
        # One row per parent and per facilitator in a session. Partial indexes, because NULLs
        # are distinct in a plain unique constraint (and an anonymised row has no parent).
        Index(
            "uq_attendance_session_parent",
            "session_id",
            "parent_id",
            unique=True,
            sqlite_where=text("parent_id IS NOT NULL"),
            postgresql_where=text("parent_id IS NOT NULL"),
        ),
        Index(
            "uq_attendance_session_staff",
            "session_id",
            "staff_user_id",
            unique=True,
            sqlite_where=text("staff_user_id IS NOT NULL"),
            postgresql_where=text("staff_user_id IS NOT NULL"),
        ),
    )

    @property
    def status(self) -> str:
        return self.override_status or self.computed_status

    @property
    def minutes(self) -> int:
        return self.override_minutes if self.override_minutes is not None else self.computed_minutes


class AuditEntry(Base):
    """Who did what to which record, when (corrections, exports, erasures, logins)."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    centre_id: Mapped[int | None] = mapped_column(ForeignKey("centres.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Notification(Base):
    """A message to one person, with its delivery record. Never dropped: without a channel it
    stays in the outbox (state ``recorded``) for coordinators to see."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    centre_id: Mapped[int | None] = mapped_column(ForeignKey("centres.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("parents.id", ondelete="SET NULL"))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("sessions.id", ondelete="SET NULL"))
    address: Mapped[str] = mapped_column(String(320), default="")
    language: Mapped[str] = mapped_column(String(8), default="de")
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column()

    __table_args__ = (
        CheckConstraint(_in("channel", ("email", "sms", "outbox")), name="channel"),
        CheckConstraint(_in("state", ("queued", "sent", "failed", "recorded")), name="state"),
    )
