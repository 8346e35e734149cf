"""Every parent-facing string is really translated into all ten parent languages.

The parent-facing strings are the ones in the parent page templates (``templates/portal/``; the
coordinator's pages under ``portal/manage/`` are staff pages, German and English only). They are
extracted here the same way ``make messages`` does, so a new string in a parent page fails this
test until every catalog has a translation that is non-empty, not fuzzy (fuzzy entries are not
used at run time), keeps every placeholder of the source, and is not just the English text.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from orchestrator.i18n import PARENT_LANGUAGES, TRANSLATIONS_DIR

TEMPLATES = Path(__file__).resolve().parents[3] / "orchestrator" / "templates"
PARENT_TEMPLATE_DIRS = ("portal",)
STAFF_SUBDIRS = ("manage",)
PERCENT = re.compile(r"%\((\w+)\)[sdif]")
BRACES = re.compile(r"{(\w+)}")


def parent_templates() -> list[Path]:
    found: list[Path] = []
    for name in PARENT_TEMPLATE_DIRS:
        for path in sorted((TEMPLATES / name).rglob("*.html")):
            if not any(part in STAFF_SUBDIRS for part in path.relative_to(TEMPLATES / name).parts):
                found.append(path)
    return found


@cache
def parent_msgids() -> tuple[str, ...]:
    ids: dict[str, None] = {}
    for path in parent_templates():
        for _, message, _, _ in extract_from_file("jinja2", path, options={"extensions": "jinja2.ext.i18n"}):
            # Plural forms would come as tuples; parent pages avoid them (Arabic has six forms).
            assert isinstance(message, str), f"{path.name}: plural message {message!r} on a parent page"
            ids[message] = None
    return tuple(ids)


@cache
def catalog(code: str) -> Catalog:
    path = TRANSLATIONS_DIR / code / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        return read_po(f, locale=code)


def test_parent_pages_have_strings_to_check():
    ids = parent_msgids()
    assert "Join the meeting" in ids
    assert "Please wait a moment." in ids
    assert len(ids) > 50


@pytest.mark.parametrize("code", sorted(PARENT_LANGUAGES))
def test_every_parent_string_is_translated(code):
    cat = catalog(code)
    problems = []
    for msgid in parent_msgids():
        message = cat.get(msgid)
        if message is None:
            problems.append(f"missing from the catalog: {msgid!r}")
        elif not message.string or not str(message.string).strip():
            problems.append(f"empty: {msgid!r}")
        elif message.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
        elif code != "en" and message.string == msgid and not msgid.isupper():
            problems.append(f"the English text, not a translation: {msgid!r}")
    assert not problems, f"{code}: " + "; ".join(problems)


@pytest.mark.parametrize("code", sorted(PARENT_LANGUAGES))
def test_placeholders_match(code):
    cat = catalog(code)
    problems = []
    for msgid in parent_msgids():
        message = cat.get(msgid)
        if message is None or not message.string:
            continue  # reported by the test above
        text = str(message.string)
        for pattern in (PERCENT, BRACES):
            if sorted(pattern.findall(msgid)) != sorted(pattern.findall(text)):
                problems.append(f"{msgid!r} -> {text!r}")
        # Jinja's gettext formats with %: a lone % in a translation would break the page.
        if "%" in PERCENT.sub("", text).replace("%%", ""):
            problems.append(f"stray % in {text!r}")
    assert not problems, f"{code}: " + "; ".join(problems)


def test_language_names_are_in_their_own_script():
    names = {code: lang.native_name for code, lang in PARENT_LANGUAGES.items()}
    assert names["ar"] == "العربية"
    assert names["fa"] == "فارسی"
    assert names["uk"] == "Українська"
    assert {code for code, lang in PARENT_LANGUAGES.items() if lang.rtl} == {"ar", "fa"}
