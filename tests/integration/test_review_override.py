"""Review on the real broker and PostgreSQL: an override moves the national counts, is audited, and is
re-sent with its own event id when the classifier starts against a broker that lost its memory; an
accept and an override move a completed insats from unreviewed to confirmed in the national figures."""

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


async def by_basis(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, dict[str, int]]:
    """The completed insatser per area and basis (areas with none left out); each area's bases add up
    to its by_nsp count."""
    response = await client.get("/api/v1/stats/national", params={"year": 2020}, headers=headers)
    assert response.status_code == 200, response.text
    completed = response.json()["completed"]
    split: dict[str, dict[str, int]] = completed["by_nsp_basis"]
    assert {a: sum(b.values()) for a, b in split.items()} == completed["by_nsp"]
    return {a: {b: n for b, n in bases.items() if n} for a, bases in split.items() if any(bases.values())}


def other_area(*areas: str) -> str:
    """An NSP area of 2020 none of ``areas`` is."""
    return next(a for a in ("styrning-och-ledning", "nyanlanda", "elevhalsa") if a not in areas)


async def submit(kafka: str, report: ReportSubmitted) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topics.REPORTS_SUBMITTED, report.model_dump_json().encode(), key=b"gu")
    finally:
        await producer.stop()


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
    await submit(kafka_bootstrap, report)
    model = shipped_default()
    aggregator = aggregator_app(AggregatorSettings(**kw))
    async with running(classifier_app(ClassifierSettings(**kw), model), aggregator) as (classifier, stats):
        tagged = await eventually(lambda: by_nsp(stats, skolverket), bool)
        (area,) = tagged  # whichever the model chose: the test is about what an override does to it
        assert tagged == {area: 1}
        queue = (await classifier.get("/api/v1/review/queue", headers=skolverket)).json()
        assert [(i["ref"], i["model_version"]) for i in queue["items"]] == [("gu-1", model.version)]
        target = other_area(area)
        decision = {"action": "override", "nsp_area": target, "reason": "gäller organisationen"}
        response = await classifier.post("/api/v1/review/gu/2020/gu-1", json=decision, headers=skolverket)
        assert response.status_code == 200, response.text
        moved = await eventually(lambda: by_nsp(stats, skolverket), lambda c: area not in c)
        assert moved == {target: 1}
        audit = (await classifier.get("/api/v1/review/audit", headers=skolverket)).json()["items"]
        assert [(a["from_area"], a["to_area"], a["reason"]) for a in audit] == [
            (area, target, "gäller organisationen")
        ]
    (first,) = await overrides_on_topic(kafka_bootstrap, 1)
    restarted = classifier_app(ClassifierSettings(**kw, republish_on_start=True), model)
    async with running(restarted, aggregator_app(AggregatorSettings(**kw))) as (_classifier, stats):
        sent = await overrides_on_topic(kafka_bootstrap, 2)
        assert [e.event_id for e in sent] == [first.event_id, first.event_id]
        assert await by_nsp(stats, skolverket) == {target: 1}


async def test_an_accept_and_an_override_move_completed_insatser_from_unreviewed_to_confirmed(
    kafka_bootstrap: str, pg_url: str, tmp_path: Path
) -> None:
    skolverket = await token(pg_url, "skolverket")
    kw: Any = test_settings(kafka_bootstrap, pg_url, data_dir(tmp_path))
    tagged = [insats(ref=f"gu-{i}", title=TEXT, status="completed") for i in (1, 2)]
    declared = insats(ref="gu-3", title=TEXT, status="completed", nsp_area="digitalisering")
    await submit(kafka_bootstrap, ReportSubmitted.model_validate(event_json(insatser=[*tagged, declared])))
    async with running(
        classifier_app(ClassifierSettings(**kw), shipped_default()), aggregator_app(AggregatorSettings(**kw))
    ) as (classifier, stats):
        before = await eventually(lambda: by_basis(stats, skolverket), lambda c: len(c) == 2)
        (area,) = set(before) - {"digitalisering"}  # the same text: the model tags both alike
        assert before == {area: {"unreviewed": 2}, "digitalisering": {"declared": 1}}
        accept = {"action": "accept", "reason": "stämmer"}
        response = await classifier.post("/api/v1/review/gu/2020/gu-1", json=accept, headers=skolverket)
        assert (response.status_code, response.json()["published"]) == (200, True), response.text
        accepted = await eventually(lambda: by_basis(stats, skolverket), lambda c: c != before)
        assert accepted == {area: {"confirmed": 1, "unreviewed": 1}, "digitalisering": {"declared": 1}}
        target = other_area(area, "digitalisering")
        override = {"action": "override", "nsp_area": target, "reason": "gäller organisationen"}
        response = await classifier.post("/api/v1/review/gu/2020/gu-2", json=override, headers=skolverket)
        assert response.status_code == 200, response.text
        moved = await eventually(lambda: by_basis(stats, skolverket), lambda c: c != accepted)
        assert moved == {area: {"confirmed": 1}, target: {"confirmed": 1}, "digitalisering": {"declared": 1}}
    sent = await overrides_on_topic(kafka_bootstrap, 2)
    assert [(e.ref, e.nsp_area, e.accepted) for e in sent] == [("gu-1", area, True), ("gu-2", target, False)]
