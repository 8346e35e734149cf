from orchestrator.security import new_secret
from orchestrator.web.access_log import redact_path


def test_secrets_in_paths_are_replaced():
    secret = new_secret()
    assert redact_path(f"/p/{secret}") == "/p/<secret>"
    assert redact_path(f"/tr/p/{secret}/s/12") == "/tr/p/<secret>/s/12"
    assert redact_path(f"/feeds/{secret}.ics") == "/feeds/<secret>.ics"
    assert redact_path(f"/feeds/{secret}/join/g/3?x={secret}") == "/feeds/<secret>/join/g/3"


def test_ordinary_paths_stay():
    assert redact_path("/groups/12/schedule") == "/groups/12/schedule"
    assert (
        redact_path("/hooks/jitsi/meet-1/events/occupant/joined")
        == "/hooks/jitsi/meet-1/events/occupant/joined"
    )
