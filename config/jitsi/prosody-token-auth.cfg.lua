-- Rucksack Orchestrator: prosody settings for one self-hosted Jitsi deployment.
--
-- Our room tokens decide who may enter which room and who moderates; event_sync reports room and
-- occupant events to us for attendance. README.md in this folder explains every line.
--
-- Merge into the file jitsi-meet-prosody generated, /etc/prosody/conf.d/<domain>.cfg.lua, keeping
-- everything this snippet does not mention. Replace the placeholders:
--   meet.example.org        the Jitsi domain (Deployment.domain in Rucksack)
--   rucksack.example.org    the public host name of Rucksack Orchestrator
--   ki-duisburg             the deployment's slug in Rucksack (it names the webhook URL)
--   rucksack                the deployment's app_id in Rucksack (our tokens' `iss`)
--
-- Secrets never go into this file. Prosody (0.12 and later) reads ENV_<NAME> as the environment
-- variable <NAME>; give them to prosody with a systemd drop-in, e.g.
--   /etc/systemd/system/prosody.service.d/rucksack.conf:
--     [Service]
--     EnvironmentFile=/etc/prosody/rucksack.env        (mode 0600, owner root)
--   /etc/prosody/rucksack.env:
--     RUCKSACK_JITSI_APP_SECRET=<the deployment's HS256 signing secret, at least 32 bytes>
--     RUCKSACK_EVENT_SYNC_SECRET=<the deployment's webhook secret>

-- event_sync and token_lobby_bypass come from jitsi-contrib/prosody-plugins; token_affiliation
-- ships with recent jitsi-meet (else take it from jitsi-contrib too). See README.md.
plugin_paths = {
    "/usr/share/jitsi-meet/prosody-plugins/";
    "/usr/local/share/prosody-plugins-contrib/";
}

-- The main domain; token room checks and tenant ("[tenant]room") addresses are resolved
-- against it.
muc_mapper_domain_base = "meet.example.org"

VirtualHost "meet.example.org"
    -- Every connection must present a valid JWT (mod_auth_token); no guests without one.
    authentication = "token"
    allow_empty_token = false

    -- HS256: tokens are signed with the secret shared with Rucksack. `iss` must be app_id.
    app_id = "rucksack"
    app_secret = ENV_RUCKSACK_JITSI_APP_SECRET

    -- RS256 instead (Deployment.algorithm = "RS256"): drop app_secret and let prosody fetch our
    -- public key by the token's kid from <asap_key_server>/<sha256 hex of kid>.pem, a static
    -- HTTPS location you control (README.md: "RS256 on a self-hosted deployment").
    -- asap_key_server = "https://meet.example.org/asap-keys"

    -- Accept only our issuer and our audience (the default accepts any `aud`).
    asap_accepted_issuers = { "rucksack" }
    asap_accepted_audiences = { "jitsi" }

    -- Check the token's `sub` (our domain, or the lowercase tenant) when joining a room, not only
    -- its `room` claim: a token for another deployment or tenant must not open our rooms.
    enable_domain_verification = true

    modules_enabled = {
        -- keep the modules the generated file already lists (bosh, ping, speakerstats, ...) and
        -- make sure these are present:
        "muc_lobby_rooms";
        "muc_breakout_rooms";
    }
    lobby_muc = "lobby.meet.example.org"
    breakout_rooms_muc = "breakout.meet.example.org"
    main_muc = "conference.meet.example.org"

Component "conference.meet.example.org" "muc"
    restrict_room_creation = true
    modules_enabled = {
        -- keep the generated ones (muc_meeting_id, muc_domain_mapper, polls, ...) and add:
        "token_verification";   -- the token's `room` (and `sub`) must match the room joined
        "token_affiliation";    -- owner (moderator) only for context.user.moderator = true
        "token_lobby_bypass";   -- context.user.lobby_bypass = true walks past the lobby
    }
    -- Without a token nobody may change room settings (grant moderator, lock, lobby, ...).
    token_verification_require_token_for_moderation = true

-- Sends room and occupant events to Rucksack: POST <api_prefix>/events/room/created,
-- /events/room/destroyed, /events/occupant/joined and /events/occupant/left.
Component "esync.meet.example.org" "event_sync_component"
    muc_component = "conference.meet.example.org"
    breakout_component = "breakout.meet.example.org"

    api_prefix = "https://rucksack.example.org/hooks/jitsi/ki-duisburg"
    -- A missing variable stops prosody here (nil cannot be joined to "Bearer "): better than
    -- webhooks that are all refused.
    api_headers = {
        ["Authorization"] = "Bearer " .. ENV_RUCKSACK_EVENT_SYNC_SECRET;
    }
    -- Rucksack answers in milliseconds; a short timeout frees prosody sooner if it cannot.
    -- event_sync retries only on connection failure or 5xx, never after a timeout.
    api_timeout = 10
    api_retry_count = 3
    api_retry_delay = 1

    -- Put the token's whole context.user (id, name, moderator, ...) into occupant payloads.
    include_user_info = true
