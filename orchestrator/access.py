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
from orchestrator.i18n import gettext, lazy_gettext

__all__ = ["Actor", "require_centre", "require_group", "require_role", "require_scope"]

# What ``require_centre`` answers, per kind of record. German needs a sentence of its own for
# each kind (article and endings follow the noun), so the kind is not pasted into one sentence.
_NOT_FOUND = {
    "record": lazy_gettext("There is no such record."),
    "centre": lazy_gettext("There is no such centre."),
    "closure day": lazy_gettext("There is no such closure day."),
    "deployment": lazy_gettext("There is no such Jitsi deployment."),
    "group": lazy_gettext("There is no such group."),
    "notification": lazy_gettext("There is no such notification."),
    "parent": lazy_gettext("There is no such parent."),
    "schedule": lazy_gettext("There is no such schedule."),
    "staff member": lazy_gettext("There is no such staff member."),
}
_FACILITATORS_MAY_NOT_CHANGE = {
    "record": lazy_gettext("facilitators may not change this record"),
    "centre": lazy_gettext("facilitators may not change this centre"),
    "closure day": lazy_gettext("facilitators may not change this closure day"),
    "deployment": lazy_gettext("facilitators may not change this deployment"),
    "group": lazy_gettext("facilitators may not change this group"),
    "notification": lazy_gettext("facilitators may not change this notification"),
    "parent": lazy_gettext("facilitators may not change this parent"),
    "schedule": lazy_gettext("facilitators may not change this schedule"),
    "staff member": lazy_gettext("facilitators may not change this staff member"),
}


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
        raise Forbidden(gettext("your role may not do this"))


def require_scope(actor: Actor, scope: str) -> None:
    if actor.scopes is not None and scope not in actor.scopes:
        raise Forbidden(gettext("this API token lacks the %(scope)s scope") % {"scope": repr(scope)})


def require_centre(actor: Actor, centre_id: int, *, what: str = "record") -> None:
    """The actor manages the centre; others are told the record does not exist.

    ``what`` names the kind of record in the answer: one of the keys of ``_NOT_FOUND``.
    """
    if not actor.can_manage_centre(centre_id):
        if actor.centre_id == centre_id and actor.is_facilitator:
            message = _FACILITATORS_MAY_NOT_CHANGE.get(what, _FACILITATORS_MAY_NOT_CHANGE["record"])
            raise Forbidden(gettext(message))
        raise NotFound(gettext(_NOT_FOUND.get(what, _NOT_FOUND["record"])))


def require_group(actor: Actor, centre_id: int, group_id: int, *, manage: bool = False) -> None:
    """The actor sees the group (``manage``: and may change its set-up, coordinators only)."""
    if manage:
        require_centre(actor, centre_id, what="group")
        return
    if not actor.can_see_group(centre_id, group_id):
        raise NotFound(gettext("There is no such group."))
