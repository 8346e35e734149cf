"""Reports as files for spreadsheet programs: CSV and XLSX.

The centre report has three tables (summary, groups, months), a group's attendance matrix three
more (summary, attendance: parents × sessions, sessions). CSV and XLSX of a report are built
from the same tables, so they always say the same.

CSV: UTF-8 with a byte-order mark (without it Excel reads UTF-8 as a legacy code page and
garbles "ß" and "ğ"). The default is comma-separated with a decimal point. German Excel expects
the *semicolon* as separator and the *comma* as decimal mark (it reads "72.5" as a date or as
text); ``separator=";"`` produces exactly that. Rates are percentages with one decimal, hours
have two decimals, dates are ISO 8601 (YYYY-MM-DD, which every Excel reads), months YYYY-MM.
``table="all"`` writes every table one after another, each under a title line and separated by
an empty line; a single table name writes just that table (for scripts).

XLSX: one sheet per table, a bold header row that stays in view, numbers as numbers (rates as
fractions formatted as percentages), dates as dates.

Text that a spreadsheet would take for a formula (starting with ``=``, ``+``, ``-``, ``@``) is
written so that it stays text: a group name is typed by a person and must not run as a formula
on a coordinator's machine (CSV injection).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from orchestrator.errors import InvalidInput
from orchestrator.i18n import gettext as _

if TYPE_CHECKING:
    from orchestrator.reports.aggregate import Figures
    from orchestrator.reports.services import CentreReport, GroupMatrix

__all__ = [
    "GROUP_TABLES",
    "TABLES",
    "Column",
    "ExportFile",
    "Table",
    "cell_labels",
    "centre_report_csv",
    "centre_report_tables",
    "centre_report_xlsx",
    "group_matrix_csv",
    "group_matrix_tables",
    "group_matrix_xlsx",
]

TABLES: Final = ("summary", "groups", "months")
GROUP_TABLES: Final = ("summary", "attendance", "sessions")
CSV_TYPE: Final = "text/csv; charset=utf-8"
XLSX_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")

# Cell kinds: how a value is written.
TEXT, INT, DECIMAL, HOURS, PERCENT, DATE, MONTH = (
    "text",
    "int",
    "decimal",
    "hours",
    "percent",
    "date",
    "month",
)
_DECIMALS: Final = {DECIMAL: 1, HOURS: 2, PERCENT: 1}
_XLSX_FORMATS: Final = {DECIMAL: "0.0", HOURS: "0.00", PERCENT: "0.0%", DATE: "yyyy-mm-dd", MONTH: "yyyy-mm"}


@dataclasses.dataclass(frozen=True)
class ExportFile:
    filename: str
    content_type: str
    body: bytes


@dataclasses.dataclass(frozen=True)
class Column:
    header: str
    kind: str


Cell = str | int | float | dt.date | None


@dataclasses.dataclass(frozen=True)
class Table:
    key: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    # For a two-column "figure, value" table: the kind of each row's value.
    row_kinds: tuple[str, ...] | None = None

    def kind(self, row: int, column: int) -> str:
        if self.row_kinds is not None and column == 1:
            return self.row_kinds[row]
        return self.columns[column].kind


def cell_labels() -> dict[str, tuple[str, str]]:
    """Symbol and text of each matrix cell; the text is what screen readers, printouts and
    exports say."""
    return {
        "present": ("✓", _("present")),
        "partial": ("◐", _("partly present")),
        "absent": ("✗", _("absent")),
        "excused": ("E", _("excused")),
        "none": ("○", _("no record (counts as not attended)")),
        "not_enrolled": ("·", _("not in the group then")),
        "cancelled": ("⊘", _("cancelled")),
        "upcoming": ("…", _("not held yet")),
    }


def _figures_rows(
    f: Figures, *, threshold: int, min_sessions: int, one_group: bool = False
) -> list[tuple[str, Cell, str]]:
    """The figures as (label, value, kind); ``one_group`` leaves out "groups with sessions
    held", which for a single group's report is always one."""
    groups: list[tuple[str, Cell, str]] = (
        [] if one_group else [(_("Groups with sessions held"), f.groups, INT)]
    )
    return [
        *groups,
        (_("Sessions held"), f.sessions_held, INT),
        (_("Sessions cancelled"), f.sessions_cancelled, INT),
        (_("Hours delivered"), f.hours_delivered, HOURS),
        (_("Participations"), f.participations, INT),
        (_("of which by parents whose data was erased"), f.erased_participations, INT),
        (_("Parents counted"), f.parents, INT),
        (_("Families reached (at least 1 session)"), f.families_reached, INT),
        (_("Families reached (at least {n} sessions)").format(n=min_sessions), f.families_reached_n, INT),
        (_("Further families whose data was erased (at least)"), f.erased_families_min, INT),
        (_("Regular participants (at least {t} %)").format(t=threshold), f.regular_parents, INT),
        (_("Mean attendance rate per parent"), f.mean_parent_rate, PERCENT),
        (_("Median attendance rate per parent"), f.median_parent_rate, PERCENT),
        (_("Mean attendance rate per session"), f.mean_session_rate, PERCENT),
        (_("Median attendance rate per session"), f.median_session_rate, PERCENT),
        (_("Mean participants per session"), f.mean_headcount, DECIMAL),
        (_("Facilitator hours"), f.facilitator_hours, HOURS),
        (_("of which estimated from the schedule"), f.facilitator_hours_estimated, HOURS),
    ]


def _summary_table(rows: Sequence[tuple[str, Cell, str]]) -> Table:
    """A two-column "figure, value" table from (label, value, kind) rows."""
    return Table(
        key="summary",
        title=_("Summary"),
        columns=(Column(_("Figure"), TEXT), Column(_("Value"), TEXT)),
        rows=tuple((label, value) for label, value, _kind in rows),
        row_kinds=tuple(kind for _label, _value, kind in rows),
    )


def centre_report_tables(report: CentreReport) -> list[Table]:
    """The report's three tables, with headers in the current language."""
    summary_rows: list[tuple[str, Cell, str]] = [
        (_("Centre"), report.centre_name, TEXT),
        (_("From"), report.date_from, DATE),
        (_("To"), report.date_to, DATE),
        (_("Regular participation threshold (%)"), report.threshold, INT),
        (_("Minimum sessions for 'families reached'"), report.min_sessions, INT),
        *_figures_rows(report.figures.summary, threshold=report.threshold, min_sessions=report.min_sessions),
    ]
    summary = _summary_table(summary_rows)
    n, t = report.min_sessions, report.threshold
    groups = Table(
        key="groups",
        title=_("Groups"),
        columns=(
            Column(_("Group"), TEXT),
            Column(_("KiTa"), TEXT),
            Column(_("Group languages"), TEXT),
            Column(_("Sessions held"), INT),
            Column(_("Sessions cancelled"), INT),
            Column(_("Hours delivered"), HOURS),
            Column(_("Participations"), INT),
            Column(_("Mean participants per session"), DECIMAL),
            Column(_("Parents counted"), INT),
            Column(_("Families reached (at least 1 session)"), INT),
            Column(_("Families reached (at least {n} sessions)").format(n=n), INT),
            Column(_("Regular participants (at least {t} %)").format(t=t), INT),
            Column(_("Mean attendance rate per parent (%)"), PERCENT),
            Column(_("Median attendance rate per parent (%)"), PERCENT),
            Column(_("Mean attendance rate per session (%)"), PERCENT),
            Column(_("Facilitator hours"), HOURS),
            Column(_("Facilitator hours estimated from the schedule"), HOURS),
        ),
        rows=tuple(
            (
                info.name,
                info.site_name,
                ", ".join(info.languages),
                f.sessions_held,
                f.sessions_cancelled,
                f.hours_delivered,
                f.participations,
                f.mean_headcount,
                f.parents,
                f.families_reached,
                f.families_reached_n,
                f.regular_parents,
                f.mean_parent_rate,
                f.median_parent_rate,
                f.mean_session_rate,
                f.facilitator_hours,
                f.facilitator_hours_estimated,
            )
            for info, f in report.figures.groups
        ),
    )
    months = Table(
        key="months",
        title=_("By month"),
        columns=(
            Column(_("Month"), MONTH),
            Column(_("Sessions held"), INT),
            Column(_("Hours delivered"), HOURS),
            Column(_("Participations"), INT),
            Column(_("Families reached"), INT),
            Column(_("Mean participants per session"), DECIMAL),
            Column(_("Mean attendance rate per session (%)"), PERCENT),
            Column(_("Facilitator hours"), HOURS),
        ),
        rows=tuple(
            (
                m.month,
                m.sessions_held,
                m.hours_delivered,
                m.participations,
                m.families_reached,
                m.mean_headcount,
                m.mean_session_rate,
                m.facilitator_hours,
            )
            for m in report.figures.months
        ),
    )
    return [summary, groups, months]


def group_matrix_tables(matrix: GroupMatrix, *, min_sessions: int) -> list[Table]:
    """A group's matrix as three tables: its figures, parents × sessions, and the sessions."""
    zone = ZoneInfo(matrix.timezone)

    def day(value: dt.datetime | None) -> dt.date | None:
        return value.astimezone(zone).date() if value is not None else None

    summary_rows: list[tuple[str, Cell, str]] = [
        (_("Group"), matrix.group.name, TEXT),
        (_("KiTa"), matrix.group.site_name, TEXT),
        (_("From"), matrix.cycle_start, DATE),
        (_("To"), matrix.cycle_end, DATE),
        (_("Regular participation threshold (%)"), matrix.threshold, INT),
        *_figures_rows(matrix.summary, threshold=matrix.threshold, min_sessions=min_sessions, one_group=True),
    ]
    summary = _summary_table(summary_rows)
    sessions = [f.session for f in matrix.figures.sessions]
    # A column per session, headed by its local date (and time, where a day has two).
    per_day = Counter(s.day for s in sessions)
    headers = [
        f"{s.day.isoformat()} {s.starts_at.astimezone(zone):%H:%M}"
        if per_day[s.day] > 1
        else s.day.isoformat()
        for s in sessions
    ]
    labels = cell_labels()
    attendance = Table(
        key="attendance",
        title=_("Attendance"),
        columns=(
            Column(_("Parent"), TEXT),
            Column(_("In the group since"), DATE),
            Column(_("Left on"), DATE),
            *(Column(h, TEXT) for h in headers),
            Column(_("Attended"), INT),
            Column(_("Sessions held while in the group"), INT),
            Column(_("Excused"), INT),
            Column(_("Attendance rate (%)"), PERCENT),
            Column(_("Regular participation"), TEXT),
        ),
        rows=tuple(
            (
                p.display_name,
                day(p.enrolled_at),
                day(p.left_at),
                *(labels[code][1] for code in p.line.cells),
                p.line.attended,
                p.line.held,
                p.line.excused,
                p.line.rate,
                (_("yes") if p.line.regular(matrix.threshold) else _("no")) if p.line.held else None,
            )
            for p in matrix.parents
        ),
    )
    status = {
        "scheduled": _("scheduled"),
        "live": _("running"),
        "ended": _("ended"),
        "cancelled": _("cancelled"),
    }
    session_table = Table(
        key="sessions",
        title=_("Sessions"),
        columns=(
            Column(_("Date"), DATE),
            Column(_("Time"), TEXT),
            Column(_("Status"), TEXT),
            Column(_("Held"), TEXT),
            Column(_("Participants"), INT),
            Column(_("Parents in the group"), INT),
            Column(_("Session rate (%)"), PERCENT),
            Column(_("of which by parents whose data was erased"), INT),
        ),
        rows=tuple(
            (
                f.session.day,
                f"{f.session.starts_at.astimezone(zone):%H:%M}–{f.session.ends_at.astimezone(zone):%H:%M}",
                status.get(f.session.status, f.session.status),
                _("yes") if f.session.held else _("no"),
                f.headcount if f.session.held else None,
                f.expected if f.session.held else None,
                f.rate if f.session.held else None,
                f.erased_attended if f.session.held else None,
            )
            for f in matrix.figures.sessions
        ),
    )
    return [summary, attendance, session_table]


def _safe_text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _csv_value(value: Cell, kind: str, decimal_mark: str) -> str:
    if value is None:
        return ""
    if kind == TEXT or isinstance(value, str):
        return _safe_text(str(value))
    if kind == DATE and isinstance(value, dt.date):
        return value.isoformat()
    if kind == MONTH and isinstance(value, dt.date):
        return value.strftime("%Y-%m")
    if kind == INT:
        return str(value)
    if isinstance(value, int | float):
        number = value * 100 if kind == PERCENT else value
        return f"{number:.{_DECIMALS.get(kind, 2)}f}".replace(".", decimal_mark)
    return str(value)


def _filename(report: CentreReport, suffix: str = "") -> str:
    return (
        f"rucksack-{report.centre_slug}-{report.date_from.isoformat()}-{report.date_to.isoformat()}{suffix}"
    )


def centre_report_csv(report: CentreReport, *, table: str = "all", separator: str = ",") -> ExportFile:
    _check_csv_options(table, separator, TABLES)
    return _csv_file(centre_report_tables(report), table, separator, _filename(report, ""))


def group_matrix_csv(
    matrix: GroupMatrix, *, min_sessions: int, table: str = "all", separator: str = ","
) -> ExportFile:
    _check_csv_options(table, separator, GROUP_TABLES)
    return _csv_file(
        group_matrix_tables(matrix, min_sessions=min_sessions), table, separator, _group_filename(matrix)
    )


def _group_filename(matrix: GroupMatrix) -> str:
    # The group's name is typed by people (any script); the id keeps the file name plain ASCII.
    return f"rucksack-group-{matrix.group.id}-attendance-{matrix.cycle_start.isoformat()}"


def _check_csv_options(table: str, separator: str, tables: Sequence[str]) -> None:
    if separator not in (",", ";"):
        raise InvalidInput(_("the separator is ',' or ';'"), field="sep")
    if table != "all" and table not in tables:
        raise InvalidInput(
            _("table must be all or one of %(choices)s") % {"choices": ", ".join(tables)}, field="table"
        )


def _csv_file(tables: Sequence[Table], table: str, separator: str, stem: str) -> ExportFile:
    decimal_mark = "," if separator == ";" else "."
    chosen = [t for t in tables if table in ("all", t.key)]
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=separator, lineterminator="\r\n")
    for index, t in enumerate(chosen):
        if table == "all":
            if index:
                writer.writerow([])
            writer.writerow([t.title])
        writer.writerow([c.header for c in t.columns])
        for r, row in enumerate(t.rows):
            writer.writerow([_csv_value(v, t.kind(r, c), decimal_mark) for c, v in enumerate(row)])
    suffix = f"-{table}.csv" if table != "all" else ".csv"
    return ExportFile(stem + suffix, CSV_TYPE, ("\ufeff" + buf.getvalue()).encode("utf-8"))


def _sheet_title(title: str) -> str:
    # Excel allows 31 characters and none of []:*?/\ in a sheet name.
    return "".join(ch for ch in title if ch not in "[]:*?/\\")[:31]


def _widths(table: Table) -> Sequence[int]:
    widths = [len(c.header) for c in table.columns]
    for row in table.rows:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(str(value)) if isinstance(value, str) else 10)
    return [min(max(w + 2, 8), 60) for w in widths]


def centre_report_xlsx(report: CentreReport) -> ExportFile:
    return _xlsx_file(centre_report_tables(report), _filename(report, ".xlsx"))


def group_matrix_xlsx(matrix: GroupMatrix, *, min_sessions: int) -> ExportFile:
    return _xlsx_file(
        group_matrix_tables(matrix, min_sessions=min_sessions), _group_filename(matrix) + ".xlsx"
    )


def _xlsx_file(tables: Sequence[Table], filename: str) -> ExportFile:
    workbook = Workbook()
    default = workbook.active
    if default is not None:
        workbook.remove(default)
    bold = Font(bold=True)
    for table in tables:
        sheet = workbook.create_sheet(_sheet_title(table.title))
        sheet.append([c.header for c in table.columns])
        for cell in sheet[1]:
            cell.font = bold
        for r, row in enumerate(table.rows, start=2):
            for c, value in enumerate(row, start=1):
                kind = table.kind(r - 2, c - 1)
                cell = sheet.cell(row=r, column=c)
                if isinstance(value, str):
                    cell.value = value
                    # Stored as a string even if it starts with "=": never a formula.
                    cell.data_type = "s"
                else:
                    cell.value = value
                if kind in _XLSX_FORMATS and value is not None:
                    cell.number_format = _XLSX_FORMATS[kind]
        sheet.freeze_panes = "A2"
        for i, width in enumerate(_widths(table), start=1):
            sheet.column_dimensions[get_column_letter(i)].width = width
    buf = io.BytesIO()
    workbook.save(buf)
    return ExportFile(filename, XLSX_TYPE, buf.getvalue())
