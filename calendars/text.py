"""Cleaning of user-typed text before it becomes an iCalendar TEXT value.

Names and titles are typed by people and may hold any character. RFC 5545 TEXT may contain line
breaks only as the escape ``\\n`` and no control characters at all, and parsers that split lines
with ``str.splitlines`` also break on NEL and the Unicode line/paragraph separators. `clean_text`
turns every kind of line break into a plain LF (which the `ical` serializer then escapes as
``\\n``) and drops the remaining control characters and lone surrogates; everything else, including
right-to-left marks and emoji, is kept as typed.
"""

from __future__ import annotations

import re

__all__ = ["clean_text"]

# CRLF first so that it becomes one break, not two.
_LINE_BREAKS = re.compile("\r\n|[\r\x85\u2028\u2029]")

# C0 controls except TAB (allowed in TEXT) and LF (escaped by the serializer), DEL, the C1
# controls (NEL was mapped to LF above), and lone surrogates, which cannot be encoded as UTF-8.
_REMOVED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def clean_text(value: str) -> str:
    """Return ``value`` with line breaks normalised to LF and control characters removed."""
    return _REMOVED.sub("", _LINE_BREAKS.sub("\n", value))
