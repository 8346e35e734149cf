"""Reading the parents' CSV file: encodings, separators, headers, and every broken row reported."""

from __future__ import annotations

from orchestrator.groups import csv_import


def problems(result: csv_import.ParsedFile) -> set[tuple[int, str]]:
    return {(e.line, e.column) for e in result.errors}


def test_semicolons_bom_and_crlf_from_german_excel():
    data = "\ufeffDisplay Name;Language;SMS-Consent;Phone\r\nAyşe;tr;ja;0171 1234567\r\n".encode()
    result = csv_import.parse(data)
    assert result.errors == []
    [row] = result.rows
    assert (row.line, row.display_name, row.language, row.phone, row.sms_consent) == (
        2,
        "Ayşe",
        "tr",
        "+491711234567",
        True,
    )
    assert (row.email, row.email_consent) == (None, False)


def test_commas_and_tabs_are_recognised_from_the_header():
    assert csv_import.parse(b"display_name,language\nAnna,de\n").rows[0].display_name == "Anna"
    assert csv_import.parse(b"display_name\tlanguage\nAnna\tde\n").rows[0].language == "de"
    # A separator inside quotes in the header does not count.
    result = csv_import.parse(b'"display_name",language\n"Anna; Maria",de\n')
    assert result.rows[0].display_name == "Anna; Maria"


def test_line_numbers_count_blank_lines_and_multi_line_cells():
    data = b'display_name;language\n\n"Anna\nMaria";de\n;xx\n'
    result = csv_import.parse(data)
    # The quoted name spans lines 3-4 and contains a line break: a name must not.
    assert problems(result) == {(3, "display_name"), (5, "display_name"), (5, "language")}


def test_every_problem_of_a_row_is_reported():
    result = csv_import.parse(b"display_name;language;email;email_consent\n;xx;kaputt;vielleicht\n")
    assert problems(result) == {(2, "display_name"), (2, "language"), (2, "email"), (2, "email_consent")}
    assert result.rows == []


def test_short_rows_are_padded_and_long_rows_refused():
    result = csv_import.parse(b"display_name;language;phone\nAnna;de\nBea;de;;;extra\nCem;tr;;;\n")
    assert [r.display_name for r in result.rows] == ["Anna", "Cem"]
    assert problems(result) == {(3, "row")}


def test_header_problems_stop_before_the_rows():
    result = csv_import.parse(b"display_name;display_name;sprache\nAnna;Anna;de\n")
    assert problems(result) == {(1, "display_name"), (1, "sprache"), (1, "language")}
    assert result.rows == []


def test_size_and_row_limits():
    assert problems(csv_import.parse(b"x" * 11, max_bytes=10)) == {(0, "file")}
    data = b"display_name;language\n" + b"".join(b"P%d;de\n" % i for i in range(4))
    assert problems(csv_import.parse(data, max_rows=3)) == {(5, "file")}
    assert len(csv_import.parse(data, max_rows=4).rows) == 4


def test_encoding_problems_name_the_line():
    data = "display_name;language\nAnna;de\nJürgen;de\n".encode("cp1252")
    assert problems(csv_import.parse(data)) == {(3, "file")}


def test_empty_and_header_only_files():
    assert problems(csv_import.parse(b"")) == {(0, "file")}
    assert problems(csv_import.parse(b"\n \n")) == {(0, "file")}
    assert problems(csv_import.parse(b"display_name;language\n")) == {(0, "file")}
