"""Kafka handlers: parse, classify (pure), publish. Unparseable messages go to the dead letters."""

from __future__ import annotations

from faststream.kafka import KafkaBroker, KafkaMessage

from services.classifier.rules import MODEL_VERSION, classify_insats
from services.classifier.settings import ClassifierSettings
from shared import topics
from shared.broker import consumer_options, parse_or_dead_letter
from shared.events import ReportClassified, ReportSubmitted, derived_event_id
from shared.reference import load_reference


def classify_report(event: ReportSubmitted, threshold: float) -> ReportClassified:
    reference = load_reference()
    return ReportClassified(
        event_id=derived_event_id(event.event_id, "classified"),
        submission_event_id=event.event_id,
        report_id=event.report_id,
        version=event.version,
        ruc_id=event.ruc_id,
        year=event.year,
        huvudman=event.huvudman,
        insatser=event.insatser,
        classifications=tuple(classify_insats(i, event.year, reference, threshold) for i in event.insatser),
        model_version=MODEL_VERSION,
    )


def register_handlers(broker: KafkaBroker, settings: ClassifierSettings) -> None:
    @broker.subscriber(topics.REPORTS_SUBMITTED, **consumer_options(settings, topics.CLASSIFIER_GROUP))
    async def handle_report_submitted(msg: KafkaMessage) -> None:
        event = await parse_or_dead_letter(broker, msg, ReportSubmitted)
        if event is None:
            return
        classified = classify_report(event, settings.review_threshold)
        await broker.publish(classified, topics.REPORTS_CLASSIFIED, key=event.ruc_id.encode())
