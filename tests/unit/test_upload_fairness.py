"""One user's upload cannot hold up another's: a user has one file read at a time (a second one is
told to wait, at once), and the other users' files are read meanwhile."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from services.intake import web_upload
from services.intake.upload import csv_template
from tests.unit.test_intake_web import csrf, intake_app


async def test_a_users_second_upload_is_told_to_wait_while_another_users_upload_is_read(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release, reading = threading.Event(), threading.Event()
    parse = web_upload._parse

    def slow_for_anna(filename: str, *args: Any) -> Any:
        if filename == "anna.csv":
            reading.set()
            release.wait(timeout=60)  # a file that takes long to read
        return parse(filename, *args)

    monkeypatch.setattr(web_upload, "_parse", slow_for_anna)
    async with intake_app(sqlite_url, tmp_path) as intake:
        anna, bo = await intake.user("anna@gu.se"), await intake.user("bo@gu.se")

        async def upload(browser: Any, name: str) -> Any:
            page = await browser.get("/uppladdning")
            files = {"fil": (name, csv_template(), "text/csv")}
            return await browser.post("/uppladdning", data={"csrf_token": csrf(page.text)}, files=files)

        first = asyncio.create_task(upload(anna, "anna.csv"))
        assert await asyncio.to_thread(reading.wait, 60)
        second = await upload(anna, "anna-igen.csv")
        other = await upload(bo, "bo.csv")
        release.set()
        first_done = await first
    assert second.status_code == 429
    assert "Du har redan en fil som läses in" in second.text
    assert other.status_code in (200, 422)  # read while anna's was still being read
    assert "Du har redan" not in other.text
    assert first_done.status_code in (200, 422)
