"""Spreadsheet upload: the template filled with 500 insatser, a dry run with row errors, then sending."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from services.intake.sheets import read_rows
from services.intake.upload import HEADERS, csv_template, dry_run, xlsx_template
from tests.unit.test_intake_web import csrf, intake_app

BAD_ROWS = {7: "Skolformer", 58: "Status", 233: "Titel", 377: "Länskod", 480: "NSP-område"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def filled_template(n: int = 500, bad: dict[int, str] | None = None) -> bytes:
    """n insatser over 20 huvudmän; the rows in ``bad`` (spreadsheet numbers) get one broken cell."""
    book = load_workbook(io.BytesIO(xlsx_template()))
    sheet = book["Insatser"]
    sheet.delete_rows(2)  # the template's example row, as a user writes over it
    for i in range(n):
        row_number = i + 2
        hm = i % 20
        values = {
            "År": 2020,
            "Huvudman": f"Kommun {hm}",
            "Länskod": "14",
            "Huvudmannatyp": "kommunal",
            "Ref": f"gu-2020-{i:03d}",
            "Titel": f"Insats {i}: språkutvecklande arbetssätt",
            "Beskrivning": "Fortbildning",
            "Status": "genomförd" if i % 3 else "påbörjad",
            "Skolformer": "grundskola, fritidshem",
            "Förväntade effekter": "Ökad måluppfyllelse",
            "Faktiska effekter": "Rutiner på plats" if i % 3 else "",
            "NSP-område": "nyanlanda" if i % 2 else "",
        }
        broken = (bad or {}).get(row_number)
        if broken is not None:
            values[broken] = {"Skolformer": "universitet", "Status": "planerad", "Titel": "",
                              "Länskod": "99", "NSP-område": "matlagning"}[broken]  # fmt: skip
        sheet.append([values[h] for h in HEADERS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_the_dry_run_names_exactly_the_bad_rows_in_swedish() -> None:
    result = dry_run(read_rows("insatser.xlsx", filled_template(bad=BAD_ROWS)), "gu")
    assert {(e.row, e.column) for e in result.errors} == set(BAD_ROWS.items())
    assert len(result.errors) == 5
    messages = {e.row: e.message for e in result.errors}
    assert messages[233] == "Fyll i aktiviteten (rubrik)."
    # a bad value is shown with the values allowed
    assert messages[7].startswith("Okänd skolform: ”universitet”.")
    assert "grundskola" in messages[7]
    assert "gymnasieskola" in messages[7]
    assert "”planerad”" in messages[58]
    assert "påbörjad eller genomförd" in messages[58]
    assert "”99”" in messages[377]
    assert "14" in messages[377]
    assert "”matlagning”" in messages[480]
    assert "nyanlanda" in messages[480]


def test_a_clean_file_becomes_one_report_per_huvudman() -> None:
    result = dry_run(read_rows("insatser.xlsx", filled_template()), "gu")
    assert result.errors == []
    assert len(result.reports) == 20
    assert result.insatser == 500
    assert {r.huvudman.name for r in result.reports} == {f"Kommun {i}" for i in range(20)}


def test_the_csv_template_reads_back_with_semicolons_and_swedish_words() -> None:
    lines = [csv_template().decode("utf-8-sig").splitlines()[0]]  # the header, not the example
    lines.append("2020;Exempelkommun;14;kommunal;gu-1;Titel;;påbörjad;grundskola;;;")
    lines.append(
        "2020;Exempelkommun;14;kommunal;gu-1;Annan;;genomförd;grundskola;;Uppföljd;"
    )  # duplicate ref
    result = dry_run(read_rows("x.csv", "\n".join(lines).encode()), "gu")
    assert [(e.row, e.column) for e in result.errors] == [(2, "Ref"), (3, "Ref")]


@pytest.mark.parametrize(
    ("name", "content"), [("x.txt", b"hello"), ("x.xlsx", b"not a workbook"), ("x.csv", b"a;b\n1;2")]
)
def test_a_file_that_is_not_the_template_is_refused(name: str, content: bytes) -> None:
    from services.intake.sheets import UnreadableFile

    with pytest.raises(UnreadableFile):
        read_rows(name, content)


async def test_nothing_is_published_until_the_file_is_clean_then_all_is_sent_with_progress(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        anna = await intake.user("anna@gu.se")
        page = await anna.get("/uppladdning")
        template = await anna.get("/uppladdning/mall.xlsx")
        assert template.status_code == 200
        assert template.headers["content-type"] == XLSX
        token = csrf(page.text)
        files = {"fil": ("insatser.xlsx", filled_template(bad=BAD_ROWS), XLSX)}
        dry = await anna.post("/uppladdning", data={"csrf_token": token}, files=files)
        assert dry.status_code == 422
        table = dry.text.split('id="row-errors"')[1]
        assert sorted(
            int(r) for r in re.findall(r'<td role="cell" class="num" data-label="Rad">(\d+)</td>', table)
        ) == sorted(BAD_ROWS)
        job = re.search(r'action="/uppladdning/([^/"]+)/skicka"', dry.text)
        assert job is None  # no send button for a file with errors
        assert intake.submitted == []

        clean = {"fil": ("insatser.xlsx", filled_template(), XLSX)}
        dry = await anna.post("/uppladdning", data={"csrf_token": token}, files=clean)
        assert dry.status_code == 200
        assert "500 insatser" in dry.text
        assert intake.submitted == []
        job_id = re.search(r'action="/uppladdning/([^/"]+)/skicka"', dry.text).group(1)  # type: ignore[union-attr]
        sent = await anna.post(f"/uppladdning/{job_id}/skicka", data={"csrf_token": token})
        assert sent.status_code == 303
        for _ in range(200):
            progress = await anna.get(f"/uppladdning/{job_id}")
            if "20 av 20" in progress.text:
                break
            await asyncio.sleep(0.05)
        assert "<progress" in progress.text
        assert "20 av 20 rapporter skickade" in progress.text
        assert 'http-equiv="refresh"' not in progress.text
        someone_else = await intake.user("bo@gu.se")
        assert (await someone_else.get(f"/uppladdning/{job_id}")).status_code == 404
    assert len(intake.submitted) == 20
    assert sum(len(e["insatser"]) for e in intake.submitted) == 500
