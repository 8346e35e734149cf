"""What use cases raise is shown to people, so it speaks their language.

A German coordinator sees the messages of ``orchestrator.errors`` on the pages and in the API in
German (the default), an English one in English; the status code and the field stay the same.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Callable

import pytest

from orchestrator.access import Actor, require_centre, require_group, require_role, require_scope
from orchestrator.errors import DomainError, Forbidden, InvalidInput, NotFound
from orchestrator.i18n import language_scope
from orchestrator.reports.services import MAX_RANGE_DAYS, _check_range, _check_threshold

D = dt.date
FACILITATOR = Actor(user_id=7, role="facilitator", centre_id=1, display_name="Elif", group_ids=frozenset({3}))
OTHER_COORDINATOR = Actor(user_id=8, role="coordinator", centre_id=2, display_name="Jana")
READ_TOKEN = Actor(
    user_id=9, role="coordinator", centre_id=1, display_name="Skript", scopes=frozenset({"read"})
)

# (what raises, the error class, its field, the German message, the English message)
CASES: list[tuple[str, Callable[[], object], type[DomainError], str | None, str, str]] = [
    (
        "role",
        lambda: require_role(FACILITATOR, "coordinator"),
        Forbidden,
        None,
        "Das ist mit Ihrer Rolle nicht erlaubt.",
        "your role may not do this",
    ),
    (
        "scope",
        lambda: require_scope(READ_TOKEN, "write"),
        Forbidden,
        None,
        "Diesem API-Token fehlt die Berechtigung 'write'.",
        "this API token lacks the 'write' scope",
    ),
    (
        "facilitator changes a group",
        lambda: require_group(FACILITATOR, 1, 3, manage=True),
        Forbidden,
        None,
        "Als Elternbegleitung dürfen Sie diese Gruppe nicht ändern.",
        "facilitators may not change this group",
    ),
    (
        "another centre's closure day",
        lambda: require_centre(OTHER_COORDINATOR, 1, what="closure day"),
        NotFound,
        None,
        "Diesen Schließtag gibt es nicht.",
        "There is no such closure day.",
    ),
    (
        "another facilitator's group",
        lambda: require_group(FACILITATOR, 1, 4),
        NotFound,
        None,
        "Diese Gruppe gibt es nicht.",
        "There is no such group.",
    ),
    (
        "report period backwards",
        lambda: _check_range(D(2026, 10, 2), D(2026, 10, 1), D(2026, 11, 28)),
        InvalidInput,
        "to",
        "Der Zeitraum endet, bevor er beginnt.",
        "the range ends before it starts",
    ),
    (
        "report period too long",
        lambda: _check_range(D(2020, 1, 1), D(2026, 1, 1), D(2026, 11, 28)),
        InvalidInput,
        "to",
        f"Der Zeitraum ist länger als {MAX_RANGE_DAYS} Tage.",
        f"the range is longer than {MAX_RANGE_DAYS} days",
    ),
    (
        "threshold",
        lambda: _check_threshold(101, 50),
        InvalidInput,
        "threshold",
        "Die Schwelle ist ein Prozentwert von 0 bis 100.",
        "the threshold is a percentage from 0 to 100",
    ),
]


@pytest.mark.parametrize(
    ("raising", "error", "field", "german", "english"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_the_message_is_in_the_language_of_the_request(raising, error, field, german, english):
    for code, expected in (("de", german), ("en", english)):
        with language_scope(code), pytest.raises(error) as raised:
            raising()
        assert raised.value.message == expected, code
        assert raised.value.field == field
        assert raised.value.as_json()["error"]["message"] == expected


def test_german_is_the_default():
    # No language chosen (a request before its actor is known, a job, the CLI): German. A fresh
    # context, so that no language set earlier in this process counts.
    def refused() -> DomainError:
        with pytest.raises(Forbidden) as raised:
            require_role(FACILITATOR, "admin")
        return raised.value

    error = contextvars.Context().run(refused)
    assert error.message == "Das ist mit Ihrer Rolle nicht erlaubt."
    assert error.status == 403
