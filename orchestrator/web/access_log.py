"""An access log that never writes secrets.

Personal links (``/p/<secret>``) and feed addresses (``/feeds/<secret>.ics``) carry their secret
in the path, so the default access log would copy every parent's key into the log files. This
logger replaces any path segment shaped like one of our secrets, and drops the query string.
"""

from __future__ import annotations

import logging
import re

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

__all__ = ["RedactingAccessLogger", "redact_path"]

# orchestrator.security.new_secret: 32 base64url characters (an optional file suffix after it).
_SECRET_SEGMENT = re.compile(r"(?<=/)[A-Za-z0-9_-]{32}(?=\.ics$|/|$)")


def redact_path(path: str) -> str:
    return _SECRET_SEGMENT.sub("<secret>", path.split("?", 1)[0])


class RedactingAccessLogger(AbstractAccessLogger):
    def __init__(self, logger: logging.Logger, log_format: str = "") -> None:
        super().__init__(logger, log_format)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %.1fms", request.method, redact_path(request.path), response.status, time * 1000
        )
