"""The JSON shapes of the set-up API: request bodies and responses, described for OpenAPI.

Request bodies forbid unknown fields and take numbers and booleans strictly, so a typo or a
wrong type is answered with 422 naming the field instead of being ignored or guessed at. Secrets
of a Jitsi deployment are write-only: they appear in request bodies and never in a response,
which says only whether each is set.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, Strict

from orchestrator.groups import csv_import, services
from orchestrator.models import JitsiDeployment, Parent

__all__ = [
    "CentreCreate",
    "CentreList",
    "CentreOut",
    "CentrePatch",
    "DeploymentCreate",
    "DeploymentList",
    "DeploymentOut",
    "DeploymentPatch",
    "EnrolBody",
    "GroupCreate",
    "GroupList",
    "GroupOut",
    "GroupPatch",
    "ImportResult",
    "MemberList",
    "MemberOut",
    "ParentCreate",
    "ParentList",
    "ParentOut",
    "ParentPatch",
    "StaffCreate",
    "StaffCreated",
    "StaffList",
    "StaffOut",
    "StaffPatch",
]

Id = Annotated[int, Strict(), Field(ge=1, le=2_147_483_647)]
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]
ParentLanguage = Literal["de", "en", "tr", "ar", "ru", "uk", "pl", "ro", "bg", "fa"]
StaffLanguage = Literal["de", "en"]
Role = Literal["facilitator", "coordinator", "admin"]
Kind = Literal["self_hosted", "jaas"]
Algorithm = Literal["HS256", "RS256"]

_GROUP_LANGUAGES = (
    "ISO 639-1 codes of the group's family languages (any of them, e.g. tr, ar, ku, ti; Dari is fa), "
    "one to ten"
)
_CONTACT_RULE = "stored only together with the matching consent (data minimisation)"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- centres -------------------------------------------------------------------------------------


class CentreOut(_Out):
    """A Kommunales Integrationszentrum and its policies."""

    id: int
    name: str
    slug: str
    municipality: str
    timezone: str = Field(description="Time zone of the centre's schedules")
    default_language: ParentLanguage
    reminder_offsets: list[int] = Field(description="Minutes before a session at which reminders go out")
    present_min_minutes: int = Field(description="Present from this many minutes in the session")
    present_min_share: int = Field(description="... or from this share (percent) of the scheduled length")
    late_after_minutes: int = Field(description="Joining later than this after the start counts as late")
    early_leave_minutes: int = Field(
        description="Leaving for good earlier than this before the scheduled end counts as leaving early"
    )
    regular_threshold_percent: int = Field(
        description="Attendance rate from which a parent counts as regular"
    )
    raw_event_retention_days: int = Field(description="Days raw conference events are kept (at most 30)")
    contact_grace_days: int = Field(description="Days after the cycle's end that contact data is kept")
    attendance_retention_days: int = Field(
        description="Days per-session attendance is kept (at most 5 years)"
    )
    created_at: dt.datetime


class CentreList(BaseModel):
    items: list[CentreOut]


class CentreCreate(_Body):
    """A new centre (state admins only)."""

    name: str = Field(description="Name, e.g. 'KI Kreis Musterstadt'", max_length=200)
    slug: str = Field(description="Short unique id: lowercase letters, digits and '-'", max_length=63)
    municipality: str = Field(default="", max_length=200)
    default_language: ParentLanguage = "de"


class CentrePatch(_Body):
    """Changes to a centre; only the fields given change. Ranges are inclusive."""

    name: str | None = Field(default=None, max_length=200)
    municipality: str | None = Field(default=None, max_length=200)
    default_language: ParentLanguage | None = None
    reminder_offsets: list[Int] | None = Field(
        default=None, description="Up to 5 offsets in minutes, each 5 to 20160 (two weeks)"
    )
    present_min_minutes: Int | None = Field(default=None, description="1 to 600")
    present_min_share: Int | None = Field(default=None, description="1 to 100 (percent)")
    late_after_minutes: Int | None = Field(default=None, description="0 to 240")
    early_leave_minutes: Int | None = Field(default=None, description="0 to 240")
    regular_threshold_percent: Int | None = Field(default=None, description="1 to 100")
    raw_event_retention_days: Int | None = Field(default=None, description="1 to 30")
    contact_grace_days: Int | None = Field(default=None, description="0 to 730")
    attendance_retention_days: Int | None = Field(default=None, description="30 to 1830")


# --- staff ---------------------------------------------------------------------------------------


class StaffOut(_Out):
    """A staff account (never its password)."""

    id: int
    centre_id: int | None
    email: str
    display_name: str
    role: Role
    language: StaffLanguage
    phone: str | None
    active: bool
    created_at: dt.datetime
    last_login_at: dt.datetime | None


class StaffList(BaseModel):
    items: list[StaffOut]


class StaffCreated(StaffOut):
    """The new account; ``initial_password`` is given once when the server generated it."""

    initial_password: str | None = Field(
        default=None, description="Generated password, shown only in this response (absent if one was given)"
    )


class StaffCreate(_Body):
    """A new staff member of the centre. Coordinators create facilitators and coordinators."""

    email: str = Field(max_length=320)
    display_name: str = Field(max_length=200)
    role: Role = "facilitator"
    password: SecretStr | None = Field(
        default=None, description="At least 10 characters; leave out to have one generated"
    )
    language: StaffLanguage = Field(default="de", description="Language of the staff pages")
    phone: str | None = Field(default=None, max_length=40)


class StaffPatch(_Body):
    """Changes to a staff account; ``active: false`` deactivates it (logins and tokens stop)."""

    display_name: str | None = Field(default=None, max_length=200)
    role: Role | None = None
    active: Bool | None = None
    language: StaffLanguage | None = None
    phone: str | None = Field(default=None, max_length=40, description="Empty or null removes it")


# --- deployments ---------------------------------------------------------------------------------


class DeploymentOut(BaseModel):
    """A Jitsi deployment. Secrets are never returned: ``*_set`` says whether one is stored."""

    id: int
    centre_id: int | None
    shared: bool = Field(description="Usable by every centre (no owning centre)")
    kind: Kind
    slug: str
    name: str
    domain: str
    base_url: str
    tenant: str | None
    app_id: str
    algorithm: Algorithm
    key_id: str | None
    token_in_query: bool
    signing_secret_set: bool
    webhook_secret_set: bool
    created_at: dt.datetime

    @classmethod
    def of(cls, d: JitsiDeployment) -> DeploymentOut:
        return cls(
            id=d.id,
            centre_id=d.centre_id,
            shared=d.centre_id is None,
            kind=d.kind,
            slug=d.slug,
            name=d.name,
            domain=d.domain,
            base_url=d.base_url,
            tenant=d.tenant,
            app_id=d.app_id,
            algorithm=d.algorithm,
            key_id=d.key_id,
            token_in_query=d.token_in_query,
            signing_secret_set=bool(d.signing_secret),
            webhook_secret_set=bool(d.webhook_secret),
            created_at=d.created_at,
        )


class DeploymentList(BaseModel):
    items: list[DeploymentOut]


_SIGNING = (
    "HS256: the shared secret (at least 32 bytes); RS256: an unencrypted PEM RSA private key "
    "(2048 bits or more); or a reference env:NAME / file:/path resolved where tokens are minted"
)
_WEBHOOK = "Secret that authenticates webhooks (16+ characters) or an env:/file: reference"


class DeploymentCreate(_Body):
    """A new deployment. JaaS needs RS256, a key id and an app id starting vpaas-magic-cookie-."""

    kind: Kind = "self_hosted"
    slug: str = Field(description="Short unique id, used in webhook URLs", max_length=63)
    name: str = Field(max_length=200)
    domain: str = Field(
        default="", description="Host name, e.g. meet.example.org (JaaS: 8x8.vc)", max_length=255
    )
    base_url: str = Field(
        default="", description="https:// URL; defaults to https://<domain>", max_length=500
    )
    tenant: str | None = Field(default=None, max_length=100)
    app_id: str = Field(description="Prosody app_id, or the JaaS AppID", max_length=200)
    algorithm: Algorithm = "HS256"
    key_id: str | None = Field(default=None, description="RS256 key id (JaaS: the part after '<AppID>/')")
    signing_secret: SecretStr = Field(description=_SIGNING)
    webhook_secret: SecretStr | None = Field(default=None, description=_WEBHOOK)
    token_in_query: Bool = Field(default=False, description="Put the token into ?jwt= (old clients only)")
    shared: Bool = Field(default=False, description="State admins only: usable by every centre")


class DeploymentPatch(_Body):
    """Changes to a deployment; an empty or absent secret keeps the stored one."""

    kind: Kind | None = None
    slug: str | None = Field(default=None, max_length=63)
    name: str | None = Field(default=None, max_length=200)
    domain: str | None = Field(default=None, max_length=255)
    base_url: str | None = Field(default=None, max_length=500)
    tenant: str | None = Field(default=None, max_length=100)
    app_id: str | None = Field(default=None, max_length=200)
    algorithm: Algorithm | None = None
    key_id: str | None = None
    signing_secret: SecretStr | None = Field(default=None, description=_SIGNING + "; empty keeps the old one")
    webhook_secret: SecretStr | None = Field(default=None, description=_WEBHOOK + "; empty keeps the old one")
    token_in_query: Bool | None = None


# --- groups --------------------------------------------------------------------------------------


class StaffRef(_Out):
    id: int
    display_name: str
    active: bool


class GroupOut(BaseModel):
    """A Rucksack group at one KiTa over one cycle."""

    id: int
    centre_id: int
    name: str
    site_name: str = Field(description="The KiTa")
    languages: list[str] = Field(description=_GROUP_LANGUAGES)
    deployment_id: int | None
    cycle_start: dt.date
    cycle_end: dt.date
    archived: bool
    facilitators: list[StaffRef]
    members: int = Field(description="Parents in the group now")
    schedule_path: str = Field(description="Page with the group's schedule")

    @classmethod
    def of(cls, summary: services.GroupSummary) -> GroupOut:
        g = summary.group
        return cls(
            id=g.id,
            centre_id=g.centre_id,
            name=g.name,
            site_name=g.site_name,
            languages=list(g.languages),
            deployment_id=g.deployment_id,
            cycle_start=g.cycle_start,
            cycle_end=g.cycle_end,
            archived=g.archived,
            facilitators=[StaffRef.model_validate(f) for f in g.facilitators],
            members=summary.members,
            schedule_path=f"/groups/{g.id}/schedule",
        )


class GroupList(BaseModel):
    items: list[GroupOut]


class GroupCreate(_Body):
    """A new group of the centre ``centre_id``."""

    centre_id: Id
    name: str = Field(max_length=200)
    site_name: str = Field(default="", description="The KiTa", max_length=200)
    languages: list[str] = Field(description=_GROUP_LANGUAGES)
    deployment_id: Id | None = Field(
        default=None, description="One of the centre's (or the shared) deployments"
    )
    cycle_start: dt.date
    cycle_end: dt.date = Field(description="Not before cycle_start")
    facilitator_ids: list[Id] = Field(default_factory=list, description="Active facilitators of the centre")


class GroupPatch(_Body):
    """Changes to a group; ``archived: true`` archives it (it takes no new members)."""

    name: str | None = Field(default=None, max_length=200)
    site_name: str | None = Field(default=None, max_length=200)
    languages: list[str] | None = Field(default=None, description=_GROUP_LANGUAGES)
    deployment_id: Id | None = Field(default=None, description="null: no deployment")
    cycle_start: dt.date | None = None
    cycle_end: dt.date | None = None
    facilitator_ids: list[Id] | None = None
    archived: Bool | None = None


class MemberOut(_Out):
    """A parent in a group (no contact data)."""

    parent_id: int
    display_name: str
    language: ParentLanguage
    enrolled_at: dt.datetime
    left_at: dt.datetime | None = Field(description="Set when the parent left the group")
    back_since: dt.datetime | None = Field(
        default=None, description="When the parent re-joined after their latest time away from the group"
    )
    active: bool


class MemberList(BaseModel):
    items: list[MemberOut]


class EnrolBody(_Body):
    """Either ``parent_id`` (enrol an existing parent of the centre) or the fields of a new parent."""

    parent_id: Id | None = None
    display_name: str | None = Field(default=None, max_length=200)
    language: ParentLanguage | None = None
    phone: str | None = Field(
        default=None, max_length=40, description="Only with sms_consent: " + _CONTACT_RULE
    )
    email: str | None = Field(
        default=None, max_length=320, description="Only with email_consent: " + _CONTACT_RULE
    )
    sms_consent: Bool = False
    email_consent: Bool = False


class ImportResult(BaseModel):
    __doc__ = (
        "Result of POST /groups/{group_id}/parents/import. The request body is the CSV file "
        "(Content-Type: text/csv), UTF-8 with or without BOM, ';' ',' or tab separated (taken from "
        f"the header row), with a header row naming the columns {', '.join(csv_import.COLUMNS)} "
        f"({' and '.join(csv_import.REQUIRED_COLUMNS)} required), at most {csv_import.MAX_ROWS} rows "
        f"and {csv_import.MAX_BYTES // 1024} KB. ALL OR NOTHING: when any row is broken nothing is "
        "imported and the answer is 422 with error.details listing every problem as "
        "{line, field, message} (line 1 is the header, 0 the whole file)."
    )

    imported: int
    parent_ids: list[int]


# --- parents -------------------------------------------------------------------------------------


class EnrolmentOut(BaseModel):
    group_id: int
    group_name: str
    group_archived: bool
    enrolled_at: dt.datetime
    left_at: dt.datetime | None
    active: bool


class GroupRef(BaseModel):
    id: int
    name: str


class ParentOut(BaseModel):
    """A parent of the centre, for its coordinators. The pseudonymous id used in tokens is not
    shown: nothing outside the service needs it."""

    id: int
    centre_id: int
    display_name: str
    language: ParentLanguage = Field(description="Language of the parent's pages and messages")
    phone: str | None = Field(description="E.164, present only with SMS consent")
    email: str | None = Field(description="Present only with e-mail consent")
    sms_consent_at: dt.datetime | None
    email_consent_at: dt.datetime | None
    created_at: dt.datetime
    groups: list[GroupRef] = Field(description="Groups the parent is in now")
    enrolments: list[EnrolmentOut] | None = Field(
        default=None, description="Every enrolment, also past ones (single parent only)"
    )

    @classmethod
    def of(
        cls, parent: Parent, groups: list[GroupRef], enrolments: list[EnrolmentOut] | None = None
    ) -> ParentOut:
        return cls(
            id=parent.id,
            centre_id=parent.centre_id,
            display_name=parent.display_name,
            language=parent.language,
            phone=parent.phone,
            email=parent.email,
            sms_consent_at=parent.sms_consent_at,
            email_consent_at=parent.email_consent_at,
            created_at=parent.created_at,
            groups=groups,
            enrolments=enrolments,
        )


class ParentList(BaseModel):
    items: list[ParentOut]


class ParentCreate(_Body):
    """A new parent of the centre, optionally enrolled in groups at once."""

    centre_id: Id
    display_name: str = Field(description="Chosen with the parent; a first name or pseudonym", max_length=200)
    language: ParentLanguage
    phone: str | None = Field(
        default=None, max_length=40, description="Only with sms_consent: " + _CONTACT_RULE
    )
    email: str | None = Field(
        default=None, max_length=320, description="Only with email_consent: " + _CONTACT_RULE
    )
    sms_consent: Bool = False
    email_consent: Bool = False
    group_ids: list[Id] = Field(default_factory=list)


class ParentPatch(_Body):
    """Changes to a parent. Withdrawing a consent (false) also erases the contact it covered."""

    display_name: str | None = Field(default=None, max_length=200)
    language: ParentLanguage | None = None
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=320)
    sms_consent: Bool | None = None
    email_consent: Bool | None = None
