"""Languages, gettext catalogs and locale-aware formatting.

Catalogs are Babel ``.po`` files under ``orchestrator/translations/<lang>/LC_MESSAGES``. They are
compiled in memory when first used, so there is no build step and no generated binary in the
repository. The active language is a context variable: each aiohttp request runs in its own task
context, so setting it in a handler or middleware never leaks into another request, and Celery
tasks set it around each message they render.

Source strings (msgids) are English. Parent-facing text exists in ten languages; staff pages in
German and English.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

__all__ = [
    "PARENT_LANGUAGES",
    "STAFF_LANGUAGES",
    "Language",
    "current_language",
    "format_local_date",
    "format_local_datetime",
    "format_local_time",
    "gettext",
    "language",
    "lazy_gettext",
    "ngettext",
    "pgettext",
    "translations",
    "use_language",
]

TRANSLATIONS_DIR = Path(__file__).with_name("translations")
DEFAULT_LANGUAGE = "de"


@dataclasses.dataclass(frozen=True)
class Language:
    code: str
    native_name: str  # the language's name in its own script, as parents choose it
    rtl: bool = False

    @property
    def direction(self) -> str:
        return "rtl" if self.rtl else "ltr"


PARENT_LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language("de", "Deutsch"),
        Language("en", "English"),
        Language("tr", "Türkçe"),
        Language("ar", "العربية", rtl=True),
        Language("ru", "Русский"),
        Language("uk", "Українська"),
        Language("pl", "Polski"),
        Language("ro", "Română"),
        Language("bg", "Български"),
        Language("fa", "فارسی", rtl=True),
    )
}
STAFF_LANGUAGES: dict[str, Language] = {code: PARENT_LANGUAGES[code] for code in ("de", "en")}

_current: ContextVar[str] = ContextVar("rucksack_language", default=DEFAULT_LANGUAGE)


def language(code: str) -> Language:
    return PARENT_LANGUAGES.get(code, PARENT_LANGUAGES[DEFAULT_LANGUAGE])


@functools.cache
def translations(code: str) -> NullTranslations:
    """The compiled catalog for ``code`` (the English source strings need none)."""
    po = TRANSLATIONS_DIR / code / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=code)
    buf = io.BytesIO()
    # Fuzzy entries are drafts, not translations: leave them out so the source text shows instead.
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(buf)


def current_language() -> str:
    return _current.get()


def use_language(code: str) -> None:
    """Make ``code`` the language of the current task (request or job)."""
    _current.set(code if code in PARENT_LANGUAGES else DEFAULT_LANGUAGE)


@contextmanager
def language_scope(code: str) -> Iterator[None]:
    token = _current.set(code if code in PARENT_LANGUAGES else DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    return translations(_current.get()).ugettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ungettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return translations(_current.get()).upgettext(context, message)


def lazy_gettext(message: str) -> str:
    """Marks a module-level string for extraction; translate it with ``gettext`` at use."""
    return message


def _babel_locale(code: str) -> Locale:
    return Locale.parse(code)


def format_local_datetime(instant: dt.datetime, zone: str, fmt: str = "full") -> str:
    """An instant shown in ``zone`` in the current language, e.g. "Dienstag, 1. Dezember 2026, 09:00"."""
    local = instant.astimezone(ZoneInfo(zone))
    locale = _babel_locale(_current.get())
    if fmt == "full":
        return f"{format_date(local, 'full', locale=locale)}, {format_local_time(instant, zone)}"
    return format_datetime(local, fmt, tzinfo=ZoneInfo(zone), locale=locale)


def format_local_date(instant: dt.datetime | dt.date, zone: str | None = None, fmt: str = "full") -> str:
    if isinstance(instant, dt.datetime):
        instant = instant.astimezone(ZoneInfo(zone or "Europe/Berlin")).date()
    return format_date(instant, fmt, locale=_babel_locale(_current.get()))


def format_local_time(instant: dt.datetime, zone: str) -> str:
    local = instant.astimezone(ZoneInfo(zone))
    return format_time(local, "short", locale=_babel_locale(_current.get()))
