"""Review and override over HTTP (ASGITransport) with the broker in memory (TestKafkaBroker)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from faststream.kafka import TestKafkaBroker

from services.classifier.app import create_app
from services.classifier.registry import shipped_default
from services.classifier.settings import ClassifierSettings
from shared import topics
from shared.auth import create_token
from shared.db import create_engine, session_factory
from shared.events import ClassificationOverridden, ReportSubmitted
from tests.conftest import test_settings
from tests.unit.test_schemas import event_json, insats


@dataclass
class Review:
    client: httpx.AsyncClient
    analyst: dict[str, str]
    ruc: dict[str, str]
    raw_token: str
    overridden: list[dict[str, Any]]


async def _token(url: str, role: str, ruc_id: str | None = None) -> str:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        raw = await create_token(session, role, ruc_id, label="Anna på Skolverket" if role != "ruc" else "")  # type: ignore[arg-type]
    await engine.dispose()
    return raw


@pytest.fixture
async def review(tmp_path: Path, sqlite_url: str) -> AsyncIterator[Review]:
    settings = ClassifierSettings(**test_settings("memory", sqlite_url, tmp_path))  # type: ignore[arg-type]
    app = create_app(settings, shipped_default())
    broker = app.state.broker
    overridden: list[dict[str, Any]] = []

    @broker.subscriber(topics.CLASSIFICATIONS_OVERRIDDEN, group_id=f"probe-{uuid.uuid4()}")
    async def probe(body: dict[str, Any]) -> None:
        overridden.append(body)

    analyst, ruc = await _token(sqlite_url, "skolverket"), await _token(sqlite_url, "ruc", "gu")
    report = event_json(
        insatser=[
            insats(ref="sure", title="Sambedömning av nationella prov och betygssättning i årskurs 9"),
            insats(ref="gu/2020/unsure", title="🙂"),
            insats(ref="mid", title="Studiehandledning på modersmålet och nya rutiner i klassrummet"),
        ]
    )
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(ReportSubmitted.model_validate(report), topics.REPORTS_SUBMITTED, key=b"gu")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield Review(
                client,
                {"Authorization": f"Bearer {analyst}"},
                {"Authorization": f"Bearer {ruc}"},
                analyst,
                overridden,
            )


async def test_the_queue_is_national_only(review: Review) -> None:
    assert (await review.client.get("/api/v1/review/queue")).status_code == 401
    assert (await review.client.get("/api/v1/review/queue", headers=review.ruc)).status_code == 403


async def test_the_queue_lists_the_least_confident_first(review: Review) -> None:
    response = await review.client.get("/api/v1/review/queue", headers=review.analyst)
    assert response.status_code == 200
    body = response.json()
    refs = [i["ref"] for i in body["items"]]
    assert refs[0] == "gu/2020/unsure"
    assert body["total"] == 3
    confidences = [i["confidence"] for i in body["items"]]
    assert confidences == sorted(confidences)
    assert body["items"][0]["needs_review"] is True
    flagged = await review.client.get("/api/v1/review/queue?flagged_only=true", headers=review.analyst)
    assert [i["ref"] for i in flagged.json()["items"]] == ["gu/2020/unsure"]


async def test_an_override_is_published_stored_audited_and_leaves_the_queue(review: Review) -> None:
    decision = {
        "action": "override",
        "nsp_area": "styrning-och-ledning",
        "reason": "rutiner, inte undervisning",
    }
    response = await review.client.post("/api/v1/review/gu/2020/mid", json=decision, headers=review.analyst)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["action"], body["to_area"], body["published"]) == ("override", "styrning-och-ledning", True)
    (event,) = [ClassificationOverridden.model_validate(e) for e in review.overridden]
    assert (event.ruc_id, event.year, event.ref, event.nsp_area) == (
        "gu",
        2020,
        "mid",
        "styrning-och-ledning",
    )
    assert event.previous_area == body["from_area"]
    assert str(event.event_id) == body["event_id"]
    assert "Anna på Skolverket" in event.analyst
    assert event.reason == "rutiner, inte undervisning"
    queue = (await review.client.get("/api/v1/review/queue", headers=review.analyst)).json()
    assert "mid" not in [i["ref"] for i in queue["items"]]
    one = (await review.client.get("/api/v1/classifications/gu/2020/mid", headers=review.analyst)).json()
    assert (one["nsp_area"], one["review_state"]) == ("styrning-och-ledning", "overridden")
    audit = (await review.client.get("/api/v1/review/audit", headers=review.analyst)).json()["items"]
    assert [(a["action"], a["ref"], a["to_area"], a["analyst"]) for a in audit] == [
        ("override", "mid", "styrning-och-ledning", event.analyst)
    ]


async def test_an_accept_publishes_the_same_area_as_confirmed_and_is_audited(review: Review) -> None:
    response = await review.client.post(
        "/api/v1/review/gu/2020/gu/2020/unsure", json={"action": "accept"}, headers=review.analyst
    )
    assert response.status_code == 200, response.text
    assert (response.json()["action"], response.json()["published"]) == ("accept", True)
    (event,) = [ClassificationOverridden.model_validate(e) for e in review.overridden]
    assert (event.ref, event.nsp_area, event.previous_area, event.accepted) == (
        "gu/2020/unsure",
        response.json()["to_area"],
        response.json()["from_area"],
        True,
    )
    audit = (await review.client.get("/api/v1/review/audit?ruc_id=gu", headers=review.analyst)).json()[
        "items"
    ]
    assert [(a["action"], a["ref"], a["event_id"]) for a in audit] == [
        ("accept", "gu/2020/unsure", str(event.event_id))
    ]


@pytest.mark.parametrize(
    ("path", "decision", "status"),
    [
        ("gu/2020/nope", {"action": "accept"}, 404),
        ("gu/2020/mid", {"action": "override", "nsp_area": "elevhalsa"}, 422),
        ("gu/2020/mid", {"action": "override", "nsp_area": "elevhalsa", "reason": "   "}, 422),
        ("gu/2020/mid", {"action": "override", "nsp_area": "påhittat", "reason": "x"}, 422),
        ("gu/2020/mid", {"action": "override", "nsp_area": "lasa-skriva-rakna", "reason": "x"}, 422),
        ("gu/2020/mid", {"action": "delete"}, 422),
        ("gu/2020/mid", {"action": "accept", "extra": 1}, 422),
        ("gu/tjugo/mid", {"action": "accept"}, 422),
        ("gu/2020/sure", {"action": "override", "nsp_area": "bedomning-och-betyg", "reason": "x"}, 409),
    ],
)
async def test_bad_decisions_get_a_clear_4xx(
    review: Review, path: str, decision: dict[str, Any], status: int
) -> None:
    response = await review.client.post(f"/api/v1/review/{path}", json=decision, headers=review.analyst)
    assert response.status_code == status, response.text
    assert response.json()["detail"]
    assert review.overridden == []


async def test_the_page_signs_in_with_an_httponly_cookie_and_overrides(review: Review) -> None:
    page = await review.client.get("/review")
    assert page.status_code == 200
    assert "Logga in" in page.text
    login_token = re.search(r'name="csrf_token" value="([0-9a-f]{32})"', page.text)
    assert login_token is not None
    bad = await review.client.post(
        "/review/login", data={"token": "rucnet_fel", "csrf_token": login_token.group(1)}
    )
    assert bad.status_code == 401
    page = await review.client.get("/review")
    login_token = re.search(r'name="csrf_token" value="([0-9a-f]{32})"', page.text)
    assert login_token is not None
    login = await review.client.post(
        "/review/login", data={"token": review.raw_token, "csrf_token": login_token.group(1)}
    )
    assert login.status_code == 303
    assert "httponly" in login.headers["set-cookie"].lower()
    assert "samesite=strict" in login.headers["set-cookie"].lower()
    assert review.raw_token not in login.headers["set-cookie"]  # a session id, never the bearer token
    queue = await review.client.get("/review")
    assert "väntar på granskning" in queue.text
    assert "gu/2020/unsure" in queue.text
    form = {"ruc_id": "gu", "year": "2020", "ref": "mid", "action": "override", "nsp_area": "styrning-och-ledning",
            "reason": "organisation"}  # fmt: skip
    forged = await review.client.post("/review/decide", data=form)  # a cross-site post has no form token
    assert forged.status_code == 303
    assert "Ogiltig förfrågan" in (await review.client.get(forged.headers["location"])).text
    assert review.overridden == []
    token = re.search(r'name="csrf_token" value="([0-9a-f]{32})"', queue.text)
    assert token is not None
    done = await review.client.post("/review/decide", data=form | {"csrf_token": token.group(1)})
    assert done.status_code == 303
    assert "msg=" not in done.headers["location"]  # the message waits in the session, not the address
    assert "Göteborgs universitet / 2020 / mid ändrad." in (await review.client.get(done.headers["location"])).text
    assert [e["nsp_area"] for e in review.overridden] == ["styrning-och-ledning"]
    audit = await review.client.get("/review/audit")
    assert "ändrat" in audit.text
    assert "organisation" in audit.text
