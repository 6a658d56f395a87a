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


MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SST_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def bomb(part: str, element: str, count: int, wrapper: str) -> bytes:
    """A workbook whose ``part`` (under any name; the relationships point at it) holds ``count``
    copies of ``element``: tiny packed, huge unpacked."""
    body = f'<?xml version="1.0" encoding="UTF-8"?><{wrapper} xmlns="{MAIN}">{element * count}</{wrapper}>'
    source, out = zipfile.ZipFile(io.BytesIO(workbook([ROW]))), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == part:
                data = body.encode()
            elif info.filename == "xl/_rels/workbook.xml.rels" and part not in source.namelist():
                link = f'<Relationship Id="rIdX" Type="{SST_TYPE}" Target="/{part}"/></Relationships>'
                data = data.replace(b"</Relationships>", link.encode())
            target.writestr(info, data)
        if part not in source.namelist():
            target.writestr(part, body)
    return out.getvalue()


def refused_small(content: bytes) -> str:
    tracemalloc.start()
    with pytest.raises(UnreadableFile) as caught:
        read_rows("x.xlsx", content)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 50_000_000, peak
    return str(caught.value)


@pytest.mark.parametrize(
    ("count", "reason"),
    [(1_400_000, "för många texter"), (2_000_000, "för många texter och format"), (3_000_000, "packas upp")],
)  # counted as they stream; over the parts' byte budget; over the whole file's
def test_millions_of_shared_strings_are_refused_as_they_are_counted(count: int, reason: str) -> None:
    content = bomb("xl/texts.xml", "<si><t>x</t></si>", count, "sst")
    assert len(content) < 200_000
    assert reason in refused_small(content)


def test_hundreds_of_thousands_of_styles_are_refused_before_openpyxl_builds_them() -> None:
    content = bomb("xl/styles.xml", f"<cellXfs>{'<xf/>' * 1000}</cellXfs>", 700, "styleSheet")
    assert "för många format" in refused_small(content)


def test_the_template_with_many_rows_is_within_every_budget() -> None:
    rows = [[*ROW[:4], f"gu-{i}", f"Titel {i}", f"Beskrivning {i}", *ROW[7:]] for i in range(2_000)]
    assert len(read_rows("x.xlsx", workbook(rows))) == 2_000
