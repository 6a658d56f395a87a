"""The Swedish web form through httpx, with the broker in memory: login, CSRF, errors, receipts."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from faststream.kafka import TestKafkaBroker

from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from services.intake.users import create_user
from shared import topics
from shared.auth import Role, create_token
from shared.period import year_span
from tests.conftest import test_settings
from tests.unit.test_handlers import collect

PASSWORD = "ett-långt-lösenord"


@dataclass
class Intake:
    app: FastAPI
    client: httpx.AsyncClient
    submitted: list[dict[str, Any]]
    attendance: list[dict[str, Any]]

    def browser(self, base_url: str = "http://t") -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=RelayedAfterEachRequest(self.app)),
                                 base_url=base_url)  # fmt: skip

    async def user(self, email: str, role: Role = "ruc", ruc_id: str | None = "gu") -> httpx.AsyncClient:
        """A logged-in browser (its own cookie jar) for a new user."""
        async with self.app.state.sessions.begin() as session:
            await create_user(session, email, PASSWORD, role, ruc_id)
        browser = self.browser()
        page = await browser.get("/logga-in")
        response = await browser.post(
            "/logga-in", data={"email": email, "password": PASSWORD, "csrf_token": csrf(page.text)}
        )
        assert response.status_code == 303, response.text
        return browser

    async def token(self, role: Role, ruc_id: str | None = None) -> dict[str, str]:
        async with self.app.state.sessions() as session:
            raw = await create_token(session, role, ruc_id)
        return {"Authorization": f"Bearer {raw}"}


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


class RelayedAfterEachRequest:
    """Intake as these tests see it: each answer comes once the outbox relay has sent what the
    request stored (in the service the relay runs on its own; these tests skip the lifespan)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            while await self.app.state.relay.pass_once():
                pass


@asynccontextmanager
async def intake_app(sqlite_url: str, tmp_path: Path, **extra: Any) -> AsyncIterator[Intake]:
    kw: Any = test_settings("memory", sqlite_url, tmp_path, aggregator_url="http://127.0.0.1:9",
                            classifier_url="http://127.0.0.1:9", **extra)  # fmt: skip
    app = create_app(IntakeSettings(**kw))
    submitted = collect(app.state.broker, topics.REPORTS_SUBMITTED)
    attendance = collect(app.state.broker, topics.ATTENDANCE_REPORTED)
    async with TestKafkaBroker(app.state.broker):
        transport = httpx.ASGITransport(app=RelayedAfterEachRequest(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield Intake(app, client, submitted, attendance)
        await app.state.receipts.close()  # what the lifespan's stop does, which these tests skip
        await app.state.receipt_store.close()


def report_form(token: str, **changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf_token": token,
        "antal": "2",
        "year": "2020",
        "huvudman.name": "Exempelkommun",
        "huvudman.lan_kod": "14",
        "huvudman.type": "kommunal",
        "insatser.0.ref": "gu-2020-001",
        "insatser.0.title": "Studiehandledning på modersmål",
        "insatser.0.description": "Fortbildning för studiehandledare",
        "insatser.0.status": "started",
        "insatser.0.school_forms": ["grundskola", "gymnasieskola"],
        "insatser.0.expected_effects": "Bättre måluppfyllelse",
        "insatser.1.ref": "gu-2020-002",
        "insatser.1.title": "Kartläggning av nyanlända elevers kunskaper",
        "insatser.1.status": "completed",
        "insatser.1.school_forms": ["grundskola"],
        "insatser.1.actual_effects": "Rutiner på plats",
        "insatser.1.nsp_area": "nyanlanda",
        "action": "submit",
    }
    form.update(changes)
    return form


async def test_a_ruc_user_logs_in_submits_two_insatser_and_reads_the_receipt(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        anna = await intake.user("anna@gu.se")
        page = await anna.get("/rapporter/ny")
        assert page.status_code == 200
        assert 'lang="sv"' in page.text
        assert '<label for="f-huvudman-name">' in page.text
        response = await anna.post("/rapporter/ny", data=report_form(csrf(page.text)))
        assert response.status_code == 303, response.text
        receipt = await anna.get(response.headers["location"])
        assert receipt.status_code == 200
        assert "Exempelkommun" in receipt.text
        assert "Mottagen" in receipt.text
        assert "kunde inte hämtas" in receipt.text  # the aggregator is unreachable: the page says so
        listing = await anna.get("/rapporter")
        assert "Exempelkommun" in listing.text
    assert len(intake.submitted) == 1
    event = intake.submitted[0]
    assert [i["ref"] for i in event["insatser"]] == ["gu-2020-001", "gu-2020-002"]
    assert "Exempelkommun" not in str(event)
    assert event["huvudman"]["pseudonym"].startswith("hm-")


async def test_field_errors_are_summarised_and_shown_next_to_the_fields(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        anna = await intake.user("anna@gu.se")
        token = csrf((await anna.get("/rapporter/ny")).text)
        bad = report_form(
            token,
            **{"insatser.1.title": "", "insatser.1.school_forms": [], "year": "1999", "huvudman.lan_kod": ""},
        )
        response = await anna.post("/rapporter/ny", data=bad)
    assert response.status_code == 422
    html = response.text
    assert 'class="error-summary"' in html
    assert "Det finns 4 fel att rätta" in html
    for anchor in ("f-insatser-1-title", "f-insatser-1-school_forms", "f-year", "f-huvudman-lan_kod"):
        assert f'href="#{anchor}"' in html
        assert f'id="{anchor}-error"' in html
    assert 'aria-invalid="true"' in html
    # each summary entry names its insats and field and says what to do, with a capital letter
    summary = html.split('id="error-summary"')[1].split("</div>")[0]
    for entry in (
        "Insats 2: Fyll i aktiviteten (rubrik).",
        "Insats 2: Välj minst en skolform.",
        "Rapporteringsår: Året måste vara mellan {} och {}.".format(*year_span()),
        "Välj län.",
    ):
        assert entry in summary
    assert "Fältet måste fyllas i." not in html
    assert "okänd länskod" not in html.lower()
    assert 'value="Kartläggning' not in html  # the cleared title stays cleared; the rest is kept
    assert 'value="Studiehandledning på modersmål"' in html
    assert intake.submitted == []


async def test_insatser_are_added_and_removed_without_javascript(sqlite_url: str, tmp_path: Path) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        anna = await intake.user("anna@gu.se")
        token = csrf((await anna.get("/rapporter/ny")).text)
        added = await anna.post("/rapporter/ny", data=report_form(token, action="add"))
        assert "Insats 3" in added.text
        removed = await anna.post("/rapporter/ny", data=report_form(token, action="remove-0"))
        assert "Insats 2" not in removed.text
        assert 'value="gu-2020-002"' in removed.text


async def test_a_correction_resubmits_under_the_same_report(sqlite_url: str, tmp_path: Path) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        anna = await intake.user("anna@gu.se")
        token = csrf((await anna.get("/rapporter/ny")).text)
        location = (await anna.post("/rapporter/ny", data=report_form(token))).headers["location"]
        report_id = location.split("/")[2].split("?")[0]
        edit = await anna.get(f"/rapporter/{report_id}/andra")
        assert 'value="gu-2020-002"' in edit.text
        assert "Rätta rapport" in edit.text
        fixed = report_form(token, **{"insatser.0.status": "completed", "insatser.0.actual_effects": "Klart"})
        again = await anna.post(f"/rapporter/{report_id}/andra", data=fixed)
        assert again.status_code == 303
        assert report_id in again.headers["location"]
        receipt = await anna.get(f"/rapporter/{report_id}")
        assert "Version 2" in receipt.text
    assert [e["version"] for e in intake.submitted] == [1, 2]
    assert {e["report_id"] for e in intake.submitted} == {report_id}


@pytest.mark.parametrize("path", ["/rapporter/ny", "/narvaro", "/ska", "/logga-ut"])
async def test_form_posts_without_a_valid_csrf_token_fail(sqlite_url: str, tmp_path: Path, path: str) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        anna = await intake.user("anna@gu.se")
        for token in (None, "forged"):
            data = (
                report_form(token)
                if token
                else {k: v for k, v in report_form("").items() if k != "csrf_token"}
            )
            response = await anna.post(path, data=data)
            assert response.status_code == 403, (path, token)
            assert "CSRF" in response.text
    assert intake.submitted == []


async def test_the_login_form_needs_its_csrf_cookie_and_the_right_password(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        await intake.user("anna@gu.se")
        stranger = intake.browser()
        no_cookie = await stranger.post("/logga-in", data={"email": "anna@gu.se", "password": PASSWORD})
        assert no_cookie.status_code == 403
        page = await stranger.get("/logga-in")
        wrong = await stranger.post(
            "/logga-in", data={"email": "anna@gu.se", "password": "fel", "csrf_token": csrf(page.text)}
        )
        assert wrong.status_code == 400
        # one message that does not say which was wrong, shown once, both fields marked and
        # described by it, without "Fel: Fel"
        main = wrong.text.split('<form method="post" action="/logga-in"')[1]
        assert main.count("E-postadressen eller lösenordet stämmer inte.") == 1
        assert 'id="f-email-error"' in wrong.text
        assert 'id="f-password-error"' not in wrong.text
        assert wrong.text.count('aria-describedby="f-email-error"') == 2
        assert wrong.text.count('aria-invalid="true"') == 2
        assert "Fel: Fel" not in wrong.text
        page = await stranger.get("/logga-in")
        ok = await stranger.post(
            "/logga-in", data={"email": "ANNA@gu.se ", "password": PASSWORD, "csrf_token": csrf(page.text)}
        )
        assert ok.status_code == 303
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "samesite=lax" in cookie.lower()
        assert "Secure" not in cookie


async def test_the_session_cookie_is_secure_when_configured(sqlite_url: str, tmp_path: Path) -> None:
    async with intake_app(sqlite_url, tmp_path, cookie_secure=True) as intake:
        async with intake.app.state.sessions.begin() as session:
            await create_user(session, "anna@gu.se", PASSWORD, "ruc", "gu")
        browser = intake.browser("https://t")
        page = await browser.get("/logga-in")
        assert "Secure" in page.headers["set-cookie"]
        ok = await browser.post(
            "/logga-in", data={"email": "anna@gu.se", "password": PASSWORD, "csrf_token": csrf(page.text)}
        )
        assert ok.status_code == 303
        assert "Secure" in ok.headers["set-cookie"]


XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>"\'&'


async def test_xss_payloads_in_every_free_text_field_come_back_inert(sqlite_url: str, tmp_path: Path) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        anna = await intake.user("anna@gu.se")
        token = csrf((await anna.get("/rapporter/ny")).text)
        fields = ["huvudman.name"] + [
            f"insatser.{i}.{f}"
            for i in (0, 1)
            for f in ("title", "description", "expected_effects", "actual_effects")
        ]
        form = report_form(token, **{f: f"{XSS}{f}" for f in fields})
        response = await anna.post("/rapporter/ny", data=form)
        assert response.status_code == 303, response.text
        report_id = response.headers["location"].split("/")[2].split("?")[0]
        invalid = await anna.post("/rapporter/ny", data=form | {"insatser.0.ref": "bad ref"})
        pages = [
            invalid,
            await anna.get(f"/rapporter/{report_id}"),
            await anna.get(f"/rapporter/{report_id}/andra"),
            await anna.get("/rapporter"),
        ]
        ska_token = csrf((await anna.get("/ska")).text)
        await anna.post("/ska", data={"csrf_token": ska_token, "year": "2020", "narrative": XSS})
        pages.append(await anna.get("/ska?ar=2020"))
        narvaro = {"csrf_token": ska_token, "year": "2020", "members": XSS, "antal": "1"}
        narvaro |= {"meetings.0.date": "2020-03-01", "meetings.0.attendees": XSS + "x"}
        pages.append(await anna.post("/narvaro", data=narvaro))
    for page in pages:
        assert "<script>" not in page.text, page.url
        assert "<img src=x" not in page.text, page.url
        assert "&lt;script&gt;" in page.text, page.url
        assert "script-src 'none'" in page.headers["content-security-policy"]
