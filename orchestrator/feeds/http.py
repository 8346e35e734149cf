"""HTTP rules for calendar bytes: validators, conditional requests, compression, headers.

A rendered feed becomes a `Representation` once per data version: the bytes, their gzip form
(compressed once, not per request), a strong ETag per form, and Last-Modified. Answering a
request is then a few header comparisons:

* ``If-None-Match`` wins over ``If-Modified-Since`` (RFC 9110 13.2.2); a tag of either form
  matches, because both forms carry the same calendar and a client that cached one needs no other.
* ``If-Modified-Since`` is compared at whole seconds, the resolution of HTTP dates.
* gzip is sent when the client accepts it (``Accept-Encoding``, q > 0); ``Vary`` says so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import gzip
from email.utils import format_datetime, parsedate_to_datetime
from typing import Final

from aiohttp import web

from calendars import etag_for

__all__ = [
    "CONTENT_TYPE",
    "Representation",
    "accepts_gzip",
    "http_date",
    "is_not_modified",
    "make_representation",
    "respond",
]

CONTENT_TYPE: Final = "text/calendar; charset=utf-8"
# mtime=0 keeps the compressed bytes a pure function of the feed (no timestamp in the header).
_GZIP_LEVEL: Final = 6


def http_date(instant: dt.datetime) -> str:
    """An IMF-fixdate ("Tue, 01 Dec 2026 08:00:00 GMT")."""
    return format_datetime(instant.astimezone(dt.UTC).replace(microsecond=0), usegmt=True)


@dataclasses.dataclass(frozen=True, slots=True)
class Representation:
    """One rendered calendar in both encodings, with its validators."""

    body: bytes
    gzipped: bytes
    etag: str
    gzip_etag: str
    last_modified: dt.datetime
    filename: str
    disposition: str = "inline"
    last_modified_http: str = ""
    """``last_modified`` as an HTTP date, formatted once (`dated` keeps the two in step)."""

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped)

    @property
    def tags(self) -> frozenset[str]:
        return frozenset((self.etag, self.gzip_etag))

    def dated(self, last_modified: dt.datetime) -> Representation:
        """The same bytes with another Last-Modified."""
        moment = last_modified.astimezone(dt.UTC).replace(microsecond=0)
        return dataclasses.replace(self, last_modified=moment, last_modified_http=http_date(moment))


def make_representation(
    body: bytes, *, last_modified: dt.datetime, filename: str, disposition: str = "inline"
) -> Representation:
    """Compress and tag rendered bytes (CPU work: call it once per data version)."""
    etag = etag_for(body)
    return Representation(
        body=body,
        gzipped=gzip.compress(body, compresslevel=_GZIP_LEVEL, mtime=0),
        etag=etag,
        # A strong tag must differ between encodings of the same resource (RFC 9110 8.8.3).
        gzip_etag=etag[:-1] + '-gzip"',
        last_modified=last_modified,
        filename=filename,
        disposition=disposition,
    ).dated(last_modified)


@functools.lru_cache(maxsize=256)
def accepts_gzip(accept_encoding: str) -> bool:
    """Whether ``Accept-Encoding`` allows gzip (explicitly or through ``*``), honouring q=0.

    Cached: clients send the same few header values over and over.
    """
    if not accept_encoding:
        return False
    gzip_q: float | None = None
    star_q: float | None = None
    for part in accept_encoding.split(","):
        coding, _, params = part.strip().partition(";")
        coding = coding.strip().lower()
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding in ("gzip", "x-gzip"):
            gzip_q = q
        elif coding == "*":
            star_q = q
    if gzip_q is not None:
        return gzip_q > 0
    return star_q is not None and star_q > 0


def _tags(header: str) -> list[str]:
    # Entity tags may contain commas only inside quotes, and ours never do.
    tags = []
    for raw in header.split(","):
        tag = raw.strip()
        if tag.startswith("W/"):
            # If-None-Match uses the weak comparison (RFC 9110 13.1.2).
            tag = tag[2:]
        if tag:
            tags.append(tag)
    return tags


def is_not_modified(headers: web.Request | dict[str, str], representation: Representation) -> bool:
    """True when the client's copy is current (answer 304)."""
    source = headers.headers if isinstance(headers, web.Request) else headers
    if_none_match = source.get("If-None-Match")
    if if_none_match is not None:
        tags = _tags(if_none_match)
        return "*" in tags or not representation.tags.isdisjoint(tags)
    if_modified_since = source.get("If-Modified-Since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=dt.UTC)
        return representation.last_modified <= since
    return False


def respond(request: web.Request, representation: Representation, *, max_age: int) -> web.Response:
    """200 with the bytes (gzip when accepted), or 304 when the client's copy is current."""
    use_gzip = accepts_gzip(request.headers.get("Accept-Encoding", ""))
    headers = {
        "ETag": representation.gzip_etag if use_gzip else representation.etag,
        "Last-Modified": representation.last_modified_http,
        "Cache-Control": f"private, max-age={max_age}",
        "Vary": "Accept-Encoding",
        # The address carries a secret: keep it out of Referer headers of links followed from here.
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    if is_not_modified(request, representation):
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = CONTENT_TYPE
    headers["Content-Disposition"] = f'{representation.disposition}; filename="{representation.filename}"'
    if use_gzip:
        headers["Content-Encoding"] = "gzip"
        return web.Response(body=representation.gzipped, headers=headers)
    return web.Response(body=representation.body, headers=headers)
