"""Issue 14's scenarios where the broker or PostgreSQL is involved: the oversized classified report
is dead-lettered and every report behind it on its partition is counted; bad input on PostgreSQL
is a 4xx, never a 500."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from rucnet.dlq import read_letters
from services.aggregator.app import create_app as aggregator_app
from services.aggregator.queries import national_counts
from services.aggregator.settings import AggregatorSettings
from services.classifier.app import create_app as classifier_app
from services.classifier.registry import shipped_default
from services.classifier.settings import ClassifierSettings
from shared import topics
from shared.db import create_engine, session_factory
from shared.events import DeadLetterReason, ReportSubmitted
from tests.conftest import test_settings
from tests.integration.conftest import data_dir, eventually, running
from tests.unit.test_intake_web import intake_app
from tests.unit.test_schemas import event_json, insats, valid_report

pytestmark = pytest.mark.integration
LIMIT = 65_536  # the classifier's budget, lowered so the scenario needs no megabyte of text


async def started_total(url: str) -> int:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        counts = await national_counts(session, 2020)
    await engine.dispose()
    return counts.started_total


async def test_2_a_classified_report_too_large_is_dead_lettered_and_the_partition_goes_on(
    kafka_bootstrap: str, pg_url: str, tmp_path: Path
) -> None:
    # accepted before the budget was what it is: its submission fits, its classified event would not
    big = ReportSubmitted.model_validate(
        event_json(
            ruc_id="gu",
            insatser=[insats(ref=f"gu-{i}", description="Läsa och skriva. " * 90) for i in range(31)],
        )
    )
    behind = [
        ReportSubmitted.model_validate(event_json(ruc_id=ruc, insatser=[insats(ref=f"{ruc}-1")]))
        for ruc in ("ltu", "umu", "mau", "oru")
    ]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for event in (big, *behind):  # one partition: everything behind the big one waits on it
            await producer.send_and_wait(
                topics.REPORTS_SUBMITTED,
                event.model_dump_json().encode(),
                key=event.ruc_id.encode(),
                partition=0,
            )
    finally:
        await producer.stop()
    kw = test_settings(kafka_bootstrap, pg_url, data_dir(tmp_path), scoring_workers=0)
    classifier = classifier_app(ClassifierSettings(**kw, kafka_max_message_bytes=LIMIT), shipped_default())  # type: ignore[arg-type]
    aggregator = aggregator_app(AggregatorSettings(**kw))  # type: ignore[arg-type]
    async with running(classifier, aggregator):
        counted = await eventually(lambda: started_total(pg_url), lambda n: n >= 4, 60)
        letters = await eventually(lambda: read_letters(kafka_bootstrap), lambda ls: len(ls) >= 1, 30)
    assert counted == 4  # ltu, umu, mau and oru; gu's 31 insatser are parked, not half-counted
    (letter,) = letters
    assert letter.topic == topics.REPORTS_SUBMITTED
    assert letter.reason == DeadLetterReason.TOO_LARGE
    assert "ReportClassified event would be" in letter.error
    assert str(big.event_id) in letter.payload


async def test_6_a_nul_in_the_huvudmans_name_on_postgresql_is_a_422_and_the_next_report_goes_on(
    pg_url: str, tmp_path: Path
) -> None:
    async with intake_app(pg_url, tmp_path) as intake:
        gu = await intake.token("ruc", "gu")
        nul = valid_report(huvudman={"name": "Exempel\x00kommun", "lan_kod": "14", "type": "kommunal"})
        refused = await intake.client.post("/api/v1/reports", json=nul, headers=gu)
        page = await intake.client.get("/logga-in")
        login = await intake.client.post(
            "/logga-in",
            data={
                "email": "anna\x00@gu.se",
                "password": "x",
                "csrf_token": page.text.split('name="csrf_token" value="')[1].split('"')[0],
            },
        )
        accepted = await intake.client.post("/api/v1/reports", json=valid_report(), headers=gu)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "huvudman.name"
    assert login.status_code == 400
    assert accepted.status_code == 202
