"""Reading an uploaded spreadsheet (XLSX or CSV) into rows of cells by field, within limits.

CPU-bound: callers run ``read_rows`` off the event loop. The file is read as a stream and every
limit is checked while reading, so a small hostile file cannot make a large one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import time
import zipfile
from collections.abc import Generator
from typing import Any
from xml.parsers import expat

from openpyxl import load_workbook
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

COLUMNS: tuple[tuple[str, str], ...] = (
    ("year", "År"),
    ("huvudman.name", "Huvudman"),
    ("huvudman.lan_kod", "Länskod"),
    ("huvudman.type", "Huvudmannatyp"),
    ("ref", "Ref"),
    ("title", "Titel"),
    ("description", "Beskrivning"),
    ("status", "Status"),
    ("school_forms", "Skolformer"),
    ("expected_effects", "Förväntade effekter"),
    ("actual_effects", "Faktiska effekter"),
    ("nsp_area", "NSP-område"),
)
HEADERS = tuple(h for _k, h in COLUMNS)
MAX_ROWS = 5_000  # insatser per file
MAX_SHEET_ROWS = MAX_ROWS + 1_000  # rows read, blank ones included
MAX_COLUMNS = 50  # the template has 12; room for a column or two of the user's own notes
MAX_SHEET_COLUMNS = 1_000  # what a sheet may declare (whole formatted columns); more is refused
MAX_CELL_CHARS = 10_000  # the longest text field; a longer cell is refused as it is read
MAX_UNPACKED_BYTES = 50_000_000  # an .xlsx is a zip: its parts unpacked, at most
MAX_READ_S = 8.0  # reading one file, at most: a file that takes longer is refused, not waited for
# Read-only openpyxl streams the worksheet but reads every other part whole (shared strings,
# styles, names) before the first row, whatever the part is called. Those parts are counted as
# they stream first, by element, and refused at the first excess before openpyxl builds anything.
# The template: 12 columns, at most MAX_ROWS rows, so 13 texts a row and a handful of styles.
MAX_OTHER_PART_BYTES = 25_000_000  # every part but the worksheets, unpacked, together
MAX_OTHER_ELEMENTS = (MAX_ROWS + 1) * 13 * 8  # their XML elements together (rich text has a few per text)
MAX_STYLES = 20_000  # formats, fonts, fills, borders, number formats, named styles
STYLE_TAGS = frozenset({"xf", "font", "fill", "border", "numFmt", "dxf", "cellStyle"})
MAX_SHARED_STRINGS = (MAX_ROWS + 1) * 13  # distinct texts, every cell a different one


class UnreadableFile(ValueError):
    """The file is not a spreadsheet this template describes."""


def read_rows(filename: str, content: bytes) -> list[tuple[int, dict[str, str]]]:
    """(spreadsheet row number, cells by field key), empty rows left out.

    CPU-bound: run it off the event loop. The file is read as a stream and every limit is checked
    while reading (``MAX_SHEET_ROWS``, ``MAX_COLUMNS``, ``MAX_CELL_CHARS``; for XLSX also the
    declared dimension, the unpacked size, the shared strings, styles and names counted as they
    stream before openpyxl reads them whole, and ``MAX_READ_S`` in all), so a small hostile file
    cannot make a large one.
    """
    if filename.lower().endswith(".xlsx"):
        raw = _xlsx_rows(content)
    elif filename.lower().endswith(".csv"):
        raw = _csv_rows(content)
    else:
        raise UnreadableFile("Filen måste vara .xlsx eller .csv.")
    with contextlib.closing(raw):
        first = next(raw, None)
        if first is None:
            raise UnreadableFile("Filen är tom.")
        header = [h.strip() for h in _bounded(1, first)]
        missing = [h for h in HEADERS if h not in header]
        if missing:
            raise UnreadableFile(f"Kolumner saknas: {', '.join(missing)}. Använd mallen.")
        index = {key: header.index(title) for key, title in COLUMNS}
        rows: list[tuple[int, dict[str, str]]] = []
        for number, cells in enumerate(raw, start=2):
            if number > MAX_SHEET_ROWS or len(rows) >= MAX_ROWS:
                raise UnreadableFile(f"Högst {MAX_ROWS} rader per fil.")
            cells = _bounded(number, cells)
            values = {key: (cells[i].strip() if i < len(cells) else "") for key, i in index.items()}
            if any(values.values()):
                rows.append((number, values))
    return rows


def _bounded(number: int, cells: list[str]) -> list[str]:
    """The row's cells, refused if it has too many or one is too long."""
    if len(cells) > MAX_COLUMNS:
        if any(c.strip() for c in cells[MAX_COLUMNS:]):
            raise UnreadableFile(f"Rad {number} har fler än {MAX_COLUMNS} kolumner.")
        cells = cells[:MAX_COLUMNS]
    if any(len(c) > MAX_CELL_CHARS for c in cells):
        raise UnreadableFile(
            f"Rad {number} har en cell med mer än {MAX_CELL_CHARS:,} tecken.".replace(",", " ")
        )
    return cells


def _xlsx_rows(content: bytes) -> Generator[list[str], None, None]:
    deadline = time.monotonic() + MAX_READ_S
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
            if unpacked > MAX_UNPACKED_BYTES:
                raise UnreadableFile("Filen är för stor när den packas upp. Använd mallen.")
            _within_budget(archive, deadline)
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except UnreadableFile:
        raise
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise UnreadableFile("Filen kunde inte läsas som Excel (.xlsx).") from exc
    try:
        sheet = book["Insatser"] if "Insatser" in book.sheetnames else book.worksheets[0]
        if not isinstance(sheet, ReadOnlyWorksheet):
            raise UnreadableFile("Filen saknar ett kalkylblad med insatser.")
        rows, columns = sheet.max_row or 0, sheet.max_column or 0  # as the file declares them
        if rows > MAX_SHEET_ROWS or columns > MAX_SHEET_COLUMNS:
            raise UnreadableFile(
                f"Kalkylbladet anger {rows} rader och {columns} kolumner; högst {MAX_ROWS} rader "
                f"och {MAX_COLUMNS} kolumner. Klistra in raderna i mallen."
            )
        sheet.reset_dimensions()  # pad no row to the declared width
        cells = sheet.iter_rows(max_row=MAX_SHEET_ROWS + 1, max_col=MAX_COLUMNS + 1, values_only=True)
        for row in cells:
            if time.monotonic() > deadline:
                raise UnreadableFile(TOO_SLOW)
            yield ["" if v is None else _cell(v) for v in row]
    except UnreadableFile:
        raise
    except Exception as exc:  # a broken part of the workbook shows only while it is read
        raise UnreadableFile("Filen kunde inte läsas som Excel (.xlsx).") from exc
    finally:
        book.close()


TOO_SLOW = (
    f"Filen tog mer än {MAX_READ_S:.0f} sekunder att läsa. Klistra in raderna i mallen och försök igen."
)


def _within_budget(archive: zipfile.ZipFile, deadline: float) -> None:
    """Count every part but the worksheets as it streams; refuse the file at the first excess."""
    others = [i for i in archive.infolist() if not i.filename.startswith("xl/worksheets/")]
    if sum(i.file_size for i in others) > MAX_OTHER_PART_BYTES:  # zipfile reads no more than declared
        raise UnreadableFile(_too_many("texter och format"))
    counts = {"elements": 0, "strings": 0, "styles": 0}

    def started(name: str, _attributes: object) -> None:
        tag = name.rsplit(" ", 1)[-1]  # "namespace tag" → tag
        counts["elements"] += 1
        counts["strings"] += tag == "si"
        counts["styles"] += tag in STYLE_TAGS

    for info in others:
        if not info.filename.endswith((".xml", ".rels")):
            continue
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.StartElementHandler = started
        with archive.open(info) as stream:
            while chunk := stream.read(65_536):
                parser.Parse(chunk, False)
                if counts["strings"] > MAX_SHARED_STRINGS or counts["elements"] > MAX_OTHER_ELEMENTS:
                    raise UnreadableFile(_too_many("texter"))
                if counts["styles"] > MAX_STYLES:
                    raise UnreadableFile(_too_many("format"))
                if time.monotonic() > deadline:
                    raise UnreadableFile(TOO_SLOW)
            parser.Parse(b"", True)


def _too_many(what: str) -> str:
    return f"Filen innehåller för många {what}. Klistra in raderna i mallen och spara utan extra formatering."


def _cell(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _csv_rows(content: bytes) -> Generator[list[str], None, None]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("cp1252", errors="replace")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    try:
        yield from csv.reader(io.StringIO(text), delimiter=delimiter)
    except csv.Error as exc:  # a field over the csv module's own limit, a NUL, a broken quote
        raise UnreadableFile(
            f"Filen kunde inte läsas som CSV (en cell är för lång eller felaktig, högst "
            f"{MAX_CELL_CHARS} tecken per cell)."
        ) from exc
