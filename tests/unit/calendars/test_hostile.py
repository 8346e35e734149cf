"""Names and titles are typed by people: any text must give a clean feed with the same text.

Hypothesis feeds line breaks of every kind, the TEXT delimiters, NUL and other controls, emoji,
right-to-left marks and 2,000-character strings into every user-typed field. The output must pass
the lint and `icalendar` must read back exactly what was typed, with line breaks normalised and
control characters removed (`expected_text` states that rule independently of the code).
"""

from __future__ import annotations

import datetime
import unicodedata
from dataclasses import replace

import icalendar
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from calendars import Feed, FeedOneOff, render_feed, render_single_event

from .lint import assert_lint_clean, text_value
from .samples import BASE_URL, weekly_series

HOSTILE = [
    "\r", "\n", "\r\n", "\n\r", ";", ",", "\\", ":", '"', "^", "\\n", "\\,",
    "\x00", "\x07", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x85", "\x9b", "\u2028", "\u2029",
    "\ud800", "\udfff", "\t", " ", "\u200f", "\u200e", "\u202e", "\u061c", "\ufeff",
    "😀", "👩‍👧‍👦", "🇩🇪", "ع", "ж", "ß", "e\u0301",
]  # fmt: skip

# Pieces rather than single characters, so that CRLF, escapes and emoji sequences stay whole.
texts = st.lists(st.one_of(st.sampled_from(HOSTILE), st.characters()), max_size=80).map("".join)
long_texts = st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=40).map(
    lambda parts: ("".join(parts) * 2000)[:2000]
)
user_text = st.one_of(texts, texts, long_texts)

LONG_MIX = ("Ж;ع,\\\r\n😀\u200f\x00" * 300)[:2000]


def expected_text(value: str) -> str:
    """What a reader must see: every line break one LF, controls and lone surrogates gone."""
    value = value.replace("\r\n", "\n")
    kept = []
    for char in value:
        if char in "\r\x85\u2028\u2029":
            kept.append("\n")
        elif char in "\n\t" or unicodedata.category(char) not in {"Cc", "Cs"}:
            kept.append(char)
    return "".join(kept)


def _text(component: icalendar.cal.component.Component, name: str) -> str:
    return str(component[name])


def _feed(name: str, title: str, description: str, prefix: str, one_off_title: str) -> Feed:
    series = weekly_series(
        uid="series-1@rucksack.example",
        first=datetime.datetime(2026, 3, 3, 9, 0),
        weeks=3,
        summary=title,
        description=description,
    )
    occurrences = list(series.occurrences)
    occurrences[1] = replace(occurrences[1], status="cancelled", summary=one_off_title, sequence=1)
    one_off = FeedOneOff(
        uid="one-off@rucksack.example",
        timezone="Europe/Berlin",
        start_local=datetime.datetime(2026, 3, 4, 10, 0),
        end_local=datetime.datetime(2026, 3, 4, 11, 0),
        status="scheduled",
        sequence=0,
        last_modified=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        summary=one_off_title,
        description=description,
        url=f"{BASE_URL}/one-off",
        location=name,
    )
    return Feed(
        name=name,
        series=(replace(series, occurrences=tuple(occurrences)),),
        single_sessions=(one_off,),
        cancelled_prefix=prefix,
        prodid=f"-//{name}//EN",
    )


def _with_link(description: str, url: str) -> str:
    text = expected_text(description)
    if url in text:
        return text
    return f"{text}\n\n{url}" if text else url


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=user_text, title=user_text, description=user_text, prefix=texts, one_off_title=user_text)
@example(name=LONG_MIX, title=LONG_MIX, description=LONG_MIX, prefix=LONG_MIX[:30], one_off_title=LONG_MIX)
@example(name="", title="", description="", prefix="", one_off_title="")
@example(name="\r\n", title="\x00", description="\\", prefix=";", one_off_title=",")
def test_any_user_text_gives_a_clean_feed_with_the_same_text(
    name: str, title: str, description: str, prefix: str, one_off_title: str
) -> None:
    feed = _feed(name, title, description, prefix, one_off_title)
    data = render_feed(feed)
    assert_lint_clean(data)

    calendar = icalendar.Calendar.from_ical(data)
    assert text_value(calendar, "NAME") == expected_text(name)
    assert text_value(calendar, "X-WR-CALNAME") == expected_text(name)
    assert _text(calendar, "PRODID") == expected_text(f"-//{name}//EN")
    master, cancelled, one_off = calendar.walk("VEVENT")
    series = feed.series[0]
    assert _text(master, "SUMMARY") == expected_text(title)
    assert _text(master, "DESCRIPTION") == _with_link(description, series.url)
    assert _text(cancelled, "SUMMARY") == expected_text(prefix) + expected_text(one_off_title)
    assert _text(one_off, "SUMMARY") == expected_text(one_off_title)
    assert _text(one_off, "LOCATION") == (expected_text(name) or f"{BASE_URL}/one-off")


@settings(max_examples=30, deadline=None)
@given(title=user_text)
def test_any_user_text_gives_a_clean_single_event(title: str) -> None:
    feed = _feed("n", title, title, "x", title)
    data = render_single_event(feed.single_sessions[0], prodid="p", cancelled_prefix=title)
    assert_lint_clean(data)
    (event,) = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert _text(event, "SUMMARY") == expected_text(title)
