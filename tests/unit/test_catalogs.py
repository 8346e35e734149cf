"""The gettext catalogs: complete German, intact placeholders, compilable, and in step with the code.

A developer who adds, changes or removes a translatable string without running ``make messages``
gets a failing test here that names the strings. The extraction uses ``babel.cfg`` and the ``-k``
keywords of the Makefile's ``messages`` target, exactly like ``make messages``. An error raised
with plain English text where people see it (``raise NotFound(f"no such {x}")``) fails here too.
"""

from __future__ import annotations

import ast
import io
import re
import shlex
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from orchestrator.i18n import PARENT_LANGUAGES, TRANSLATIONS_DIR

ROOT = Path(__file__).resolve().parents[2]
POT = TRANSLATIONS_DIR / "messages.pot"
LANGUAGES = sorted(PARENT_LANGUAGES)
HINT = "run `make messages` and translate the new strings (German at least)"

Key = tuple[str | None, Any]  # (context, msgid); a plural msgid is (singular, plural)


def _po(code: str) -> Path:
    return TRANSLATIONS_DIR / code / "LC_MESSAGES" / "messages.po"


@cache
def _catalog(path: Path) -> Catalog:
    """The parsed catalog; its language and plural forms come from its own header."""
    with path.open("rb") as f:
        return read_po(f, abort_invalid=True)


def _messages(catalog: Catalog) -> list[Message]:
    return [m for m in catalog if m.id]


def _key(message: Message) -> Key:
    return (message.context, message.id)


def _show(keys: Iterable[Key]) -> str:
    lines = []
    for context, msgid in sorted(keys, key=repr):
        text = msgid[0] if isinstance(msgid, tuple) else msgid
        lines.append(f"  {text!r}" + (f" (context {context!r})" if context else ""))
    return "\n".join(lines)


def _forms(message: Message) -> tuple[str, ...]:
    if isinstance(message.string, (tuple, list)):
        return tuple(message.string)
    return (message.string or "",)


def _translated(message: Message) -> bool:
    return not message.fuzzy and all(_forms(message))


# -- extraction, as `make messages` does it ----------------------------------------------------


def _makefile_keywords() -> dict[str, Any]:
    """The keywords of ``pybabel extract`` in the Makefile's ``messages`` target."""
    recipe = (ROOT / "Makefile").read_text(encoding="utf-8")
    line = next(ln for ln in recipe.splitlines() if "pybabel extract" in ln)
    words = shlex.split(line.replace("$(BIN)/", ""))
    specs = [words[i + 1] for i, w in enumerate(words) if w in ("-k", "--keyword", "--keywords")]
    keywords: dict[str, Any] = dict(DEFAULT_KEYWORDS)
    keywords.update(parse_keywords(specs))
    return keywords


@cache
def _extraction() -> tuple[frozenset[Key], frozenset[str]]:
    """The strings the code marks for translation, and the files they were found in."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f, "babel.cfg")
    found: set[Key] = set()
    files: set[str] = set()
    for filename, _lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=_makefile_keywords()
    ):
        found.add((context, message))
        files.add(Path(filename).as_posix())
    return frozenset(found), frozenset(files)


def test_the_template_is_up_to_date_with_the_code():
    in_code, _ = _extraction()
    in_pot = {_key(m) for m in _messages(_catalog(POT))}
    assert in_code, "no translatable strings found: is babel.cfg right?"
    new, gone = in_code - in_pot, in_pot - in_code
    problems = []
    if new:
        problems.append(f"strings in the code but not in messages.pot:\n{_show(new)}")
    if gone:
        problems.append(f"strings in messages.pot that the code no longer has:\n{_show(gone)}")
    assert not problems, f"{HINT}.\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "needed",
    [
        "orchestrator/groups/services.py",  # Python
        "orchestrator/templates/base.html",  # templates at the top and in (nested) sub-folders
        "orchestrator/templates/portal/manage/link.html",
        "orchestrator/templates/notifications/reminder.txt",  # plain-text message templates
        "orchestrator/templates/notifications/reminder.sms.txt",
    ],
)
def test_the_extraction_covers_python_and_every_kind_of_template(needed):
    _, files = _extraction()
    assert needed in files, f"babel.cfg does not extract strings from {needed}"


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_catalog_has_the_strings_of_the_template(code):
    in_pot = {_key(m) for m in _messages(_catalog(POT))}
    in_po = {_key(m) for m in _messages(_catalog(_po(code)))}
    missing, stale = in_pot - in_po, in_po - in_pot
    assert not missing, f"{HINT}.\n{code}: strings of the template missing here:\n{_show(missing)}"
    assert not stale, f"{HINT}.\n{code}: strings no longer in the template:\n{_show(stale)}"


# -- German: every string translated ---------------------------------------------------------


def test_every_string_has_a_german_translation():
    german = _catalog(_po("de"))
    untranslated = set()
    for message in _messages(_catalog(POT)):
        found = german.get(message.id, context=message.context)
        plural_forms_missing = (
            found is not None and isinstance(found.id, tuple) and len(_forms(found)) != german.num_plurals
        )
        if found is None or not _translated(found) or plural_forms_missing:
            untranslated.add(_key(message))
    assert not untranslated, f"{HINT}. Without a German translation:\n{_show(untranslated)}"


# -- error messages: the web tier shows them to people ---------------------------------------

# The error middleware and some views show a ``DomainError``'s message on the pages and in the
# API, in the language of the request; so every text raised with one is marked for translation
# where it is raised. Webhook answers (``orchestrator/hooks``) are for Jitsi, not for people.
ERRORS_NOT_SHOWN_IN = ("orchestrator/hooks/", "orchestrator/migrations/")
# Errors that the views catch and answer with a page of their own: their text is never shown.
ERRORS_NEVER_SHOWN = {
    ("orchestrator/portal/services.py", "'unknown link'"),
    ("orchestrator/feeds/services.py", "'unknown feed'"),
}
_TRANSLATE = frozenset({"gettext", "ngettext", "pgettext", "_"})  # also as i18n.gettext


def _callee(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _has_words(text: str) -> bool:
    return any(c.isalpha() for c in text)


def _message_problem(node: ast.expr, msgids: list[str]) -> str | None:
    """What is wrong with ``node`` as an error's message (None: fine); collects its msgids."""
    if isinstance(node, ast.Call) and _callee(node.func) in _TRANSLATE:
        first = node.args[1] if _callee(node.func) == "pgettext" else node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            msgids.append(first.value)
            return None
        if isinstance(first, (ast.JoinedStr, ast.BinOp)):
            return "gettext() of a text built at run time (use %(name)s placeholders)"
        return None  # a msgid kept elsewhere, e.g. a lazy_gettext table
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return _message_problem(node.left, msgids)
    if isinstance(node, ast.IfExp):
        return _message_problem(node.body, msgids) or _message_problem(node.orelse, msgids)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return "plain text, not gettext(...)" if _has_words(node.value) else None
    if isinstance(node, ast.JoinedStr):
        literal = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
        return "an f-string, not gettext(...) % {...}" if _has_words(literal) else None
    if isinstance(node, ast.BinOp):
        return _message_problem(node.left, msgids) or _message_problem(node.right, msgids)
    if isinstance(node, ast.Call) and _callee(node.func) == "format":
        return "str.format, not gettext(...) % {...}"
    # A variable or a helper's answer (``_no_group()``): checked where that text is made.
    return None


class _ErrorScan(NamedTuple):
    classes: set[str]  # DomainError and its subclasses
    problems: list[tuple[str, str, str]]  # (file:line, the message's source, what is wrong)
    msgids: list[tuple[str, str]]  # (file:line, msgid)
    excused: set[tuple[str, str]]  # the ERRORS_NEVER_SHOWN met


@cache
def _raised_messages() -> _ErrorScan:
    """Every message given to a ``DomainError`` (or a subclass) in the code shown to people."""
    trees = {}
    for path in sorted((ROOT / "orchestrator").rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        trees[name] = ast.parse(path.read_text(encoding="utf-8"), filename=name)
    classes = {"DomainError"}
    grown = True
    while grown:
        grown = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.ClassDef)
                    and node.name not in classes
                    and any(_callee(base) in classes for base in node.bases)
                ):
                    classes.add(node.name)
                    grown = True

    scan = _ErrorScan(classes, [], [], set())

    def check(name: str, node: ast.Call) -> None:
        message = (
            node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "message"), None)
        )
        if message is None:
            return
        found: list[str] = []
        problem = _message_problem(message, found)
        where, source = f"{name}:{node.lineno}", ast.unparse(message)
        scan.msgids.extend((where, m) for m in found)
        if problem and (name, source) in ERRORS_NEVER_SHOWN:
            scan.excused.add((name, source))
        elif problem:
            scan.problems.append((where, source, problem))

    for name, tree in trees.items():
        if name.startswith(ERRORS_NOT_SHOWN_IN):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _callee(node.func) in classes:
                check(name, node)
            elif isinstance(node, ast.ClassDef) and node.name in classes:
                # A subclass that sets its own message: super().__init__("...")
                for call in ast.walk(node):
                    if (
                        isinstance(call, ast.Call)
                        and _callee(call.func) == "__init__"
                        and isinstance(call.func, ast.Attribute)
                        and isinstance(call.func.value, ast.Call)
                        and _callee(call.func.value.func) == "super"
                    ):
                        check(name, call)
    return scan


def test_the_error_scan_sees_the_errors():
    scan = _raised_messages()
    assert {"InvalidInput", "NotFound", "Forbidden", "Conflict"} <= scan.classes
    assert {"DeploymentUnusable", "ImportRejected", "UnknownLink", "UnknownFeed"} <= scan.classes
    assert len(scan.msgids) > 150, "the scan found too few error messages: is it still looking?"
    # A stale entry in ERRORS_NEVER_SHOWN would excuse the next plain text at that place.
    assert scan.excused == ERRORS_NEVER_SHOWN


def test_every_error_shown_to_people_is_marked_for_translation():
    problems = _raised_messages().problems
    lines = [f"  {where}: {source[:80]} ({problem})" for where, source, problem in problems]
    assert not problems, (
        "These errors are shown to people but their text cannot be translated; write "
        'gettext("... %(name)s ...") % {"name": value}:\n' + "\n".join(lines)
    )


def test_every_error_message_has_a_german_translation():
    german = _catalog(_po("de"))
    missing = []
    for where, msgid in _raised_messages().msgids:
        found = german.get(msgid)
        if found is None or not _translated(found):
            missing.append(f"  {where}: {msgid!r}")
    assert not missing, f"{HINT}. Errors without a German message:\n" + "\n".join(sorted(set(missing)))


# -- placeholders ----------------------------------------------------------------------------

# A %-conversion as Python reads it (like the pattern of Babel's python-format checker), and
# str.format fields without format specs (the only kind the code uses).
_PERCENT = re.compile(
    r"%(?:\((?P<name>\w+)\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?(?P<type>[diouxXeEfFgGcrsa%])"
)
_BRACE = re.compile(r"(?<!\{)\{(\w*)\}(?!\})")


def _percent(text: str) -> tuple[list[str], int]:
    """The conversions of ``text`` other than ``%%`` (sorted) and its stray ``%`` signs."""
    conversions, covered = [], 0
    for match in _PERCENT.finditer(text):
        covered += match.group().count("%")
        if match.group("type") != "%":
            conversions.append(match.group())
    return sorted(conversions), text.count("%") - covered


def _placeholder_problems(msgid: str, msgstr: str, brace: bool) -> list[str]:
    problems = []
    want, want_stray = _percent(msgid)
    have, have_stray = _percent(msgstr)
    if want != have:
        problems.append(f"%-placeholders {want} != {have}")
    if not want_stray and have_stray:
        # Templates %-format every string, so a lone % breaks the page (write %% for a percent sign).
        problems.append("a lone % sign (write %%)")
    if brace and sorted(_BRACE.findall(msgid)) != sorted(_BRACE.findall(msgstr)):
        problems.append(f"{{}}-placeholders {_BRACE.findall(msgid)} != {_BRACE.findall(msgstr)}")
    return problems


@pytest.mark.parametrize("code", LANGUAGES)
def test_translations_keep_the_placeholders(code):
    catalog = _catalog(_po(code))
    problems = []
    for message in _messages(catalog):
        brace = "python-brace-format" in message.flags
        if isinstance(message.id, tuple):
            singular, plural = message.id
            forms = [f for f in _forms(message) if f]
            # Every form must carry the placeholders of the plural msgid; only the first form may
            # follow the singular msgid instead (when that one is written without the number).
            for i, form in enumerate(forms):
                found = _placeholder_problems(plural, form, brace)
                if found and i == 0 and not _placeholder_problems(singular, form, brace):
                    found = []
                problems += [f"{singular!r} [{i}]: {p}" for p in found]
        elif _forms(message)[0]:
            msgid, msgstr = str(message.id), _forms(message)[0]
            problems += [f"{msgid!r}: {p}" for p in _placeholder_problems(msgid, msgstr, brace)]
    assert not problems, f"{code}: placeholders differ from the source text:\n  " + "\n  ".join(problems)


# -- every catalog compiles ------------------------------------------------------------------


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_catalog_parses_and_compiles(code):
    catalog = _catalog(_po(code))  # abort_invalid: a syntax error fails here
    assert str(catalog.locale) == code, f"{code}: the header says Language: {catalog.locale}"
    errors = [f"{m.id!r}: {e}" for m, errs in catalog.check() for e in errs]
    assert not errors, f"{code}:\n  " + "\n  ".join(errors)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    assert buf.getvalue()


def test_the_template_parses():
    assert _messages(_catalog(POT))
