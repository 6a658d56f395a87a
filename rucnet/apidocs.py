"""The API documents in docs/: OpenAPI for the three HTTP services, AsyncAPI for their events.

``rucnet docs generate`` writes them; ``tests/unit/test_api_documents.py`` regenerates them and
fails when docs/ is stale. Both documents come from the running code: OpenAPI from each service's
FastAPI app (``create_app``), AsyncAPI from FastStream's generator over a broker that mirrors the
service's real subscribers (topics, consumer group, ack policy, read from the broker its handlers
registered on) with the event model each topic carries.

Why a mirror: the subscribers take raw Kafka batches and validate each record themselves (one bad
record is dead-lettered alone), so FastStream sees no payload type on them. The mirror gives each
topic its event model; what a service publishes with ``broker.publish`` is declared in
``PUBLISHES`` (a unit test checks it against the topics each service's code names).
"""

from __future__ import annotations

import inspect
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from faststream.kafka import KafkaBroker
from faststream.kafka.subscriber.specification import KafkaSubscriberSpecification
from faststream.specification import AsyncAPI
from pydantic import BaseModel

from shared import topics
from shared.events import (
    AttendanceReported,
    ClassificationOverridden,
    DeadLetter,
    ReportClassified,
    ReportSubmitted,
)

DOCS = Path(__file__).resolve().parents[1] / "docs"
SERVICES = ("intake", "classifier", "aggregator")
# The development server the documents name (``rucnet dev``); compose uses kafka:9092.
BOOTSTRAP = "127.0.0.1:9092"
VERSION = "1"
EVENTS: dict[str, type[BaseModel]] = {
    topics.REPORTS_SUBMITTED: ReportSubmitted,
    topics.REPORTS_CLASSIFIED: ReportClassified,
    topics.CLASSIFICATIONS_OVERRIDDEN: ClassificationOverridden,
    topics.ATTENDANCE_REPORTED: AttendanceReported,
    topics.DEAD_LETTERS: DeadLetter,
}
PUBLISHES: dict[str, dict[str, str]] = {
    "intake": {
        topics.REPORTS_SUBMITTED: "A stored report (its outbox row), relayed in order per RUC; key: ruc_id.",
        topics.ATTENDANCE_REPORTED: "A RUC's attendance at network meetings for a year; key: ruc_id.",
    },
    "classifier": {
        topics.REPORTS_CLASSIFIED: "The report with an NSP area decided for each insats; key: ruc_id.",
        topics.CLASSIFICATIONS_OVERRIDDEN: "An analyst's review (accept or change the area); key: ruc_id.",
        topics.DEAD_LETTERS: "A record that could not be parsed, with the reason; key: the record's key.",
    },
    "aggregator": {
        topics.DEAD_LETTERS: "A record that could not be parsed or applied, with the reason.",
    },
}
TITLES = {"intake": "rucnet intake", "classifier": "rucnet classifier", "aggregator": "rucnet aggregator"}


@contextmanager
def _settings(service: str) -> Iterator[Any]:
    """The service's settings on a throw-away data dir, independent of the caller's environment."""
    with tempfile.TemporaryDirectory() as tmp:
        common: dict[str, Any] = {"data_dir": Path(tmp), "kafka_bootstrap": BOOTSTRAP}
        if service == "intake":
            from services.intake.settings import IntakeSettings

            yield IntakeSettings(**common, pseudonym_secret="schema-only-" + "x" * 32)
        elif service == "classifier":
            from services.classifier.settings import ClassifierSettings

            yield ClassifierSettings(**common)
        else:
            from services.aggregator.settings import AggregatorSettings

            yield AggregatorSettings(**common)


def openapi(service: str) -> dict[str, Any]:
    """The service's OpenAPI document, from its FastAPI app."""
    if service == "intake":
        from services.intake.openapi import intake_schema

        return intake_schema()
    from fastapi import FastAPI

    with _settings(service) as settings:
        app: FastAPI
        if service == "classifier":
            from services.classifier.app import create_app as classifier_app
            from services.classifier.registry import shipped_default

            app = classifier_app(settings, model=shipped_default())
        else:
            from services.aggregator.app import create_app as aggregator_app

            app = aggregator_app(settings)
        return app.openapi()


def service_broker(service: str) -> KafkaBroker:
    """The broker as the service builds it, with its handlers registered (nothing connects)."""
    from shared.broker import create_broker
    from shared.db import create_engine, session_factory

    with _settings(service) as settings:
        broker = create_broker(settings)
        if service == "classifier":
            from services.classifier.handlers import register_handlers as classifier_handlers
            from services.classifier.registry import shipped_default

            model = shipped_default()
            classifier_handlers(broker, settings, model, session_factory(create_engine(settings.db_url)))
        elif service == "aggregator":
            from services.aggregator.handlers import register_handlers as aggregator_handlers

            aggregator_handlers(broker, settings, session_factory(create_engine(settings.db_url)))
        return broker


@dataclass(frozen=True)
class Subscription:
    """One topic a service's handler reads, as its real subscriber is configured."""

    handler: str
    topic: str
    group_id: str | None
    ack_policy: str
    batch: bool


def subscriptions(broker: KafkaBroker) -> list[Subscription]:
    found = []
    for sub in broker.subscribers:
        spec = sub.specification
        assert isinstance(spec, KafkaSubscriberSpecification)
        group_id: str | None = getattr(sub, "group_id", None)
        batch = getattr(sub, "max_records", None) is not None
        found += [
            Subscription(sub.calls.name or "handler", t, group_id, sub.ack_policy.name, batch)
            for t in spec.topics
        ]
    return found


def subscribed_topics(broker: KafkaBroker) -> list[str]:
    return [s.topic for s in subscriptions(broker)]


def _typed_handler(model: type[BaseModel]) -> Any:
    """A handler FastStream reads the payload type from: ``(event: model) -> None``."""

    async def handler(event: Any) -> None:
        return None

    parameter = inspect.Parameter("event", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=model)
    handler.__signature__ = inspect.Signature([parameter], return_annotation=None)  # type: ignore[attr-defined]
    handler.__name__ = handler.__qualname__ = model.__name__
    return handler


def _mirror(service: str, real: KafkaBroker) -> KafkaBroker:
    doc = KafkaBroker(BOOTSTRAP, description="The broker `rucnet dev` starts; in compose it is kafka:9092.")
    for sub in subscriptions(real):
        if sub.topic not in EVENTS:
            raise LookupError(f"{service} subscribes to {sub.topic}, which has no event model in EVENTS")
        batches = " in batches" if sub.batch else ""
        description = (
            f"Read by `{sub.handler}` in consumer group `{sub.group_id}`{batches}; ack policy "
            f"{sub.ack_policy}: the offset is committed after the handler has stored the event."
        )
        doc.subscriber(
            sub.topic, group_id=sub.group_id, title=f"{sub.topic}:receive", description=description
        )(_typed_handler(EVENTS[sub.topic]))
    for topic, description in PUBLISHES[service].items():
        doc.publisher(topic, title=f"{topic}:send", description=description, schema=EVENTS[topic])
    return doc


def asyncapi(service: str) -> dict[str, Any]:
    """The service's AsyncAPI 3.0 document, from FastStream's generator."""
    spec = AsyncAPI(
        _mirror(service, service_broker(service)),
        title=TITLES[service],
        version=VERSION,
        description=f"The events {TITLES[service]} consumes and publishes (JSON, UTF-8).",
    ).to_specification()
    document: dict[str, Any] = spec.to_jsonable()
    return document


def render_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def render_yaml(document: dict[str, Any]) -> str:
    text: str = yaml.safe_dump(document, allow_unicode=True, sort_keys=True, width=100)
    return text


def rendered_documents() -> dict[str, str]:
    """File name in docs/ → content, for every generated API document."""
    files: dict[str, str] = {}
    for service in SERVICES:
        files[f"openapi-{service}.json"] = render_json(openapi(service))
        files[f"asyncapi-{service}.yaml"] = render_yaml(asyncapi(service))
    return files


def write_documents(docs: Path = DOCS) -> list[Path]:
    docs.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in rendered_documents().items():
        path = docs / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_documents(Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS):
        print(path)
