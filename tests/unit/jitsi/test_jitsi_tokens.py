"""Room tokens, checked the way prosody (and JaaS) check them, and the join URLs that carry them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.exceptions import ExpiredSignatureError, ImmatureSignatureError, InvalidSignatureError

from integrations.jitsi import (
    MAX_TOKEN_LIFETIME,
    Deployment,
    Participant,
    asap_key_filename,
    join_url,
    mint_token,
    public_key_pem,
)

ROOM = "rs-7k2p9xq4m1c8d3f6-0001"
NOT_BEFORE = dt.datetime(2026, 12, 1, 14, 30, tzinfo=dt.UTC)
EXPIRES = dt.datetime(2026, 12, 1, 17, 30, tzinfo=dt.UTC)
INSIDE = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)
PARENT = Participant(user_id="p-3f9c2a61d0b84e57", name="Ayşe", moderator=False)
FACILITATOR = Participant(user_id="s-91c0e7d2a4b6f853", name="Frau Demir", moderator=True)
FEATURES = ("recording", "livestreaming", "transcription", "outbound-call", "sip-outbound-call")
HS256_SECRET = "hs256-test-secret-0123456789abcdefghijklmnop"
JAAS_APP_ID = "vpaas-magic-cookie-0123456789abcdef0123456789abcdef"


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


@pytest.fixture
def hs256_deployment() -> Deployment:
    return Deployment(
        kind="self_hosted",
        domain="meet.example.org",
        base_url="https://meet.example.org",
        tenant=None,
        app_id="rucksack",
        algorithm="HS256",
        key_id=None,
        signing_secret=HS256_SECRET,
    )


@pytest.fixture
def rs256_deployment(rsa_key: rsa.RSAPrivateKey) -> Deployment:
    # A trailing slash on base_url and a mixed-case tenant, as an operator might type them.
    return Deployment(
        kind="self_hosted",
        domain="meet.example.org",
        base_url="https://meet.example.org/",
        tenant="KI-Duisburg",
        app_id="rucksack",
        algorithm="RS256",
        key_id="rucksack-2026-01",
        signing_secret=pem(rsa_key),
    )


@pytest.fixture
def jaas_deployment(rsa_key: rsa.RSAPrivateKey) -> Deployment:
    return Deployment(
        kind="jaas",
        domain="8x8.vc",
        base_url="https://8x8.vc",
        tenant=None,
        app_id=JAAS_APP_ID,
        algorithm="RS256",
        key_id="4f4910",
        signing_secret=pem(rsa_key),
    )


def mint(deployment: Deployment, participant: Participant = PARENT, room: str = ROOM) -> str:
    return mint_token(deployment, room, participant, not_before=NOT_BEFORE, expires=EXPIRES)


def prosody_check(
    token: str,
    key: Any,
    *,
    algorithm: str,
    issuer: str,
    subject: str,
    room: str = ROOM,
    kid: str | None = None,
) -> dict[str, Any]:
    """What prosody's token auth and room check accept, expressed with PyJWT.

    Only the configured algorithm, ``typ`` exactly ``JWT``, the issuer, ``aud`` a string, ``exp``
    and ``nbf`` with no leeway, then ``room`` (exact, lowercase) and ``sub`` at the room join.
    """
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "JWT"
    assert header["alg"] == algorithm
    assert header.get("kid") == kid
    claims = jwt.decode(
        token,
        key,
        algorithms=[algorithm],
        audience="jitsi",
        issuer=issuer,
        subject=subject,
        leeway=0,
        options={"require": ["iss", "aud", "sub", "room", "nbf", "exp"], "strict_aud": True},
    )
    assert isinstance(claims["aud"], str)
    assert claims["room"] == room
    assert claims["room"] == claims["room"].lower()
    assert isinstance(claims["nbf"], int)
    assert isinstance(claims["exp"], int)
    return claims


def assert_privacy_and_features(claims: dict[str, Any], *, true_value: object, false_value: object) -> None:
    user = claims["context"]["user"]
    assert "email" not in user
    assert "avatar" not in user
    features = claims["context"]["features"]
    assert set(features) == set(FEATURES)
    # The client enables a feature when String(value) === "true": every one must be off.
    assert all(value == false_value for value in features.values())
    assert str(true_value).lower() == "true"


# --- self-hosted HS256 ----------------------------------------------------------------------------


@time_machine.travel(INSIDE, tick=False)
def test_hs256_parent_token_passes_prosodys_checks(hs256_deployment: Deployment) -> None:
    claims = prosody_check(
        mint(hs256_deployment), HS256_SECRET, algorithm="HS256", issuer="rucksack", subject="meet.example.org"
    )
    assert claims == {
        "iss": "rucksack",
        "aud": "jitsi",
        "sub": "meet.example.org",
        "room": ROOM,
        "nbf": int(NOT_BEFORE.timestamp()),
        "exp": int(EXPIRES.timestamp()),
        "context": {
            "user": {"id": "p-3f9c2a61d0b84e57", "name": "Ayşe", "moderator": False},
            "features": dict.fromkeys(FEATURES, False),
        },
    }
    assert_privacy_and_features(claims, true_value=True, false_value=False)


@time_machine.travel(INSIDE, tick=False)
def test_hs256_facilitator_is_owner_and_bypasses_the_lobby(hs256_deployment: Deployment) -> None:
    claims = prosody_check(
        mint(hs256_deployment, FACILITATOR),
        HS256_SECRET,
        algorithm="HS256",
        issuer="rucksack",
        subject="meet.example.org",
    )
    assert claims["context"]["user"] == {
        "id": "s-91c0e7d2a4b6f853",
        "name": "Frau Demir",
        "moderator": True,
        "affiliation": "owner",
        "lobby_bypass": True,
    }
    assert_privacy_and_features(claims, true_value=True, false_value=False)


def test_parent_token_grants_nothing_a_moderator_gets(hs256_deployment: Deployment) -> None:
    user = jwt.decode(mint(hs256_deployment), options={"verify_signature": False})["context"]["user"]
    # token_affiliation grants owner for moderator true/"true" or an owner-like affiliation.
    assert user["moderator"] is False
    assert "affiliation" not in user
    assert "lobby_bypass" not in user


@time_machine.travel(INSIDE, tick=False)
def test_hs256_token_fails_with_the_wrong_secret(hs256_deployment: Deployment) -> None:
    with pytest.raises(InvalidSignatureError):
        prosody_check(
            mint(hs256_deployment),
            "another-secret-of-sufficient-length-0123456789",
            algorithm="HS256",
            issuer="rucksack",
            subject="meet.example.org",
        )


@pytest.mark.parametrize(
    ("now", "error"),
    [
        (NOT_BEFORE - dt.timedelta(seconds=1), ImmatureSignatureError),
        (NOT_BEFORE, None),
        (EXPIRES - dt.timedelta(seconds=1), None),
        (EXPIRES, ExpiredSignatureError),
    ],
    ids=["before-nbf", "at-nbf", "last-second", "at-exp"],
)
def test_validity_window_has_no_leeway(
    hs256_deployment: Deployment, now: dt.datetime, error: type[Exception] | None
) -> None:
    token = mint(hs256_deployment)
    with time_machine.travel(now, tick=False):
        if error is None:
            prosody_check(
                token, HS256_SECRET, algorithm="HS256", issuer="rucksack", subject="meet.example.org"
            )
        else:
            with pytest.raises(error):
                prosody_check(
                    token, HS256_SECRET, algorithm="HS256", issuer="rucksack", subject="meet.example.org"
                )


def test_fractional_seconds_round_down_into_the_window(hs256_deployment: Deployment) -> None:
    token = mint_token(
        hs256_deployment,
        ROOM,
        PARENT,
        not_before=NOT_BEFORE + dt.timedelta(microseconds=999_999),
        expires=EXPIRES + dt.timedelta(microseconds=999_999),
    )
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["nbf"] == int(NOT_BEFORE.timestamp())
    assert claims["exp"] == int(EXPIRES.timestamp())


def test_window_in_another_time_zone_is_the_same_instant(hs256_deployment: Deployment) -> None:
    berlin = dt.timezone(dt.timedelta(hours=1))
    token = mint_token(
        hs256_deployment,
        ROOM,
        PARENT,
        not_before=NOT_BEFORE.astimezone(berlin),
        expires=EXPIRES.astimezone(berlin),
    )
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["nbf"], claims["exp"]) == (int(NOT_BEFORE.timestamp()), int(EXPIRES.timestamp()))


# --- self-hosted RS256 ----------------------------------------------------------------------------


@time_machine.travel(INSIDE, tick=False)
def test_rs256_token_carries_kid_and_the_lowercase_tenant_as_sub(
    rs256_deployment: Deployment, rsa_key: rsa.RSAPrivateKey
) -> None:
    claims = prosody_check(
        mint(rs256_deployment, FACILITATOR),
        rsa_key.public_key(),
        algorithm="RS256",
        issuer="rucksack",
        subject="ki-duisburg",
        kid="rucksack-2026-01",
    )
    assert claims["context"]["user"]["moderator"] is True
    assert claims["context"]["user"]["affiliation"] == "owner"
    assert_privacy_and_features(claims, true_value=True, false_value=False)


@time_machine.travel(INSIDE, tick=False)
def test_rs256_token_fails_with_another_key_or_as_hs256(
    rs256_deployment: Deployment, other_rsa_key: rsa.RSAPrivateKey, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = mint(rs256_deployment)
    with pytest.raises(InvalidSignatureError):
        jwt.decode(token, other_rsa_key.public_key(), algorithms=["RS256"], audience="jitsi")
    # A verifier configured for HS256 must not accept it either (algorithm confusion).
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(token, HS256_SECRET, algorithms=["HS256"], audience="jitsi")
    assert jwt.decode(token, rsa_key.public_key(), algorithms=["RS256"], audience="jitsi")["room"] == ROOM


@time_machine.travel(INSIDE, tick=False)
def test_public_key_pem_verifies_the_deployments_tokens(rs256_deployment: Deployment) -> None:
    public = public_key_pem(rs256_deployment)
    assert public.startswith("-----BEGIN PUBLIC KEY-----")
    assert jwt.decode(mint(rs256_deployment), public, algorithms=["RS256"], audience="jitsi")["room"] == ROOM


def test_public_key_pem_needs_rs256(hs256_deployment: Deployment) -> None:
    with pytest.raises(ValueError, match="RS256"):
        public_key_pem(hs256_deployment)


def test_asap_key_filename_is_the_sha256_of_the_kid() -> None:
    # prosody requests <asap_key_server>/<hex(sha256(kid))>.pem
    assert asap_key_filename("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.pem"


# --- JaaS -----------------------------------------------------------------------------------------


@time_machine.travel(INSIDE, tick=False)
def test_jaas_token_has_jaas_claims_and_string_flags(
    jaas_deployment: Deployment, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = mint(jaas_deployment)
    claims = prosody_check(
        token,
        rsa_key.public_key(),
        algorithm="RS256",
        issuer="chat",
        subject=JAAS_APP_ID,
        kid=f"{JAAS_APP_ID}/4f4910",
    )
    # jitsi-meet's JaaS check: the kid's part before "/" must equal sub.
    kid = jwt.get_unverified_header(token)["kid"]
    assert kid[: kid.index("/")] == claims["sub"]
    assert claims["room"] == ROOM  # without the AppID prefix
    assert claims["context"]["user"] == {"id": "p-3f9c2a61d0b84e57", "name": "Ayşe", "moderator": "false"}
    assert_privacy_and_features(claims, true_value="true", false_value="false")


@time_machine.travel(INSIDE, tick=False)
def test_jaas_facilitator_token(jaas_deployment: Deployment, rsa_key: rsa.RSAPrivateKey) -> None:
    claims = prosody_check(
        mint(jaas_deployment, FACILITATOR),
        rsa_key.public_key(),
        algorithm="RS256",
        issuer="chat",
        subject=JAAS_APP_ID,
        kid=f"{JAAS_APP_ID}/4f4910",
    )
    assert claims["context"]["user"] == {
        "id": "s-91c0e7d2a4b6f853",
        "name": "Frau Demir",
        "moderator": "true",
        "lobby_bypass": True,
    }


@time_machine.travel(INSIDE, tick=False)
def test_jaas_token_fails_with_another_key(
    jaas_deployment: Deployment, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(InvalidSignatureError):
        jwt.decode(mint(jaas_deployment), other_rsa_key.public_key(), algorithms=["RS256"], audience="jitsi")


# --- refused inputs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "room",
    ["*", "", "RS-ABC", "rs_abc", "rs abc", "rs/abc", "räume", "a" * 101, "rs-abc\n"],
)
def test_token_is_bound_to_exactly_one_valid_room(hs256_deployment: Deployment, room: str) -> None:
    with pytest.raises(ValueError, match="room"):
        mint(hs256_deployment, room=room)


@pytest.mark.parametrize(
    ("not_before", "expires", "message"),
    [
        (EXPIRES, NOT_BEFORE, "must be after"),
        (NOT_BEFORE, NOT_BEFORE, "must be after"),
        (NOT_BEFORE, NOT_BEFORE + dt.timedelta(milliseconds=500), "must be after"),
        (NOT_BEFORE, NOT_BEFORE + MAX_TOKEN_LIFETIME + dt.timedelta(seconds=1), "at most"),
        (NOT_BEFORE.replace(tzinfo=None), EXPIRES, "not_before must be timezone-aware"),
        (NOT_BEFORE, EXPIRES.replace(tzinfo=None), "expires must be timezone-aware"),
    ],
)
def test_validity_window_is_checked(
    hs256_deployment: Deployment, not_before: dt.datetime, expires: dt.datetime, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        mint_token(hs256_deployment, ROOM, PARENT, not_before=not_before, expires=expires)


def test_longest_allowed_window_is_accepted(hs256_deployment: Deployment) -> None:
    mint_token(hs256_deployment, ROOM, PARENT, not_before=NOT_BEFORE, expires=NOT_BEFORE + MAX_TOKEN_LIFETIME)


@pytest.mark.parametrize(
    ("participant", "message"),
    [
        (Participant(user_id="", name="Ayşe", moderator=False), "user_id"),
        (Participant(user_id=" p-1", name="Ayşe", moderator=False), "user_id"),
        (Participant(user_id="p-1", name="  ", moderator=False), "name"),
    ],
)
def test_participant_is_checked(hs256_deployment: Deployment, participant: Participant, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mint(hs256_deployment, participant)


def _deployment(**changes: Any) -> Deployment:
    fields: dict[str, Any] = {
        "kind": "self_hosted",
        "domain": "meet.example.org",
        "base_url": "https://meet.example.org",
        "tenant": None,
        "app_id": "rucksack",
        "algorithm": "HS256",
        "key_id": None,
        "signing_secret": HS256_SECRET,
    }
    fields.update(changes)
    return Deployment(**fields)


def test_deployment_repr_hides_the_secret(rsa_key: rsa.RSAPrivateKey) -> None:
    assert HS256_SECRET not in repr(_deployment())
    rs256 = _deployment(algorithm="RS256", key_id="k1", signing_secret=pem(rsa_key))
    assert "PRIVATE KEY" not in repr(rs256)
    assert "RSAPrivateKey" not in repr(rs256)


def test_deployment_is_comparable_and_immutable(rsa_key: rsa.RSAPrivateKey) -> None:
    secret = pem(rsa_key)
    one = _deployment(algorithm="RS256", key_id="k1", signing_secret=secret)
    assert one == _deployment(algorithm="RS256", key_id="k1", signing_secret=secret)
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.app_id = "other"  # type: ignore[misc]


def test_deployment_key_checks(rsa_key: rsa.RSAPrivateKey) -> None:
    weak_rsa = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 -- must be refused
    ec_key = ec.generate_private_key(ec.SECP256R1())
    cases: list[tuple[dict[str, Any], str]] = [
        ({"signing_secret": ""}, "must not be empty"),
        ({"signing_secret": "short"}, "at least 32 bytes"),
        ({"algorithm": "RS256", "key_id": "k1", "signing_secret": "not a pem"}, "not an unencrypted PEM"),
        ({"algorithm": "RS256", "key_id": "k1", "signing_secret": pem(ec_key)}, "RSA private key"),
        ({"algorithm": "RS256", "key_id": "k1", "signing_secret": pem(weak_rsa)}, "1024 bits"),
        ({"algorithm": "RS256", "key_id": None, "signing_secret": pem(rsa_key)}, "key_id"),
        ({"algorithm": "ES256"}, "algorithm"),
        ({"kind": "cloud"}, "kind"),
    ]
    for changes, message in cases:
        with pytest.raises(ValueError, match=message):
            _deployment(**changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"base_url": "http://meet.example.org"}, "https"),
        ({"base_url": "meet.example.org"}, "https"),
        ({"base_url": "https://meet.example.org/?x=1"}, "query"),
        ({"domain": "Meet.Example.org"}, "domain"),
        ({"domain": "https://meet.example.org"}, "domain"),
        ({"domain": "meet.example.org\n"}, "domain"),
        ({"tenant": "ki-duisburg\n"}, "tenant"),
        ({"tenant": "ki duisburg"}, "tenant"),
        ({"tenant": "ki/duisburg"}, "tenant"),
        ({"app_id": ""}, "app_id"),
        ({"key_id": "k 1"}, "key_id"),
        ({"key_id": "k1\n"}, "key_id"),
    ],
)
def test_deployment_field_checks(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _deployment(**changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"algorithm": "HS256", "key_id": None}, "RS256"),
        ({"app_id": "rucksack"}, "vpaas-magic-cookie-"),
        ({"tenant": "ki-duisburg"}, "tenant"),
        ({"key_id": None}, "key_id"),
    ],
)
def test_jaas_deployment_checks(rsa_key: rsa.RSAPrivateKey, changes: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {
        "kind": "jaas",
        "domain": "8x8.vc",
        "base_url": "https://8x8.vc",
        "tenant": None,
        "app_id": JAAS_APP_ID,
        "algorithm": "RS256",
        "key_id": "4f4910",
        "signing_secret": pem(rsa_key),
    }
    fields.update(changes)
    if fields["algorithm"] == "HS256":
        fields["signing_secret"] = HS256_SECRET
    with pytest.raises(ValueError, match=message):
        Deployment(**fields)


# --- join URLs ------------------------------------------------------------------------------------


def client_reads_jwt(url: str) -> str | None:
    """jitsi-meet's parseJWTFromURLParams: the hash first (each value URI-decoded, then
    JSON-parsed; values that are not JSON are dropped), else the query value verbatim."""
    parts = urlsplit(url)
    for param in parts.fragment.split("&"):
        key, _, value = param.partition("=")
        if key == "jwt":
            try:
                parsed = json.loads(unquote(value))
            except ValueError:
                continue
            if isinstance(parsed, str):
                return parsed
    for param in parts.query.split("&"):
        key, _, value = param.partition("=")
        if key == "jwt":
            return value
    return None


def hash_config(url: str) -> dict[str, Any]:
    fragment = urlsplit(url).fragment
    params = dict(param.partition("=")[::2] for param in fragment.split("&"))
    return {key: json.loads(unquote(value)) for key, value in params.items() if key.startswith("config.")}


def test_join_url_self_hosted_puts_the_quoted_token_in_the_hash(hs256_deployment: Deployment) -> None:
    token = mint(hs256_deployment)
    url = join_url(hs256_deployment, ROOM, token)
    assert url == f"https://meet.example.org/{ROOM}#jwt=%22{token}%22&config.deeplinking.disabled=true"
    assert client_reads_jwt(url) == token
    assert hash_config(url) == {"config.deeplinking.disabled": True}
    assert token not in urlsplit(url).path + urlsplit(url).query  # never sent to a server


def test_a_bare_token_in_the_hash_would_not_be_read() -> None:
    # Why we quote: the client JSON-parses hash values and drops what does not parse.
    assert client_reads_jwt("https://meet.example.org/room#jwt=aaa.bbb.ccc") is None


def test_join_url_with_tenant(rs256_deployment: Deployment) -> None:
    token = mint(rs256_deployment)
    url = join_url(rs256_deployment, ROOM, token)
    assert (
        url
        == f"https://meet.example.org/ki-duisburg/{ROOM}#jwt=%22{token}%22&config.deeplinking.disabled=true"
    )
    assert client_reads_jwt(url) == token


def test_join_url_jaas(jaas_deployment: Deployment) -> None:
    token = mint(jaas_deployment)
    url = join_url(jaas_deployment, ROOM, token)
    assert url == f"https://8x8.vc/{JAAS_APP_ID}/{ROOM}#jwt=%22{token}%22&config.deeplinking.disabled=true"
    assert client_reads_jwt(url) == token


@pytest.mark.parametrize("tenant", [None, "ki-duisburg"])
def test_join_url_query_fallback(hs256_deployment: Deployment, tenant: str | None) -> None:
    deployment = dataclasses.replace(hs256_deployment, tenant=tenant, token_in_query=True)
    token = mint(deployment)
    url = join_url(deployment, ROOM, token)
    prefix = f"https://meet.example.org/{tenant}/" if tenant else "https://meet.example.org/"
    assert url == f"{prefix}{ROOM}?jwt={token}#config.deeplinking.disabled=true"
    assert client_reads_jwt(url) == token
    assert hash_config(url) == {"config.deeplinking.disabled": True}


def test_join_url_query_fallback_jaas(jaas_deployment: Deployment) -> None:
    deployment = dataclasses.replace(jaas_deployment, token_in_query=True)
    token = mint(deployment)
    assert join_url(deployment, ROOM, token) == (
        f"https://8x8.vc/{JAAS_APP_ID}/{ROOM}?jwt={token}#config.deeplinking.disabled=true"
    )


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b", "a.b.c.d", "a.b.c#x", "a.b.c&config.x=1", 'a."b".c', "a.b.c\n"]
)
def test_join_url_refuses_what_is_not_a_compact_jwt(hs256_deployment: Deployment, token: str) -> None:
    with pytest.raises(ValueError, match="compact JWT"):
        join_url(hs256_deployment, ROOM, token)


@pytest.mark.parametrize("room", ["*", "Rs-Abc", "../admin", ""])
def test_join_url_refuses_invalid_rooms(hs256_deployment: Deployment, room: str) -> None:
    with pytest.raises(ValueError, match="room"):
        join_url(hs256_deployment, room, "aaa.bbb.ccc")
