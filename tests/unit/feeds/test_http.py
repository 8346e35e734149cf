"""Validators, conditional requests and gzip negotiation of served calendar bytes."""

from __future__ import annotations

import datetime as dt
import gzip

import pytest
from aiohttp.test_utils import make_mocked_request

from calendars import etag_for
from orchestrator.feeds.http import accepts_gzip, http_date, is_not_modified, make_representation, respond

CHANGED = dt.datetime(2026, 3, 29, 1, 30, 15, 654321, tzinfo=dt.UTC)
BODY = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + b"X-FILLER:" + b"a" * 2000 + b"\r\nEND:VCALENDAR\r\n"


@pytest.fixture
def representation():
    return make_representation(BODY, last_modified=CHANGED, filename="rucksack.ics")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", False),
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("deflate", False),
        ("identity", False),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0, *", False),
        ("*;q=0", False),
        ("br, *;q=0.1", True),
        ("GZIP;Q=0.5", True),
        ("x-gzip", True),
        ("gzip;q=nonsense", False),
    ],
)
def test_accept_encoding(header, expected):
    assert accepts_gzip(header) is expected


def test_representation_has_both_encodings_and_strong_tags(representation):
    assert gzip.decompress(representation.gzipped) == BODY
    assert representation.etag == etag_for(BODY)
    assert representation.gzip_etag != representation.etag
    assert representation.gzip_etag.startswith('"') and representation.gzip_etag.endswith('-gzip"')  # noqa: PT018
    # Whole seconds, as HTTP dates carry them; and the same bytes give the same gzip (mtime 0).
    assert representation.last_modified == CHANGED.replace(microsecond=0)
    assert (
        make_representation(BODY, last_modified=CHANGED, filename="x.ics").gzipped == representation.gzipped
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, False),
        ({"If-None-Match": "*"}, True),
        ({"If-None-Match": '"other"'}, False),
        ({"If-None-Match": '"other", ETAG'}, True),
        ({"If-None-Match": "W/ETAG"}, True),
        ({"If-None-Match": "GZTAG"}, True),
        ({"If-Modified-Since": "Sun, 29 Mar 2026 01:30:15 GMT"}, True),
        ({"If-Modified-Since": "Sun, 29 Mar 2026 01:30:14 GMT"}, False),
        ({"If-Modified-Since": "Mon, 30 Mar 2026 00:00:00 GMT"}, True),
        ({"If-Modified-Since": "yesterday"}, False),
        # If-None-Match wins: a stale tag with a current date is a full answer.
        ({"If-None-Match": '"other"', "If-Modified-Since": "Mon, 30 Mar 2026 00:00:00 GMT"}, False),
    ],
)
def test_conditional_requests(representation, headers, expected):
    resolved = {
        name: value.replace("GZTAG", representation.gzip_etag).replace("ETAG", representation.etag)
        for name, value in headers.items()
    }
    assert is_not_modified(resolved, representation) is expected


def test_respond_full_and_not_modified(representation):
    plain = respond(make_mocked_request("GET", "/feeds/x.ics"), representation, max_age=300)
    assert plain.status == 200
    assert plain.body == BODY
    assert plain.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert plain.headers["Content-Disposition"] == 'inline; filename="rucksack.ics"'
    assert plain.headers["Cache-Control"] == "private, max-age=300"
    assert plain.headers["Last-Modified"] == http_date(CHANGED) == "Sun, 29 Mar 2026 01:30:15 GMT"
    assert plain.headers["ETag"] == representation.etag
    packed = respond(
        make_mocked_request("GET", "/feeds/x.ics", headers={"Accept-Encoding": "gzip"}),
        representation,
        max_age=300,
    )
    assert packed.headers["Content-Encoding"] == "gzip"
    assert packed.body == representation.gzipped
    assert packed.headers["ETag"] == representation.gzip_etag
    not_modified = respond(
        make_mocked_request("GET", "/feeds/x.ics", headers={"If-None-Match": representation.etag}),
        representation,
        max_age=300,
    )
    assert not_modified.status == 304
    assert not_modified.body is None
    assert not_modified.headers["ETag"] == representation.etag
