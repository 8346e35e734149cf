"""Demo data: a centre, its staff, a group with parents and a weekly series, ready to try.

``rucksack demo`` calls ``create_demo`` on the configured database and prints how to log in. It is
safe to run again: the demo records are found by their fixed names, the demo staff get new
passwords, and the parents get new personal links (the old ones stop working), because secrets
are stored only as hashes and cannot be printed a second time.

The first session starts shortly after the demo is created, so a facilitator can start it at once
and a parent's link leads into the same room.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import secrets
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.access import Actor
from orchestrator.accounts import services as accounts
from orchestrator.feeds import services as feeds
from orchestrator.groups import services as groups
from orchestrator.models import Centre, Enrolment, Group, JitsiDeployment, Parent, StaffUser
from orchestrator.portal import services as portal
from orchestrator.scheduling import services as scheduling
from orchestrator.security import hash_password
from orchestrator.settings import Settings

__all__ = ["DemoResult", "create_demo"]

CENTRE_SLUG = "ki-demo"
DEPLOYMENT_SLUG = "demo-jitsi"
COORDINATOR_EMAIL = "koordination@demo.rucksack.invalid"
FACILITATOR_EMAIL = "elternbegleiterin@demo.rucksack.invalid"
GROUP_NAME = "Rucksack-Gruppe Sonnenblume"
PARENTS = (
    ("Ayşe", "tr"),
    ("Mariam", "ar"),
    ("Olena", "uk"),
    ("Svetlana", "ru"),
    ("Zahra", "fa"),
    ("Anna", "de"),
)
ZONE = "Europe/Berlin"


@dataclasses.dataclass(frozen=True)
class DemoResult:
    base_url: str
    coordinator_email: str
    coordinator_password: str
    facilitator_email: str
    facilitator_password: str
    parent_links: list[tuple[str, str, str]]  # name, language, personal link
    parent_feed: str
    webhook_prefix: str
    webhook_secret: str
    first_session_local: dt.datetime
    jitsi_domain: str

    def __str__(self) -> str:
        lines = [
            "Rucksack demo is ready.",
            "",
            f"  Open {self.base_url}/login",
            f"  Coordinator:  {self.coordinator_email}  password: {self.coordinator_password}",
            f"  Facilitator:  {self.facilitator_email}  password: {self.facilitator_password}",
            "",
            f"  The next session starts at {self.first_session_local:%Y-%m-%d %H:%M} ({ZONE});",
            f"  the facilitator can start it now on {self.base_url}/facilitator.",
            f"  Jitsi deployment: {self.jitsi_domain}",
            "  (set RUCKSACK_DEMO_JITSI_DOMAIN and RUCKSACK_DEMO_JITSI_SECRET for a real one).",
            "",
            "  Parents' personal links (one tap into the session):",
            *(f"    {name} ({lang}): {link}" for name, lang, link in self.parent_links),
            "",
            f"  Calendar feed of {self.parent_links[0][0]}: {self.parent_feed}",
            f"  Webhooks (prosody event_sync api_prefix): {self.webhook_prefix}",
            f"    Authorization: Bearer {self.webhook_secret}",
            "  Without a Jitsi of your own, replay a recorded event stream for the next session",
            "  (in a second terminal, while the service runs): .venv/bin/rucksack demo-webhooks",
            "  then open the session's attendance from the group page.",
        ]
        return "\n".join(lines)


def _actor(user: StaffUser) -> Actor:
    return Actor(user_id=user.id, role=user.role, centre_id=user.centre_id, display_name=user.display_name)


def _staff(db: Session, centre: Centre, email: str, name: str, role: str) -> tuple[StaffUser, str]:
    password = secrets.token_urlsafe(9)
    user = db.scalar(select(StaffUser).where(StaffUser.email == email))
    if user is None:
        user = accounts.create_user(
            db, email=email, display_name=name, role=role, password=password, centre_id=centre.id
        )
    else:
        user.password_hash = hash_password(password)
        user.active = True
    return user, password


def _first_start(now: dt.datetime) -> dt.datetime:
    """Local start of the demo's first session: the next quarter hour at least 10 minutes ahead."""
    local = (now + dt.timedelta(minutes=10)).astimezone(ZoneInfo(ZONE)).replace(second=0, microsecond=0)
    local += dt.timedelta(minutes=(15 - local.minute % 15) % 15)
    return local.replace(tzinfo=None)


def create_demo(db: Session, settings: Settings, *, now: dt.datetime | None = None) -> DemoResult:
    now = now or dt.datetime.now(dt.UTC)
    base_url = settings.web.base_url.rstrip("/")
    centre = db.scalar(select(Centre).where(Centre.slug == CENTRE_SLUG))
    if centre is None:
        centre = accounts.create_centre(
            db, name="KI Demo-Stadt", slug=CENTRE_SLUG, default_language="de", municipality="Demo-Stadt"
        )
    coordinator, coordinator_password = _staff(
        db, centre, COORDINATOR_EMAIL, "Kerstin Koordination", "coordinator"
    )
    facilitator, facilitator_password = _staff(db, centre, FACILITATOR_EMAIL, "Emine Yılmaz", "facilitator")
    actor = _actor(coordinator)

    domain = os.environ.get("RUCKSACK_DEMO_JITSI_DOMAIN", "meet.example.org")
    deployment = db.scalar(select(JitsiDeployment).where(JitsiDeployment.slug == DEPLOYMENT_SLUG))
    if deployment is None:
        deployment = groups.create_deployment(
            db,
            actor=actor,
            centre_id=centre.id,
            kind="self_hosted",
            slug=DEPLOYMENT_SLUG,
            name="Demo-Jitsi",
            app_id="rucksack",
            signing_secret=os.environ.get("RUCKSACK_DEMO_JITSI_SECRET") or secrets.token_urlsafe(32),
            domain=domain,
            base_url=f"https://{domain}",
            webhook_secret=secrets.token_urlsafe(24),
        )

    group = db.scalar(select(Group).where(Group.centre_id == centre.id, Group.name == GROUP_NAME))
    first_start = _first_start(now)
    if group is None:
        today = first_start.date()
        group = groups.create_group(
            db,
            actor=actor,
            centre_id=centre.id,
            name=GROUP_NAME,
            site_name="KiTa Sonnenblume",
            languages=["tr", "ar", "uk"],
            cycle_start=today,
            cycle_end=today + dt.timedelta(weeks=12),
            deployment_id=deployment.id,
            facilitator_ids=[facilitator.id],
        )
        for name, language in PARENTS:
            groups.create_parent(
                db,
                actor=actor,
                centre_id=centre.id,
                display_name=name,
                language=language,
                group_ids=[group.id],
            )
        scheduling.create_series(
            db,
            actor=actor,
            group_id=group.id,
            first_start_local=first_start,
            title="Rucksack KiTa",
            rrule="FREQ=WEEKLY",
            duration_minutes=90,
            now=now,
        )
    else:
        first_start = _next_session_local(db, group, now) or first_start

    parents = list(
        db.scalars(
            select(Parent)
            .join(Enrolment, Enrolment.parent_id == Parent.id)
            .where(Enrolment.group_id == group.id, Enrolment.left_at.is_(None))
            .order_by(Parent.id)
        )
    )
    links = [
        (
            p.display_name,
            p.language,
            portal.issue_personal_link(db, actor=actor, parent_id=p.id, base_url=base_url, now=now).url,
        )
        for p in parents
    ]
    feed = feeds.issue_parent_feed(db, actor=actor, parent_id=parents[0].id, base_url=base_url, now=now)
    return DemoResult(
        base_url=base_url,
        coordinator_email=coordinator.email,
        coordinator_password=coordinator_password,
        facilitator_email=facilitator.email,
        facilitator_password=facilitator_password,
        parent_links=links,
        parent_feed=feed.links.https,
        webhook_prefix=f"{base_url}/hooks/jitsi/{deployment.slug}",
        webhook_secret=deployment.webhook_secret,
        first_session_local=first_start,
        jitsi_domain=deployment.domain,
    )


def _next_session_local(db: Session, group: Group, now: dt.datetime) -> dt.datetime | None:
    from orchestrator.models import Session as SessionRow

    starts_at = db.scalar(
        select(SessionRow.starts_at)
        .where(SessionRow.group_id == group.id, SessionRow.ends_at > now, SessionRow.status != "cancelled")
        .order_by(SessionRow.starts_at)
        .limit(1)
    )
    return starts_at.astimezone(ZoneInfo(ZONE)).replace(tzinfo=None) if starts_at else None


def demo_event_stream(
    db: Session, *, now: dt.datetime | None = None
) -> tuple[str, str, list[tuple[str, bytes]]]:
    """A recorded prosody ``event_sync`` stream for the demo group's current (or next) session.

    Returns the deployment's hook prefix path, its webhook secret and the (endpoint, body) pairs,
    in the order a real prosody would send them: the room is created, the facilitator and four
    parents join, Ayşe's phone drops and reconnects (the two connections overlap by a minute),
    Olena leaves after 40 minutes, and the room is destroyed with every occupant listed. Posting
    them makes attendance appear for the coordinator once the worker has processed them.
    """
    import json

    from orchestrator.models import Session as SessionRow

    now = now or dt.datetime.now(dt.UTC)
    group = db.scalar(select(Group).join(Centre).where(Centre.slug == CENTRE_SLUG, Group.name == GROUP_NAME))
    if group is None:
        raise LookupError("no demo group: run `rucksack demo` first")
    session = db.scalar(
        select(SessionRow)
        .where(SessionRow.group_id == group.id, SessionRow.status != "cancelled", SessionRow.ends_at > now)
        .order_by(SessionRow.starts_at)
        .limit(1)
    )
    if session is None:
        raise LookupError("the demo group has no current or coming session")
    deployment = db.get_one(JitsiDeployment, group.deployment_id)
    facilitator = db.scalar(select(StaffUser).where(StaffUser.email == FACILITATOR_EMAIL))
    parents = {
        p.display_name: p
        for p in db.scalars(
            select(Parent).join(Enrolment).where(Enrolment.group_id == group.id, Enrolment.left_at.is_(None))
        )
    }
    room = session.room_name
    room_jid = f"{room}@conference.{deployment.domain}"
    start = int(session.starts_at.timestamp())
    end = int(session.ends_at.timestamp())

    def occupant(
        person_id: str, name: str, connection: str, joined: int, left: int | None = None
    ) -> dict[str, object]:
        body: dict[str, object] = {
            "id": person_id,
            "name": name,
            "occupant_jid": f"{connection}@{deployment.domain}/demo",
            "joined_at": joined,
        }
        if left is not None:
            body["left_at"] = left
        return body

    base = {"room_name": room, "room_jid": room_jid, "is_breakout": False}
    # (person id, name, connection, joined, left)
    stays = [(facilitator.pseudonym if facilitator else "f-demo", "Emine", "c-fac", start - 300, end)]
    minutes = {"Ayşe": (start + 60, end), "Mariam": (start + 900, end), "Svetlana": (start, end - 600)}
    for name, (joined, left) in minutes.items():
        if name in parents:
            stays.append((parents[name].pseudonym, name, f"c-{name}", joined, left))
    if "Ayşe" in parents:  # a dropped connection and a reconnect that overlaps it by a minute
        ayse = parents["Ayşe"].pseudonym
        stays = [s for s in stays if s[0] != ayse]
        stays += [
            (ayse, "Ayşe", "c-ayse-1", start + 60, start + 2400),
            (ayse, "Ayşe", "c-ayse-2", start + 2340, end),
        ]
    if "Olena" in parents:
        stays.append((parents["Olena"].pseudonym, "Olena", "c-olena", start + 120, start + 2520))

    events: list[tuple[str, dict[str, object]]] = [
        ("room/created", {**base, "event_name": "muc-room-created", "created_at": start - 400})
    ]
    for count, (pid, name, conn, joined, _left) in enumerate(sorted(stays, key=lambda s: s[3]), start=1):
        events.append(
            (
                "occupant/joined",
                {
                    **base,
                    "event_name": "muc-occupant-joined",
                    "active_occupants_count": count,
                    "occupant": occupant(pid, name, conn, joined),
                },
            )
        )
    for pid, name, conn, joined, left in sorted(stays, key=lambda s: s[4]):
        events.append(
            (
                "occupant/left",
                {
                    **base,
                    "event_name": "muc-occupant-left",
                    "active_occupants_count": 0,
                    "occupant": occupant(pid, name, conn, joined, left),
                },
            )
        )
    events.append(
        (
            "room/destroyed",
            {
                **base,
                "event_name": "muc-room-destroyed",
                "created_at": start - 400,
                "destroyed_at": end + 30,
                "all_occupants": [occupant(p, n, c, j, left) for p, n, c, j, left in stays],
            },
        )
    )
    from orchestrator.secrets_ref import resolve_secret

    bodies = [(endpoint, json.dumps(body, ensure_ascii=False).encode()) for endpoint, body in events]
    return f"/hooks/jitsi/{deployment.slug}", resolve_secret(deployment.webhook_secret), bodies
