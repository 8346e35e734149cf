"""Who may send webhooks: event_sync's static bearer header and JaaS's signed header."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest

from integrations.jitsi import SignatureError, verify_bearer, verify_jaas_signature

SECRET = "whsec_9635df66714a4cf088ee9d0979dd3bf6"
BODY = b'{"eventType":"ROOM_CREATED"}'
T = 1_795_840_072


def sign(body: bytes, t: int | str = T, secret: str = SECRET) -> str:
    return base64.b64encode(
        hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).digest()
    ).decode()


# --- event_sync bearer ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header", ["Bearer s3cret-token", "bearer s3cret-token", "BEARER s3cret-token", "Bearer  s3cret-token "]
)
def test_bearer_accepts_the_secret(header: str) -> None:
    assert verify_bearer(header, "s3cret-token") is True


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "s3cret-token",
        "Basic s3cret-token",
        "Bearer s3cret-toke",
        "Bearer s3cret-token2",
        "Bearer S3CRET-TOKEN",
        "Bearers3cret-token",
        "Bearer s3cret-token extra",
        "Bearer s3cret-tökén",
        "Bearer \udcff",
    ],
)
def test_bearer_refuses_anything_else(header: str | None) -> None:
    assert verify_bearer(header, "s3cret-token") is False


def test_bearer_with_a_non_ascii_secret() -> None:
    assert verify_bearer("Bearer geheim-schlüssel", "geheim-schlüssel") is True


def test_bearer_empty_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        verify_bearer("Bearer ", "")


# --- JaaS signature: the documented test vector ---------------------------------------------------


def test_jaas_documentation_vector_verifies_at_its_own_time(signature_vector: dict[str, Any]) -> None:
    body = signature_vector["raw_body"].encode("utf-8")
    verify_jaas_signature(
        signature_vector["header"], body, signature_vector["secret"], now=signature_vector["t"]
    )
    assert sign(body, signature_vector["t"], signature_vector["secret"]) == signature_vector["expected_v1"]


def test_jaas_vector_uses_the_whole_secret_including_its_prefix(signature_vector: dict[str, Any]) -> None:
    body = signature_vector["raw_body"].encode("utf-8")
    stripped = signature_vector["secret"].removeprefix("whsec_")
    with pytest.raises(SignatureError, match="no v1 signature matches"):
        verify_jaas_signature(signature_vector["header"], body, stripped, now=signature_vector["t"])


def test_jaas_vector_with_a_changed_body_fails(signature_vector: dict[str, Any]) -> None:
    body = signature_vector["raw_body"].replace("Test User", "Test Usr").encode("utf-8")
    with pytest.raises(SignatureError, match="no v1 signature matches"):
        verify_jaas_signature(
            signature_vector["header"], body, signature_vector["secret"], now=signature_vector["t"]
        )


def test_jaas_vector_with_reserialised_json_fails(signature_vector: dict[str, Any]) -> None:
    # The signature covers the raw bytes: parsing and re-encoding the body must not be verified.
    body = signature_vector["raw_body"].replace('":', '": ').encode("utf-8")
    with pytest.raises(SignatureError):
        verify_jaas_signature(
            signature_vector["header"], body, signature_vector["secret"], now=signature_vector["t"]
        )


# --- JaaS signature: timestamps -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "ok"),
    [(T, True), (T + 300, True), (T - 300, True), (T + 301, False), (T - 301, False), (T + 86_400, False)],
)
def test_tolerance_edges(now: int, ok: bool) -> None:
    header = f"t={T},v1={sign(BODY)}"
    if ok:
        verify_jaas_signature(header, BODY, SECRET, now=now)
    else:
        with pytest.raises(SignatureError, match=r"tolerance 300 s"):
            verify_jaas_signature(header, BODY, SECRET, now=now)


def test_custom_tolerance() -> None:
    header = f"t={T},v1={sign(BODY)}"
    verify_jaas_signature(header, BODY, SECRET, now=T + 10, tolerance_seconds=10)
    with pytest.raises(SignatureError, match="11 s old"):
        verify_jaas_signature(header, BODY, SECRET, now=T + 11, tolerance_seconds=10)
    with pytest.raises(SignatureError, match="in the future"):
        verify_jaas_signature(header, BODY, SECRET, now=T - 11, tolerance_seconds=10)


def test_tampered_timestamp_fails_even_when_it_looks_fresh() -> None:
    # A replayer moves t forward to pass the tolerance check; t is signed, so that breaks the MAC.
    header = f"t={T + 3600},v1={sign(BODY)}"
    with pytest.raises(SignatureError, match="no v1 signature matches"):
        verify_jaas_signature(header, BODY, SECRET, now=T + 3600)


def test_timestamp_is_signed_as_sent() -> None:
    # Leading zeros are part of the signed text: re-formatting t would change the message.
    header = f"t=0{T},v1={sign(BODY, f'0{T}')}"
    verify_jaas_signature(header, BODY, SECRET, now=T)


def test_negative_tolerance_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        verify_jaas_signature(f"t={T},v1={sign(BODY)}", BODY, SECRET, now=T, tolerance_seconds=-1)


def test_empty_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        verify_jaas_signature(f"t={T},v1={sign(BODY)}", BODY, "", now=T)


# --- JaaS signature: schemes ----------------------------------------------------------------------


def test_only_a_v2_scheme_is_a_refused_downgrade() -> None:
    with pytest.raises(SignatureError, match="no v1 signature"):
        verify_jaas_signature(f"t={T},v2={sign(BODY)}", BODY, SECRET, now=T)


def test_unknown_schemes_are_ignored_beside_a_valid_v1() -> None:
    verify_jaas_signature(f"t={T},v0=garbage,v1={sign(BODY)},v2=whatever==", BODY, SECRET, now=T)


@pytest.mark.parametrize("order", ["good-first", "good-last", "good-middle"])
def test_any_matching_v1_among_several_is_enough(order: str) -> None:
    bad = [sign(BODY, secret="whsec_rotated-away"), sign(b"other body")]
    good = sign(BODY)
    values = {"good-first": [good, *bad], "good-last": [*bad, good], "good-middle": [bad[0], good, bad[1]]}[
        order
    ]
    header = f"t={T}," + ",".join(f"v1={value}" for value in values)
    verify_jaas_signature(header, BODY, SECRET, now=T)


def test_several_v1_none_matching_fails() -> None:
    header = f"t={T},v1={sign(b'x')},v1={sign(b'y')}"
    with pytest.raises(SignatureError, match="no v1 signature matches"):
        verify_jaas_signature(header, BODY, SECRET, now=T)


def test_spaces_around_elements_are_tolerated() -> None:
    verify_jaas_signature(f" t={T} , v1={sign(BODY)} ", BODY, SECRET, now=T)


def test_base64_must_be_exact() -> None:
    good = sign(BODY)
    for mangled in (good.rstrip("="), good.replace("+", "-").replace("/", "_"), good.lower()):
        if mangled == good:
            continue
        with pytest.raises(SignatureError, match="no v1 signature matches"):
            verify_jaas_signature(f"t={T},v1={mangled}", BODY, SECRET, now=T)


# --- JaaS signature: malformed headers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing X-Jaas-Signature"),
        ("", "missing X-Jaas-Signature"),
        ("   ", "missing X-Jaas-Signature"),
        ("garbage", "malformed signature header element"),
        (f"t={T};v1=abc", "not Unix seconds"),
        (f"t={T},,v1=abc", "malformed signature header element"),
        (f"t={T},=abc", "malformed signature header element"),
        ("v1=abc", "no t"),
        (f"t={T}", "no v1 signature"),
        (f"t={T},v1=", "empty v1"),
        ("t=,v1=abc", "not Unix seconds"),
        ("t=abc,v1=abc", "not Unix seconds"),
        ("t=-5,v1=abc", "not Unix seconds"),
        ("t=1.5,v1=abc", "not Unix seconds"),
        ("t=1e9,v1=abc", "not Unix seconds"),
        ("t=١٢٣,v1=abc", "not Unix seconds"),
        ("t=" + "9" * 40 + ",v1=abc", "not Unix seconds"),
        (f"t={T},t={T},v1=abc", "more than one t"),
        (f"T={T},v1=abc", "no t"),
        (f"t={T},V1=abc", "no v1 signature"),
    ],
)
def test_malformed_headers_are_refused(header: str | None, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason) as raised:
        verify_jaas_signature(header, BODY, SECRET, now=T)
    assert raised.value.reason == str(raised.value)


def test_signature_error_is_not_a_payload_error() -> None:
    # Callers map it to 401/403; catching ValueError for "bad body" must not swallow it.
    assert not issubclass(SignatureError, ValueError)


def test_huge_header_gives_a_short_reason() -> None:
    with pytest.raises(SignatureError) as raised:
        verify_jaas_signature("x" * 100_000, BODY, SECRET, now=T)
    assert len(raised.value.reason) < 120
