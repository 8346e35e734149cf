"""Reading a CSV file of parents for import into a group.

The import is **all or nothing**: every row is read and checked first; if any row is broken,
nothing is imported and every broken row is reported with its line number and the problem, so
the coordinator fixes the file and uploads it again. A partial import would leave the group
half-filled, and uploading the corrected file would then create the good rows a second time.

The file is UTF-8 with or without a byte-order mark ("CSV UTF-8" in Excel). The separator is
read from the header line: ``;`` (what German Excel writes), ``,`` or a tab. A header row is
required; its columns, in any order, are ``display_name`` and ``language`` (required) and
``phone``, ``email``, ``sms_consent``, ``email_consent`` (optional). Consent cells are yes/no
(ja/nein, 1/0, x or empty). A phone number or e-mail address is only accepted together with the
matching consent (see ``validation.contact_with_consent``).

This module is pure: bytes in, checked rows or errors out. The checks that need the database
(names already in the group) are made by ``services.import_parents``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable
from typing import TypeVar

from orchestrator.errors import InvalidInput
from orchestrator.groups import validation
from orchestrator.i18n import gettext

__all__ = [
    "COLUMNS",
    "MAX_BYTES",
    "MAX_ROWS",
    "REQUIRED_COLUMNS",
    "ParentRow",
    "ParsedFile",
    "RowError",
    "parse",
]

COLUMNS = ("display_name", "language", "phone", "email", "sms_consent", "email_consent")
REQUIRED_COLUMNS = ("display_name", "language")
# A group has 8-10 families and a centre a few hundred: 500 rows is every realistic file, and
# bounds the work one upload can cause.
MAX_ROWS = 500
MAX_BYTES = 512 * 1024
_SEPARATORS = (";", ",", "\t")
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class ParentRow:
    """One checked row: a parent to create and enrol."""

    line: int
    display_name: str
    language: str
    phone: str | None
    email: str | None
    sms_consent: bool
    email_consent: bool


@dataclasses.dataclass(frozen=True)
class RowError:
    """A problem in the file: ``line`` 1 is the header, 0 the file as a whole."""

    line: int
    column: str
    message: str


@dataclasses.dataclass(frozen=True)
class ParsedFile:
    rows: list[ParentRow]
    errors: list[RowError]


def parse(data: bytes, *, max_rows: int = MAX_ROWS, max_bytes: int = MAX_BYTES) -> ParsedFile:
    """Every row of the file checked; ``errors`` lists each broken one (empty when all are fine)."""
    if len(data) > max_bytes:
        return _fail(0, "file", gettext("The file is larger than %(n)d KB.") % {"n": max_bytes // 1024})
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        return _fail(
            line,
            "file",
            gettext("The file is not UTF-8. In Excel, save it as 'CSV UTF-8 (comma delimited)'."),
        )
    lines = content.splitlines()
    first = next((ln for ln in lines if ln.strip()), None)
    if first is None:
        return _fail(0, "file", gettext("The file is empty."))
    separator = _sniff_separator(first)
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=separator, strict=True)

    errors: list[RowError] = []
    rows: list[ParentRow] = []
    header: list[str] | None = None
    previous_end = 0
    try:
        for cells in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header, header_errors = _read_header(cells, start)
                if header_errors:
                    return ParsedFile([], header_errors)
                continue
            if len(rows) + _count_lines_with_errors(errors) >= max_rows:
                errors.append(
                    RowError(start, "file", gettext("At most %(n)d rows per file, please.") % {"n": max_rows})
                )
                break
            row, row_errors = _read_row(cells, header, start)
            errors.extend(row_errors)
            if row is not None:
                rows.append(row)
    except csv.Error as e:
        # After a quoting error the reader's idea of where rows start cannot be trusted, so the
        # rest of the file is not read: the coordinator fixes this line and uploads again.
        errors.append(
            RowError(
                reader.line_num,
                "file",
                gettext("This line cannot be read (%(problem)s); check the quotation marks.")
                % {"problem": e},
            )
        )
    if header is None:
        return _fail(1, "file", gettext("The file has no header row."))
    if not rows and not errors:
        errors.append(RowError(0, "file", gettext("The file has a header but no parents.")))
    return ParsedFile(rows, errors)


def _fail(line: int, column: str, message: str) -> ParsedFile:
    return ParsedFile([], [RowError(line, column, message)])


def _count_lines_with_errors(errors: list[RowError]) -> int:
    return len({e.line for e in errors})


def _sniff_separator(header_line: str) -> str:
    """The separator that splits the header line most often (outside quotes)."""
    counts = dict.fromkeys(_SEPARATORS, 0)
    quoted = False
    for ch in header_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(_SEPARATORS, key=lambda s: counts[s])
    return best if counts[best] else ","


def _normalise_column(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _read_header(cells: list[str], line: int) -> tuple[list[str], list[RowError]]:
    header = [_normalise_column(c) for c in cells]
    errors: list[RowError] = []
    known = ", ".join(COLUMNS)
    for name in header:
        if name not in COLUMNS:
            errors.append(
                RowError(
                    line,
                    name or "?",
                    gettext("Unknown column %(name)s; the columns are: %(known)s.")
                    % {"name": f"'{name}'", "known": known},
                )
            )
    for name in sorted({n for n in header if header.count(n) > 1 and n}):
        errors.append(RowError(line, name, gettext("This column appears twice.")))
    for name in REQUIRED_COLUMNS:
        if name not in header:
            errors.append(
                RowError(line, name, gettext("The required column %(name)s is missing.") % {"name": name})
            )
    return header, errors


def _cell(
    values: dict[str, str], column: str, check: Callable[..., T], errors: list[RowError], line: int
) -> T | None:
    """``check`` applied to one cell; a problem is added to ``errors`` (and None returned)."""
    try:
        return check(values.get(column, ""), field=column)
    except InvalidInput as e:
        errors.append(RowError(line, e.field or column, e.message))
        return None


def _read_row(cells: list[str], header: list[str], line: int) -> tuple[ParentRow | None, list[RowError]]:
    errors: list[RowError] = []
    extra = [c for c in cells[len(header) :] if c.strip()]
    if extra:
        errors.append(
            RowError(
                line,
                "row",
                gettext(
                    "This row has %(found)d fields but the header has %(expected)d "
                    "(a separator inside a name? Put the name in quotation marks)."
                )
                % {"found": len(cells), "expected": len(header)},
            )
        )
        return None, errors
    # Missing trailing cells are empty ones: spreadsheets drop trailing separators.
    values = {name: (cells[i] if i < len(cells) else "") for i, name in enumerate(header)}

    display_name = _cell(values, "display_name", validation.display_name, errors, line)
    language = _cell(values, "language", validation.parent_language, errors, line)
    phone = _cell(values, "phone", validation.phone, errors, line)
    email = _cell(values, "email", validation.email, errors, line)
    sms_consent = _cell(values, "sms_consent", validation.consent_flag, errors, line)
    email_consent = _cell(values, "email_consent", validation.consent_flag, errors, line)
    if errors or display_name is None or language is None or sms_consent is None or email_consent is None:
        return None, errors
    try:
        validation.contact_with_consent(
            phone=phone, sms_consent=sms_consent, email=email, email_consent=email_consent
        )
    except InvalidInput as e:
        errors.append(RowError(line, e.field or "row", e.message))
        return None, errors
    return (
        ParentRow(
            line=line,
            display_name=display_name,
            language=language,
            phone=phone,
            email=email,
            sms_consent=sms_consent,
            email_consent=email_consent,
        ),
        errors,
    )
