"""Room tokens: the JWT that admits one person to one Jitsi room, and the link that carries it.

Jitsi admits a user who presents a JWT signed for the room. Prosody's ``token`` authentication
checks the signature (``alg`` must be the configured one, ``typ`` exactly ``"JWT"``), ``iss``,
``aud`` (a string), ``nbf``/``exp`` without clock-skew leeway, and on joining the room ``room``
(lowercase, ``*`` would admit any room) and ``sub`` (the deployment's domain or tenant). JaaS (8x8)
checks the same shape with its own fixed values: RS256, ``kid`` = ``<AppID>/<keyId>``,
``iss`` = ``"chat"``, ``sub`` = the AppID, moderator flags as strings.

We mint one token per person per session at the moment they join, bound to exactly one room,
carrying only our pseudonymous user id and display name (no e-mail, no avatar) and with every
recording/streaming/transcription/dial-out feature switched off.

Join URLs carry the token in the URL *fragment* (``#jwt="<token>"``): browsers never send the
fragment to a server, so the token stays out of web server and proxy logs. jitsi-meet's web client
reads hash parameters through ``parseURLParams``, which URI-decodes each value and then parses it as
JSON (invalid JSON is dropped), so the token must be a JSON string, i.e. quoted; we percent-encode
the quotes (``%22``) because a raw ``"`` is not allowed in a URI. Old deployments (and old mobile
apps) read the token only from the query string (``?jwt=<token>``, taken verbatim, not JSON); set
``Deployment.token_in_query`` for those, accepting that the token then reaches the Jitsi web
server's access log. Either way ``config.deeplinking.disabled=true`` keeps mobile browsers in the
web client instead of detouring through an app-store page, which parents on phones would not get
past.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
import re
from typing import Any, Literal
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from integrations.jitsi.rooms import is_valid_room_name

__all__ = [
    "JAAS_APP_ID_PREFIX",
    "MAX_TOKEN_LIFETIME",
    "MIN_HS256_SECRET_BYTES",
    "MIN_RSA_KEY_BITS",
    "Deployment",
    "DeploymentKind",
    "Participant",
    "SigningAlgorithm",
    "asap_key_filename",
    "join_url",
    "mint_token",
    "public_key_pem",
]

DeploymentKind = Literal["self_hosted", "jaas"]
SigningAlgorithm = Literal["HS256", "RS256"]

# JaaS AppIDs look like "vpaas-magic-cookie-<32 hex>"; jitsi-meet's client applies the JaaS token
# checks exactly when `sub` starts with this prefix.
JAAS_APP_ID_PREFIX = "vpaas-magic-cookie-"
# RFC 7518 §3.2: an HMAC key shorter than the hash output weakens HS256 (PyJWT warns about it).
MIN_HS256_SECRET_BYTES = 32
MIN_RSA_KEY_BITS = 2048
# prosody logs the full JWT when a room join is refused, and a token is re-used on every reconnect
# until it expires: tokens cover one session (join window + session + grace), never days.
MAX_TOKEN_LIFETIME = dt.timedelta(hours=24)

_KINDS = ("self_hosted", "jaas")
_ALGORITHMS = ("HS256", "RS256")
# All patterns are used with fullmatch (a "$" anchor would also accept a trailing newline).
# Tenants become part of the URL path and, lowercased, the `sub` claim that prosody compares with
# the "[tenant]room@conference.<domain>" address.
_TENANT = re.compile(r"[a-z0-9][a-z0-9_-]*")
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(\.{_LABEL})*")
_KEY_ID = re.compile(r"[A-Za-z0-9._:-]+")
_COMPACT_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# Every feature prosody and the client know how to gate that could record, publish or phone out.
# If `context.features` were absent the client would treat all features as enabled.
_DISABLED_FEATURES = ("recording", "livestreaming", "transcription", "outbound-call", "sip-outbound-call")
# token_affiliation grants owner for this affiliation; we also send `moderator`, which it accepts.
_MODERATOR_AFFILIATION = "owner"


@dataclasses.dataclass(frozen=True)
class Deployment:
    """One Jitsi installation we mint tokens for.

    ``signing_secret`` is the HS256 shared secret (prosody's ``app_secret``) or, for RS256, the
    PEM text of our RSA private key. It is kept out of ``repr`` so that a logged deployment never
    leaks it. Construction validates everything and parses the RSA key once, so a misconfigured
    deployment fails when settings are loaded, not when a parent taps a link.
    """

    kind: DeploymentKind
    domain: str  # "meet.example.org"; JaaS: "8x8.vc"
    base_url: str  # "https://meet.example.org"; JaaS: "https://8x8.vc"
    tenant: str | None
    app_id: str  # self-hosted: prosody's app_id (our `iss`); JaaS: the AppID (vpaas-magic-cookie-…)
    algorithm: SigningAlgorithm
    key_id: str | None  # RS256: the key id; JaaS: the keyId part only, "<AppID>/" is added for us
    signing_secret: str = dataclasses.field(repr=False)
    token_in_query: bool = False
    _private_key: RSAPrivateKey | None = dataclasses.field(
        init=False, repr=False, compare=False, hash=False, default=None
    )

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"deployment kind must be one of {_KINDS}, not {self.kind!r}")
        if self.algorithm not in _ALGORITHMS:
            raise ValueError(f"algorithm must be one of {_ALGORITHMS}, not {self.algorithm!r}")
        if not _HOSTNAME.fullmatch(self.domain):
            raise ValueError(f"domain {self.domain!r} is not a lowercase host name like meet.example.org")
        _check_base_url(self.base_url)
        if not self.app_id or self.app_id != self.app_id.strip():
            raise ValueError("app_id must be a non-empty string without surrounding spaces")
        if self.tenant is not None and not _TENANT.fullmatch(self.tenant.lower()):
            raise ValueError(f"tenant {self.tenant!r} must match {_TENANT.pattern} (case-insensitive)")
        if self.key_id is not None and not _KEY_ID.fullmatch(self.key_id):
            raise ValueError(f"key_id {self.key_id!r} must match {_KEY_ID.pattern}")
        if not self.signing_secret:
            raise ValueError("signing_secret must not be empty")

        if self.kind == "jaas":
            if self.algorithm != "RS256":
                raise ValueError("JaaS only accepts RS256 tokens")
            if not self.app_id.startswith(JAAS_APP_ID_PREFIX):
                raise ValueError(f"a JaaS app_id starts with {JAAS_APP_ID_PREFIX!r}")
            if self.tenant is not None:
                raise ValueError("JaaS has no tenant: the AppID takes its place in the URL")
        if self.algorithm == "RS256":
            # Prosody fetches the public key by the header's kid (asap_key_server), JaaS looks it up
            # by "<AppID>/<keyId>": without a kid nobody can verify the token.
            if not self.key_id:
                raise ValueError("RS256 needs a key_id (the token header's kid)")
            object.__setattr__(self, "_private_key", _load_rsa_private_key(self.signing_secret))
        elif len(self.signing_secret.encode("utf-8")) < MIN_HS256_SECRET_BYTES:
            raise ValueError(f"an HS256 signing_secret needs at least {MIN_HS256_SECRET_BYTES} bytes")

    @property
    def kid(self) -> str | None:
        """The JWT header's ``kid``: ``<AppID>/<keyId>`` for JaaS, the key id for RS256, else None."""
        if self.algorithm != "RS256":
            return None
        if self.kind == "jaas":
            return f"{self.app_id}/{self.key_id}"
        return self.key_id

    @property
    def subject(self) -> str:
        """The ``sub`` claim: the AppID for JaaS, else the lowercase tenant or the domain."""
        if self.kind == "jaas":
            return self.app_id
        return self.tenant.lower() if self.tenant else self.domain


@dataclasses.dataclass(frozen=True)
class Participant:
    """Who the token admits: our stable pseudonymous id, the display name, and the role."""

    user_id: str
    name: str
    moderator: bool


def mint_token(
    deployment: Deployment,
    room: str,
    participant: Participant,
    *,
    not_before: dt.datetime,
    expires: dt.datetime,
) -> str:
    """A signed JWT admitting ``participant`` to ``room`` between ``not_before`` and ``expires``.

    ``room`` must be one of our room names (lowercase ``[a-z0-9-]``), never ``*``. The window is
    the caller's: prosody applies no leeway, so ``not_before`` should already include some clock
    skew and ``expires`` the reconnect grace after the session's end.
    """
    _check_room(room)
    if not participant.user_id or participant.user_id != participant.user_id.strip():
        raise ValueError("participant.user_id must be a non-empty string without surrounding spaces")
    if not participant.name.strip():
        raise ValueError("participant.name must not be empty")
    nbf = _unix_seconds(not_before, "not_before")
    exp = _unix_seconds(expires, "expires")
    if exp <= nbf:
        raise ValueError(
            f"expires ({expires.isoformat()}) must be after not_before ({not_before.isoformat()})"
        )
    if exp - nbf > MAX_TOKEN_LIFETIME.total_seconds():
        raise ValueError(f"a token may be valid for at most {MAX_TOKEN_LIFETIME}, not {expires - not_before}")

    if deployment.kind == "jaas":
        payload = _jaas_claims(deployment, room, participant, nbf=nbf, exp=exp)
    else:
        payload = _self_hosted_claims(deployment, room, participant, nbf=nbf, exp=exp)

    headers: dict[str, Any] = {"typ": "JWT"}
    if deployment.kid is not None:
        headers["kid"] = deployment.kid
    key: RSAPrivateKey | str = (
        deployment._private_key if deployment._private_key is not None else deployment.signing_secret
    )
    return jwt.encode(payload, key, algorithm=deployment.algorithm, headers=headers)


def join_url(deployment: Deployment, room: str, token: str) -> str:
    """The URL that opens ``room`` in the Jitsi web client with ``token``.

    Self-hosted: ``<base_url>[/<tenant>]/<room>``; JaaS: ``<base_url>/<AppID>/<room>``. The token
    goes into the fragment as a JSON string (``#jwt=%22<token>%22``), or into the query for
    deployments with ``token_in_query`` (see the module docstring for why).
    """
    _check_room(room)
    if not _COMPACT_JWT.fullmatch(token):
        # Only base64url segments can go into a URL unescaped; anything else is not our token.
        raise ValueError("token is not a compact JWT (three base64url segments)")
    base = deployment.base_url.rstrip("/")
    if deployment.kind == "jaas":
        path = f"{deployment.app_id}/{room}"
    elif deployment.tenant:
        path = f"{deployment.tenant.lower()}/{room}"
    else:
        path = room
    if deployment.token_in_query:
        return f"{base}/{path}?jwt={token}#config.deeplinking.disabled=true"
    return f"{base}/{path}#jwt=%22{token}%22&config.deeplinking.disabled=true"


def public_key_pem(deployment: Deployment) -> str:
    """The PEM public key for an RS256 deployment: what is uploaded to JaaS or the key server."""
    if deployment._private_key is None:
        raise ValueError("only RS256 deployments have a public key")
    return (
        deployment._private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def asap_key_filename(kid: str) -> str:
    """The file name prosody requests from ``asap_key_server`` for ``kid``: sha256 hex + ``.pem``."""
    return hashlib.sha256(kid.encode("utf-8")).hexdigest() + ".pem"


def _self_hosted_claims(
    deployment: Deployment, room: str, participant: Participant, *, nbf: int, exp: int
) -> dict[str, Any]:
    user: dict[str, Any] = {
        "id": participant.user_id,
        "name": participant.name,
        "moderator": participant.moderator,
    }
    if participant.moderator:
        # token_affiliation makes the facilitator owner (moderator role); token_lobby_bypass lets
        # them past the lobby, which token_affiliation otherwise leaves closed to them too.
        user["affiliation"] = _MODERATOR_AFFILIATION
        user["lobby_bypass"] = True
    return {
        "iss": deployment.app_id,
        "aud": "jitsi",
        "sub": deployment.subject,
        "room": room,
        "nbf": nbf,
        "exp": exp,
        "context": {
            "user": user,
            "features": dict.fromkeys(_DISABLED_FEATURES, False),
        },
    }


def _jaas_claims(
    deployment: Deployment, room: str, participant: Participant, *, nbf: int, exp: int
) -> dict[str, Any]:
    # JaaS documents its flags as the strings "true"/"false"; the client accepts both forms, the
    # strings match what 8x8's own examples and token generator produce.
    user: dict[str, Any] = {
        "id": participant.user_id,
        "name": participant.name,
        "moderator": "true" if participant.moderator else "false",
    }
    if participant.moderator:
        user["lobby_bypass"] = True
    return {
        "iss": "chat",
        "aud": "jitsi",
        "sub": deployment.app_id,
        "room": room,
        "nbf": nbf,
        "exp": exp,
        "context": {
            "user": user,
            "features": dict.fromkeys(_DISABLED_FEATURES, "false"),
        },
    }


def _check_room(room: str) -> None:
    if room == "*":
        raise ValueError("a token is bound to exactly one room; '*' (any room) is refused")
    if not is_valid_room_name(room):
        raise ValueError(f"room {room!r} is not a valid room name (lowercase [a-z0-9-], at most 100)")


def _check_base_url(base_url: str) -> None:
    parts = urlsplit(base_url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"base_url {base_url!r} must be an https:// URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"base_url {base_url!r} must not carry a query, fragment or credentials")


def _unix_seconds(when: dt.datetime, name: str) -> int:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    # Round down: for nbf that starts validity at most a second early, for exp it ends validity
    # at most a second early; both stay within the caller's window.
    return math.floor(when.timestamp())


def _load_rsa_private_key(pem: str) -> RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    except (ValueError, TypeError) as exc:
        # Name the setting that is wrong; cryptography's own message stays chained for debugging.
        raise ValueError("signing_secret is not an unencrypted PEM private key") from exc
    if not isinstance(key, RSAPrivateKey):
        raise ValueError(f"RS256 needs an RSA private key, not {type(key).__name__}")
    if key.key_size < MIN_RSA_KEY_BITS:
        raise ValueError(f"the RSA key has {key.key_size} bits; at least {MIN_RSA_KEY_BITS} are needed")
    return key
