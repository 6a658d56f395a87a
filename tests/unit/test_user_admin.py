"""`rucnet user` and /api/v1/users (contract rev 3): who may log in, with which password, and what a
login that runs out does to a form being filled in."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from rucnet.cli import app as cli
from services.intake.users import WebSession
from tests.unit.test_intake_web import PASSWORD, csrf, intake_app, report_form

runner = CliRunner(env={"COLUMNS": "300", "NO_COLOR": "1"})
NEW_PASSWORD = "ett-annat-långt-lösenord"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The data dir a running `rucnet dev` would use; the CLI and the app below share it."""
    monkeypatch.setenv("RUCNET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("RUCNET_DATABASE_URL", raising=False)
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


def user(*args: str, stdin: str = "") -> Any:
    return runner.invoke(cli, ["user", *args], input=stdin)


async def log_in(intake: Any, email: str, password: str) -> int:
    browser = intake.browser()
    page = await browser.get("/logga-in")
    answer = await browser.post(
        "/logga-in", data={"email": email, "password": password, "csrf_token": csrf(page.text)}
    )
    await browser.aclose()
    return int(answer.status_code)


def test_the_user_commands_create_list_disable_enable_and_reset(data_dir: Path) -> None:
    created = user(
        "create", "--email", "Anna@GU.se", "--ruc", "gu", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert created.exit_code == 0, created.output
    assert "created: anna@gu.se (RUC gu, active)" in created.output
    again = user("create", "--email", "anna@gu.se", "--ruc", "gu", "--password-stdin", stdin=PASSWORD + "\n")
    assert again.exit_code == 0, again.output  # the same user again: a set-up script may run twice
    assert "already exists with this role, RUC and password" in again.output
    other = user(
        "create", "--email", "anna@gu.se", "--ruc", "gu", "--password-stdin", stdin=NEW_PASSWORD + "\n"
    )
    assert other.exit_code == 1
    assert "nothing was changed" in other.output
    assert "rucnet user reset-password --email anna@gu.se --password-stdin" in other.output
    short = user("create", "--email", "b@gu.se", "--ruc", "gu", "--password-stdin", stdin="kort\n")
    assert short.exit_code == 2
    assert "at least 10 characters" in short.output

    assert user("disable", "--email", "anna@gu.se").exit_code == 0
    listed = user("list")
    assert "anna@gu.se\truc\tgu\tdisabled" in listed.output
    disabled_again = user(
        "create", "--email", "anna@gu.se", "--ruc", "gu", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert "rucnet user enable --email anna@gu.se" in disabled_again.output
    assert user("enable", "--email", "anna@gu.se").exit_code == 0
    assert "anna@gu.se\truc\tgu\tactive" in user("list").output

    reset = user("reset-password", "--email", "anna@gu.se", "--password-stdin", stdin=NEW_PASSWORD + "\n")
    assert reset.exit_code == 0, reset.output
    missing = user("disable", "--email", "nobody@gu.se")
    assert missing.exit_code == 1
    assert "rucnet user list" in missing.output


async def test_what_the_commands_change_is_what_the_login_sees(data_dir: Path) -> None:
    """The CLI acts on the database the running intake reads: disable, enable, reset."""

    async def user(*args: str, stdin: str = "") -> Any:  # a command of its own, beside the service
        return await asyncio.to_thread(runner.invoke, cli, ["user", *args], input=stdin)

    created = await user("create", "--email", "anna@gu.se", "--ruc", "gu", "--password-stdin", stdin=PASSWORD)
    assert created.exit_code == 0, created.output
    url = f"sqlite+aiosqlite:///{data_dir / 'rucnet.db'}"
    async with intake_app(url, data_dir) as intake:
        assert await log_in(intake, "anna@gu.se", PASSWORD) == 303
        assert (await user("disable", "--email", "anna@gu.se")).exit_code == 0
        assert await log_in(intake, "anna@gu.se", PASSWORD) == 400
        assert (await user("enable", "--email", "anna@gu.se")).exit_code == 0
        reset = await user("reset-password", "--email", "anna@gu.se", "--password-stdin", stdin=NEW_PASSWORD)
        assert reset.exit_code == 0, reset.output
        assert await log_in(intake, "anna@gu.se", PASSWORD) == 400
        assert await log_in(intake, "anna@gu.se", NEW_PASSWORD) == 303


async def test_an_admin_disables_enables_and_resets_over_the_api(sqlite_url: str, tmp_path: Path) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        admin, gu = await intake.token("admin"), await intake.token("ruc", "gu")
        body = {"email": "bo@gu.se", "password": PASSWORD, "role": "skolverket", "name": "Bo Analytiker"}
        created = (await intake.client.post("/api/v1/users", json=body, headers=admin)).json()
        assert created["name"] == "Bo Analytiker"
        again = await intake.client.post("/api/v1/users", json=body, headers=admin)
        assert again.status_code == 409
        assert f"user {created['id']}" in again.json()["detail"]
        base = f"/api/v1/users/{created['id']}"
        assert (await intake.client.post(f"{base}/disable", headers=gu)).status_code == 403
        disabled = await intake.client.post(f"{base}/disable", headers=admin)
        assert disabled.json()["disabled_at"] is not None
        assert await log_in(intake, "bo@gu.se", PASSWORD) == 400
        enabled = await intake.client.post(f"{base}/enable", headers=admin)
        assert enabled.json()["disabled_at"] is None
        short = await intake.client.put(f"{base}/password", json={"password": "kort"}, headers=admin)
        assert short.status_code == 422
        reset = await intake.client.put(f"{base}/password", json={"password": NEW_PASSWORD}, headers=admin)
        assert reset.status_code == 204
        assert await log_in(intake, "bo@gu.se", PASSWORD) == 400
        assert await log_in(intake, "bo@gu.se", NEW_PASSWORD) == 303
        assert (await intake.client.post("/api/v1/users/999/enable", headers=admin)).status_code == 404


async def expire_sessions(intake: Any) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    async with intake.app.state.sessions.begin() as session:
        await session.execute(update(WebSession).values(expires_at=past))


async def test_a_report_sent_after_the_login_ran_out_comes_back_filled_in(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        anna = await intake.user("anna@gu.se")
        token = csrf((await anna.get("/rapporter/ny")).text)
        await expire_sessions(intake)
        typed = report_form(token, **{"insatser.0.title": "Språkutvecklande arbetssätt i åk 7"})
        login_page = await anna.post("/rapporter/ny", data=typed)
        assert login_page.status_code == 200
        assert "inloggningen gick ut" in login_page.text
        assert intake.submitted == []  # nothing sent
        back = await anna.post(
            "/logga-in",
            data={
                "email": "anna@gu.se",
                "password": PASSWORD,
                "csrf_token": csrf(login_page.text),
                "next": "/rapporter/ny",
                "carried": _hidden(login_page.text, "carried"),
            },
        )
        assert back.status_code == 200
        assert "Det du skrev finns kvar" in back.text
        assert 'value="Språkutvecklande arbetssätt i åk 7"' in back.text
        assert 'value="gymnasieskola" checked' in back.text
        sent = await anna.post("/rapporter/ny", data=report_form(csrf(back.text)))
        assert sent.status_code == 303
    assert len(intake.submitted) == 1


def _hidden(html: str, name: str) -> str:
    import html as markup
    import re

    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, name
    return markup.unescape(found.group(1))


async def test_a_login_slides_while_it_is_used(sqlite_url: str, tmp_path: Path) -> None:
    async with intake_app(sqlite_url, tmp_path, session_ttl_s=3600) as intake:
        anna = await intake.user("anna@gu.se")
        soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
        async with intake.app.state.sessions.begin() as session:
            await session.execute(update(WebSession).values(expires_at=soon))
        assert (await anna.get("/rapporter")).status_code == 200
        async with intake.app.state.sessions() as session:
            row = (await session.execute(WebSession.__table__.select())).one()  # type: ignore[attr-defined]
        assert row.expires_at > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=55)
