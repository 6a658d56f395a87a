"""The national report for the PM writer: tables as CSV and XLSX, the PM's two charts as PNG and SVG.

The numbers come from the aggregator's count tables through ``national_counts``, the query behind
the national stats API; the dashboards' ``reporting.national_*`` views sum the same tables (a
test holds them equal). Works on PostgreSQL and on the SQLite of ``rucnet dev``.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.aggregator.counting import BASES
from services.aggregator.queries import national_counts
from services.aggregator.tables import RECORDS, ProcessedEvent
from shared.db import create_engine, session_factory
from shared.pages import sv_time
from shared.reference import ReferenceData, load_reference

BAR_COLOUR = "#1f5f8b"
# What each part of an area's bar rests on (counting.BASES order), so a reader sees how much of it
# is the classifier's unreviewed tag. Colours: dark to light, and the light one hatched (no colour alone).
BASIS_NAMES = {
    "confirmed": "bekräftat av analytiker",
    "declared": "angivet av samordnaren/RUC",
    "unreviewed": "ej granskat (klassificerarens förslag)",
}
BASIS_STYLE = {"confirmed": ("#1f5f8b", ""), "declared": ("#5b9bd5", ""), "unreviewed": ("#d9e7f3", "//")}


@dataclass(frozen=True)
class Row:
    code: str
    name: str
    n: int
    parts: tuple[int, ...] = ()  # the count per basis (BASES order), for completed insatser per area


@dataclass(frozen=True)
class NationalTables:
    year: int
    started_total: int
    completed_total: int
    started_by_school_form: tuple[Row, ...]
    completed_by_nsp: tuple[Row, ...]
    last_updated: dt.datetime | None

    @property
    def last_updated_text(self) -> str:
        if self.last_updated is None:
            return "inga data"
        return sv_time(self.last_updated) + " (svensk tid)"


def _rows(
    counts: dict[str, int], names: dict[str, str], by_basis: dict[str, dict[str, int]] | None = None
) -> tuple[Row, ...]:
    """Reference order first, then any code the reference does not know; zero counts left out."""
    order = list(names) + sorted(set(counts) - set(names))

    def parts(code: str) -> tuple[int, ...]:
        return () if by_basis is None else tuple(by_basis.get(code, {}).get(b, 0) for b in BASES)

    return tuple(
        Row(code, names.get(code, code), counts[code], parts(code))
        for code in order
        if counts.get(code, 0) > 0
    )


async def national_tables(
    session: AsyncSession, year: int, reference: ReferenceData | None = None
) -> NationalTables:
    reference = reference or load_reference()
    counts = await national_counts(session, year)
    # The name in force when the year began, as the dashboards' views use (2020: "Särvux").
    form_names = {s.code: s.name_on(dt.date(year, 1, 1)) for s in reference.school_forms}
    area_names = {a.code: a.name_sv for a in reference.nsp_areas}
    times = [
        await session.scalar(select(func.max(ProcessedEvent.processed_at))),
        await session.scalar(select(func.max(RECORDS.c.updated_at))),
    ]
    known = [t if t.tzinfo else t.replace(tzinfo=dt.UTC) for t in times if t is not None]
    return NationalTables(
        year=year,
        started_total=counts.started_total,
        completed_total=counts.completed_total,
        started_by_school_form=_rows(counts.started_by_school_form, form_names),
        completed_by_nsp=_rows(counts.completed_by_nsp, area_names, counts.completed_by_nsp_basis),
        last_updated=max(known) if known else None,
    )


def _summary(tables: NationalTables) -> list[tuple[str, object]]:
    return [
        ("År", tables.year),
        ("Påbörjade insatser", tables.started_total),
        (
            "Summa per skolform (en insats kan avse flera skolformer)",
            sum(r.n for r in tables.started_by_school_form),
        ),
        ("Genomförda och uppföljda insatser", tables.completed_total),
        ("Senast uppdaterad", tables.last_updated_text),
    ]


def _sheets(tables: NationalTables) -> dict[str, tuple[list[str], list[tuple[object, ...]]]]:
    """File stem → (header, rows): the same tables go to CSV and to the workbook."""
    y = tables.year
    return {
        f"sammanfattning-{y}": (["Mått", "Värde"], list(_summary(tables))),
        f"paborjade-per-skolform-{y}": (
            ["Kod", "Skolform", "Påbörjade insatser"],
            [(r.code, r.name, r.n) for r in tables.started_by_school_form],
        ),
        f"genomforda-per-nsp-{y}": (
            ["Kod", "NSP-område", "Genomförda och uppföljda insatser"]
            + [f"varav {BASIS_NAMES[b]}" for b in BASES],
            [(r.code, r.name, r.n, *r.parts) for r in tables.completed_by_nsp],
        ),
    }


SHEET_TITLES = ("Sammanfattning", "Påbörjade per skolform", "Genomförda per NSP-område")


def write_tables(tables: NationalTables, out: Path) -> list[Path]:
    paths = []
    workbook = Workbook()
    workbook.remove(workbook.worksheets[0])
    for (stem, (header, rows)), title in zip(_sheets(tables).items(), SHEET_TITLES, strict=True):
        path = out / f"{stem}.csv"
        with path.open("w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f, delimiter=";")  # what Swedish Excel reads, like the upload template
            writer.writerow(header)
            writer.writerows(rows)
        paths.append(path)
        sheet = workbook.create_sheet(title)
        sheet.append(header)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append(list(row))
        for letter, width in zip("ABC", (28, 55, 34), strict=False):
            sheet.column_dimensions[letter].width = width
    xlsx = out / f"rucnet-nationella-tabeller-{tables.year}.xlsx"
    workbook.save(xlsx)
    return [*paths, xlsx]


def bar_chart(rows: tuple[Row, ...], title: str, subtitle: str, source: str) -> Figure:
    """A horizontal bar chart in the PM's style: categories top to bottom, the count at each bar."""
    figure = Figure(figsize=(9, 0.45 * max(len(rows), 1) + 2.2), dpi=150, layout="constrained")
    axes = figure.add_subplot()
    names = [r.name for r in rows]
    values = [r.n for r in rows]
    if rows and all(len(r.parts) == len(BASES) for r in rows):
        _stacked(axes, rows)
    else:
        bars = axes.barh(names, values, color=BAR_COLOUR)
        labels = axes.bar_label(bars, labels=[str(v) for v in values], padding=3, fontsize=9)
        for i, label in enumerate(labels):
            label.set_gid(f"value-{i}")  # findable in the SVG: the number drawn at bar i
    axes.invert_yaxis()
    axes.set_xlabel("Antal insatser")
    axes.set_xlim(0, max(values, default=1) * 1.12)
    axes.spines[["top", "right"]].set_visible(False)
    # Figure-level title and source line: constrained layout makes room for both, so nothing clips.
    figure.suptitle(f"{title}\n{subtitle}", x=0.01, ha="left", fontsize=11)
    figure.supxlabel(source, x=0.01, ha="left", fontsize=7, color="#555555")
    return figure


def _stacked(axes: Any, rows: tuple[Row, ...]) -> None:
    """Each bar split by what its count rests on, the total at its end (``value-i`` as in the plain chart)."""
    names = [r.name for r in rows]
    left = [0] * len(rows)
    for k, basis in enumerate(BASES):
        widths = [r.parts[k] for r in rows]
        colour, hatch = BASIS_STYLE[basis]
        axes.barh(names, widths, left=left, color=colour, hatch=hatch, edgecolor="#1f5f8b", linewidth=0.5,
                  label=BASIS_NAMES[basis])  # fmt: skip
        left = [a + b for a, b in zip(left, widths, strict=True)]
    for i, row in enumerate(rows):
        axes.text(row.n, i, f" {row.n}", va="center", fontsize=9, gid=f"value-{i}")
    axes.legend(loc="lower right", fontsize=8, frameon=False)


def charts(tables: NationalTables) -> dict[str, Figure]:
    y = tables.year
    source = (
        f"Källa: samordnarnas redovisning till RUC {y}, rucnet. "
        f"Data senast uppdaterade {tables.last_updated_text}."
    )
    forms_sum = sum(r.n for r in tables.started_by_school_form)
    return {
        f"paborjade-per-skolform-{y}": bar_chart(
            tables.started_by_school_form,
            f"Påbörjade insatser {y} per skolform",
            f"{tables.started_total} påbörjade insatser; "
            f"en insats kan avse flera skolformer (summa {forms_sum})",
            source,
        ),
        f"genomforda-per-nsp-{y}": bar_chart(
            tables.completed_by_nsp,
            f"Genomförda och uppföljda insatser {y} per NSP-område",
            f"{tables.completed_total} insatser, var och en under ett NSP-område; "
            "stapeln delad efter vad området vilar på",
            source,
        ),
    }


def write_charts(tables: NationalTables, out: Path) -> list[Path]:
    paths = []
    for stem, figure in charts(tables).items():
        png, svg = out / f"{stem}.png", out / f"{stem}.svg"
        figure.savefig(png, format="png", metadata={"Software": None})
        # Text stays text in the SVG (searchable, checkable), without a date that changes each run.
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "rucnet"}):
            figure.savefig(svg, format="svg", metadata={"Date": None})
        paths += [png, svg]
    return paths


async def write_report(database_url: str, year: int, out: Path) -> list[Path]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            tables = await national_tables(session, year)
    finally:
        await engine.dispose()
    return write_files(tables, out)


def write_files(tables: NationalTables, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    return write_tables(tables, out) + write_charts(tables, out)
