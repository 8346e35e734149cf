"""The access logger an operator can turn on writes no link secret."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from orchestrator.web.access_log import RedactingAccessLogger, redact_path

SECRET = "Zk3q9PxT2mVb-_Zk3q9PxT2mVbZk3q9P"  # fixed: parametrised ids must be equal in every xdist process


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        (f"/feeds/{SECRET}.ics", "/feeds/<secret>.ics"),
        (f"/feeds/{SECRET}", "/feeds/<secret>"),
        (f"/feeds/{SECRET}/join/s/12", "/feeds/<secret>/join/s/12"),
        (f"/feeds/{SECRET}/sessions/12.ics", "/feeds/<secret>/sessions/12.ics"),
        (f"/p/{SECRET}", "/p/<secret>"),
        (f"/tr/p/{SECRET}/s/12", "/tr/p/<secret>/s/12"),
        (f"/ar/p/{SECRET}/calendar", "/ar/p/<secret>/calendar"),
        (f"/feeds/{SECRET}/join/g/3?x={SECRET}", "/feeds/<secret>/join/g/3"),
        ("/sessions/12.ics", "/sessions/12.ics"),
        ("/groups/12/schedule", "/groups/12/schedule"),
        ("/hooks/jitsi/meet-1/events/occupant/joined", "/hooks/jitsi/meet-1/events/occupant/joined"),
    ],
)
def test_paths_lose_their_secrets(path, logged):
    assert redact_path(path) == logged


def test_log_line(caplog):
    caplog.set_level(logging.INFO, logger="test.access")
    logger = RedactingAccessLogger(logging.getLogger("test.access"), "")
    request = make_mocked_request("GET", f"/feeds/{SECRET}.ics?next=/p/{SECRET}")
    logger.log(request, web.Response(status=304), 0.0012)
    [record] = caplog.records
    assert SECRET not in record.getMessage()
    assert record.getMessage() == "GET /feeds/<secret>.ics 304 1.2ms"
