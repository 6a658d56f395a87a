"""Handlers through FastStream's in-memory TestKafkaBroker: fast checks of the transport glue."""

import json
import uuid
from pathlib import Path
from typing import Any

from faststream.kafka import KafkaBroker, TestKafkaBroker

from services.aggregator.handlers import register_handlers as register_aggregator
from services.aggregator.queries import national_counts
from services.aggregator.settings import AggregatorSettings
from services.classifier.handlers import register_handlers as register_classifier
from services.classifier.rules import classify_by_lexicon
from services.classifier.settings import ClassifierSettings
from shared import topics
from shared.broker import create_broker
from shared.db import create_engine, session_factory
from shared.events import DeadLetter, DeadLetterReason, ReportClassified, ReportSubmitted
from tests.conftest import test_settings
from tests.unit.test_schemas import event_json, insats


def collect(broker: KafkaBroker, topic: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    @broker.subscriber(topic, group_id=f"probe-{uuid.uuid4()}")
    async def probe(body: dict[str, Any]) -> None:
        seen.append(body)

    return seen


async def test_a_submitted_report_is_classified_and_republished(tmp_path: Path, sqlite_url: str) -> None:
    settings = ClassifierSettings(**test_settings("memory", sqlite_url, tmp_path))  # type: ignore[arg-type]
    broker = create_broker(settings)
    register_classifier(broker, settings)
    classified = collect(broker, topics.REPORTS_CLASSIFIED)
    submitted = ReportSubmitted.model_validate(
        event_json(insatser=[insats(), insats(ref="gu-2020-002", nsp_area="elevhalsa", status="completed")])
    )
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(submitted, topics.REPORTS_SUBMITTED, key=b"gu")
    assert len(classified) == 1
    event = ReportClassified.model_validate(classified[0])
    assert event.submission_event_id == submitted.event_id
    by_ref = {c.ref: c for c in event.classifications}
    assert by_ref["gu-2020-001"].source == "classifier"
    assert by_ref["gu-2020-002"].source == "declared"
    assert by_ref["gu-2020-002"].nsp_area == "elevhalsa"


async def test_a_poison_message_goes_to_the_dead_letters_and_the_next_is_handled(
    tmp_path: Path, sqlite_url: str
) -> None:
    settings = ClassifierSettings(**test_settings("memory", sqlite_url, tmp_path))  # type: ignore[arg-type]
    broker = create_broker(settings)
    register_classifier(broker, settings)
    letters = collect(broker, topics.DEAD_LETTERS)
    classified = collect(broker, topics.REPORTS_CLASSIFIED)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(b"{not json", topics.REPORTS_SUBMITTED, key=b"gu")
        await test_broker.publish(ReportSubmitted.model_validate(event_json()), topics.REPORTS_SUBMITTED)
    assert len(letters) == 1
    letter = DeadLetter.model_validate(letters[0])
    assert letter.topic == topics.REPORTS_SUBMITTED
    assert letter.payload == "{not json"
    assert letter.reason == DeadLetterReason.UNPARSEABLE
    assert len(classified) == 1


async def test_the_aggregator_counts_a_redelivered_event_once(tmp_path: Path, sqlite_url: str) -> None:
    settings = AggregatorSettings(**test_settings("memory", sqlite_url, tmp_path))  # type: ignore[arg-type]
    broker = create_broker(settings)
    engine = create_engine(sqlite_url)
    sessions = session_factory(engine)
    register_aggregator(broker, settings, sessions)
    event = classify_by_lexicon(ReportSubmitted.model_validate(event_json()), 0.5)
    async with TestKafkaBroker(broker) as test_broker:
        for _ in range(3):
            await test_broker.publish(event, topics.REPORTS_CLASSIFIED, key=b"gu")
    async with sessions() as session:
        counts = await national_counts(session, 2020)
    await engine.dispose()
    assert counts.started_total == 1
    assert counts.started_by_school_form == {"grundskola": 1, "gymnasieskola": 1}


def test_classified_event_ids_are_deterministic() -> None:
    submitted = ReportSubmitted.model_validate(event_json())
    first, again = classify_by_lexicon(submitted, 0.5), classify_by_lexicon(submitted, 0.5)
    assert first.event_id == again.event_id
    assert json.loads(first.model_dump_json())["model_version"]
