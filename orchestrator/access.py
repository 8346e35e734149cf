"""Who may see and change what: the role × resource rules in one place.

An ``Actor`` is the logged-in staff user (or the user behind an API token, narrowed by the token's
scopes). Admins see every centre; a coordinator sees and changes only their centre; a facilitator
sees only the groups they lead and may launch, end and correct attendance there. Use cases call
these checks with the records they loaded; a record outside the actor's reach is reported as
*not found*, so ids of other centres cannot be probed.
"""

from __future__ import annotations

import dataclasses

from orchestrator.errors import Forbidden, NotFound

__all__ = ["Actor", "require_centre", "require_group", "require_role", "require_scope"]


@dataclasses.dataclass(frozen=True)
class Actor:
    user_id: int
    role: str  # admin | coordinator | facilitator
    centre_id: int | None
    display_name: str
    language: str = "de"
    # Groups the user leads (facilitators); loaded at authentication.
    group_ids: frozenset[int] = frozenset()
    # None for a browser login (everything the role allows); a token's scopes otherwise.
    scopes: frozenset[str] | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_coordinator(self) -> bool:
        return self.role == "coordinator"

    @property
    def is_facilitator(self) -> bool:
        return self.role == "facilitator"

    @property
    def label(self) -> str:
        return f"{self.display_name} (#{self.user_id}, {self.role})"

    def can_manage_centre(self, centre_id: int) -> bool:
        return self.is_admin or (self.is_coordinator and self.centre_id == centre_id)

    def can_see_group(self, centre_id: int, group_id: int) -> bool:
        if self.can_manage_centre(centre_id):
            return True
        return self.is_facilitator and self.centre_id == centre_id and group_id in self.group_ids


def require_role(actor: Actor, *roles: str) -> None:
    if actor.role not in roles:
        raise Forbidden("your role may not do this")


def require_scope(actor: Actor, scope: str) -> None:
    if actor.scopes is not None and scope not in actor.scopes:
        raise Forbidden(f"this API token lacks the {scope!r} scope")


def require_centre(actor: Actor, centre_id: int, *, what: str = "record") -> None:
    """The actor manages the centre; others are told the record does not exist."""
    if not actor.can_manage_centre(centre_id):
        if actor.centre_id == centre_id and actor.is_facilitator:
            raise Forbidden(f"facilitators may not change this {what}")
        raise NotFound(f"no such {what}")


def require_group(actor: Actor, centre_id: int, group_id: int, *, manage: bool = False) -> None:
    """The actor sees the group (``manage``: and may change its set-up, coordinators only)."""
    if manage:
        require_centre(actor, centre_id, what="group")
        return
    if not actor.can_see_group(centre_id, group_id):
        raise NotFound("no such group")
