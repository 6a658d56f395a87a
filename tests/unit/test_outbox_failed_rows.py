"""A report the relay marked failed is surfaced: its receipt says so and what to do, it stops
reloading, `rucnet outbox list --failed` lists it and `rucnet outbox retry` queues it again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from rucnet.cli import app as cli
from tests.unit.test_intake_web import csrf, intake_app, report_form


async def test_a_failed_report_shows_on_its_receipt_and_is_listed_and_retried_by_the_cli(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        anna = await intake.user("anna@gu.se")
        sent = await anna.post(
            "/rapporter/ny", data=report_form(csrf((await anna.get("/rapporter/ny")).text))
        )
        path = sent.headers["location"].split("?")[0]
        async with intake.app.state.engine.begin() as conn:  # as the relay marks a row it cannot send
            await conn.execute(
                text("UPDATE report_submission SET published_at = NULL, failed_at = CURRENT_TIMESTAMP, "
                     "publish_error = 'cannot be loaded (1 errors): insatser.0.status: literal_error'")
            )  # fmt: skip
        failed = await anna.get(path)

        monkeypatch.setenv("RUCNET_DATA_DIR", str(tmp_path))  # where sqlite_url's file lies
        monkeypatch.delenv("RUCNET_DATABASE_URL", raising=False)
        runner = CliRunner()
        listed = await asyncio.to_thread(runner.invoke, cli, ["outbox", "list", "--failed"])
        retried = await asyncio.to_thread(runner.invoke, cli, ["outbox", "retry"])
        after = await asyncio.to_thread(runner.invoke, cli, ["outbox", "list", "--failed"])
        waiting = await anna.get(path)

    assert failed.status_code == 200
    assert "Rapporten kunde inte skickas vidare" in failed.text
    assert "kunde inte skickas vidare</li>" in failed.text
    assert "rätta rapporten och skicka in den igen" in failed.text
    assert "refresh" not in failed.headers  # waiting for it would be in vain
    assert listed.exit_code == 0, listed.output
    assert listed.output.startswith("1 failed")
    assert "report\t1\tgu 2020" in listed.output
    assert "literal_error" in listed.output
    assert retried.exit_code == 0
    assert retried.output.startswith("1 row(s) queued again")
    assert after.output.startswith("0 failed")
    assert "Rapporten kunde inte skickas vidare" not in waiting.text
