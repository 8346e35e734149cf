"""Webhook receivers over HTTP, on SQLite and PostgreSQL: authentication, storage, bad input, outages.

The rule under test (design §5): a 2xx only after the event is committed; forged requests are
refused and never stored; bad bodies get a 400 with the reason and are kept (rejected) for
diagnosis; a database outage is a 503 so the sender retries; nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from orchestrator.db import make_sync_engine
from orchestrator.hooks.inbox import stored_event
from orchestrator.hooks.views import DEPLOYMENTS, MAX_BODY_BYTES
from orchestrator.models import ConferenceEvent
from orchestrator.web.keys import ENGINE
from tests import factories
from tests.conftest import POSTGRES_ADMIN_URL

ES_SECRET = "event-sync-secret-0123456789abcdef"
JAAS_SECRET = "whsec_0123456789abcdef0123456789abcdef"


@pytest.fixture
def deployments(db):
    centre = factories.centre(db)
    es = factories.deployment(db, centre, webhook_secret=ES_SECRET)
    jaas = factories.deployment(
        db,
        centre,
        kind="jaas",
        domain="8x8.vc",
        base_url="https://8x8.vc",
        app_id="vpaas-magic-cookie-0123456789abcdef0123456789abcdef",
        webhook_secret=JAAS_SECRET,
    )
    db.commit()
    return es, jaas


def rows(db) -> list[ConferenceEvent]:
    db.expire_all()
    return list(db.scalars(select(ConferenceEvent).order_by(ConferenceEvent.id)))


def es_body(name: str, **changes: Any) -> bytes:
    data = factories.reference_payload(f"event_sync/{name}.json")
    occupant = changes.pop("occupant", None)
    data.update(changes)
    if occupant:
        data["occupant"].update(occupant)
    return json.dumps(data).encode()


def jaas_body(name: str, **changes: Any) -> bytes:
    data = factories.reference_payload(f"jaas/{name}.json")
    details = changes.pop("data", None)
    data.update(changes)
    if details:
        data["data"].update(details)
    return json.dumps(data).encode()


async def post_es(
    client, slug: str, endpoint: str, body: bytes, secret: str | None = ES_SECRET, **headers: str
):
    if secret is not None:
        headers.setdefault("Authorization", f"Bearer {secret}")
    headers.setdefault("Content-Type", "application/json")
    return await client.post(f"/hooks/jitsi/{slug}/events/{endpoint}", data=body, headers=headers)


async def post_jaas(client, slug: str, body: bytes, *, signature: str | None = None, **headers: str):
    headers["X-Jaas-Signature"] = (
        signature if signature is not None else factories.jaas_signature(JAAS_SECRET, body)
    )
    headers.setdefault("Content-Type", "application/json")
    return await client.post(f"/hooks/jaas/{slug}", data=body, headers=headers)


async def sent_jobs(jobs, at_least: int = 1) -> list[tuple[str, tuple[Any, ...]]]:
    """The jobs sent so far, once at least ``at_least`` went out (sending happens in the background)."""
    for _ in range(500):  # up to ~5 s
        if len(jobs.sent) >= at_least:
            break
        await asyncio.sleep(0.01)
    return list(jobs.sent)


# --- accepted events ------------------------------------------------------------------------------


async def test_event_sync_event_is_committed_then_acknowledged(client, db, deployments, jobs):
    es, _ = deployments
    body = es_body("occupant-joined")
    resp = await post_es(client, es.slug, "occupant/joined", body, **{"User-Agent": "Prosody event_sync"})
    assert resp.status == 200, await resp.text()
    (row,) = rows(db)
    assert row.state == "pending"
    assert row.source == "event_sync"
    assert row.deployment_id == es.id
    assert row.kind == "occupant_joined"
    assert row.room_name == "rs-7k2p9xq4m1c8d3f6-0001"
    assert row.meeting_key == "rs-7k2p9xq4m1c8d3f6-0001@conference.meet.example.org"
    assert row.person_id == "p-3f9c2a61d0b84e57"
    assert row.connection_id.startswith("d67aefd4-")
    assert row.occurred_at.isoformat() == "2026-11-28T04:28:00+00:00"
    assert row.body == body
    assert row.dedupe_key.startswith("es:")
    # No parsed form on the request path: the worker parses the body when it claims the row.
    assert row.normalised is None
    # Headers for the audit, never the bearer secret.
    assert row.headers["user-agent"] == "Prosody event_sync"
    assert row.headers["endpoint"] == "occupant/joined"
    assert not any(k.lower() == "authorization" for k in row.headers)
    assert ES_SECRET not in json.dumps(row.headers)
    assert ("rucksack.process_events", ()) in await sent_jobs(jobs)


async def test_all_four_event_sync_endpoints_and_the_reference_bodies(client, db, deployments):
    es, _ = deployments
    for endpoint, name in [
        ("room/created", "room-created"),
        ("occupant/joined", "occupant-joined"),
        ("occupant/joined", "occupant-joined-breakout"),
        ("occupant/joined", "occupant-joined-recorder-no-id"),
        ("occupant/left", "occupant-left"),
        ("room/destroyed", "room-destroyed"),
        ("room/destroyed", "room-destroyed-nobody-joined"),
    ]:
        resp = await post_es(client, es.slug, endpoint, es_body(name))
        assert resp.status == 200, (name, await resp.text())
    stored = rows(db)
    assert [r.kind for r in stored] == [
        "room_created",
        "occupant_joined",
        "occupant_joined",
        "occupant_joined",
        "occupant_left",
        "room_destroyed",
        "room_destroyed",
    ]
    assert {r.state for r in stored} == {"pending"}
    recorder = stored[3]
    assert recorder.person_id is None
    destroyed = stored[5]
    assert len(stored_event(destroyed.source, destroyed.kind, destroyed.body).occupants) == 2


async def test_jaas_event_with_a_valid_signature_is_stored(client, db, deployments, jobs):
    _, jaas = deployments
    body = jaas_body("participant-joined")
    signature = factories.jaas_signature(JAAS_SECRET, body)
    resp = await post_jaas(client, jaas.slug, body, signature=signature)
    assert resp.status == 200, await resp.text()
    (row,) = rows(db)
    assert (row.source, row.state, row.kind) == ("jaas", "pending", "occupant_joined")
    assert row.dedupe_key == "2f6c1b8e-6a0e-4a53-9d6e-3c0b9a1f2e11"
    assert row.meeting_key == "7d1e4f2a-0b6c-4e8d-9f10-2a3b4c5d6e7f"
    assert row.headers["x-jaas-signature"] == signature
    assert await sent_jobs(jobs)


async def test_secrets_may_be_environment_or_file_references(client, db, deployments, monkeypatch, tmp_path):
    es, jaas = deployments
    monkeypatch.setenv("RUCKSACK_TEST_HOOK_SECRET", "secret-from-the-environment")
    secret_file = tmp_path / "jaas-secret"
    secret_file.write_text(JAAS_SECRET + "\n")
    db.get(type(es), es.id).webhook_secret = "env:RUCKSACK_TEST_HOOK_SECRET"
    db.get(type(jaas), jaas.id).webhook_secret = f"file:{secret_file}"
    db.commit()
    resp = await post_es(client, es.slug, "occupant/joined", es_body("occupant-joined"), secret=ES_SECRET)
    assert resp.status == 403
    resp = await post_es(
        client, es.slug, "occupant/joined", es_body("occupant-joined"), secret="secret-from-the-environment"
    )
    assert resp.status == 200
    resp = await post_jaas(client, jaas.slug, jaas_body("participant-joined"))
    assert resp.status == 200
    assert len(rows(db)) == 2


async def test_an_unresolvable_secret_reference_is_a_503_so_the_sender_retries(client, db, deployments):
    es, _ = deployments
    db.get(type(es), es.id).webhook_secret = "env:RUCKSACK_TEST_UNSET_VARIABLE"
    db.commit()
    resp = await post_es(client, es.slug, "occupant/joined", es_body("occupant-joined"))
    assert resp.status == 503
    assert resp.headers["Retry-After"]
    assert rows(db) == []


# --- refused requests: nothing stored ---------------------------------------------------------------


async def test_event_sync_without_or_with_a_wrong_bearer_is_refused_and_not_stored(
    client, db, deployments, jobs
):
    es, _ = deployments
    body = es_body("occupant-joined")
    missing = await post_es(client, es.slug, "occupant/joined", body, secret=None)
    assert missing.status == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    wrong = await post_es(client, es.slug, "occupant/joined", body, secret="not-the-secret")
    assert wrong.status == 403
    assert (await wrong.json())["error"]["code"] == "forbidden"
    basic = await post_es(
        client, es.slug, "occupant/joined", body, secret=None, Authorization=f"Basic {ES_SECRET}"
    )
    assert basic.status == 403
    # The JaaS secret does not open the event_sync door of another deployment.
    other = await post_es(client, es.slug, "occupant/joined", body, secret=JAAS_SECRET)
    assert other.status == 403
    assert rows(db) == []
    assert jobs.sent == []


async def test_unknown_deployment_or_wrong_kind_is_404(client, db, deployments):
    es, jaas = deployments
    body = es_body("occupant-joined")
    assert (await post_es(client, "no-such-deployment", "occupant/joined", body)).status == 404
    assert (await post_es(client, jaas.slug, "occupant/joined", body, secret=JAAS_SECRET)).status == 404
    assert (await post_jaas(client, es.slug, jaas_body("participant-joined"))).status == 404
    assert rows(db) == []


async def test_a_deployment_without_webhook_secret_refuses_everything(client, db, deployments):
    es, _ = deployments
    db.get(type(es), es.id).webhook_secret = ""
    db.commit()
    resp = await post_es(client, es.slug, "occupant/joined", es_body("occupant-joined"), secret="")
    assert resp.status in (401, 403)
    resp = await post_es(client, es.slug, "occupant/joined", es_body("occupant-joined"), secret="anything")
    assert resp.status == 403
    assert rows(db) == []


async def test_jaas_signature_failures_are_refused_and_not_stored(client, db, deployments, jobs):
    _, jaas = deployments
    body = jaas_body("participant-joined")
    now = int(time.time())
    good = factories.jaas_signature(JAAS_SECRET, body, t=now)
    v1 = good.split("v1=")[1]

    async def refused(signature: str | None, payload: bytes = body) -> dict[str, Any]:
        headers = {} if signature is None else {"X-Jaas-Signature": signature}
        resp = await client.post(f"/hooks/jaas/{jaas.slug}", data=payload, headers=headers)
        assert resp.status == (401 if signature is None else 403), (signature, await resp.text())
        return await resp.json()

    await refused(None)
    await refused(factories.jaas_signature("whsec_wrong", body, t=now))
    # Stale and future timestamps, correctly signed: replays of captured requests.
    stale = await refused(factories.jaas_signature(JAAS_SECRET, body, t=now - 400))
    assert "old" in stale["error"]["message"]
    await refused(factories.jaas_signature(JAAS_SECRET, body, t=now + 400))
    # Downgrade: only a scheme we do not check (or none we check) is offered.
    await refused(f"t={now},v0={v1}")
    await refused(f"t={now},v2={v1}")
    await refused(f"t={now}")
    # The timestamp is part of the signed message: changing it breaks the signature.
    await refused(f"t={now - 1},v1={v1}")
    # Tampered body: one byte changed after signing.
    await refused(good, body.replace(b"p-3f9c2a61d0b84e57", b"p-3f9c2a61d0b84e58"))
    await refused("garbage")
    assert rows(db) == []
    assert jobs.sent == []


async def test_jaas_reference_vector_matches_but_is_refused_as_stale(client, db):
    """The documented vector: the signature is right (so the reason is its age, not a mismatch)."""
    vector = factories.reference_payload("jaas-signature-vector.json")
    centre = factories.centre(db)
    deployment = factories.deployment(db, centre, kind="jaas", webhook_secret=vector["secret"])
    db.commit()
    resp = await client.post(
        f"/hooks/jaas/{deployment.slug}",
        data=vector["raw_body"].encode(),
        headers={"X-Jaas-Signature": vector["header"]},
    )
    assert resp.status == 403
    assert "old" in (await resp.json())["error"]["message"]
    assert rows(db) == []


# --- bad bodies: 400 with the reason, kept as rejected ------------------------------------------------


async def test_malformed_json_is_400_and_kept_as_rejected(client, db, deployments, jobs):
    es, jaas = deployments
    resp = await post_es(client, es.slug, "occupant/joined", b'{"event_name": "muc-occupant-joined",')
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "bad_payload"
    assert "not valid JSON" in error["message"]
    body = b"[1, 2, 3]"
    resp = await post_jaas(client, jaas.slug, body)
    assert resp.status == 400
    assert "JSON object" in (await resp.json())["error"]["message"]
    stored = rows(db)
    assert [(r.source, r.state) for r in stored] == [("event_sync", "rejected"), ("jaas", "rejected")]
    assert stored[0].body == b'{"event_name": "muc-occupant-joined",'
    assert "not valid JSON" in stored[0].error
    assert stored[1].body == body
    assert stored[0].normalised is None
    assert jobs.sent == []  # nothing for the workers


async def test_unknown_shape_is_400_naming_the_field_and_a_resend_is_kept_once(client, db, deployments):
    es, jaas = deployments
    data = factories.reference_payload("event_sync/occupant-joined.json")
    del data["occupant"]["joined_at"]
    body = json.dumps(data).encode()
    for _ in range(3):  # JaaS-like retries of a bad body: one row, not three
        resp = await post_es(client, es.slug, "occupant/joined", body)
        assert resp.status == 400
        assert (await resp.json())["error"]["message"] == "occupant.joined_at: missing"
    mismatch = await post_es(client, es.slug, "occupant/left", es_body("occupant-joined"))
    assert mismatch.status == 400
    assert "does not belong to endpoint" in (await mismatch.json())["error"]["message"]
    jaas_data = factories.reference_payload("jaas/participant-joined.json")
    jaas_data["timestamp"] = "yesterday"
    resp = await post_jaas(client, jaas.slug, json.dumps(jaas_data).encode())
    assert resp.status == 400
    assert "timestamp" in (await resp.json())["error"]["message"]
    stored = rows(db)
    assert [r.state for r in stored] == ["rejected", "rejected", "rejected"]
    assert stored[0].error == "occupant.joined_at: missing"


async def test_values_that_do_not_fit_the_inbox_are_400(client, db, deployments):
    es, _ = deployments
    long_room = es_body("occupant-joined", room_name="rs-" + "x" * 300)
    resp = await post_es(client, es.slug, "occupant/joined", long_room)
    assert resp.status == 400
    assert "room_name" in (await resp.json())["error"]["message"]
    nul = es_body("occupant-joined", occupant={"id": "p-\u0000evil"})
    resp = await post_es(client, es.slug, "occupant/joined", nul)
    assert resp.status == 400
    assert "NUL" in (await resp.json())["error"]["message"]
    # Stored as rejected (the raw bytes are fine in a binary column), the event itself is not.
    assert [r.state for r in rows(db)] == ["rejected", "rejected"]


async def test_a_body_over_the_limit_is_413_and_not_stored(client, db, deployments):
    es, jaas = deployments
    huge = b'{"event_name": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}'
    resp = await post_es(client, es.slug, "occupant/joined", huge)
    assert resp.status == 413

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"y" * (MAX_BODY_BYTES // 4)

    resp = await client.post(
        f"/hooks/jitsi/{es.slug}/events/occupant/joined",
        data=chunks(),
        headers={"Authorization": f"Bearer {ES_SECRET}"},
    )
    assert resp.status == 413
    resp = await post_jaas(client, jaas.slug, huge)
    assert resp.status == 413
    assert rows(db) == []


# --- unknown types and duplicates -------------------------------------------------------------------


async def test_unknown_event_types_are_acknowledged_stored_and_ignored(client, db, deployments, jobs):
    es, jaas = deployments
    other = jaas_body("room-created", eventType="RECORDING_STARTED", idempotencyKey="rec-1", data={"x": 1})
    resp = await post_jaas(client, jaas.slug, other)
    assert resp.status == 200
    resp = await post_es(client, es.slug, "usage/daily", b'{"whatever": true}')
    assert resp.status == 200
    stored = rows(db)
    assert [(r.source, r.state, r.kind) for r in stored] == [
        ("jaas", "ignored", "other"),
        ("event_sync", "ignored", "other"),
    ]
    assert stored[0].dedupe_key == "rec-1"
    assert "usage/daily" in stored[1].error
    assert jobs.sent == []  # nothing the workers need to look at


async def test_a_duplicate_delivery_is_acknowledged_and_stored_once(client, db, deployments, jobs):
    es, jaas = deployments
    body = es_body("occupant-left")
    for _ in range(3):
        assert (await post_es(client, es.slug, "occupant/left", body)).status == 200
    # The same JSON with its keys in another order is the same event.
    reordered = json.dumps(dict(reversed(list(json.loads(body).items())))).encode()
    assert (await post_es(client, es.slug, "occupant/left", reordered)).status == 200
    jaas_event = jaas_body("participant-left-connection-lost")
    for _ in range(2):
        # Each delivery is signed anew (another t), the idempotencyKey stays.
        assert (await post_jaas(client, jaas.slug, jaas_event)).status == 200
    stored = rows(db)
    assert [(r.source, r.kind) for r in stored] == [
        ("event_sync", "occupant_left"),
        ("jaas", "occupant_left"),
    ]
    assert await sent_jobs(jobs)


async def test_concurrent_duplicates_in_one_batch_are_stored_once(client, db, deployments):
    es, _ = deployments
    body = es_body("occupant-joined")
    bodies = [body] * 20 + [es_body("occupant-joined", active_occupants_count=n) for n in range(3, 13)]
    answers = await asyncio.gather(*(post_es(client, es.slug, "occupant/joined", b) for b in bodies))
    assert {a.status for a in answers} == {200}
    assert len(rows(db)) == 11


# --- outages --------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def database_outage(app, database_url: str) -> AsyncIterator[None]:
    """Makes the app's database unreachable for the duration, for real.

    PostgreSQL: the database stops accepting connections and every connection to it is
    terminated (what a server restart or a failover looks like to the app). SQLite: the app's
    connections are closed and the directory holding the database file (with its WAL) is moved
    away, so opening it fails (a lost volume); moving it back restores everything.
    """
    if database_url.startswith("sqlite"):
        directory = Path(database_url.removeprefix("sqlite:///")).parent
        away = directory.with_name(directory.name + "-away")
        await app[ENGINE].dispose()
        await asyncio.to_thread(directory.rename, away)
        try:
            yield
        finally:
            await asyncio.to_thread(away.rename, directory)
        return
    name = database_url.rsplit("/", 1)[1]

    def switch(allow: bool) -> None:
        admin = make_sync_engine(POSTGRES_ADMIN_URL)
        try:
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allow).lower()}'))
                if not allow:
                    conn.execute(
                        sa.text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :name AND pid <> pg_backend_pid()"
                        ),
                        {"name": name},
                    )
        finally:
            admin.dispose()

    await asyncio.to_thread(switch, False)
    try:
        yield
    finally:
        await asyncio.to_thread(switch, True)


async def test_database_down_is_503_and_service_recovers(client, db, deployments, database_url):
    es, _ = deployments
    first = es_body("occupant-joined")
    assert (await post_es(client, es.slug, "occupant/joined", first)).status == 200
    during = es_body("occupant-left")
    async with database_outage(client.server.app, database_url):
        resp = await post_es(client, es.slug, "occupant/left", during)
        assert resp.status == 503, await resp.text()
        assert resp.headers["Retry-After"]
        assert (await resp.json())["error"]["code"] == "unavailable"
        # A cold deployment cache needs the database too: also 503, not 500.
        client.server.app[DEPLOYMENTS].forget()
        resp = await post_es(client, es.slug, "occupant/left", during)
        assert resp.status == 503
    # The sender retries once the database is back; the retry is stored.
    resp = await post_es(client, es.slug, "occupant/left", during)
    assert resp.status == 200, await resp.text()
    assert [r.kind for r in rows(db)] == ["occupant_joined", "occupant_left"]


async def test_nothing_acknowledged_is_lost_even_across_an_outage(client, db, deployments, database_url):
    es, jaas = deployments
    bodies: list[tuple[str, bytes]] = []
    for n in range(120):
        if n % 2:
            data = factories.reference_payload("jaas/participant-joined.json")
            data["idempotencyKey"] = f"key-{n}"
            bodies.append((f"jaas:key-{n}", json.dumps(data).encode()))
        else:
            body = es_body("occupant-joined", occupant={"occupant_jid": f"jid-{n}@meet.example.org/x"})
            bodies.append((f"es:jid-{n}@meet.example.org/x", body))

    async def send(key: str, body: bytes) -> tuple[str, int]:
        if key.startswith("jaas:"):
            resp = await post_jaas(client, jaas.slug, body)
        else:
            resp = await post_es(client, es.slug, "occupant/joined", body)
        return key, resp.status

    results = list(await asyncio.gather(*(send(k, b) for k, b in bodies[:40])))
    async with database_outage(client.server.app, database_url):
        results += await asyncio.gather(*(send(k, b) for k, b in bodies[40:80]))
    results += await asyncio.gather(*(send(k, b) for k, b in bodies[80:]))

    statuses = {status for _, status in results}
    assert statuses <= {200, 503}
    assert 503 in statuses
    acknowledged = {key for key, status in results if status == 200}
    stored = set()
    for row in rows(db):
        if row.source == "jaas":
            stored.add(f"jaas:{row.dedupe_key}")
        else:
            stored.add(f"es:{row.connection_id}")
    assert acknowledged <= stored, f"acknowledged but missing: {sorted(acknowledged - stored)}"
    assert len(acknowledged) >= 80
