"""Review on the real broker and PostgreSQL: an override moves the national counts, is audited, and is
re-sent with its own event id when the classifier starts against a broker that lost its memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from services.aggregator.app import create_app as aggregator_app
from services.aggregator.settings import AggregatorSettings
from services.classifier.app import create_app as classifier_app
from services.classifier.registry import shipped_default
from services.classifier.settings import ClassifierSettings
from shared import topics
from shared.events import ClassificationOverridden, ReportSubmitted
from tests.conftest import test_settings
from tests.integration.conftest import data_dir, eventually, records_on, running, token
from tests.unit.test_schemas import event_json, insats

TEXT = "Studiehandledning på modersmålet: studiehandledaren och läraren planerar lektionerna tillsammans."


async def by_nsp(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, int]:
    response = await client.get("/api/v1/stats/national", params={"year": 2020}, headers=headers)
    assert response.status_code == 200, response.text
    counts: dict[str, int] = response.json()["completed"]["by_nsp"]
    return {k: v for k, v in counts.items() if v}


async def overrides_on_topic(kafka: str, expected: int) -> list[ClassificationOverridden]:
    seen = await records_on(kafka, topics.CLASSIFICATIONS_OVERRIDDEN, expected, timeout_s=20)
    assert all(m.key == b"gu" for m in seen)
    return [ClassificationOverridden.model_validate_json(m.value) for m in seen]


async def test_an_override_moves_the_counts_and_is_resent_after_a_restart(
    kafka_bootstrap: str, pg_url: str, tmp_path: Path
) -> None:
    skolverket = await token(pg_url, "skolverket")
    kw: Any = test_settings(kafka_bootstrap, pg_url, data_dir(tmp_path))
    report = ReportSubmitted.model_validate(
        event_json(insatser=[insats(ref="gu-1", title=TEXT, status="completed")])
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topics.REPORTS_SUBMITTED, report.model_dump_json().encode(), key=b"gu")
    finally:
        await producer.stop()
    model = shipped_default()
    aggregator = aggregator_app(AggregatorSettings(**kw))
    async with running(classifier_app(ClassifierSettings(**kw), model), aggregator) as (classifier, stats):
        assert await eventually(lambda: by_nsp(stats, skolverket), bool) == {"nyanlanda": 1}
        queue = (await classifier.get("/api/v1/review/queue", headers=skolverket)).json()
        assert [(i["ref"], i["model_version"]) for i in queue["items"]] == [("gu-1", model.version)]
        decision = {
            "action": "override",
            "nsp_area": "styrning-och-ledning",
            "reason": "gäller organisationen",
        }
        response = await classifier.post("/api/v1/review/gu/2020/gu-1", json=decision, headers=skolverket)
        assert response.status_code == 200, response.text
        moved = await eventually(lambda: by_nsp(stats, skolverket), lambda c: "nyanlanda" not in c)
        assert moved == {"styrning-och-ledning": 1}
        audit = (await classifier.get("/api/v1/review/audit", headers=skolverket)).json()["items"]
        assert [(a["from_area"], a["to_area"], a["reason"]) for a in audit] == [
            ("nyanlanda", "styrning-och-ledning", "gäller organisationen")
        ]
    (first,) = await overrides_on_topic(kafka_bootstrap, 1)
    restarted = classifier_app(ClassifierSettings(**kw, republish_on_start=True), model)
    async with running(restarted, aggregator_app(AggregatorSettings(**kw))) as (_classifier, stats):
        sent = await overrides_on_topic(kafka_bootstrap, 2)
        assert [e.event_id for e in sent] == [first.event_id, first.event_id]
        assert await by_nsp(stats, skolverket) == {"styrning-och-ledning": 1}
