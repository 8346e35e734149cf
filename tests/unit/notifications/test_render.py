"""Message texts: every kind in every language, with the right local time and the link mark."""

from __future__ import annotations

import datetime as dt

import pytest

from orchestrator.i18n import PARENT_LANGUAGES, gettext, language_scope
from orchestrator.notifications.render import (
    KINDS,
    LINK_MARK,
    MessageFacts,
    fill_link,
    outbox_text,
    render_message,
)

WINTER = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)  # 09:00 in Berlin (CET)
SUMMER = dt.datetime(2027, 6, 1, 7, 0, tzinfo=dt.UTC)  # 09:00 in Berlin (CEST)


def facts(kind: str, starts_at: dt.datetime = WINTER) -> MessageFacts:
    return MessageFacts(
        kind=kind,
        group_name="Gruppe Sonnenschein",
        zone="Europe/Berlin",
        starts_at=starts_at,
        previous_start=starts_at - dt.timedelta(days=1) if kind == "moved" else None,
        next_start=starts_at + dt.timedelta(days=7) if kind == "cancelled" else None,
    )


@pytest.mark.parametrize("language", list(PARENT_LANGUAGES))
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("channel", ["email", "sms"])
def test_every_kind_renders_in_every_language_with_the_link(kind, language, channel):
    subject, body = render_message(facts(kind), language=language, channel=channel)
    assert LINK_MARK in body
    assert subject
    assert "{{" not in body
    assert "%(" not in body
    assert "%(" not in subject
    if kind != "started":
        # The local time of the session (09:00 in Berlin), whatever the language's digits.
        assert "09:00" in body or "9:00" in body or "٠٩:٠٠" in body or "۰۹:۰۰" in body


@pytest.mark.parametrize("starts_at", [WINTER, SUMMER])
def test_local_time_follows_daylight_saving(starts_at):
    _, body = render_message(facts("reminder", starts_at), language="de", channel="email")
    assert "09:00" in body
    assert "08:00" not in body
    assert "07:00" not in body


def test_weekday_and_month_in_the_recipients_language():
    _, de = render_message(facts("reminder"), language="de", channel="email")
    _, tr = render_message(facts("reminder"), language="tr", channel="email")
    _, en = render_message(facts("reminder"), language="en", channel="email")
    assert "Dienstag, 1. Dezember 2026" in de
    assert "1 Aralık 2026 Salı" in tr
    assert "Tuesday, December 1, 2026" in en


def test_sms_texts_are_short():
    for kind in KINDS:
        for language in PARENT_LANGUAGES:
            _, body = render_message(facts(kind), language=language, channel="sms")
            # The link (~70 characters) comes on top; two concatenated SMS at most.
            assert len(body) <= 250, (kind, language, body)
            assert "\n" not in body.strip()


def test_moved_names_the_old_and_the_new_time():
    _, body = render_message(facts("moved"), language="en", channel="email")
    assert "Monday, November 30, 2026" in body
    assert "Tuesday, December 1, 2026" in body


def test_cancelled_names_the_next_session():
    _, body = render_message(facts("cancelled"), language="en", channel="email")
    assert "Tuesday, December 8, 2026" in body


def test_staff_get_the_session_page_wording():
    _, staff = render_message(facts("reminder"), language="en", channel="email", staff=True)
    _, parent = render_message(facts("reminder"), language="en", channel="email")
    assert "Open the session page" in staff
    assert "Join the meeting with one tap" in parent


@pytest.mark.parametrize("language", [code for code in PARENT_LANGUAGES if code != "en"])
def test_texts_come_from_the_catalog_of_the_language(language):
    with language_scope(language):
        expected = gettext("Your Rucksack group meets online soon.")
    _, body = render_message(facts("reminder"), language=language, channel="email")
    assert expected in body


def test_user_input_is_not_escaped_or_interpreted():
    f = MessageFacts(
        kind="reminder", group_name="Eltern & Kinder <3 {{x}}", zone="Europe/Berlin", starts_at=WINTER
    )
    _, body = render_message(f, language="en", channel="email")
    assert "Eltern & Kinder <3 {{x}}" in body


def test_link_filling_and_outbox_placeholder():
    _, body = render_message(facts("started"), language="en", channel="sms")
    assert "https://x.example/p/abc" in fill_link(body, "https://x.example/p/abc")
    shown = outbox_text(body, "en")
    assert LINK_MARK not in shown
    assert "(personal link)" in shown


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown notification kind"):
        render_message(
            facts("reminder").__class__(kind="x", group_name="", zone="UTC", starts_at=WINTER),
            language="en",
            channel="sms",
        )
