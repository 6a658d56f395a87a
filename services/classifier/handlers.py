"""Kafka handlers: parse, classify (pure), store, publish. Unparseable messages go to the dead letters."""

from __future__ import annotations

import asyncio
import logging

from faststream.kafka import KafkaBroker, KafkaMessage
from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.classifier.model import NspModel, model_scorer
from services.classifier.registry import shipped_default
from services.classifier.rules import MODEL_VERSION, classify_insats
from services.classifier.settings import ClassifierSettings
from services.classifier.store import record_classified
from shared import topics
from shared.broker import consumer_options, parse_or_dead_letter
from shared.db import create_engine, session_factory
from shared.events import ReportClassified, ReportSubmitted, derived_event_id
from shared.reference import load_reference

log = logging.getLogger("rucnet.classifier")
CLASSIFIED = Counter("rucnet_classified_insatser", "Insatser classified", ["source", "needs_review"])
CONFIDENCE = Histogram(
    "rucnet_classifier_confidence", "Confidence of classifier-decided areas", buckets=(0.3, 0.5, 0.7, 0.9, 1)
)


def classify_report(
    event: ReportSubmitted, threshold: float, model: NspModel | None = None
) -> ReportClassified:
    """The report's insatser tagged by ``model`` (the lexicon when None); the id is derived, so a
    redelivered submission yields the same classified event."""
    reference = load_reference()
    scorer = model_scorer(model, reference) if model is not None else None
    return ReportClassified(
        event_id=derived_event_id(event.event_id, "classified"),
        submission_event_id=event.event_id,
        report_id=event.report_id,
        version=event.version,
        ruc_id=event.ruc_id,
        year=event.year,
        huvudman=event.huvudman,
        insatser=event.insatser,
        classifications=tuple(
            classify_insats(i, event.year, reference, threshold, scorer) for i in event.insatser
        ),
        model_version=model.version if model is not None else MODEL_VERSION,
    )


def register_handlers(
    broker: KafkaBroker,
    settings: ClassifierSettings,
    model: NspModel | None = None,
    sessions: async_sessionmaker[AsyncSession] | None = None,
) -> None:
    """``model`` and ``sessions`` default to the shipped model and the settings' database."""
    model = model or shipped_default()
    sessions = sessions or session_factory(create_engine(settings.db_url))

    @broker.subscriber(topics.REPORTS_SUBMITTED, **consumer_options(settings, topics.CLASSIFIER_GROUP))
    async def handle_report_submitted(msg: KafkaMessage) -> None:
        event = await parse_or_dead_letter(broker, msg, ReportSubmitted)
        if event is None:
            return
        # CPU-bound (up to 500 insatser): off the event loop, so /healthz and the API stay responsive
        classified = await asyncio.to_thread(classify_report, event, settings.review_threshold, model)
        try:
            async with sessions.begin() as session:
                await record_classified(session, classified)
        except Exception:
            log.exception("cannot store classifications of %s; it will be redelivered", event.event_id)
            await asyncio.sleep(settings.retry_backoff_s)
            raise
        await broker.publish(classified, topics.REPORTS_CLASSIFIED, key=event.ruc_id.encode())
        for c in classified.classifications:
            CLASSIFIED.labels(c.source, str(c.needs_review).lower()).inc()
            if c.source == "classifier":
                CONFIDENCE.observe(c.confidence)
