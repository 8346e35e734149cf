"""Fixtures for the Jitsi library tests: reference payloads and signing keys.

The payloads and the JaaS signature vector are kept in ``tests/data/reference-payloads`` (a copy
of the project's verified reference bodies, as the real senders produce them). A missing folder
fails the tests: they exist to check the parsers against those exact bodies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

PAYLOADS = Path(__file__).resolve().parents[2] / "data" / "reference-payloads"


@pytest.fixture(scope="session")
def payloads_dir() -> Path:
    if not PAYLOADS.is_dir():
        pytest.fail(f"reference payloads not found at {PAYLOADS} (restore tests/data/reference-payloads)")
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
