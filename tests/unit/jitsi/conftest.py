"""Fixtures for the Jitsi library tests: reference payloads and signing keys.

The payloads and the JaaS signature vector live in the shared reference folder beside the
repository (``../shared/reference/payloads``), or under ``$RUCKSACK_SHARED_DIR/reference/payloads``.
A missing folder fails the tests: they exist to check the parsers against those exact bodies.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

_DEFAULT_SHARED = Path(__file__).resolve().parents[3].parent / "shared"
PAYLOADS = Path(os.environ.get("RUCKSACK_SHARED_DIR") or _DEFAULT_SHARED) / "reference" / "payloads"


@pytest.fixture(scope="session")
def payloads_dir() -> Path:
    if not PAYLOADS.is_dir():
        pytest.fail(f"reference payloads not found at {PAYLOADS} (set RUCKSACK_SHARED_DIR)")
    return PAYLOADS


@pytest.fixture(scope="session")
def signature_vector(payloads_dir: Path) -> dict[str, Any]:
    vector: dict[str, Any] = json.loads((payloads_dir / "jaas-signature-vector.json").read_text("utf-8"))
    return vector


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)
