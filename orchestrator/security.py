"""Secrets in links, API tokens, pseudonyms and staff passwords.

Link secrets (personal pages, calendar feeds) and API tokens are 192 random bits, shown once and
stored only as their SHA-256: with that much entropy a fast hash is enough, and it lets a request
be matched with one indexed lookup. Staff passwords are low-entropy and get argon2id, a
memory-hard function (argon2-cffi's defaults follow RFC 9106's second recommendation).
"""

from __future__ import annotations

import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = [
    "hash_password",
    "hash_secret",
    "looks_like_secret",
    "new_csrf_token",
    "new_pseudonym",
    "new_secret",
    "password_needs_rehash",
    "verify_password",
]

_SECRET_BYTES = 24  # 192 bits; base64url gives 32 characters
_SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32}$")
_hasher = PasswordHasher()


def new_secret() -> str:
    return secrets.token_urlsafe(_SECRET_BYTES)


def looks_like_secret(value: str) -> bool:
    return bool(_SECRET_PATTERN.match(value))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def new_pseudonym(prefix: str) -> str:
    """A stable, meaningless id for a person in tokens and webhooks ("p-…" parent, "f-…" staff)."""
    return f"{prefix}-{secrets.token_hex(12)}"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
