"""`rucnet report --year 2020 --out DIR`: the PM's tables and charts from the stored 2020 round."""

from __future__ import annotations

import asyncio
import csv
import re
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from rucnet.cli import app
from rucnet.dataset2020 import (
    COMPLETED_2020,
    COMPLETED_TOTAL_2020,
    STARTED_2020,
    STARTED_TOTAL_2020,
    classified_events_2020,
)
from rucnet.grafana import sql_panels as q
from rucnet.national_report import BASIS_NAMES, NationalTables, charts, national_tables
from services.aggregator.counting import BASES
from services.aggregator.store import apply_events
from shared import topics
from shared.db import create_engine, session_factory
from tests.conftest import new_pg_database

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def load_2020(url: str) -> None:
    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        for event in classified_events_2020():
            async with sessions.begin() as session:
                await apply_events(session, [(event, topics.REPORTS_CLASSIFIED)])
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def pg_2020() -> Iterator[str]:
    """One migrated PostgreSQL database with the 2020 round, shared by the module's tests."""
    with new_pg_database() as url:
        asyncio.run(load_2020(url))
        yield url


async def tables_of(url: str) -> NationalTables:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            return await national_tables(session, 2020)
    finally:
        await engine.dispose()


def run_report(url: str, out: Path) -> list[str]:
    result = CliRunner().invoke(
        app, ["report", "--year", "2020", "--out", str(out)], env={"RUCNET_DATABASE_URL": url}
    )
    assert result.exit_code == 0, result.output
    return result.output.split()


def read_csv(path: Path) -> dict[str, int]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))  # Swedish Excel's separator
    assert all(len(row) == len(rows[0]) >= 3 for row in rows), rows
    return {row[0]: int(row[2]) for row in rows[1:]}


def read_basis_csv(path: Path) -> dict[str, tuple[int, ...]]:
    """The per-basis columns after the count (confirmed, declared, unreviewed)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    assert rows[0][3:] == [f"varav {BASIS_NAMES[b]}" for b in BASES]
    return {row[0]: tuple(int(v) for v in row[3:]) for row in rows[1:]}


def svg_texts(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    return [t.strip() for el in root.iter() if el.tag.endswith("text") for t in el.itertext() if t.strip()]


def bar_values(path: Path) -> list[int]:
    """The numbers drawn at the bars, in bar order (the report tags each with an id)."""
    root = ET.parse(path).getroot()
    groups = [el for el in root.iter() if re.fullmatch(r"value-\d+", el.get("id", ""))]
    groups.sort(key=lambda el: int(el.get("id", "").split("-")[1]))
    return [int("".join(el.itertext()).strip()) for el in groups]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_the_report_reproduces_the_pm_tables_and_charts(pg_2020: str, tmp_path: Path) -> None:
    pg_url = pg_2020
    out = tmp_path / "pm"
    await asyncio.to_thread(run_report, pg_url, out)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [
            "sammanfattning-2020.csv",
            "paborjade-per-skolform-2020.csv",
            "genomforda-per-nsp-2020.csv",
            "rucnet-nationella-tabeller-2020.xlsx",
            "paborjade-per-skolform-2020.png",
            "paborjade-per-skolform-2020.svg",
            "genomforda-per-nsp-2020.png",
            "genomforda-per-nsp-2020.svg",
        ]
    )
    started = read_csv(out / "paborjade-per-skolform-2020.csv")
    completed = read_csv(out / "genomforda-per-nsp-2020.csv")
    assert started == STARTED_2020
    assert list(started) == list(STARTED_2020)  # the PM's order
    assert completed == COMPLETED_2020
    # the 2020 set declares every area: each bar rests wholly on "declared"
    by_basis = read_basis_csv(out / "genomforda-per-nsp-2020.csv")
    assert by_basis == {code: (0, n, 0) for code, n in COMPLETED_2020.items()}

    workbook = load_workbook(out / "rucnet-nationella-tabeller-2020.xlsx")
    assert workbook.sheetnames == ["Sammanfattning", "Påbörjade per skolform", "Genomförda per NSP-område"]
    summary = {row[0]: row[1] for row in workbook["Sammanfattning"].iter_rows(min_row=2, values_only=True)}
    assert summary["Påbörjade insatser"] == STARTED_TOTAL_2020
    assert summary["Genomförda och uppföljda insatser"] == COMPLETED_TOTAL_2020
    sheet = workbook["Genomförda per NSP-område"]
    assert {r[0]: r[2] for r in sheet.iter_rows(min_row=2, values_only=True)} == COMPLETED_2020

    # The same numbers as the dashboards' panels show.
    conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        panel = await conn.fetch(q.STARTED_BY_SCHOOL_FORM_TABLE.replace("$year", "2020"))
    finally:
        await conn.close()
    assert {r["Kod"]: r["Påbörjade insatser"] for r in panel} == started

    for stem, table in (("paborjade-per-skolform-2020", started), ("genomforda-per-nsp-2020", completed)):
        width, height = png_size(out / f"{stem}.png")
        assert width > 800
        assert height > 400
        assert (out / f"{stem}.png").stat().st_size > 10_000
        assert bar_values(out / f"{stem}.svg") == list(table.values())
        assert "Antal insatser" in svg_texts(out / f"{stem}.svg")
    assert "Särvux" in svg_texts(out / "paborjade-per-skolform-2020.svg")
    assert "Nyanlända och flerspråkiga barns och elevers lärande" in svg_texts(
        out / "genomforda-per-nsp-2020.svg"
    )


async def test_the_charts_bars_are_the_tables_numbers(pg_2020: str) -> None:
    tables = await tables_of(pg_2020)
    figures = charts(tables)
    for figure, rows in zip(
        figures.values(), (tables.started_by_school_form, tables.completed_by_nsp), strict=True
    ):
        (axes,) = figure.axes
        # a bar of several parts (the NSP chart, one per basis) is as long as its row's count
        ends = [0.0] * len(rows)
        for bar in axes.patches:
            ends[round(bar.get_y() + bar.get_height() / 2)] = max(
                ends[round(bar.get_y() + bar.get_height() / 2)], bar.get_x() + bar.get_width()
            )
        labels = [t.get_text() for t in axes.get_yticklabels()]
        assert [round(e) for e in ends] == [r.n for r in rows]
        assert labels == [r.name for r in rows]
    assert [r.n for r in tables.completed_by_nsp] == list(COMPLETED_2020.values())
    assert all(sum(r.parts) == r.n for r in tables.completed_by_nsp)
    legend = figures["genomforda-per-nsp-2020"].axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [BASIS_NAMES[b] for b in BASES]


async def test_the_report_reads_the_embedded_store_of_rucnet_dev(sqlite_url: str, tmp_path: Path) -> None:
    await load_2020(sqlite_url)
    out = tmp_path / "dev"
    await asyncio.to_thread(run_report, sqlite_url, out)
    assert read_csv(out / "paborjade-per-skolform-2020.csv") == STARTED_2020
    assert read_csv(out / "genomforda-per-nsp-2020.csv") == COMPLETED_2020
