"""Kafka handlers: parse, classify (pure), store, publish. Unparseable messages go to the dead letters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from faststream.kafka import KafkaBroker, KafkaMessage
from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.classifier.model import NspModel
from services.classifier.registry import shipped_default
from services.classifier.rules import MODEL_VERSION, decide, score_text
from services.classifier.settings import ClassifierSettings
from services.classifier.store import record_classified
from shared import topics
from shared.broker import (
    batch_options,
    batch_records,
    consumer_options,
    parse_record_or_dead_letter,
    publish_all,
)
from shared.db import create_engine, session_factory
from shared.events import ReportClassified, ReportSubmitted, classified_report
from shared.reference import load_reference

log = logging.getLogger("rucnet.classifier")
CLASSIFIED = Counter("rucnet_classified_insatser", "Insatser classified", ["source", "needs_review"])
CONFIDENCE = Histogram(
    "rucnet_classifier_confidence", "Confidence of classifier-decided areas", buckets=(0.3, 0.5, 0.7, 0.9, 1)
)


def classify_reports(
    events: Sequence[ReportSubmitted], threshold: float, model: NspModel | None = None
) -> list[ReportClassified]:
    """Each report's insatser tagged by ``model`` (the lexicon when None), all texts scored in one
    pass; event ids are derived, so a redelivered submission yields the same classified event."""
    reference = load_reference()
    items = [(i, event.year) for event in events for i in event.insatser]
    if model is not None:
        allowed = {year: frozenset(reference.nsp_codes_for(year)) for _, year in items}
        scores = model.score_batch([(i.text, allowed[year]) for i, year in items])
    else:
        scores = [score_text(i.text, reference, year) for i, year in items]
    decided = iter(decide(i, scored, threshold) for (i, _), scored in zip(items, scores, strict=True))
    version = model.version if model is not None else MODEL_VERSION
    return [classified_report(e, tuple(next(decided) for _ in e.insatser), version) for e in events]


def classify_report(
    event: ReportSubmitted, threshold: float, model: NspModel | None = None
) -> ReportClassified:
    return classify_reports([event], threshold, model)[0]


def register_handlers(
    broker: KafkaBroker,
    settings: ClassifierSettings,
    model: NspModel | None = None,
    sessions: async_sessionmaker[AsyncSession] | None = None,
) -> None:
    """``model`` and ``sessions`` default to the shipped model and the settings' database."""
    model = model or shipped_default()
    sessions = sessions or session_factory(create_engine(settings.db_url))

    # A batch at a time: one vectorisation, one transaction and one wait for the broker's acks for
    # every report the poll returned. The offsets are committed after all of it (NACK_ON_ERROR).
    @broker.subscriber(
        topics.REPORTS_SUBMITTED,
        batch=True,
        **batch_options(settings),
        **consumer_options(settings, topics.CLASSIFIER_GROUP),
    )
    async def handle_report_submitted(msg: KafkaMessage) -> None:
        events = []
        for record in batch_records(msg):
            event = await parse_record_or_dead_letter(broker, record, ReportSubmitted)
            if event is not None:
                events.append(event)
        if not events:
            return
        # CPU-bound: off the event loop, so /healthz and the API stay responsive
        classified = await asyncio.to_thread(classify_reports, events, settings.review_threshold, model)
        try:
            async with sessions.begin() as session:
                await record_classified(session, classified)
        except Exception:
            log.exception("cannot store classifications of %d reports; they will be redelivered", len(events))
            await asyncio.sleep(settings.retry_backoff_s)
            raise
        await publish_all(broker, classified, topics.REPORTS_CLASSIFIED, key=lambda c: c.ruc_id.encode())
        for c in (c for event in classified for c in event.classifications):
            CLASSIFIED.labels(c.source, str(c.needs_review).lower()).inc()
            if c.source == "classifier":
                CONFIDENCE.observe(c.confidence)
