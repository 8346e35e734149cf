"""The SMS adapter against a local aiohttp server standing in for the gateway.

The gateway server runs in a thread with its own event loop (the adapter is synchronous, as the
workers are). Each scenario drives the real ``HttpSmsGateway`` and the delivery loop against the
test database: success, a 4xx refusal (not retried, recorded as failed), and 5xx answers and
timeouts (retried with back-off, then failed after the last attempt).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from orchestrator.notifications import delivery
from orchestrator.notifications import services as notifications
from orchestrator.notifications.channels import (
    Channels,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from orchestrator.notifications.channels.sms import HttpSmsGateway
from tests.integration.test_notifications import START, arrange, free_port, rows


class FakeGateway:
    """What the gateway received, and how it answers next (status, or hanging past the timeout)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str | None, dict[str, Any]]] = []
        self.status = 200
        self.hang = False
        self._release: asyncio.Event | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.headers.get("Authorization"), await request.json()))
        if self.hang:
            assert self._release is not None
            await self._release.wait()
        if self.status >= 400:
            return web.json_response({"error": "nope"}, status=self.status)
        return web.json_response({"id": f"msg-{len(self.requests)}", "status": "accepted"})


@pytest.fixture
def gateway() -> Iterator[tuple[FakeGateway, str]]:
    fake = FakeGateway()
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/v1/sms", fake.handle)
    runner = web.AppRunner(app)
    port = free_port()

    async def start() -> None:
        fake._release = asyncio.Event()
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

    loop.run_until_complete(start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{port}/v1/sms"
    finally:

        async def stop() -> None:
            assert fake._release is not None
            fake._release.set()
            await runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def sms_channels(url: str, timeout: float = 5) -> Channels:
    return Channels(
        mailer=None,
        sms=HttpSmsGateway(url, username="rucksack", password="s3cret", sender="KI Test", timeout=timeout),
    )


# -- the adapter on its own (no database) ------------------------------------------------------


def test_success_sends_one_json_request_with_basic_auth(gateway):
    fake, url = gateway
    sms_channels(url).sms.send("0151 2345678", 'Hallo "Ayşe"\nLink: https://x/p/abc')  # type: ignore[union-attr]
    [(auth, body)] = fake.requests
    assert auth == "Basic cnVja3NhY2s6czNjcmV0"
    assert body == {"to": "+491512345678", "text": 'Hallo "Ayşe"\nLink: https://x/p/abc', "from": "KI Test"}


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_4xx_is_permanent(gateway, status):
    fake, url = gateway
    fake.status = status
    with pytest.raises(PermanentDeliveryError, match=str(status)):
        sms_channels(url).sms.send("+4915112345678", "x")  # type: ignore[union-attr]


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_5xx_and_throttling_are_temporary(gateway, status):
    fake, url = gateway
    fake.status = status
    with pytest.raises(TransientDeliveryError, match=str(status)):
        sms_channels(url).sms.send("+4915112345678", "x")  # type: ignore[union-attr]


def test_a_timeout_is_temporary(gateway):
    fake, url = gateway
    fake.hang = True
    with pytest.raises(TransientDeliveryError, match=r"did not answer within 0\.5 s"):
        sms_channels(url, timeout=0.5).sms.send("+4915112345678", "x")  # type: ignore[union-attr]


def test_nobody_listening_is_temporary():
    with pytest.raises(TransientDeliveryError, match="cannot reach"):
        sms_channels(f"http://127.0.0.1:{free_port()}/v1/sms").sms.send("+4915112345678", "x")  # type: ignore[union-attr]


def test_an_invalid_number_is_permanent_and_never_sent(gateway):
    fake, url = gateway
    with pytest.raises(PermanentDeliveryError, match="phone number"):
        sms_channels(url).sms.send("call me", "x")  # type: ignore[union-attr]
    assert fake.requests == []


# -- through delivery, with the database ------------------------------------------------------


def sms_row(db: Any, parent_id: int) -> Any:
    [row] = [r for r in rows(db, parent_id=parent_id) if r.channel in ("sms", "outbox")]
    return row


def test_delivered_sms_carries_the_short_text_and_a_personal_link(db, db_factory, gateway):
    fake, url = gateway
    w = arrange(db, starts_at=START)
    now = START - dt.timedelta(minutes=50)
    notifications.queue_due_reminders(db, now=now)
    db.commit()
    report = delivery.deliver(db_factory, channels=sms_channels(url), base_url="https://r.example", now=now)
    assert report.sent == 1
    [(_, body)] = fake.requests
    assert body["to"] == "+491512345678"
    assert "Salı" in body["text"]  # Ayşe reads Turkish
    assert "https://r.example/p/" in body["text"]
    assert f"/s/{w.session.id}" in body["text"]
    assert "[[link]]" not in body["text"]
    row = sms_row(db, w.ayse.id)
    assert (row.state, row.attempts) == ("sent", 1)


def test_4xx_is_recorded_as_failed_without_retry(db, db_factory, gateway):
    fake, url = gateway
    fake.status = 400
    w = arrange(db, starts_at=START)
    now = START - dt.timedelta(hours=20)
    notifications.queue_due_reminders(db, now=now)
    db.commit()
    report = delivery.deliver(db_factory, channels=sms_channels(url), base_url="https://r.example", now=now)
    assert report.failed == 1
    row = sms_row(db, w.ayse.id)
    assert (row.state, row.attempts, row.next_attempt_at) == ("failed", 1, None)
    assert "SMS gateway refused the message: 400" in row.last_error
    # Much later, the sweeper does not try again.
    later = now + dt.timedelta(hours=3)
    delivery.deliver(db_factory, channels=sms_channels(url), base_url="https://r.example", now=later)
    assert len(fake.requests) == 1


@pytest.mark.parametrize("failure", ["500", "timeout"])
def test_5xx_and_timeouts_are_retried_with_backoff_then_failed(db, db_factory, gateway, failure):
    fake, url = gateway
    if failure == "timeout":
        fake.hang = True
    else:
        fake.status = 500
    w = arrange(db, starts_at=START)
    now = START - dt.timedelta(hours=20)
    notifications.queue_due_reminders(db, now=now)
    db.commit()
    channels = sms_channels(url, timeout=0.3)
    moment = now
    waits = []
    for attempt in range(1, delivery.MAX_ATTEMPTS + 1):
        delivery.deliver(db_factory, channels=channels, base_url="https://r.example", now=moment)
        row = sms_row(db, w.ayse.id)
        assert row.attempts == attempt
        assert len(fake.requests) == attempt
        if attempt < delivery.MAX_ATTEMPTS:
            assert row.state == "queued"
            assert row.last_error.startswith(
                "SMS gateway answered 500" if failure == "500" else "SMS gateway did not answer"
            )
            waits.append(row.next_attempt_at - moment)
            # Not due a second earlier: nothing is sent.
            delivery.deliver(
                db_factory,
                channels=channels,
                base_url="https://r.example",
                now=row.next_attempt_at - dt.timedelta(seconds=1),
            )
            assert len(fake.requests) == attempt
            moment = row.next_attempt_at
        else:
            assert row.state == "failed"
            assert f"gave up after {delivery.MAX_ATTEMPTS} attempts" in row.last_error
    assert waits == [delivery.backoff(n) for n in range(1, delivery.MAX_ATTEMPTS)]


def test_a_gateway_that_recovers_delivers_the_waiting_message(db, db_factory, gateway):
    fake, url = gateway
    fake.status = 503
    w = arrange(db, starts_at=START)
    now = START - dt.timedelta(hours=20)
    notifications.queue_due_reminders(db, now=now)
    db.commit()
    delivery.deliver(db_factory, channels=sms_channels(url), base_url="https://r.example", now=now)
    fake.status = 200
    row = sms_row(db, w.ayse.id)
    delivery.deliver(
        db_factory, channels=sms_channels(url), base_url="https://r.example", now=row.next_attempt_at
    )
    row = sms_row(db, w.ayse.id)
    assert (row.state, row.attempts, row.last_error) == ("sent", 2, "")
