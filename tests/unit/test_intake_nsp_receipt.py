"""The NSP state through intake's doors, with both brokers in memory: the classifier's events in,
``GET /api/v1/reports/{id}`` and the receipt out; confirming or choosing an area is a correction."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from faststream.kafka import TestKafkaBroker
from sqlalchemy import text

from services.classifier.app import create_app
from services.classifier.registry import shipped_default
from services.classifier.rules import classify_by_lexicon
from services.classifier.settings import ClassifierSettings
from shared import topics
from shared.events import ClassificationOverridden, ReportSubmitted
from tests.conftest import test_settings
from tests.unit.test_intake_web import Intake, csrf, intake_app
from tests.unit.test_schemas import insats, valid_report

COMPLETED = insats(ref="gu-2020-010", status="completed", title="Organisation av studiehandledning",
                   actual_effects="Rutiner för studiehandledning är beslutade i rektorsgruppen.")  # fmt: skip
STARTED = insats(ref="gu-2020-011")


@asynccontextmanager
async def intake_with_events(sqlite_url: str, tmp_path: Path) -> AsyncIterator[tuple[Intake, Any]]:
    async with intake_app(sqlite_url, tmp_path) as intake:
        async with TestKafkaBroker(intake.app.state.nsp_broker) as nsp:
            yield intake, nsp


async def classify_latest(intake: Intake, nsp: Any) -> None:
    """What the classifier would publish for the latest submission (its lexicon model)."""
    submitted = ReportSubmitted.model_validate(intake.submitted[-1])
    await nsp.publish(classify_by_lexicon(submitted, 0.5), topics.REPORTS_CLASSIFIED, key=b"gu")


async def submit(intake: Intake, headers: dict[str, str], *insatser: dict[str, Any]) -> str:
    response = await intake.client.post("/api/v1/reports", json=valid_report(insatser=list(insatser)),
                                        headers=headers)  # fmt: skip
    assert response.status_code == 202, response.text
    report_id: str = response.json()["report_id"]
    return report_id


async def test_an_unclassified_insats_then_its_suggestion_then_the_ruc_confirms_it(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_with_events(sqlite_url, tmp_path) as (intake, nsp):
        gu = await intake.token("ruc", "gu")
        report_id = await submit(intake, gu, COMPLETED, STARTED)
        before = (await intake.client.get(f"/api/v1/reports/{report_id}", headers=gu)).json()
        await classify_latest(intake, nsp)
        await classify_latest(intake, nsp)  # a redelivery changes nothing
        after = (await intake.client.get(f"/api/v1/reports/{report_id}", headers=gu)).json()
        first = after["insatser"][0]["nsp"]["suggested"][0]
        # confirming is resubmitting the same ref with nsp_area: the existing correction path
        again = await submit(intake, gu, COMPLETED | {"nsp_area": first}, STARTED)
        confirmed = (await intake.client.get(f"/api/v1/reports/{again}", headers=gu)).json()
    assert before["insatser"][0]["nsp"] == {
        "area": None,
        "basis": None,
        "suggested": [],
        "needs_review": False,
    }
    assert before["huvudman"]["name"] == "Exempelkommun"
    assert before["insatser"][0]["title"] == COMPLETED["title"]
    state = after["insatser"][0]["nsp"]
    assert state["basis"] == "unreviewed"
    assert state["area"] == state["suggested"][0]
    assert len(state["suggested"]) >= 2
    assert after["insatser"][1]["nsp"]["basis"] == "unreviewed"  # started ones carry it too
    assert confirmed["insatser"][0]["nsp"]["basis"] == "declared"
    assert confirmed["insatser"][0]["nsp"]["area"] == first


async def test_an_analysts_decision_is_confirmed_and_holds_for_a_later_version(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_with_events(sqlite_url, tmp_path) as (intake, nsp):
        gu = await intake.token("ruc", "gu")
        report_id = await submit(intake, gu, COMPLETED)
        await classify_latest(intake, nsp)
        decision = ClassificationOverridden(ruc_id="gu", year=2020, ref=COMPLETED["ref"], nsp_area="elevhalsa",
                                            reason="Elevhälsans kompetens", analyst="Anna")  # fmt: skip
        older = ClassificationOverridden.model_validate(
            decision.model_dump() | {"event_id": uuid.uuid4(), "nsp_area": "digitalisering",
                                     "occurred_at": decision.occurred_at.replace(year=2020)}
        )  # fmt: skip
        await nsp.publish(decision, topics.CLASSIFICATIONS_OVERRIDDEN, key=b"gu")
        await nsp.publish(older, topics.CLASSIFICATIONS_OVERRIDDEN, key=b"gu")  # late, and older: ignored
        await submit(intake, gu, COMPLETED | {"actual_effects": "Rättad text."})
        body = (await intake.client.get(f"/api/v1/reports/{report_id}", headers=gu)).json()
    assert body["insatser"][0]["nsp"]["basis"] == "confirmed"
    assert body["insatser"][0]["nsp"]["area"] == "elevhalsa"


async def test_another_rucs_report_is_not_found_and_no_token_is_unauthorised(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_with_events(sqlite_url, tmp_path) as (intake, _nsp):
        gu, lnu = await intake.token("ruc", "gu"), await intake.token("ruc", "lnu")
        skolverket = await intake.token("skolverket")
        report_id = await submit(intake, gu, COMPLETED)
        other = await intake.client.get(f"/api/v1/reports/{report_id}", headers=lnu)
        national = await intake.client.get(f"/api/v1/reports/{report_id}", headers=skolverket)
        unknown = await intake.client.get("/api/v1/reports/00000000-0000-0000-0000-000000000000", headers=gu)
        anonymous = await intake.client.get(f"/api/v1/reports/{report_id}")
    assert (other.status_code, unknown.status_code, national.status_code) == (404, 404, 404)
    assert other.json() == unknown.json()  # nothing tells another RUC the report exists
    assert anonymous.status_code == 401


def classifier_app(sqlite_url: str, tmp_path: Path) -> FastAPI:
    """The classifier's HTTP side (its shipped model, scoring in a thread), for intake to ask."""
    settings = ClassifierSettings(**test_settings("memory", sqlite_url, tmp_path))  # type: ignore[arg-type]
    return create_app(settings, shipped_default())


def _area_forms(html: str) -> list[str]:
    return re.findall(r'<form method="post" action="(/rapporter/[^"]+/omrade)"', html)


async def test_the_receipt_asks_to_confirm_and_both_actions_make_a_new_version(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_with_events(sqlite_url, tmp_path) as (intake, nsp):
        anna = await intake.user("anna@gu.se")
        report_id = await submit(intake, await intake.token("ruc", "gu"), COMPLETED, STARTED)
        waiting = await anna.get(f"/rapporter/{report_id}")
        listed_before = await anna.get("/rapporter")
        await classify_latest(intake, nsp)
        page = await anna.get(f"/rapporter/{report_id}")
        area = re.search(r'name="nsp_area" value="([a-z-]+)"', page.text).group(1)  # type: ignore[union-attr]
        form = {"csrf_token": csrf(page.text), "ref": COMPLETED["ref"], "nsp_area": area, "action": "confirm"}
        forged = await anna.post(f"/rapporter/{report_id}/omrade", data=form | {"csrf_token": "x"})
        confirmed = await anna.post(f"/rapporter/{report_id}/omrade", data=form)
        shown = await anna.get(confirmed.headers["location"])
        chosen = await anna.post(f"/rapporter/{report_id}/omrade",
                                 data=form | {"nsp_area": "elevhalsa", "action": "choose"})  # fmt: skip
        bad = await anna.post(f"/rapporter/{report_id}/omrade", data=form | {"nsp_area": "matlagning"})
        gone = await anna.post(f"/rapporter/{report_id}/omrade", data=form | {"ref": "gu-2020-999"})
        listed_after = await anna.get("/rapporter")
    assert "Väntar på klassning" in waiting.text
    assert "refresh" in waiting.headers
    assert "1 av 1 genomförda väntar på område" in listed_before.text
    assert "Bekräfta NSP-område" in page.text
    assert len(_area_forms(page.text)) == 2  # confirm, choose: for the completed insats only
    assert "Hur säkert:" in page.text
    assert "Välj ett annat område" in page.text
    assert "refresh" not in page.headers  # classified, the aggregator unreachable: nothing more to wait for
    assert forged.status_code == 403
    assert (confirmed.status_code, chosen.status_code) == (303, 303)
    assert confirmed.headers["location"] == f"/rapporter/{report_id}?omrade=bekraftat#insats-0"
    assert "Området är bekräftat." in shown.text
    assert "angivet av er" in shown.text
    assert not _area_forms(shown.text)
    assert [e["insatser"][0]["nsp_area"] for e in intake.submitted] == [None, area, "elevhalsa"]
    assert {e["report_id"] for e in intake.submitted} == {report_id}  # versions of one report
    assert intake.submitted[-1]["insatser"][1]["nsp_area"] is None  # the other insats as it was
    assert bad.status_code == 422
    assert "Tillbaka till kvittot" in bad.text
    assert gone.status_code == 409
    assert "Alla genomförda har område" in listed_after.text


async def test_a_report_the_relay_could_not_send_says_so_and_stops_reloading(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_with_events(sqlite_url, tmp_path) as (intake, _nsp):
        anna = await intake.user("anna@gu.se")
        report_id = await submit(intake, await intake.token("ruc", "gu"), COMPLETED)
        async with intake.app.state.sessions.begin() as session:
            await session.execute(text("UPDATE report_submission SET failed_at = CURRENT_TIMESTAMP, "
                                       "published_at = NULL"))  # fmt: skip
        page = await anna.get(f"/rapporter/{report_id}")
    assert "kunde inte skickas vidare" in page.text
    assert "refresh" not in page.headers


async def test_the_stop_control_comes_first_in_tab_order_while_the_receipt_reloads(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_with_events(sqlite_url, tmp_path) as (intake, _nsp):
        anna = await intake.user("anna@gu.se")
        report_id = await submit(intake, await intake.token("ruc", "gu"), COMPLETED)
        page = await anna.get(f"/rapporter/{report_id}")
    focusable = re.findall(r"<(a|button|input(?! type=\"hidden\")|select)\b[^>]*>([^<]*)", page.text)
    assert focusable[0] == ("a", "Sluta uppdatera automatiskt")


async def test_the_suggestions_endpoint_needs_a_token_and_scores_what_it_is_given(
    sqlite_url: str, tmp_path: Path
) -> None:
    app = classifier_app(sqlite_url, tmp_path)
    async with intake_app(sqlite_url, tmp_path) as intake:
        token = await intake.token("ruc", "gu")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as client:
            body = {
                "year": 2020,
                "insatser": [{"actual_effects": "Lärarna arbetar språk- och kunskapsutvecklande."}],
            }
            answered = await client.post("/api/v1/suggestions", json=body, headers=token)
            anonymous = await client.post("/api/v1/suggestions", json=body)
            empty = await client.post("/api/v1/suggestions", json={"insatser": []}, headers=token)
    assert answered.status_code == 200, answered.text
    [item] = answered.json()["items"]
    assert len(item["areas"]) == 3
    assert item["areas"][0]["score"] >= item["areas"][1]["score"]
    assert anonymous.status_code == 401
    assert empty.status_code == 422


CSV = (
    "År;Huvudman;Länskod;Huvudmannatyp;Ref;Titel;Beskrivning;Status;Skolformer;Förväntade effekter;"
    "Faktiska effekter;NSP-område\n"
    "2020;Uppladdad kommun;14;kommunal;gu-u-1;Mottagning;;genomförd;grundskola;;"
    "Lärarna arbetar språk- och kunskapsutvecklande i klassrummet.;\n"
    "2020;Uppladdad kommun;14;kommunal;gu-u-2;Elevhälsa;;genomförd;grundskola;;Elevhälsan är stärkt.;elevhalsa\n"
)


async def test_the_dry_run_shows_each_rows_area_and_says_so_when_the_classifier_is_away(
    sqlite_url: str, tmp_path: Path
) -> None:
    classifier = classifier_app(sqlite_url, tmp_path)
    files = {"fil": ("insatser.csv", CSV.encode(), "text/csv")}
    async with intake_app(sqlite_url, tmp_path) as intake:
        anna = await intake.user("anna@gu.se")
        token = csrf((await anna.get("/uppladdning")).text)
        away = await anna.post("/uppladdning", data={"csrf_token": token}, files=files)
        intake.app.state.suggestions._http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=classifier), base_url="http://c"
        )
        asked = await anna.post("/uppladdning", data={"csrf_token": token}, files=files)
    assert away.status_code == 200  # a dry run without suggestions is still a dry run
    assert "Förslag på NSP-område kunde inte hämtas just nu" in away.text
    rows = re.findall(
        r'<tr><td data-label="Rad">(\d+)</td>.*?<td data-label="NSP-område">(.*?)</td>', asked.text, re.S
    )
    assert [r for r, _ in rows] == ["2", "3"]
    assert rows[0][1].startswith("Förslag: ")
    assert rows[1][1] == "Elevhälsa och barns omsorg (angivet)"
    assert "kunde inte hämtas" not in asked.text


async def test_a_declared_area_shows_at_once_but_the_receipt_waits_for_the_classifier(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_with_events(sqlite_url, tmp_path) as (intake, nsp):
        anna = await intake.user("anna@gu.se")
        report_id = await submit(
            intake, await intake.token("ruc", "gu"), COMPLETED | {"nsp_area": "elevhalsa"}
        )
        waiting = await anna.get(f"/rapporter/{report_id}")
        await classify_latest(intake, nsp)
        seen = await anna.get(f"/rapporter/{report_id}")
    assert 'Elevhälsa och barns omsorg <span class="basis">(angivet av er)</span>' in waiting.text
    assert "refresh" in waiting.headers  # not yet classified: more is to come
    assert "Klassad: ja" in seen.text
    assert "refresh" not in seen.headers
    assert "Bekräfta NSP-område" not in seen.text
