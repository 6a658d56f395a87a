"""The aggregator's handler, a module-level function on its ``KafkaRouter``, through TestKafkaBroker:
a batch is counted in one go, and what cannot be counted goes to the dead letters alone."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from sqlalchemy.ext.asyncio import AsyncSession

from services.aggregator import handlers
from services.aggregator.handlers import Aggregating, aggregator_router, known_codes
from services.aggregator.queries import national_counts
from services.aggregator.settings import AggregatorSettings
from services.classifier.rules import classify_by_lexicon
from shared import topics
from shared.broker import create_broker
from shared.db import create_engine, session_factory
from shared.events import DeadLetter, DeadLetterReason, ReportClassified, ReportSubmitted
from tests.conftest import test_settings
from tests.unit.test_handlers import collect
from tests.unit.test_schemas import event_json, insats


def classified(ref: str, status: str = "started") -> ReportClassified:
    submitted = ReportSubmitted.model_validate(event_json(insatser=[insats(ref=ref, status=status)]))
    return classify_by_lexicon(submitted, 0.5)


@pytest.fixture
def aggregator(tmp_path: Path, sqlite_url: str) -> tuple[KafkaBroker, Aggregating]:
    """The router on a broker of its own, its context set as ``register_handlers`` sets it."""
    settings = AggregatorSettings(**test_settings("memory", sqlite_url, tmp_path, retry_backoff_s=0.001))  # type: ignore[arg-type]
    broker = create_broker(settings)
    aggregating = Aggregating(settings, session_factory(create_engine(sqlite_url)), known_codes())
    broker.context.set_global("aggregating", aggregating)
    broker.include_router(aggregator_router(settings))
    return broker, aggregating


async def started_total(aggregating: Aggregating) -> int:
    async with aggregating.sessions() as session:
        return (await national_counts(session, 2020)).started_total


async def test_a_batch_is_counted_and_an_unknown_code_goes_to_the_dead_letters(
    aggregator: tuple[KafkaBroker, Aggregating],
) -> None:
    broker, aggregating = aggregator
    letters = collect(broker, topics.DEAD_LETTERS)
    unknown = classified("c").model_copy(update={"ruc_id": "nowhere"})
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish_batch(
            classified("a"), unknown, classified("b"), topic=topics.REPORTS_CLASSIFIED
        )
    (letter,) = [DeadLetter.model_validate(body) for body in letters]
    assert (letter.reason, letter.topic) == (DeadLetterReason.UNKNOWN_CODES, topics.REPORTS_CLASSIFIED)
    assert "nowhere" in letter.error
    assert await started_total(aggregating) == 2


async def test_an_event_the_store_cannot_apply_is_dead_lettered_alone_and_the_rest_counted(
    aggregator: tuple[KafkaBroker, Aggregating], monkeypatch: pytest.MonkeyPatch
) -> None:
    broker, aggregating = aggregator
    letters = collect(broker, topics.DEAD_LETTERS)
    bad = classified("bad")
    apply_events = handlers.apply_events

    async def refusing(session: AsyncSession, events: Sequence[tuple[Any, str]]) -> list[bool]:
        if any(getattr(e, "report_id", None) == bad.report_id for e, _ in events):
            raise ValueError("a row the store refuses")  # not a database outage: not redelivered
        return await apply_events(session, events)

    monkeypatch.setattr(handlers, "apply_events", refusing)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish_batch(
            classified("a"), bad, classified("b"), topic=topics.REPORTS_CLASSIFIED
        )
    (letter,) = [DeadLetter.model_validate(body) for body in letters]
    assert letter.reason == DeadLetterReason.NOT_APPLIED
    assert "a row the store refuses" in letter.error
    assert await started_total(aggregating) == 2
