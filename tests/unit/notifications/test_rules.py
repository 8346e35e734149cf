"""Pure rules: which reminder is due, back-off, idempotency keys, SMS request bodies, phones."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from orchestrator.notifications.channels.sms import (
    GATEWAYS,
    HttpSmsGateway,
    SmsGateway,
    fill_template,
    gateway_from_settings,
    normalise_phone,
)
from orchestrator.notifications.delivery import MAX_ATTEMPTS, backoff
from orchestrator.notifications.services import due_offset, parse_key, valid_offsets
from orchestrator.settings import SmsSettings

START = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("before", "expected"),
    [
        (dt.timedelta(hours=25), None),
        (dt.timedelta(hours=24), 1440),
        (dt.timedelta(hours=23), 1440),
        (dt.timedelta(minutes=61), 1440),
        (dt.timedelta(minutes=60), 60),
        (dt.timedelta(minutes=1), 60),
        (dt.timedelta(0), None),
        (-dt.timedelta(minutes=5), None),
    ],
)
def test_due_offset_is_the_most_recent_reminder_point(before, expected):
    assert due_offset(START, [60, 1440], START - before) == expected


def test_offsets_are_cleaned():
    assert valid_offsets([1440, 60, 60, -5, "x", True, 0, 30.0]) == [30, 60, 1440]
    assert valid_offsets(None) == []


def test_backoff_doubles_and_is_capped():
    waits = [backoff(n) for n in range(1, 10)]
    assert waits[:5] == [dt.timedelta(minutes=m) for m in (1, 2, 4, 8, 16)]
    assert max(waits) == dt.timedelta(hours=1)
    assert MAX_ATTEMPTS >= 3


def test_keys_parse_back():
    assert parse_key("reminder:5:1764576000:60:p3:sms").session_id == 5  # type: ignore[union-attr]
    moved = parse_key("moved:5:2:1764576000:s1:email")
    assert moved is not None
    assert moved.kind == "moved"
    assert moved.sequence == 2
    assert moved.instant == 1764576000
    assert parse_key("started:7:1764576000:p1:outbox").kind == "started"  # type: ignore[union-attr]
    assert parse_key("something:else") is None
    assert parse_key("reminder:x:1:2:p1:sms") is None


def test_template_values_are_json_escaped():
    body = fill_template(
        '{"to": "{to}", "text": "{text}", "from": "{sender}"}',
        to="+4915112345678",
        text='Say "hi"\nnew line {sender} \\ ü',
        sender="Rucksack",
    )
    data = json.loads(body)
    assert data == {"to": "+4915112345678", "text": 'Say "hi"\nnew line {sender} \\ ü', "from": "Rucksack"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0151 123 456 78", "+4915112345678"),
        ("0049 151-12345678", "+4915112345678"),
        ("+90 (532) 123 45 67", "+905321234567"),
        ("4915112345678", "+4915112345678"),
    ],
)
def test_phone_numbers_become_e164(raw, expected):
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "abc", "+0123", "0"])
def test_bad_phone_numbers_are_refused(raw):
    with pytest.raises(ValueError, match="not a phone number"):
        normalise_phone(raw)


def sms_settings(**kw):
    base = {
        "url": "https://sms.example/api",
        "username": "u",
        "sender": "Rucksack",
        "body_template": '{"to": "{to}", "text": "{text}", "from": "{sender}"}',
        "timeout_seconds": 5,
        "password": "pw",
    }
    base.update(kw)
    return SmsSettings(**base)


def test_no_url_means_no_gateway():
    assert gateway_from_settings(sms_settings(url="")) is None


def test_a_template_that_is_not_json_is_a_configuration_error():
    with pytest.raises(ValueError, match="body_template"):
        gateway_from_settings(sms_settings(body_template="to={to}&text={text}"))


def test_only_http_urls():
    with pytest.raises(ValueError, match=r"sms\.url"):
        gateway_from_settings(sms_settings(url="file:///etc/passwd"))


def test_request_carries_basic_auth_and_json():
    gateway = gateway_from_settings(sms_settings())
    assert isinstance(gateway, HttpSmsGateway)
    request = gateway.request("+4915112345678", "Hallo")
    assert request.get_header("Authorization") == "Basic dTpwdw=="
    assert request.get_header("Content-type") == "application/json; charset=utf-8"
    assert json.loads(request.data)["text"] == "Hallo"  # type: ignore[arg-type]
    assert "pw" not in repr(gateway)


def test_another_gateway_is_one_small_class(monkeypatch):
    sent: list[tuple[str, str]] = []

    class Recording(SmsGateway):
        name = "recording"

        @classmethod
        def from_settings(cls, url, sms):
            return cls()

        def send(self, to, text):
            sent.append((to, text))

    monkeypatch.setitem(GATEWAYS, "recording", Recording)
    gateway = gateway_from_settings(sms_settings(url="recording+https://gateway.example/v1"))
    assert isinstance(gateway, Recording)
    gateway.send("+491", "x")
    assert sent == [("+491", "x")]
