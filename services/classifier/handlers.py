"""The classifier's Kafka handler, a module-level function on a ``KafkaRouter``: parse, classify
(pure), store, publish. Unparseable messages go to the dead letters. What it needs comes from the
broker's context (the broker itself, and ``Classifying``), set by ``register_handlers``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from aiokafka import ConsumerRecord
from faststream import Context
from faststream.kafka import KafkaBroker, KafkaMessage, KafkaRouter
from faststream.kafka.annotations import KafkaBroker as BrokerDep
from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.classifier.oversized import producible
from services.classifier.protocol import NspScorer
from services.classifier.registry import shipped_default
from services.classifier.rules import CANDIDATES, Scored, classified_reports, scoring_text
from services.classifier.scoring import ScoringPool
from services.classifier.settings import ClassifierSettings
from services.classifier.store import record_classified
from shared import topics
from shared.broker import (
    batch_records,
    batch_subscriber,
    commit_in_background,
    parse_record_or_dead_letter,
    publish_all,
)
from shared.db import create_engine, session_factory
from shared.events import ReportClassified, ReportSubmitted
from shared.reference import load_reference

log = logging.getLogger("rucnet.classifier")
CHUNK_REPORTS = 40  # reports scored together in a large batch, the next chunk's scoring overlapping
CLASSIFIED = Counter("rucnet_classified_insatser", "Insatser classified", ["source", "needs_review"])
CONFIDENCE = Histogram(
    "rucnet_classifier_confidence", "Confidence of classifier-decided areas", buckets=(0.3, 0.5, 0.7, 0.9, 1)
)


def scoring_items(events: Sequence[ReportSubmitted]) -> list[tuple[str, frozenset[str]]]:
    """Every insats's text with the NSP areas its year allows, in the events' order."""
    reference = load_reference()
    allowed = {year: frozenset(reference.nsp_codes_for(year)) for year in {e.year for e in events}}
    return [(scoring_text(i), allowed[event.year]) for event in events for i in event.insatser]


@dataclass(frozen=True)
class Classifying:
    """What the handler needs beside the broker, set once in the broker's context (``register``)."""

    settings: ClassifierSettings
    sessions: async_sessionmaker[AsyncSession]
    scoring: ScoringPool


ClassifyingDep = Annotated[Classifying, Context("classifying")]


async def score(scoring: ScoringPool, chunk: Sequence[ReportSubmitted]) -> list[Scored]:
    return await scoring.score_batch(scoring_items(chunk), areas=CANDIDATES)


async def store_and_publish(
    broker: KafkaBroker,
    classifying: Classifying,
    sources: Sequence[ConsumerRecord[Any, Any]],
    events: Sequence[ReportSubmitted],
    scores: list[Scored],
) -> None:
    settings = classifying.settings
    version = classifying.scoring.model.version
    classified = classified_reports(events, scores, settings.review_threshold, version)
    _, classified = await producible(broker, settings.kafka_max_message_bytes, sources, events, classified)
    try:
        # at once: a classification published before its row is stored (or stored, and then
        # not published) is redelivered with the batch and published again, deduped downstream
        await asyncio.gather(
            stored(classifying.sessions, classified),
            publish_all(broker, classified, topics.REPORTS_CLASSIFIED, key=lambda c: c.ruc_id.encode()),
        )
    except Exception:
        log.exception("cannot store or publish the classifications of %d reports; redelivered", len(events))
        await asyncio.sleep(settings.retry_backoff_s)
        raise
    for c in (c for event in classified for c in event.classifications):
        CLASSIFIED.labels(c.source, str(c.needs_review).lower()).inc()
        if c.source == "classifier":
            CONFIDENCE.observe(c.confidence)


async def stored(sessions: async_sessionmaker[AsyncSession], classified: Sequence[ReportClassified]) -> None:
    async with sessions.begin() as session:
        await record_classified(session, classified)


async def handle_report_submitted(msg: KafkaMessage, broker: BrokerDep, classifying: ClassifyingDep) -> None:
    """A polled batch, its offsets committed once all of it is stored and published, in the
    background while the next batch is polled (an error seeks back instead: NACK_ON_ERROR)."""
    await classify_batch(msg, broker, classifying)
    commit_in_background(msg)


async def classify_batch(msg: KafkaMessage, broker: KafkaBroker, classifying: Classifying) -> None:
    """A large batch goes in chunks, pipelined: the worker scores chunk n + 1 while the loop stores
    and publishes chunk n."""
    events: list[ReportSubmitted] = []
    sources: list[ConsumerRecord[Any, Any]] = []
    for record in batch_records(msg):
        event = await parse_record_or_dead_letter(broker, record, ReportSubmitted)
        if event is not None:
            events.append(event)
            sources.append(record)
    if not events:
        return
    scoring = classifying.scoring
    scoring_next = asyncio.ensure_future(score(scoring, events[:CHUNK_REPORTS]))
    try:
        for start in range(0, len(events), CHUNK_REPORTS):
            scores = await scoring_next
            following = start + CHUNK_REPORTS
            if following < len(events):
                scoring_next = asyncio.ensure_future(
                    score(scoring, events[following : following + CHUNK_REPORTS])
                )
            chunk = slice(start, following)
            await store_and_publish(broker, classifying, sources[chunk], events[chunk], scores)
    finally:
        if not scoring_next.done():
            scoring_next.cancel()


def classifier_router(settings: ClassifierSettings) -> KafkaRouter:
    """The classifier's subscriber: its group, batching and ack policy come from the settings."""
    router = KafkaRouter()
    batch_subscriber(router, [topics.REPORTS_SUBMITTED], settings, topics.CLASSIFIER_GROUP)(
        handle_report_submitted
    )
    return router


def register_handlers(
    broker: KafkaBroker,
    settings: ClassifierSettings,
    model: NspScorer | None = None,
    sessions: async_sessionmaker[AsyncSession] | None = None,
    scoring: ScoringPool | None = None,
) -> None:
    """The router on ``broker``, what its handler needs in the broker's context. ``model``,
    ``sessions`` and ``scoring`` default to the shipped model, the settings' database and scoring
    in a thread (the app passes its started pool of worker processes)."""
    model = model or shipped_default()
    sessions = sessions or session_factory(create_engine(settings.db_url))
    scoring = scoring or ScoringPool(model, workers=0)
    broker.context.set_global("classifying", Classifying(settings, sessions, scoring))
    broker.include_router(classifier_router(settings))
