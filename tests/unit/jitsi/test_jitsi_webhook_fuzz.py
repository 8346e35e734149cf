"""Whatever arrives, the parsers answer with an event or a PayloadError, never anything else.

A webhook endpoint turns PayloadError into a 400 with its reason; any other exception would be a
500, which makes event_sync and JaaS retry a body that can never succeed.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.jitsi import (
    EVENT_SYNC_ENDPOINTS,
    ConferenceEvent,
    PayloadError,
    parse_event_sync,
    parse_jaas,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def reference_bodies(payloads_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """(endpoint or "jaas", body) for every reference payload: the seeds we mutate."""
    out: list[tuple[str, dict[str, Any]]] = []
    for path in sorted((payloads_dir / "event_sync").glob("*.json")):
        endpoint = next(e for e in EVENT_SYNC_ENDPOINTS if path.name.startswith(e.replace("/", "-")))
        out.append((endpoint, json.loads(path.read_text("utf-8"))))
    for path in sorted((payloads_dir / "jaas").glob("*.json")):
        out.append(("jaas", json.loads(path.read_text("utf-8"))))
    assert len(out) == 12
    return out


def check(target: str, body: bytes) -> None:
    error: PayloadError | None = None
    try:
        event = parse_jaas(body) if target == "jaas" else parse_event_sync(target, body)
    except PayloadError as exc:
        error = exc
    if error is not None:
        assert error.reason
        return
    assert isinstance(event, ConferenceEvent)
    assert event.occurred_at.tzinfo is not None
    assert event.occurred_at.utcoffset() == dt.timedelta(0)
    assert event.dedupe_key
    assert event.room_name == event.room_name.lower()


targets = st.sampled_from([*EVENT_SYNC_ENDPOINTS, "jaas"])


@FUZZ
@given(target=targets, body=st.binary(max_size=300))
def test_arbitrary_bytes(target: str, body: bytes) -> None:
    check(target, body)


@FUZZ
@given(target=targets, value=json_values)
def test_arbitrary_json(target: str, value: object) -> None:
    check(target, json.dumps(value).encode())


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@FUZZ
@given(data=st.data())
def test_mutated_reference_payloads(
    reference_bodies: list[tuple[str, dict[str, Any]]], data: st.DataObject
) -> None:
    """A reference payload with one field replaced by arbitrary JSON or removed: near misses
    exercise the field checks far better than random bytes do."""
    target, original = data.draw(st.sampled_from(reference_bodies))
    body = json.loads(json.dumps(original))
    path = data.draw(st.sampled_from(_paths(body)))
    parent: Any = body
    for step in path[:-1]:
        parent = parent[step]
    if data.draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(json_values)
    check(target, json.dumps(body).encode())
