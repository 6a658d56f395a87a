"""Uploads as Excel users write them: a länskod without its zero, skolformer and NSP areas by name and
in any case, and the template's example row, which is shown but never sent."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from services.intake.cell_values import lan_code, nsp_code, school_form_codes, status_code
from services.intake.sheets import read_rows
from services.intake.upload import HEADERS, csv_template, dry_run, xlsx_template


@pytest.mark.parametrize(
    ("typed", "code"),
    [("1", "01"), ("01", "01"), (" 14 ", "14"), ("Stockholms län", "01"), ("västra götalands", "14"),
     ("AB", "01"), ("99", "99")],
)  # fmt: skip
def test_a_lan_is_read_by_its_number_with_or_without_zero_or_by_its_name(typed: str, code: str) -> None:
    assert lan_code(typed) == code


def test_skolformer_and_areas_are_read_by_code_or_name_in_any_case() -> None:
    assert school_form_codes("Gymnasieskola; Anpassad grundskola,GRUNDSÄRSKOLA , fritidshem") == [
        "gymnasieskola", "grundsarskola", "grundsarskola", "fritidshem",
    ]  # fmt: skip
    assert school_form_codes("Universitet") == ["Universitet"]  # unknown: left as typed, for the error
    assert nsp_code("Styrning och ledning") == "styrning-och-ledning"
    assert nsp_code("systematiskt kvalitetsarbete") == "systematiskt-kvalitetsarbete"
    assert nsp_code("Systematiskt kvalitetsarbete (SKA)") == "systematiskt-kvalitetsarbete"
    assert nsp_code("") is None
    assert status_code("Genomförd och avslutad/uppföljd") == "completed"
    assert status_code("PÅBÖRJAD") == "started"


def excel_user_file() -> bytes:
    """The template as an Excel user fills it: numbers where Excel makes numbers, names for codes."""
    book = load_workbook(io.BytesIO(xlsx_template()))
    sheet = book["Insatser"]
    rows = [
        (2020, "Exempelkommun", 1, "Kommunal", "gu-x-1", "Studiehandledning", "", "Genomförd",
         "Anpassad grundskola, Gymnasieskola", "", "Fler elever når målen", "Styrning och ledning"),
        (2020, "Exempelkommun", 1, "kommunal", "gu-x-2", "Läsfrämjande", "", "påbörjad",
         "GRUNDSKOLA", "Läslust", "", "nyanlända och flerspråkiga barns och elevers lärande"),
        (2020, "Grannkommunen", "Västra Götalands län", "Kommunal", "gu-x-3", "Kartläggning", "",
         "Påbörjad", "Grundsärskola;Fritidshem", "", "", ""),
    ]  # fmt: skip
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_file_written_as_an_excel_user_would_passes_its_dry_run() -> None:
    result = dry_run(read_rows("insatser.xlsx", excel_user_file()), "gu")
    assert result.errors == []
    assert result.examples == [2]  # the template's example row is left out
    reports = {r.huvudman.name: r for r in result.reports}
    first = reports["Exempelkommun"]
    assert first.huvudman.lan_kod == "01"
    assert first.insatser[0].school_forms == ["grundsarskola", "gymnasieskola"]
    assert first.insatser[0].nsp_area == "styrning-och-ledning"
    assert first.insatser[1].nsp_area == "nyanlanda"
    assert reports["Grannkommunen"].huvudman.lan_kod == "14"
    assert result.insatser == 3


def test_the_template_carries_an_example_row_and_keeps_code_columns_as_text() -> None:
    book = load_workbook(io.BytesIO(xlsx_template()))
    sheet = book["Insatser"]
    header = [c.value for c in sheet[1]]
    assert tuple(header) == HEADERS
    example = dict(zip(header, [c.value for c in sheet[2]], strict=True))
    assert example["Ref"] == "EXEMPEL"
    assert example["Länskod"] == "01"
    for title in ("Länskod", "Ref", "Skolformer", "NSP-område"):
        letter = sheet.cell(row=1, column=header.index(title) + 1).column_letter
        assert sheet.column_dimensions[letter].number_format == "@", title
        assert sheet[f"{letter}2"].number_format == "@", title
    # the example alone is a clean file with nothing to send
    only_example = dry_run(read_rows("mall.xlsx", xlsx_template()), "gu")
    assert (only_example.reports, only_example.errors, only_example.examples) == ([], [], [2])
    assert csv_template().decode("utf-8-sig").splitlines()[1].split(";")[4] == "EXEMPEL"


def test_a_year_outside_the_registry_is_refused_in_an_upload_with_the_span_named() -> None:
    lines = [csv_template().decode("utf-8-sig").splitlines()[0],
             "2035;Exempelkommun;14;kommunal;gu-1;Titel;;påbörjad;grundskola;;;"]  # fmt: skip
    result = dry_run(read_rows("x.csv", "\n".join(lines).encode()), "gu")
    assert [(e.row, e.column) for e in result.errors] == [(2, "År")]
    assert "mellan 2019 och 2026" in result.errors[0].message
