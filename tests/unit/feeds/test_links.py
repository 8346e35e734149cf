"""Feed addresses, the Google "add by URL" link, and derived parent feed secrets."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from orchestrator.feeds import links
from orchestrator.security import looks_like_secret, new_secret


def test_subscription_links():
    found = links.subscription_links("https://rucksack.example.org/", "S" * 32)
    assert found.https == "https://rucksack.example.org/feeds/" + "S" * 32 + ".ics"
    assert found.webcal == "webcal://rucksack.example.org/feeds/" + "S" * 32 + ".ics"
    google = urlsplit(found.google)
    assert (google.scheme, google.netloc, google.path) == ("https", "calendar.google.com", "/calendar/r")
    # Google takes the webcal address as cid (an https one is read as an account name), encoded whole.
    assert parse_qs(google.query) == {"cid": [found.webcal]}
    assert "webcal%3A%2F%2Frucksack.example.org%2Ffeeds%2F" in found.google


def test_webcal_refuses_other_schemes():
    assert links.webcal_url("http://localhost:8080/feeds/x.ics") == "webcal://localhost:8080/feeds/x.ics"
    with pytest.raises(ValueError, match="http"):
        links.webcal_url("ftp://example.org/x.ics")


def test_event_links():
    base = "https://r.example"
    assert links.parent_group_link(base, "s", 3) == "https://r.example/feeds/s/join/g/3"
    assert links.parent_session_link(base, "s", 4) == "https://r.example/feeds/s/join/s/4"
    assert links.parent_session_download(base, "s", 4) == "https://r.example/feeds/s/sessions/4.ics"
    assert links.staff_session_link(base, "facilitator", 5) == "https://r.example/facilitator/sessions/5"
    assert links.staff_session_link(base, "coordinator", 5) == "https://r.example/sessions/5"
    assert links.staff_current_link(base, 6) == "https://r.example/calendar/groups/6/current"
    assert links.privacy_url(base, "ar") == "https://r.example/ar/privacy"


def test_derived_parent_feed_secrets():
    personal = new_secret()
    derived = links.derive_parent_feed_secret(personal, 7)
    # Stable, shaped like every other link secret, different per row and per personal secret,
    # and not the personal secret itself.
    assert derived == links.derive_parent_feed_secret(personal, 7)
    assert looks_like_secret(derived)
    assert derived != links.derive_parent_feed_secret(personal, 8)
    assert derived != links.derive_parent_feed_secret(new_secret(), 7)
    assert personal not in derived
    assert len({links.derive_parent_feed_secret(new_secret(), 1) for _ in range(200)}) == 200
