"""The access logger an operator can turn on writes no link secret."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from orchestrator.feeds.access_log import RedactingAccessLogger, redact_path

SECRET = "Zk3q9PxT2mVb-_Zk3q9PxT2mVbZk3q9P"


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        (f"/feeds/{SECRET}.ics", "/feeds/<secret>"),
        (f"/feeds/{SECRET}", "/feeds/<secret>"),
        (f"/feeds/{SECRET}/join/s/12", "/feeds/<secret>/join/s/12"),
        (f"/feeds/{SECRET}/sessions/12.ics", "/feeds/<secret>/sessions/12.ics"),
        (f"/p/{SECRET}", "/p/<secret>"),
        (f"/ar/p/{SECRET}/calendar", "/ar/p/<secret>/calendar"),
        ("/sessions/12.ics", "/sessions/12.ics"),
        ("/groups/3", "/groups/3"),
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
    assert '"GET /feeds/<secret>" 304' in record.getMessage()
