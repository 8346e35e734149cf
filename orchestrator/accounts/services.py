"""Use cases for centres, staff accounts, logins and API tokens.

Every function takes the sync ORM session first; the web tier runs them with ``db.run`` and the
CLI with a sync session (see ``orchestrator.db``).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from orchestrator import audit
from orchestrator.access import Actor
from orchestrator.errors import Conflict, InvalidInput, NotFound
from orchestrator.i18n import gettext
from orchestrator.models import (
    PARENT_LANGUAGES,
    ROLES,
    STAFF_LANGUAGES,
    ApiToken,
    Centre,
    GroupFacilitator,
    LoginFailure,
    StaffLogin,
    StaffUser,
    utcnow,
)
from orchestrator.security import (
    hash_password,
    hash_secret,
    looks_like_secret,
    new_csrf_token,
    new_pseudonym,
    new_secret,
    password_needs_rehash,
    verify_password,
)

__all__ = [
    "LoginThrottled",
    "actor_for_api_token",
    "actor_for_login",
    "authenticate",
    "create_api_token",
    "create_centre",
    "create_user",
    "end_login",
    "list_api_tokens",
    "revoke_api_token",
    "start_login",
]

API_SCOPES = ("read", "write")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 10


class LoginThrottled(Exception):
    """Too many failed logins for this account or client; try again later."""


def create_centre(
    db: Session, *, name: str, slug: str, default_language: str = "de", municipality: str = ""
) -> Centre:
    name = name.strip()
    if not name:
        raise InvalidInput(gettext("a centre needs a name"), field="name")
    if not _SLUG.match(slug):
        raise InvalidInput(gettext("slug: use lowercase letters, digits and '-' (at most 63)"), field="slug")
    if default_language not in PARENT_LANGUAGES:
        raise InvalidInput(
            gettext("unknown language %(code)s") % {"code": repr(default_language)}, field="default_language"
        )
    if db.scalar(select(Centre.id).where(Centre.slug == slug)) is not None:
        raise Conflict(
            gettext("a centre with slug %(slug)s exists already") % {"slug": repr(slug)}, field="slug"
        )
    centre = Centre(name=name, slug=slug, default_language=default_language, municipality=municipality)
    db.add(centre)
    db.flush()
    return centre


def create_user(
    db: Session,
    *,
    email: str,
    display_name: str,
    role: str,
    password: str,
    centre_id: int | None,
    language: str = "de",
    phone: str | None = None,
) -> StaffUser:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise InvalidInput(gettext("This is not an e-mail address."), field="email")
    if role not in ROLES:
        raise InvalidInput(
            gettext("%(field)s must be one of %(choices)s") % {"field": "role", "choices": ", ".join(ROLES)},
            field="role",
        )
    if role != "admin" and centre_id is None:
        raise InvalidInput(gettext("coordinators and facilitators belong to a centre"), field="centre_id")
    if centre_id is not None and db.get(Centre, centre_id) is None:
        raise InvalidInput(gettext("no centre with id %(id)s") % {"id": centre_id}, field="centre_id")
    if language not in STAFF_LANGUAGES:
        raise InvalidInput(gettext("Staff pages are in German (de) or English (en)."), field="language")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            gettext("the password needs at least %(n)d characters") % {"n": MIN_PASSWORD_LENGTH},
            field="password",
        )
    if not display_name.strip():
        raise InvalidInput(gettext("a user needs a name"), field="display_name")
    if db.scalar(select(StaffUser.id).where(StaffUser.email == email)) is not None:
        raise Conflict(gettext("a user with this e-mail address exists already"), field="email")
    user = StaffUser(
        email=email,
        display_name=display_name.strip(),
        role=role,
        password_hash=hash_password(password),
        centre_id=centre_id,
        language=language,
        phone=phone,
        pseudonym=new_pseudonym("f"),
    )
    db.add(user)
    db.flush()
    return user


def _throttle_keys(email: str, client: str) -> list[str]:
    return [
        "acct:" + hashlib.sha256(email.encode()).hexdigest()[:40],
        "client:" + hashlib.sha256(client.encode()).hexdigest()[:40],
    ]


def authenticate(
    db: Session,
    *,
    email: str,
    password: str,
    client: str,
    max_failures: int,
    window: dt.timedelta,
    now: dt.datetime | None = None,
) -> StaffUser | None:
    """The user for these credentials, ``None`` for wrong ones; raises ``LoginThrottled``.

    Failures are counted per account and per client in the database, so throttling holds across
    any number of web processes.
    """
    now = now or utcnow()
    email = email.strip().lower()
    keys = _throttle_keys(email, client)
    since = now - window
    counts = db.execute(
        select(LoginFailure.key, func.count())
        .where(LoginFailure.key.in_(keys), LoginFailure.at > since)
        .group_by(LoginFailure.key)
    ).all()
    # A client guessing many accounts, or many clients guessing one account, both hit a limit.
    if any(count >= max_failures for _, count in counts):
        raise LoginThrottled()
    user = db.scalar(select(StaffUser).where(StaffUser.email == email))
    if user is None or not user.active:
        # Spend the same time as a real check so that unknown accounts cannot be told apart.
        verify_password(_dummy_hash(), password)
        db.add_all([LoginFailure(key=k, at=now) for k in keys])
        return None
    if not verify_password(user.password_hash, password):
        db.add_all([LoginFailure(key=k, at=now) for k in keys])
        return None
    if password_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    db.execute(delete(LoginFailure).where(LoginFailure.key == keys[0]))
    user.last_login_at = now
    return user


@functools.cache
def _dummy_hash() -> str:
    # Made on first use, not at import: every worker and CLI process would pay for it otherwise.
    return hash_password("not-a-real-password-used-for-timing")


def _actor(db: Session, user: StaffUser, scopes: frozenset[str] | None = None) -> Actor:
    group_ids: frozenset[int] = frozenset()
    if user.role == "facilitator":
        group_ids = frozenset(
            db.scalars(select(GroupFacilitator.group_id).where(GroupFacilitator.staff_user_id == user.id))
        )
    return Actor(
        user_id=user.id,
        role=user.role,
        centre_id=user.centre_id,
        display_name=user.display_name,
        language=user.language,
        group_ids=group_ids,
        scopes=scopes,
    )


def start_login(db: Session, *, user_id: int, hours: int, now: dt.datetime | None = None) -> str:
    """Creates a server-side login and returns the cookie value (only its hash is stored)."""
    now = now or utcnow()
    user = db.get_one(StaffUser, user_id)
    token = new_secret()
    db.add(
        StaffLogin(
            user_id=user.id,
            token_hash=hash_secret(token),
            csrf_token=new_csrf_token(),
            created_at=now,
            expires_at=now + dt.timedelta(hours=hours),
        )
    )
    audit.record(
        db,
        None,
        "login",
        object_type="staff_user",
        object_id=user.id,
        centre_id=user.centre_id,
        actor_label=f"{user.display_name} (#{user.id}, {user.role})",
    )
    return token


def actor_for_login(db: Session, token: str, now: dt.datetime | None = None) -> tuple[Actor, str] | None:
    """The actor and CSRF token of a live login, or ``None``."""
    if not looks_like_secret(token):
        return None
    now = now or utcnow()
    row = db.execute(
        select(StaffLogin, StaffUser)
        .join(StaffUser, StaffUser.id == StaffLogin.user_id)
        .where(StaffLogin.token_hash == hash_secret(token))
    ).first()
    if row is None:
        return None
    login, user = row
    if login.expires_at <= now or not user.active:
        return None
    return _actor(db, user), login.csrf_token


def end_login(db: Session, token: str) -> None:
    db.execute(delete(StaffLogin).where(StaffLogin.token_hash == hash_secret(token)))


def create_api_token(
    db: Session,
    *,
    user_id: int,
    name: str,
    scopes: list[str],
    expires_at: dt.datetime | None = None,
    actor: Actor | None = None,
) -> tuple[ApiToken, str]:
    """A new bearer token for ``user_id``; returns the row and the token, shown only now."""
    user = db.get(StaffUser, user_id)
    if user is None:
        raise InvalidInput(gettext("no user with id %(id)s") % {"id": user_id}, field="user_id")
    bad = [s for s in scopes if s not in API_SCOPES]
    if bad or not scopes:
        raise InvalidInput(
            gettext("scopes must be some of %(choices)s") % {"choices": ", ".join(API_SCOPES)}, field="scopes"
        )
    if not name.strip():
        raise InvalidInput(gettext("give the token a name that says what uses it"), field="name")
    token = "rst_" + new_secret()
    row = ApiToken(
        user_id=user_id,
        name=name.strip(),
        token_hash=hash_secret(token),
        scopes=" ".join(sorted(set(scopes))),
        expires_at=expires_at,
    )
    db.add(row)
    db.flush()
    audit.record(
        db,
        actor,
        "api_token.create",
        object_type="api_token",
        object_id=row.id,
        centre_id=user.centre_id,
        detail={"user_id": user_id, "scopes": row.scopes},
    )
    return row, token


def list_api_tokens(db: Session, *, user_id: int) -> list[ApiToken]:
    return list(db.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)))


def revoke_api_token(db: Session, *, token_id: int, actor: Actor | None = None) -> None:
    """Revokes a token; through the pages or API an actor may revoke only their own."""
    row = db.get(ApiToken, token_id)
    if row is None or (actor is not None and not actor.is_admin and row.user_id != actor.user_id):
        raise NotFound(gettext("no token with id %(id)s") % {"id": token_id})
    row.revoked_at = utcnow()
    audit.record(db, actor, "api_token.revoke", object_type="api_token", object_id=token_id)


def actor_for_api_token(db: Session, token: str, now: dt.datetime | None = None) -> Actor | None:
    if not token.startswith("rst_") or not looks_like_secret(token[4:]):
        return None
    now = now or utcnow()
    row = db.execute(
        select(ApiToken, StaffUser)
        .join(StaffUser, StaffUser.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_secret(token))
    ).first()
    if row is None:
        return None
    api_token, user = row
    if api_token.revoked_at is not None or not user.active:
        return None
    if api_token.expires_at is not None and api_token.expires_at <= now:
        return None
    api_token.last_used_at = now
    return _actor(db, user, frozenset(api_token.scopes.split()))
