"""``check_storable``: an event is refused exactly when one of its fields would not fit its column.

The check has a fast path for the usual event (every field short, no NUL); these tests hold it
to the per-field rule, so the fast path can never let through what a column would refuse.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.jitsi import ConferenceEvent, EventKind, Occupant
from orchestrator.hooks.inbox import FIELD_LIMITS, StorageLimitError, check_storable

AT = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)

# Each checked field and the length its column takes.
LIMITS = {
    "dedupe_key": FIELD_LIMITS["dedupe_key"],
    "room_name": FIELD_LIMITS["room_name"],
    "meeting_key": FIELD_LIMITS["meeting_key"],
    "person_id": FIELD_LIMITS["person_id"],
    "connection_id": FIELD_LIMITS["connection_id"],
    "breakout_room_id": 300,
    "raw_type": 300,
    "disconnect_reason": 200,
}
OPTIONAL = {"person_id", "connection_id", "breakout_room_id", "disconnect_reason"}


def event(**fields: Any) -> ConferenceEvent:
    base = ConferenceEvent(
        source="jaas",
        kind=EventKind.OCCUPANT_JOINED,
        raw_type="PARTICIPANT_JOINED",
        dedupe_key="3f1c9a4e-0000-4000-8000-000000000001",
        room_name="rs-mittwochsgruppe",
        meeting_key="a1b2c3",
        occurred_at=AT,
        person_id="p-1",
        connection_id="c-1@8x8.vc",
    )
    return dataclasses.replace(base, **fields)


def fits(name: str, value: str | None) -> bool:
    return value is None or (len(value) <= LIMITS[name] and "\x00" not in value)


# Values around every limit, with and without a NUL somewhere in them.
values = st.one_of(
    st.integers(min_value=1, max_value=320).map(lambda n: "x" * n),
    st.builds(
        lambda n, at: ("y" * n)[:at] + "\x00" + ("y" * n)[at:],
        st.integers(min_value=0, max_value=250),
        st.integers(min_value=0, max_value=250),
    ),
)


fields = st.sampled_from(sorted(LIMITS))


@given(changes=st.dictionaries(fields, values, min_size=1, max_size=3))
def test_refused_exactly_when_a_field_does_not_fit(changes: dict[str, str]) -> None:
    candidate = event(**changes)
    expected_ok = all(fits(field, getattr(candidate, field)) for field in LIMITS)
    if expected_ok:
        check_storable(candidate)
    else:
        with pytest.raises(StorageLimitError):
            check_storable(candidate)


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_each_field_at_its_limit_fits_and_one_more_does_not(name: str) -> None:
    check_storable(event(**{name: "a" * LIMITS[name]}))
    with pytest.raises(StorageLimitError, match=f"{name}: longer than {LIMITS[name]}"):
        check_storable(event(**{name: "a" * (LIMITS[name] + 1)}))


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_a_nul_anywhere_is_refused_with_its_field(name: str) -> None:
    with pytest.raises(StorageLimitError, match=f"{name}: contains a NUL"):
        check_storable(event(**{name: "ab\x00cd"}))


@pytest.mark.parametrize("name", sorted(OPTIONAL))
def test_absent_optional_fields_fit(name: str) -> None:
    check_storable(event(**{name: None}))


def test_the_occupants_of_a_destroyed_room_are_checked_too() -> None:
    fine = Occupant(person_id="p-1", connection_id="c-1", joined_at=AT, left_at=None)
    check_storable(event(kind=EventKind.ROOM_DESTROYED, occupants=(fine,)))
    too_long = dataclasses.replace(fine, connection_id="c" * (FIELD_LIMITS["connection_id"] + 1))
    with pytest.raises(StorageLimitError, match=r"occupants\[1\]\.occupant_jid: longer than"):
        check_storable(event(kind=EventKind.ROOM_DESTROYED, occupants=(fine, too_long)))
    with_nul = dataclasses.replace(fine, person_id="p\x00")
    with pytest.raises(StorageLimitError, match=r"occupants\[0\]\.id: contains a NUL"):
        check_storable(event(kind=EventKind.ROOM_DESTROYED, occupants=(with_nul,)))
