"""Secrets stored as references: ``env:NAME``, ``file:/path``, or the secret itself.

Deployment secrets (``JitsiDeployment.signing_secret``, ``webhook_secret``) may hold a reference
so that production secrets never sit in the database: ``env:JITSI_HOOK_SECRET`` reads an
environment variable of the running process, ``file:/run/secrets/jitsi-hook`` reads a file (a
container secret, say; a trailing newline is dropped, as ``orchestrator.conference.deployments``
does for signing secrets). Anything else is the secret itself, so a test or demo installation can
store it directly. The file is read on every resolution, so a rotated secret takes effect without
a restart (callers cache the result for a few seconds at most).

A reference that cannot be resolved raises ``SecretUnavailable`` naming the reference, never the
secret: the caller decides whether that is a configuration error to report (CLI) or a temporary
failure to retry (webhooks answer 503, so the sender delivers again once it is fixed).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SecretUnavailable", "is_reference", "resolve_secret"]

_ENV = "env:"
_FILE = "file:"


class SecretUnavailable(Exception):
    """A secret reference names an unset variable or an unreadable file."""


def is_reference(value: str) -> bool:
    return value.startswith((_ENV, _FILE))


def resolve_secret(value: str) -> str:
    """The secret ``value`` stands for (see the module docstring); may be ``""`` if none is set."""
    if value.startswith(_ENV):
        name = value[len(_ENV) :]
        if not name:
            raise SecretUnavailable("secret reference 'env:' names no variable")
        try:
            return os.environ[name]
        except KeyError:
            raise SecretUnavailable(f"secret reference env:{name}: the variable is not set") from None
    if value.startswith(_FILE):
        path = value[len(_FILE) :]
        if not path:
            raise SecretUnavailable("secret reference 'file:' names no file")
        try:
            return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else e.__class__.__name__
            raise SecretUnavailable(f"secret reference file:{path}: cannot read it ({reason})") from None
    return value
