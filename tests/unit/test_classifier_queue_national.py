"""The review queue serves the national figures: completed insatser first, retracted ones out, and
cards that name the RUC, show the whole insats and say what a decision changes in the chart."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from faststream.kafka import TestKafkaBroker

from services.classifier.app import create_app
from services.classifier.page_text import actor_label
from services.classifier.queue_view import chart_change
from services.classifier.registry import shipped_default
from services.classifier.settings import ClassifierSettings
from shared import topics
from shared.events import ReportSubmitted
from tests.conftest import test_settings
from tests.unit.test_classifier_review_api import _token
from tests.unit.test_schemas import event_json, insats

REPORT_ID = str(uuid.uuid4())
BOILERPLATE = "Insatsen riktar sig till flerspråkiga, nyanlända elever i kommunens skolor."


def _report(version: int, refs: list[str]) -> ReportSubmitted:
    bodies = {
        "started-unsure": insats(ref="started-unsure", title="🙂", status="started", expected_effects="🙂"),
        "completed-sure": insats(
            ref="completed-sure",
            title="Sambedömning i ämneslagen",
            description=BOILERPLATE,
            status="completed",
            expected_effects="Sambedömning av nationella prov och betygssättning i årskurs 9.",
            actual_effects="Lärarna sätter betyg med större samsyn efter sambedömningen.",
        ),
        "completed-left-out": insats(ref="completed-left-out", status="completed"),
    }
    body = event_json(report_id=REPORT_ID, version=version, insatser=[bodies[r] for r in refs])
    return ReportSubmitted.model_validate(body)


@pytest.fixture
async def client(tmp_path: Path, sqlite_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    settings = ClassifierSettings(**test_settings("memory", sqlite_url, tmp_path))  # type: ignore[arg-type]
    app = create_app(settings, shipped_default())
    analyst = {"Authorization": f"Bearer {await _token(sqlite_url, 'skolverket')}"}
    async with TestKafkaBroker(app.state.broker) as broker:
        first = _report(1, ["started-unsure", "completed-sure", "completed-left-out"])
        await broker.publish(first, topics.REPORTS_SUBMITTED, key=b"gu")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield http, analyst
            # the second version (a correction) leaves one insats out
            await broker.publish(
                _report(2, ["started-unsure", "completed-sure"]), topics.REPORTS_SUBMITTED, key=b"gu"
            )


async def _queue(http: httpx.AsyncClient, analyst: dict[str, str]) -> list[dict[str, Any]]:
    response = await http.get("/api/v1/review/queue", headers=analyst)
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_completed_insatser_come_first_however_unsure_a_started_one_is(
    client: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    http, analyst = client
    items = await _queue(http, analyst)
    assert [i["status"] for i in items] == ["completed", "completed", "started"]
    assert items[-1]["needs_review"] is True  # the unreadable one is flagged, yet it counts in no area
    completed = [i["confidence"] for i in items if i["status"] == "completed" and not i["needs_review"]]
    assert completed == sorted(completed)


async def test_an_insats_a_later_version_left_out_leaves_the_queue(tmp_path: Path, sqlite_url: str) -> None:
    settings = ClassifierSettings(**test_settings("memory", sqlite_url, tmp_path))  # type: ignore[arg-type]
    app = create_app(settings, shipped_default())
    analyst = {"Authorization": f"Bearer {await _token(sqlite_url, 'skolverket')}"}
    async with TestKafkaBroker(app.state.broker) as broker:
        await broker.publish(
            _report(1, ["started-unsure", "completed-sure", "completed-left-out"]),
            topics.REPORTS_SUBMITTED,
            key=b"gu",
        )
        await broker.publish(
            _report(2, ["started-unsure", "completed-sure"]), topics.REPORTS_SUBMITTED, key=b"gu"
        )
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            refs = [i["ref"] for i in await _queue(http, analyst)]
    assert sorted(refs) == ["completed-sure", "started-unsure"]


async def test_the_card_names_the_ruc_shows_the_description_and_the_change_to_the_chart(
    client: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    http, analyst = client
    page = await http.get("/review")
    token = page.text.split('name="csrf_token" value="')[1][:32]
    raw = analyst["Authorization"].removeprefix("Bearer ")
    await http.post("/review/login", data={"token": raw, "csrf_token": token})
    queue = (await http.get("/review")).text
    assert "Göteborgs universitet / 2020 / completed-sure" in queue
    assert BOILERPLATE in queue  # the description beside the effects, for the analyst
    assert "I det nationella diagrammet räknas den nu under" in queue
    assert "räknas inte i diagrammet per NSP-område" in queue  # the started one


def test_the_chart_change_names_the_area_the_insats_is_in_now_and_the_move() -> None:
    item = {"status": "completed", "nsp_area": "styrning-och-ledning"}
    text = chart_change(item, {"styrning-och-ledning": "Styrning och ledning"})
    assert "räknas den nu under Styrning och ledning som ej granskad" in text
    assert "Styrning och ledning får en genomförd insats mindre" in text


async def test_a_boilerplate_description_does_not_decide_the_area(
    client: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    """The model reads the effects; the description every insats shares does not pull it to Nyanlända."""
    http, analyst = client
    items = {i["ref"]: i for i in await _queue(http, analyst)}
    assert items["completed-sure"]["classified_area"] == "bedomning-och-betyg"


@pytest.mark.parametrize(
    ("analyst", "shown"),
    [
        ("skolverket#21 (Anna Analytiker)", "Anna Analytiker (Skolverket)"),
        ("skolverket#21", "Skolverket, nyckel 21"),
        ("admin#3 (Ops)", "Ops (administratör)"),
        ("someone else", "someone else"),
    ],
)
def test_the_log_names_who_decided_as_a_reader_says_it(analyst: str, shown: str) -> None:
    assert actor_label(analyst) == shown
