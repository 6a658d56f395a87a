"""The receipt page reloads itself until its report is counted, can be stopped, and speaks Swedish
time and skolform names; an attendance save that fails keeps its meeting blocks."""

from __future__ import annotations

import re
from pathlib import Path

from tests.unit.test_intake_web import csrf, intake_app, report_form


async def test_an_uncounted_receipt_reloads_itself_boundedly_and_can_be_stopped(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        anna = await intake.user("anna@gu.se")
        sent = await anna.post(
            "/rapporter/ny", data=report_form(csrf((await anna.get("/rapporter/ny")).text))
        )
        path = sent.headers["location"].split("?")[0]
        first = await anna.get(path)
        later = await anna.get(f"{path}?runda=7")
        stopped = await anna.get(f"{path}?auto=0")
        last = await anna.get(f"{path}?runda=60")
    assert first.headers["refresh"] == f"2; url={path}?runda=1"
    assert later.headers["refresh"] == f"2; url={path}?runda=8"
    assert "refresh" not in stopped.headers
    assert "refresh" not in last.headers
    assert "Sluta uppdatera automatiskt" in first.text
    assert "Grundskola, Gymnasieskola" in first.text  # names, not codes
    assert re.search(r"Mottagen: \d{1,2} [a-z]+ \d{4} kl\. \d\d:\d\d:\d\d<", first.text)
    assert "UTC" not in first.text


async def test_a_failed_attendance_save_keeps_as_many_meeting_blocks(sqlite_url: str, tmp_path: Path) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        anna = await intake.user("anna@gu.se")
        page = await anna.get("/narvaro?ar=2020")
        shown = page.text.count("<legend>Träff ")
        form = {"csrf_token": csrf(page.text), "year": "2020", "members": "Exempelkommun", "antal": str(shown),
                "meetings.0.date": "2020-03-01", "meetings.0.attendees": "Exempelkommun\nOkänd kommun",
                "meetings.1.date": "2020-05-01", "meetings.1.attendees": "Exempelkommun", "action": "submit"}  # fmt: skip
        failed = await anna.post("/narvaro", data=form)
    assert failed.status_code == 422
    assert failed.text.count("<legend>Träff ") == shown
    assert "Träff 1: ”Okänd kommun” finns inte bland nätverkets huvudmän." in failed.text
    assert intake.attendance == []
