"""Jitsi integration: room names, room tokens and join URLs, webhook verification and parsing.

A pure library: it takes plain data and returns plain data, and imports nothing of the service.
``rooms`` makes unguessable room names, ``tokens`` mints the JWT that admits one person to one room
and builds the link that carries it, ``webhooks`` authenticates prosody ``event_sync`` and JaaS
webhooks and turns both into one ``ConferenceEvent`` type (``events``).
"""

from integrations.jitsi.events import ConferenceEvent, EventKind, Occupant
from integrations.jitsi.rooms import ROOM_NAME_PATTERN, is_valid_room_name, new_room_name
from integrations.jitsi.tokens import (
    JAAS_APP_ID_PREFIX,
    MAX_TOKEN_LIFETIME,
    MIN_HS256_SECRET_BYTES,
    MIN_RSA_KEY_BITS,
    Deployment,
    DeploymentKind,
    Participant,
    SigningAlgorithm,
    asap_key_filename,
    join_url,
    mint_token,
    public_key_pem,
)
from integrations.jitsi.webhooks import (
    EVENT_SYNC_ENDPOINTS,
    JAAS_SIGNATURE_HEADER,
    PayloadError,
    SignatureError,
    parse_event_sync,
    parse_jaas,
    verify_bearer,
    verify_jaas_signature,
)

__all__ = [
    "EVENT_SYNC_ENDPOINTS",
    "JAAS_APP_ID_PREFIX",
    "JAAS_SIGNATURE_HEADER",
    "MAX_TOKEN_LIFETIME",
    "MIN_HS256_SECRET_BYTES",
    "MIN_RSA_KEY_BITS",
    "ROOM_NAME_PATTERN",
    "ConferenceEvent",
    "Deployment",
    "DeploymentKind",
    "EventKind",
    "Occupant",
    "Participant",
    "PayloadError",
    "SignatureError",
    "SigningAlgorithm",
    "asap_key_filename",
    "is_valid_room_name",
    "join_url",
    "mint_token",
    "new_room_name",
    "parse_event_sync",
    "parse_jaas",
    "public_key_pem",
    "verify_bearer",
    "verify_jaas_signature",
]
