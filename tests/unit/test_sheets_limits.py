"""Hostile spreadsheets are refused while they are read: a huge declared dimension, rows far down,
too many columns, overlong cells, a zip that unpacks to far more than it weighs."""

from __future__ import annotations

import io
import re
import time
import tracemalloc
import zipfile

import pytest
from openpyxl import Workbook

from services.intake.sheets import HEADERS, MAX_ROWS, UnreadableFile, read_rows


def workbook(rows: list[list[str]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Insatser"
    sheet.append(list(HEADERS))
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def rewritten(content: bytes, change: dict[str, tuple[str, str]]) -> bytes:
    """The workbook with a regex replacement in some of its parts."""
    source, out = zipfile.ZipFile(io.BytesIO(content)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename in change:
                pattern, replacement = change[info.filename]
                data = re.sub(pattern.encode(), replacement.encode(), data, count=1)
            target.writestr(info, data)
    return out.getvalue()


ROW = ["2020", "Kommun", "14", "kommunal", "gu-1", "Titel", "", "påbörjad", "grundskola", "", "", ""]
SHEET = "xl/worksheets/sheet1.xml"


def refused_quickly_and_small(content: bytes, filename: str = "x.xlsx") -> str:
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(UnreadableFile) as caught:
        read_rows(filename, content)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 5, elapsed
    assert peak < 100_000_000, peak
    return str(caught.value)


def test_a_small_xlsx_declaring_a_huge_dimension_is_refused_before_any_row_is_padded() -> None:
    hostile = rewritten(
        workbook([ROW]), {SHEET: (r'<dimension ref="[^"]+"', '<dimension ref="A1:XFD1048576"')}
    )
    assert len(hostile) < 10_000
    assert "anger 1048576 rader och 16384 kolumner" in refused_quickly_and_small(hostile)


def test_a_row_far_down_with_no_dimension_is_refused_as_it_is_reached() -> None:
    far = rewritten(
        workbook([ROW]),
        {
            SHEET: (
                r'<row r="2"(.*?)</row>',
                '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>',
            )
        },
    )
    far = rewritten(far, {SHEET: (r'<dimension ref="[^"]+"/>', "")})
    assert f"Högst {MAX_ROWS} rader" in refused_quickly_and_small(far)


def test_an_overlong_cell_is_refused_with_its_row() -> None:
    long_cell = workbook([ROW, [*ROW[:6], "x" * 20_000, *ROW[7:]]])
    assert "Rad 3 har en cell med mer än" in refused_quickly_and_small(long_cell)


def test_a_zip_bomb_is_refused_by_its_unpacked_size() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        bomb.writestr("xl/sharedStrings.xml", b"<" + b" " * 60_000_000)
    assert len(out.getvalue()) < 200_000
    assert "Excel" in refused_quickly_and_small(out.getvalue()) or "packas upp" in refused_quickly_and_small(
        out.getvalue()
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("\n".join([";".join(HEADERS)] + [";".join(ROW)] * (MAX_ROWS + 1)), f"Högst {MAX_ROWS} rader"),
        (";".join(HEADERS) + "\n" + ";".join(ROW) + ";x" * 60 + "\n", "fler än 50 kolumner"),
        (";".join(HEADERS) + "\n" + ";".join(ROW[:6]) + ";" + "x" * 200_000 + "\n", "tecken"),
    ],
    ids=["rows", "columns", "field-over-csv-limit"],
)
def test_hostile_csv_files_are_refused_with_a_reason(content: str, message: str) -> None:
    assert message in refused_quickly_and_small(content.encode(), "x.csv")


def test_trailing_empty_columns_from_a_spreadsheet_export_are_fine() -> None:
    rows = read_rows("x.csv", (";".join(HEADERS) + "\n" + ";".join(ROW) + ";" * 80 + "\n").encode())
    assert [number for number, _ in rows] == [2]


def test_a_nul_in_a_cell_is_a_row_error_not_a_database_error() -> None:
    from services.intake.upload import dry_run

    named = [*ROW[:1], "Kom\x00mun", *ROW[2:]]
    result = dry_run(read_rows("x.csv", (";".join(HEADERS) + "\n" + ";".join(named) + "\n").encode()), "gu")
    assert [(e.row, e.column) for e in result.errors] == [(2, "Huvudman")]
    assert result.reports == []
