"""The addresses a feed is reached at, and the links written into its events.

A feed has one address in two spellings: ``https://…/feeds/<secret>.ics`` (Google Calendar needs
``https``; every client can use it) and ``webcal://…/feeds/<secret>.ics``, which phones and
desktop calendars open as "subscribe" rather than "download". Google's "add by URL" takes the
webcal spelling as its ``cid`` parameter (an ``https`` value there is read as an account name).

Events never carry a room token (tokens expire; a calendar entry must keep working): a parent's
events link to our join endpoint through the feed secret, staff events link to pages that need a
login anyway.
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import quote

__all__ = [
    "FEED_PREFIX",
    "SubscriptionLinks",
    "derive_parent_feed_secret",
    "feed_url",
    "google_url",
    "parent_group_link",
    "parent_session_download",
    "parent_session_link",
    "privacy_url",
    "staff_current_link",
    "staff_session_link",
    "subscription_links",
    "webcal_url",
]

FEED_PREFIX = "/feeds/"
_DERIVATION_LABEL = b"rucksack/parent-feed/v1\x00"


def _base(base_url: str) -> str:
    return base_url.rstrip("/")


def feed_url(base_url: str, secret: str) -> str:
    """The feed's ``https`` (or, in development, ``http``) address."""
    return f"{_base(base_url)}{FEED_PREFIX}{secret}.ics"


def webcal_url(url: str) -> str:
    """The same address with the ``webcal`` scheme, which calendar apps open as a subscription."""
    scheme, _, rest = url.partition("://")
    if scheme not in ("http", "https") or not rest:
        raise ValueError("a feed address starts with http:// or https://")
    return f"webcal://{rest}"


def google_url(webcal: str) -> str:
    """Google Calendar's "add by URL" page for a ``webcal://`` address."""
    return "https://calendar.google.com/calendar/r?cid=" + quote(webcal, safe="")


class SubscriptionLinks:
    """The three ways to offer one feed: https (copy), webcal (open), Google (add by URL)."""

    __slots__ = ("google", "https", "webcal")

    def __init__(self, https: str) -> None:
        self.https = https
        self.webcal = webcal_url(https)
        self.google = google_url(self.webcal)


def subscription_links(base_url: str, secret: str) -> SubscriptionLinks:
    return SubscriptionLinks(feed_url(base_url, secret))


def parent_group_link(base_url: str, secret: str, group_id: int) -> str:
    """A parent's link to "the group's current session" (the series' master event)."""
    return f"{_base(base_url)}{FEED_PREFIX}{secret}/join/g/{group_id}"


def parent_session_link(base_url: str, secret: str, session_id: int) -> str:
    """A parent's link to one session (moved, cancelled or otherwise special sessions)."""
    return f"{_base(base_url)}{FEED_PREFIX}{secret}/join/s/{session_id}"


def parent_session_download(base_url: str, secret: str, session_id: int) -> str:
    """One session as an ``.ics`` download, for adding a single meeting."""
    return f"{_base(base_url)}{FEED_PREFIX}{secret}/sessions/{session_id}.ics"


def staff_session_link(base_url: str, role: str, session_id: int) -> str:
    """Facilitators start a session from its page; coordinators open the session's page."""
    if role == "facilitator":
        return f"{_base(base_url)}/facilitator/sessions/{session_id}"
    return f"{_base(base_url)}/sessions/{session_id}"


def staff_current_link(base_url: str, group_id: int) -> str:
    """Staff's link to the group's current session (logged-in redirect, see ``views``)."""
    return f"{_base(base_url)}/calendar/groups/{group_id}/current"


def privacy_url(base_url: str, language: str) -> str:
    """The plain-language privacy note in the reader's language."""
    return f"{_base(base_url)}/{language}/privacy"


def derive_parent_feed_secret(personal_secret: str, feed_row_id: int) -> str:
    """The parent's feed secret, computed from their personal secret and the feed's row id.

    Only hashes are stored, so nothing in the database can give a parent's feed address back.
    Deriving it from the personal secret (which the parent holds, and which is in the address of
    the page asking) shows the parent the same address on every visit. The row id makes a new
    feed row (after a revocation) a new address. SHA-256 is one-way: the feed address, which ends
    up on calendar servers, does not reveal the personal secret. 24 bytes keep the 192 bits and
    the 32-character form of every other link secret.
    """
    digest = hashlib.sha256(
        _DERIVATION_LABEL + str(feed_row_id).encode("ascii") + b"\x00" + personal_secret.encode("utf-8")
    ).digest()[:24]
    return base64.urlsafe_b64encode(digest).decode("ascii")
