"""From a stored ``JitsiDeployment`` row to the token library's ``Deployment``.

A deployment's signing secret (HS256 app secret or RS256 private key in PEM) may be stored in the
row itself or as a reference resolved each time it is used (``env:NAME`` or ``file:/path``, see
``orchestrator.secrets_ref``), so that production secrets need not sit in the database and a
rotated key takes effect at once.

Building a ``Deployment`` validates the configuration and parses an RSA key (milliseconds), so
built deployments are cached by their complete configuration, resolved secret included: a changed
row or a rotated secret simply misses the cache.
"""

from __future__ import annotations

import functools

from integrations.jitsi.tokens import Deployment
from orchestrator import secrets_ref
from orchestrator.errors import Conflict
from orchestrator.i18n import gettext
from orchestrator.models import JitsiDeployment

__all__ = ["DeploymentUnusable", "resolve_secret", "to_deployment"]


class DeploymentUnusable(Conflict):
    """The group's Jitsi deployment is missing or misconfigured; nobody can enter the room.

    The message names the problem but never the secret.
    """


def resolve_secret(value: str) -> str:
    """The secret a stored value stands for; ``DeploymentUnusable`` when the reference is broken."""
    try:
        return secrets_ref.resolve_secret(value)
    except secrets_ref.SecretUnavailable as e:
        raise DeploymentUnusable(
            gettext("the signing secret cannot be read: %(reason)s") % {"reason": e}
        ) from None


def to_deployment(row: JitsiDeployment) -> Deployment:
    """The validated ``Deployment`` for ``row``; ``DeploymentUnusable`` when it cannot sign tokens."""
    secret = resolve_secret(row.signing_secret)
    try:
        return _build(
            row.kind,
            row.domain,
            row.base_url,
            row.tenant or None,
            row.app_id,
            row.algorithm,
            row.key_id or None,
            secret,
            bool(row.token_in_query),
        )
    except ValueError as e:
        # The library's messages name settings and sizes, never the secret's value.
        raise DeploymentUnusable(
            gettext("the Jitsi deployment %(slug)s is misconfigured: %(reason)s")
            % {"slug": repr(row.slug), "reason": e}
        ) from None


@functools.lru_cache(maxsize=64)
def _build(
    kind: str,
    domain: str,
    base_url: str,
    tenant: str | None,
    app_id: str,
    algorithm: str,
    key_id: str | None,
    secret: str,
    token_in_query: bool,
) -> Deployment:
    return Deployment(
        kind=kind,  # type: ignore[arg-type]  # validated by Deployment itself
        domain=domain,
        base_url=base_url,
        tenant=tenant,
        app_id=app_id,
        algorithm=algorithm,  # type: ignore[arg-type]
        key_id=key_id,
        signing_secret=secret,
        token_in_query=token_in_query,
    )
