"""An aiohttp access logger that never writes a link secret.

Feed addresses (``/feeds/<secret>...``) and personal links (``/p/<secret>...``, also behind a
language prefix) carry their secret in the path. The service runs with the access log off by
default (``web.access_log``); an operator who turns it on should pass this class as
``access_log_class`` to ``web.run_app``, so each line names the route but not the secret. The
query string is left out altogether: it is never needed to read an access log, and it is where
a redirect target (``?next=...``) could carry a path.
"""

from __future__ import annotations

import re

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

__all__ = ["RedactingAccessLogger", "redact_path"]

# The segment after /feeds/ or /p/ is a secret (with an optional .ics for feeds).
_SECRET_SEGMENT = re.compile(r"(?P<prefix>/(?:feeds|p)/)[^/]+")


def redact_path(path: str) -> str:
    """``path`` with every link secret replaced by ``<secret>``."""
    return _SECRET_SEGMENT.sub(r"\g<prefix><secret>", path)


class RedactingAccessLogger(AbstractAccessLogger):
    """``remote "METHOD /path" status bytes duration``, with secrets cut out of the path."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %d %d %.1fms',
            request.remote or "-",
            request.method,
            redact_path(request.path),
            response.status,
            response.body_length,
            time * 1000,
        )
