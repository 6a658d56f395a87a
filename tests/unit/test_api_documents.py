"""docs/openapi-*.json and docs/asyncapi-*.yaml are what the code generates, and tell one story."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from rucnet.apidocs import (
    DOCS,
    EVENTS,
    PUBLISHES,
    SERVICES,
    rendered_documents,
    service_broker,
    subscribed_topics,
)
from shared import topics

ROOT = Path(__file__).resolve().parents[2]
STALE = "is stale: run `rucnet docs generate`"


@pytest.fixture(scope="module")
def documents() -> dict[str, str]:
    return rendered_documents()


def _asyncapi(service: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DOCS / f"asyncapi-{service}.yaml").read_text(encoding="utf-8"))
    return document


def _channels(service: str, action: str) -> set[str]:
    operations = _asyncapi(service)["operations"].values()
    return {
        op["channel"]["$ref"].rsplit("/", 1)[1].split(":")[0] for op in operations if op["action"] == action
    }


def test_the_checked_in_documents_are_what_the_code_generates(documents: dict[str, str]) -> None:
    assert set(documents) == {
        f"{kind}-{s}.{ext}" for s in SERVICES for kind, ext in (("openapi", "json"), ("asyncapi", "yaml"))
    }
    for name, content in documents.items():
        path = DOCS / name
        assert path.exists(), f"docs/{name} missing: run `rucnet docs generate`"
        assert path.read_text(encoding="utf-8") == content, f"docs/{name} {STALE}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_http_service_documents_its_health_check(service: str) -> None:
    import json

    document = json.loads((DOCS / f"openapi-{service}.json").read_text(encoding="utf-8"))
    assert document["openapi"].startswith("3.")
    assert "/healthz" in document["paths"]


@pytest.mark.parametrize("service", SERVICES)
def test_every_message_names_its_event_schema(service: str) -> None:
    document = _asyncapi(service)
    assert document["asyncapi"].startswith("3.")
    for message in document["components"]["messages"].values():
        schema = message["payload"]["$ref"].rsplit("/", 1)[1]
        assert schema in {model.__name__ for model in EVENTS.values()}
        assert "event_id" in document["components"]["schemas"][schema]["properties"]


def test_every_topic_is_documented_and_every_event_sent_is_read_by_someone() -> None:
    sent = {t for s in SERVICES for t in _channels(s, "send")}
    received = {t for s in SERVICES for t in _channels(s, "receive")}
    assert sent | received == set(topics.ALL_TOPICS)
    assert sent - {topics.DEAD_LETTERS} <= received  # dead letters are read by ops (`rucnet dlq`)


def test_the_classifiers_input_is_what_intake_sends() -> None:
    assert _channels("classifier", "receive") <= _channels("intake", "send")


@pytest.mark.parametrize("service", SERVICES)
def test_the_declared_publications_are_the_topics_the_services_code_names(service: str) -> None:
    """``PUBLISHES`` is declared by hand (``broker.publish`` calls cannot be read off a broker): it
    must name every topic the service's code uses that it does not subscribe to, and no other."""
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "services" / service).rglob("*.py"))
    named = {getattr(topics, name) for name in re.findall(r"\btopics\.([A-Z_]+)\b", source)}
    named.discard(topics.CLASSIFIER_GROUP)
    named.discard(topics.AGGREGATOR_GROUP)
    named.discard(topics.INTAKE_GROUP)
    if re.search(r"\b(parse_record_or_dead_letter|dead_letter_record)\(", source):
        named.add(topics.DEAD_LETTERS)
    subscribed = set(subscribed_topics(service_broker(service)))
    assert named - subscribed == set(PUBLISHES[service]) - subscribed
