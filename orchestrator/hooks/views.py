"""Webhook receivers: prosody ``event_sync`` and JaaS, one URL prefix per deployment.

- ``POST /hooks/jitsi/<deployment-slug>/events/room/created|room/destroyed|occupant/joined|occupant/left``
  (configure event_sync's ``api_prefix`` as ``https://<host>/hooks/jitsi/<slug>`` and its static
  header ``Authorization: Bearer <the deployment's webhook secret>``);
- ``POST /hooks/jaas/<deployment-slug>`` with ``X-Jaas-Signature`` (the JaaS endpoint secret is
  the deployment's webhook secret, ``whsec_…``).

What each answer means to the sender:

======================================  ======  =============================================
request                                 answer  stored
======================================  ======  =============================================
unknown deployment / wrong kind         404     nothing
no credentials                          401     nothing
wrong bearer, bad or stale signature    403     nothing (forged requests never reach storage)
body over ``MAX_BODY_BYTES``            413     nothing
not JSON, or not a known shape          400     raw body, state ``rejected``, with the reason
unknown event type or endpoint          200     the event, state ``ignored``
valid event (or a redelivery of one)    200     the event, state ``pending`` (once per key)
database unavailable                    503     nothing known; the sender retries
======================================  ======  =============================================

A 2xx is sent only after the row is committed (through the batch writer,
``orchestrator.hooks.inbox_writer``). After each committed batch the workers are nudged with one
``rucksack.process_events`` job; sending happens in a background task, off the request path, and
a lost job only delays processing until the sweeper (``rucksack.sweep_inbox``) notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from integrations.jitsi import (
    EVENT_SYNC_ENDPOINTS,
    JAAS_SIGNATURE_HEADER,
    PayloadError,
    SignatureError,
    parse_event_sync,
    parse_jaas,
    verify_bearer,
    verify_jaas_signature,
)
from orchestrator.hooks.deployments import DeploymentDirectory, HookDeployment
from orchestrator.hooks.inbox import InboxRow, StorageLimitError, audit_headers, check_storable, rejected_key
from orchestrator.hooks.inbox_writer import InboxRowRefused, InboxUnavailable, InboxWriter
from orchestrator.jobs import JobQueue
from orchestrator.secrets_ref import SecretUnavailable
from orchestrator.web.keys import ENGINE, JOBS

__all__ = [
    "DEPLOYMENTS",
    "INBOX_OPTIONS",
    "INBOX_WRITER",
    "JAAS_TOLERANCE_SECONDS",
    "MAX_BODY_BYTES",
    "PROCESS_EVENTS_TASK",
    "JobNudger",
    "setup",
]

_LOGGER = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
JAAS_TOLERANCE_SECONDS = 300
PROCESS_EVENTS_TASK = "rucksack.process_events"

INBOX_WRITER = web.AppKey("inbox_writer", InboxWriter)
# Optional keyword arguments for the InboxWriter (writers, max_batch, write_timeout, max_queued),
# set on the app before it starts; benchmarks and tests tune it this way.
INBOX_OPTIONS = web.AppKey("inbox_options", dict[str, Any])
DEPLOYMENTS = web.AppKey("hook_deployments", DeploymentDirectory)


class JobNudger:
    """Sends ``rucksack.process_events`` after commits: one send at a time, at most every
    ``min_interval`` seconds.

    Each committed batch calls ``nudge()``. A batch committed while a send is running (or during
    the pause after it) gets the next send, so every committed event is covered by a job sent
    after its commit. Under load that is one job per ``min_interval`` instead of one per batch:
    each job processes everything pending anyway, and sending is not free (a Celery send costs
    about a millisecond of CPU in this process, which at hundreds of batches per second would
    be a large share of the web process). The pause delays processing by at most that long:
    half a second by default, which nobody waiting for attendance notices (the live view reads
    pending events itself), where ten sends a second were about 1 % of a core under load.
    """

    def __init__(self, jobs: JobQueue, task: str = PROCESS_EVENTS_TASK, *, min_interval: float = 0.5) -> None:
        self._jobs = jobs
        self._task_name = task
        self._min_interval = min_interval
        self._wanted = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self.sent = 0

    def nudge(self) -> None:
        self._wanted.set()

    async def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name="inbox-job-nudger")

    async def stop(self) -> None:
        if self._runner is None:
            return
        self._runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._runner
        self._runner = None
        if self._wanted.is_set():
            # Events committed just before shutdown still get their job.
            self._wanted.clear()
            await self._send()

    async def _run(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            await self._send()
            await asyncio.sleep(self._min_interval)

    async def _send(self) -> None:
        try:
            await self._jobs.send_async(self._task_name)
            self.sent += 1
        except Exception:  # JobQueue implementations log and swallow; belt and braces
            _LOGGER.warning("could not send %s; the sweeper will catch up", self._task_name, exc_info=True)


# --- answers --------------------------------------------------------------------------------------

_STORED = b'{"status":"stored"}'


def _stored() -> web.Response:
    return web.Response(body=_STORED, content_type="application/json")


def _error(status: int, code: str, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def _unavailable(message: str = "the event store is unavailable; retry later") -> web.Response:
    return _error(503, "unavailable", message, **{"Retry-After": "5"})


# --- the steps every receiver takes ---------------------------------------------------------------


def _cached_deployment(request: web.Request, kind: str) -> HookDeployment | None:
    """The deployment, when the cache knows it and it takes webhooks of ``kind``: the usual case,
    answered without a coroutine (thousands of webhooks a second go through here)."""
    hit, found = request.app[DEPLOYMENTS].cached(request.match_info["slug"])
    if hit and found is not None and found.kind == kind and found.secret:
        return found
    return None


async def _deployment(request: web.Request, kind: str) -> HookDeployment | web.Response:
    """The deployment after a lookup, or the answer that explains why there is none."""
    slug = request.match_info["slug"]
    directory = request.app[DEPLOYMENTS]
    try:
        found = await directory.get(slug)
    except SecretUnavailable as e:
        _LOGGER.error("webhook secret of deployment %r cannot be resolved: %s", slug, e)
        return _unavailable("the deployment's webhook secret is not available; retry later")
    except (TimeoutError, OSError, SQLAlchemyError) as e:
        _LOGGER.error("deployment lookup failed: %s", type(e).__name__)
        return _unavailable()
    if found is None or found.kind != kind:
        return _error(404, "not_found", f"no {kind.replace('_', '-')} deployment {slug!r}")
    if not found.secret:
        return _error(
            403, "forbidden", "this deployment accepts no webhooks (no webhook secret is configured)"
        )
    return found


def _too_large() -> web.Response:
    return _error(
        413, "too_large", f"the body exceeds {MAX_BODY_BYTES // 1024} KiB; webhooks are far smaller"
    )


async def _body(request: web.Request) -> bytes | web.Response:
    if request.content_length is not None:
        if request.content_length > MAX_BODY_BYTES:
            return _too_large()
        # The length is declared and small: aiohttp reads exactly that much (the fast path).
        return await request.read()
    # Chunked: read up to the limit and stop there, never buffering an unbounded body.
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(65536):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def _store(request: web.Request, row: InboxRow) -> web.Response:
    try:
        await request.app[INBOX_WRITER].write(row)
    except InboxUnavailable:
        return _unavailable()
    except InboxRowRefused as e:
        return _error(500, "not_stored", f"the event could not be stored ({e}); it was logged")
    return _stored()


async def _reject(request: web.Request, row: InboxRow) -> web.Response:
    """Keeps a body we could not interpret (for diagnosis) and answers 400 with the reason."""
    try:
        await request.app[INBOX_WRITER].write(row)
    except (InboxUnavailable, InboxRowRefused) as e:
        # The sender's request is wrong whatever the database does: still 400, so it stops.
        _LOGGER.warning("a rejected %s body could not be kept for diagnosis: %s", row.source, e)
    return _error(400, "bad_payload", row.error)


# --- receivers ------------------------------------------------------------------------------------


async def event_sync_hook(request: web.Request) -> web.Response:
    deployment = _cached_deployment(request, "self_hosted") or await _deployment(request, "self_hosted")
    if isinstance(deployment, web.Response):
        return deployment
    authorization = request.headers.get("Authorization")
    if not authorization:
        return _error(
            401,
            "unauthenticated",
            "send Authorization: Bearer <webhook secret>",
            **{"WWW-Authenticate": "Bearer"},
        )
    if not verify_bearer(authorization, deployment.secret):
        return _error(403, "forbidden", "the bearer secret is wrong")
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    endpoint = request.match_info["endpoint"]
    headers = audit_headers(request.headers, endpoint=endpoint[:100])
    if endpoint not in EVENT_SYNC_ENDPOINTS:
        # A newer event_sync may post events we do not know: keep them, acknowledge, ignore.
        return await _store(
            request,
            InboxRow(
                deployment_id=deployment.id,
                source="event_sync",
                dedupe_key=rejected_key("event_sync", "other", endpoint.encode() + b"\0" + body),
                state="ignored",
                body=body,
                headers=headers,
                kind="other",
                error=f"unknown event_sync endpoint {endpoint[:100]!r}",
            ),
        )
    try:
        event = parse_event_sync(endpoint, body)
        check_storable(event)
    except (PayloadError, StorageLimitError) as e:
        return await _reject(
            request,
            InboxRow(
                deployment_id=deployment.id,
                source="event_sync",
                dedupe_key=rejected_key("event_sync", "rejected", endpoint.encode() + b"\0" + body),
                state="rejected",
                body=body,
                headers=headers,
                error=_reason(e),
            ),
        )
    return await _store(
        request, InboxRow.for_event(event, deployment_id=deployment.id, body=body, headers=headers)
    )


async def jaas_hook(request: web.Request) -> web.Response:
    deployment = _cached_deployment(request, "jaas") or await _deployment(request, "jaas")
    if isinstance(deployment, web.Response):
        return deployment
    signature = request.headers.get(JAAS_SIGNATURE_HEADER)
    if not signature:
        return _error(401, "unauthenticated", f"send the {JAAS_SIGNATURE_HEADER} header")
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    try:
        verify_jaas_signature(
            signature, body, deployment.secret, now=int(time.time()), tolerance_seconds=JAAS_TOLERANCE_SECONDS
        )
    except SignatureError as e:
        return _error(403, "forbidden", f"signature refused: {e.reason}")
    headers = audit_headers(request.headers)
    try:
        event = parse_jaas(body)
        check_storable(event)
    except (PayloadError, StorageLimitError) as e:
        return await _reject(
            request,
            InboxRow(
                deployment_id=deployment.id,
                source="jaas",
                dedupe_key=rejected_key("jaas", "rejected", body),
                state="rejected",
                body=body,
                headers=headers,
                error=_reason(e),
            ),
        )
    return await _store(
        request, InboxRow.for_event(event, deployment_id=deployment.id, body=body, headers=headers)
    )


def _reason(error: PayloadError | StorageLimitError) -> str:
    return error.reason.replace("\x00", "\\x00")[:1000]


# --- wiring ---------------------------------------------------------------------------------------


async def _inbox(app: web.Application) -> AsyncIterator[None]:
    """Starts the writer and the job nudger after the engine exists; drains them at shutdown."""
    nudger = JobNudger(app[JOBS])
    writer = InboxWriter(app[ENGINE], on_commit=nudger.nudge, **app.get(INBOX_OPTIONS, {}))
    app[DEPLOYMENTS] = DeploymentDirectory(app[ENGINE])
    app[INBOX_WRITER] = writer
    await nudger.start()
    await writer.start()
    yield
    await writer.stop()
    await nudger.stop()


def setup(app: web.Application) -> None:
    # Registered after the app's database context (create_app appends that first), so the engine
    # exists when the writer starts and is disposed only after the writer has drained.
    app.cleanup_ctx.append(_inbox)
    app.router.add_post("/hooks/jitsi/{slug}/events/{endpoint:.+}", event_sync_hook)
    app.router.add_post("/hooks/jaas/{slug}", jaas_hook)
