"""CSV and XLSX files of the centre report, read back with the csv module and openpyxl."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from orchestrator import i18n
from orchestrator.errors import InvalidInput
from orchestrator.reports import aggregate as agg
from orchestrator.reports import exports
from orchestrator.reports.aggregate import EnrolmentFact, GroupInfo, Mark
from orchestrator.reports.services import CentreReport, GroupMatrix, MatrixParent
from tests.unit.reports.test_aggregate import NOW, day, session


@pytest.fixture(autouse=True)
def english():
    """Headers in the English source strings, whichever catalogs exist."""
    with i18n.language_scope("en"):
        yield


@pytest.fixture
def report() -> CentreReport:
    sessions = [session(1, day(9, 8)), session(2, day(9, 15)), session(3, day(10, 6), minutes=60)]
    figures = agg.group_figures(
        1,
        sessions,
        [EnrolmentFact(1, 1, dt.date(2026, 9, 1)), EnrolmentFact(2, 1, dt.date(2026, 9, 1))],
        [Mark(1, 1, "present"), Mark(2, 1, "present"), Mark(3, 1, "partial"), Mark(1, 2, "present")],
    )
    info = GroupInfo(1, '=HYPERLINK("x")', "KiTa Sonnenschein", ("tr", "ar"), 1)
    return CentreReport(
        centre_id=1,
        centre_name="KI Köln",
        centre_slug="ki-koeln",
        timezone="Europe/Berlin",
        date_from=dt.date(2026, 8, 1),
        date_to=dt.date(2027, 7, 31),
        threshold=50,
        default_threshold=50,
        min_sessions=2,
        generated_at=NOW,
        figures=agg.centre_figures([info], {1: figures}, {1: 90}, threshold_percent=50, min_sessions=2),
    )


def read_sections(body: bytes, delimiter: str) -> dict[str, list[list[str]]]:
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=delimiter))
    sections: dict[str, list[list[str]]] = {}
    current: list[list[str]] = []
    for row in rows:
        if not row:
            continue
        if len(row) == 1:
            current = sections.setdefault(row[0], [])
        else:
            current.append(row)
    return sections


def test_csv_all_tables_comma(report):
    file = exports.centre_report_csv(report)
    assert file.filename == "rucksack-ki-koeln-2026-08-01-2027-07-31.csv"
    assert file.content_type.startswith("text/csv")
    sections = read_sections(file.body, ",")
    assert list(sections) == ["Summary", "Groups", "By month"]
    summary = {row[0]: row[1] for row in sections["Summary"][1:]}
    assert summary["Centre"] == "KI Köln"
    assert summary["From"] == "2026-08-01"
    assert summary["Sessions held"] == "3"
    assert summary["Hours delivered"] == "4.00"
    assert summary["Participations"] == "4"
    # Parent 1: 3 of 3; parent 2: 1 of 3 -> mean 66.7 %.
    assert summary["Mean attendance rate per parent"] == "66.7"
    assert summary["Families reached (at least 2 sessions)"] == "1"
    header, row = sections["Groups"]
    group = dict(zip(header, row, strict=True))
    # A name that looks like a formula stays text.
    assert group["Group"] == '\'=HYPERLINK("x")'
    assert group["Group languages"] == "tr, ar"
    assert group["Sessions held"] == "3"
    assert group["Mean participants per session"] == "1.3"
    months = sections["By month"]
    assert months[0][0] == "Month"
    assert [r[0] for r in months[1:]] == ["2026-09", "2026-10"]


def test_csv_for_german_excel(report):
    file = exports.centre_report_csv(report, separator=";", table="summary")
    assert file.filename.endswith("-summary.csv")
    text = file.body.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == ["Figure", "Value"]  # no title line for a single table
    summary = {r[0]: r[1] for r in rows[1:]}
    assert summary["Hours delivered"] == "4,00"
    assert summary["Mean attendance rate per parent"] == "66,7"
    assert "\r\n" in text


def test_csv_rejects_unknown_options(report):
    with pytest.raises(InvalidInput):
        exports.centre_report_csv(report, separator="|")
    with pytest.raises(InvalidInput):
        exports.centre_report_csv(report, table="parents")


def test_xlsx_has_typed_cells(report):
    file = exports.centre_report_xlsx(report)
    assert file.filename.endswith(".xlsx")
    book = load_workbook(io.BytesIO(file.body))
    assert book.sheetnames == ["Summary", "Groups", "By month"]
    summary = {row[0].value: row[1] for row in book["Summary"].iter_rows(min_row=2)}
    assert summary["Sessions held"].value == 3
    assert isinstance(summary["Sessions held"].value, int)
    assert summary["From"].value == dt.datetime(2026, 8, 1)
    assert summary["From"].is_date
    assert summary["Hours delivered"].value == pytest.approx(4.0)
    assert summary["Mean attendance rate per parent"].value == pytest.approx(2 / 3)
    assert summary["Mean attendance rate per parent"].number_format == "0.0%"
    groups = book["Groups"]
    assert groups["A1"].font.bold
    assert groups.freeze_panes == "A2"
    header = [c.value for c in groups[1]]
    row = dict(zip(header, [c.value for c in groups[2]], strict=True))
    assert row["Group"] == '=HYPERLINK("x")'
    assert groups["A2"].data_type == "s"  # text, not a formula
    assert row["Participations"] == 4
    months = book["By month"]
    assert months["A2"].value == dt.datetime(2026, 9, 1)
    assert months["A2"].number_format == "yyyy-mm"


# --- a group's matrix ---------------------------------------------------------------------------


def group_matrix(sessions, enrolments, marks) -> GroupMatrix:
    info = GroupInfo(7, "=SUM(A1)", "KiTa Sonnenschein", ("tr",), 1)
    figures = agg.group_figures(7, sessions, enrolments, marks)
    return GroupMatrix(
        group=info,
        centre_id=1,
        cycle_start=dt.date(2026, 9, 1),
        cycle_end=dt.date(2027, 2, 28),
        timezone="Europe/Berlin",
        threshold=50,
        default_threshold=50,
        figures=figures,
        summary=agg.figures_for_group(info, figures, {}, threshold_percent=50),
        parents=tuple(
            MatrixParent(
                line.parent_id, f"Parent {line.parent_id}", dt.datetime(2026, 9, 1, tzinfo=dt.UTC), None, line
            )
            for line in figures.lines
        ),
    )


def test_group_matrix_columns_name_each_session_by_its_local_date():
    # Two sessions on 8 September (a make-up session in the evening): their columns add the time.
    sessions = [
        session(1, day(9, 8)),
        session(2, dt.datetime(2026, 9, 8, 16, 0, tzinfo=dt.UTC)),
        session(3, day(9, 15)),
    ]
    matrix = group_matrix(
        sessions, [EnrolmentFact(1, 7, dt.date(2026, 9, 1))], [Mark(1, 1, "present"), Mark(3, 1, "excused")]
    )
    _, attendance, sessions_table = exports.group_matrix_tables(matrix, min_sessions=6)
    headers = [c.header for c in attendance.columns]
    assert headers[3:6] == ["2026-09-08 10:00", "2026-09-08 18:00", "2026-09-15"]
    (row,) = attendance.rows
    assert row[3:6] == ("present", "no record (counts as not attended)", "excused")
    assert row[6:] == (1, 3, 1, pytest.approx(1 / 3), "no")
    assert [r[1] for r in sessions_table.rows] == ["10:00–11:30", "18:00–19:30", "10:00–11:30"]


def test_group_matrix_csv_keeps_a_formula_like_group_name_as_text():
    matrix = group_matrix([session(1, day(9, 8))], [EnrolmentFact(1, 7, dt.date(2026, 9, 1))], [])
    file = exports.group_matrix_csv(matrix, min_sessions=6, table="summary", separator=";")
    assert file.filename == "rucksack-group-7-attendance-2026-09-01-summary.csv"
    rows = list(csv.reader(io.StringIO(file.body.decode("utf-8-sig")), delimiter=";"))
    assert rows[1] == ["Group", "'=SUM(A1)"]
    with pytest.raises(InvalidInput):
        exports.group_matrix_csv(matrix, min_sessions=6, table="groups")


def test_every_matrix_cell_has_a_symbol_and_a_text():
    assert set(exports.cell_labels()) == set(agg.CELL_CODES)
