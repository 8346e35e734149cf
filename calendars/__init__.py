"""Calendar feeds: plain session data in, RFC 5545 bytes (and their ETag) out.

This package imports nothing of the service. The web tier maps its rows onto the dataclasses in
`calendars.model` and calls `render_feed` (a person's subscription) or `render_single_event` (one
session as a download); see DESIGN.md for the data model and the fixes to the `ical` serializer.
"""

from .feed import etag_for, render_feed, render_single_event, session_uid
from .model import SESSION_STATUSES, Feed, FeedOccurrence, FeedOneOff, FeedSeries

__all__ = [
    "SESSION_STATUSES",
    "Feed",
    "FeedOccurrence",
    "FeedOneOff",
    "FeedSeries",
    "etag_for",
    "render_feed",
    "render_single_event",
    "session_uid",
]
