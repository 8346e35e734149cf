"""Message texts: one template per kind and channel, rendered in the recipient's language.

Templates live in ``orchestrator/templates/notifications/``: ``<kind>.txt`` is the e-mail body
(and what the outbox shows), ``<kind>.sms.txt`` the short SMS text. Every sentence goes through
gettext with an English msgid, so the catalogs translate them like any page. Times are shown in
the session's own zone (Europe/Berlin for every centre today), formatted by Babel in the
recipient's language.

The personal link is not known when a message is rendered (a link secret is stored only as its
hash, so it is minted at the moment of sending): texts carry ``LINK_MARK`` in its place, and
``fill_link`` puts the real link in just before the message leaves.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import jinja2

from orchestrator import i18n
from orchestrator.i18n import format_local_datetime, gettext, language_scope, lazy_gettext

__all__ = ["KINDS", "LINK_MARK", "MessageFacts", "fill_link", "outbox_text", "render_message"]

KINDS = ("reminder", "cancelled", "moved", "restored", "started")
LINK_MARK = "[[link]]"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "notifications"

_SUBJECTS = {
    "reminder": lazy_gettext("Reminder: Rucksack meeting on %(time)s"),
    "cancelled": lazy_gettext("Cancelled: Rucksack meeting on %(time)s"),
    "moved": lazy_gettext("New time: Rucksack meeting on %(time)s"),
    "restored": lazy_gettext("Takes place after all: Rucksack meeting on %(time)s"),
    "started": lazy_gettext("Your Rucksack meeting has started"),
}


@dataclasses.dataclass(frozen=True)
class MessageFacts:
    """What a message says about a session, as plain data (no database access while rendering)."""

    kind: str
    group_name: str
    zone: str
    starts_at: dt.datetime
    # For "moved": the time it was planned for before. For "cancelled": the group's next session.
    previous_start: dt.datetime | None = None
    next_start: dt.datetime | None = None


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        # Plain text, never HTML: escaping would put "&amp;" into e-mails and SMS.
        autoescape=False,  # noqa: S701
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    return env


_ENV = _environment()


def render_message(
    facts: MessageFacts, *, language: str, channel: str, staff: bool = False
) -> tuple[str, str]:
    """(subject, body) in ``language``; ``channel`` "sms" gives the short text, else the e-mail."""
    if facts.kind not in KINDS:
        raise ValueError(f"unknown notification kind {facts.kind!r}")
    name = f"{facts.kind}.sms.txt" if channel == "sms" else f"{facts.kind}.txt"
    with language_scope(language):
        when = format_local_datetime(facts.starts_at, facts.zone)
        context = {
            "when": when,
            "group": facts.group_name,
            "link": LINK_MARK,
            "staff": staff,
            "old_when": format_local_datetime(facts.previous_start, facts.zone)
            if facts.previous_start
            else "",
            "next_when": format_local_datetime(facts.next_start, facts.zone) if facts.next_start else "",
        }
        body = _ENV.get_template(name).render(context).strip() + "\n"
        subject = gettext(_SUBJECTS[facts.kind])
        if "%(time)s" in _SUBJECTS[facts.kind]:
            subject = subject % {"time": when}
    # Collapse the blank lines left by omitted optional sentences.
    while "\n\n\n" in body:
        body = body.replace("\n\n\n", "\n\n")
    # Babel puts narrow no-break spaces into times ("9:00\u202fAM"): in a subject they make mail
    # clients fold the encoded header oddly, and in an SMS a single one turns the whole text into
    # UCS-2 (70 instead of 160 characters per part). Plain spaces there.
    subject = " ".join(subject.split())
    if channel == "sms":
        body = " ".join(body.split()) + "\n"
    return subject, body


def fill_link(text: str, url: str) -> str:
    return text.replace(LINK_MARK, url)


def outbox_text(text: str, language: str) -> str:
    """The text as coordinators see it in the outbox: the personal link is never shown to staff."""
    with language_scope(language):
        placeholder = gettext("(personal link)")
    return fill_link(text, placeholder)
