"""Which deployment a webhook URL names, and its webhook secret, cached for a few seconds.

Every webhook request needs the deployment's id, kind and secret before anything else happens.
At thousands of events per second a query per request would cost more than the insert itself, so
lookups are cached per slug for ``ttl`` seconds (unknown slugs too, so junk traffic cannot reach
the database either). A changed or rotated secret takes effect within ``ttl``; nothing else
depends on the cache, so every web process may hold its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestrator.models import JitsiDeployment
from orchestrator.secrets_ref import resolve_secret

__all__ = ["DeploymentDirectory", "HookDeployment"]


@dataclasses.dataclass(frozen=True, slots=True)
class HookDeployment:
    id: int
    slug: str
    kind: str  # self_hosted | jaas
    # The resolved webhook secret; "" when none is configured (webhooks are then refused).
    secret: str = dataclasses.field(repr=False)


class DeploymentDirectory:
    """``await directory.get(slug)``: the deployment or ``None``; database errors propagate.

    ``SecretUnavailable`` propagates too (a reference to an unset variable or unreadable file):
    a configuration problem the sender should retry through, not a reason to refuse the event.
    """

    def __init__(
        self, engine: AsyncEngine, *, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._engine = engine
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, HookDeployment | None]] = {}
        # One query per slug at a time: concurrent requests after an expiry share its answer.
        self._loading: dict[str, asyncio.Future[HookDeployment | None]] = {}

    def forget(self) -> None:
        self._cache.clear()

    def cached(self, slug: str) -> tuple[bool, HookDeployment | None]:
        """``(True, deployment or None)`` when ``slug`` is cached and fresh, else ``(False, None)``.

        The receivers try this first: a plain call, where ``get`` costs a coroutine per request.
        """
        entry = self._cache.get(slug)
        if entry is not None and entry[0] > self._clock():
            return True, entry[1]
        return False, None

    async def get(self, slug: str) -> HookDeployment | None:
        hit, found = self.cached(slug)
        if hit:
            return found
        if (pending := self._loading.get(slug)) is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[HookDeployment | None] = asyncio.get_running_loop().create_future()
        self._loading[slug] = future
        try:
            found = await self._load(slug)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as e:
            future.set_exception(e)
            # Retrieve it so a future nobody else awaited does not log "never retrieved".
            future.exception()
            raise
        else:
            future.set_result(found)
            self._cache[slug] = (self._clock() + self._ttl, found)
            return found
        finally:
            del self._loading[slug]

    async def _load(self, slug: str) -> HookDeployment | None:
        if len(slug) > 64:
            return None
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(JitsiDeployment.id, JitsiDeployment.kind, JitsiDeployment.webhook_secret).where(
                        JitsiDeployment.slug == slug
                    )
                )
            ).first()
        if row is None:
            return None
        return HookDeployment(id=row.id, slug=slug, kind=row.kind, secret=resolve_secret(row.webhook_secret))
