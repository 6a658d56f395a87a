"""submit → classify → count on the real broker and the real PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from services.aggregator.app import create_app as aggregator_app
from services.aggregator.queries import national_counts
from services.aggregator.settings import AggregatorSettings
from services.aggregator.store import apply_events
from services.aggregator.tables import RECORDS, ProcessedEvent
from services.classifier.app import create_app as classifier_app
from services.classifier.rules import classify_by_lexicon
from services.classifier.settings import ClassifierSettings
from services.intake.app import create_app as intake_app
from services.intake.settings import IntakeSettings
from shared import topics
from shared.db import create_engine, session_factory
from shared.events import DeadLetter, ReportSubmitted
from tests.conftest import test_settings
from tests.integration.conftest import data_dir, eventually, records_on, running, token
from tests.unit.test_schemas import event_json, insats, valid_report


def stack(kafka: str, db: str, tmp_path: Path) -> tuple[Any, Any, Any]:
    kw: Any = test_settings(kafka, db, data_dir(tmp_path))
    return (
        intake_app(IntakeSettings(**kw)),
        classifier_app(ClassifierSettings(**kw)),
        aggregator_app(AggregatorSettings(**kw)),
    )


async def national(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/api/v1/stats/national", params={"year": 2020}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(params=["kafka", "tansu"])
def either_broker(request: pytest.FixtureRequest) -> str:
    """Apache Kafka (production's) and the embedded Tansu (`rucnet dev`'s default), both proven."""
    fixture = "kafka_bootstrap" if request.param == "kafka" else "tansu_bootstrap"
    bootstrap: str = request.getfixturevalue(fixture)
    return bootstrap


async def test_a_report_is_counted_and_a_resubmitted_ref_replaces_its_counts(
    either_broker: str, pg_url: str, tmp_path: Path
) -> None:
    kafka_bootstrap = either_broker
    gu, skolverket = await token(pg_url, "ruc", "gu"), await token(pg_url, "skolverket")
    async with running(*stack(kafka_bootstrap, pg_url, tmp_path)) as (intake, classifier, aggregator):
        for client in (intake, classifier, aggregator):
            assert (await client.get("/healthz")).status_code == 200
        first = valid_report(
            insatser=[insats(), insats(ref="gu-2020-002", status="completed", nsp_area="elevhalsa")]
        )
        response = await intake.post("/api/v1/reports", json=first, headers=gu)
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "accepted"

        stats = await eventually(
            lambda: national(aggregator, skolverket), lambda s: s["completed"]["insatser"] == 1
        )
        assert stats["started"]["insatser"] == 1
        assert stats["started"]["by_school_form"]["grundskola"] == 1
        assert stats["completed"]["by_nsp"]["elevhalsa"] == 1

        corrected = valid_report(
            insatser=[insats(status="completed", nsp_area="nyanlanda", school_forms=["komvux"])]
        )
        assert (await intake.post("/api/v1/reports", json=corrected, headers=gu)).status_code == 202
        stats = await eventually(
            lambda: national(aggregator, skolverket), lambda s: s["completed"]["insatser"] == 2
        )
    assert stats["started"]["insatser"] == 0
    assert stats["started"]["by_school_form"]["grundskola"] == 0
    assert stats["completed"]["by_nsp"]["nyanlanda"] == 1
    assert stats["completed"]["by_nsp"]["elevhalsa"] == 1


async def test_rejected_reports_publish_nothing(kafka_bootstrap: str, pg_url: str, tmp_path: Path) -> None:
    gu = await token(pg_url, "ruc", "gu")
    (intake, *_rest) = stack(kafka_bootstrap, pg_url, tmp_path)
    async with running(intake) as (client,):
        cases = [
            ({}, valid_report(), 401),
            ({"Authorization": "Bearer nope"}, valid_report(), 401),
            (gu, valid_report(ruc_id="su"), 403),
            (gu, valid_report(year=2101), 422),
            (gu, valid_report(insatser=[]), 422),
            (gu, valid_report(insatser=[insats(school_forms=["universitet"])]), 422),
        ]
        for headers, body, status in cases:
            response = await client.post("/api/v1/reports", json=body, headers=headers)
            assert response.status_code == status, (body, response.text)
            assert "detail" in response.json()
        malformed = await client.post(
            "/api/v1/reports", content=b"{broken", headers=gu | {"content-type": "application/json"}
        )
        assert malformed.status_code == 422
    assert await records_on(kafka_bootstrap, topics.REPORTS_SUBMITTED, at_least=1, timeout_s=1.5) == []


async def test_a_redelivered_event_is_counted_once_and_a_poison_message_is_parked(
    kafka_bootstrap: str, pg_url: str, tmp_path: Path
) -> None:
    skolverket = await token(pg_url, "skolverket")
    event = classify_by_lexicon(ReportSubmitted.model_validate(event_json()), 0.5)
    later = classify_by_lexicon(
        ReportSubmitted.model_validate(event_json(insatser=[insats(ref="gu-2")])), 0.5
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for payload in (event.model_dump_json().encode(), b"not json", event.model_dump_json().encode()):
            await producer.send_and_wait(topics.REPORTS_CLASSIFIED, payload, key=b"gu")
        await producer.send_and_wait(topics.REPORTS_CLASSIFIED, later.model_dump_json().encode(), key=b"gu")
    finally:
        await producer.stop()
    (_intake, _classifier, aggregator) = stack(kafka_bootstrap, pg_url, tmp_path)
    async with running(aggregator) as (client,):
        stats = await eventually(
            lambda: national(client, skolverket), lambda s: s["started"]["insatser"] == 2
        )
    assert stats["started"]["insatser"] == 2
    engine = create_engine(pg_url)
    async with session_factory(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedEvent)) == 2
    await engine.dispose()
    letters = [
        DeadLetter.model_validate_json(m.value)
        for m in await records_on(kafka_bootstrap, topics.DEAD_LETTERS, at_least=1, timeout_s=10)
    ]
    assert [(d.topic, d.payload) for d in letters] == [(topics.REPORTS_CLASSIFIED, "not json")]


async def test_the_aggregator_transaction_dedupes_and_ignores_stale_versions(pg_url: str) -> None:
    engine = create_engine(pg_url)
    sessions = session_factory(engine)
    newer = classify_by_lexicon(ReportSubmitted.model_validate(event_json(version=2)), 0.5)
    older = classify_by_lexicon(
        ReportSubmitted.model_validate(event_json(version=1, insatser=[insats(school_forms=["forskola"])])),
        0.5,
    )
    results = []
    for event in (newer, newer, older):
        async with sessions.begin() as session:
            results += await apply_events(session, [(event, topics.REPORTS_CLASSIFIED)])
    async with sessions() as session:
        counts = await national_counts(session, 2020)
        key = RECORDS.c.ruc_id == "gu", RECORDS.c.year == 2020, RECORDS.c.ref == "gu-2020-001"
        record = (await session.execute(select(RECORDS).where(*key))).one_or_none()
    await engine.dispose()
    assert results == [True, False, True]
    assert counts.started_by_school_form == {"grundskola": 1, "gymnasieskola": 1}
    assert record is not None
    assert record.version == 2
