"""The one size budget: what fits, the classification's bounded explanation, and the classifier that
dead-letters a classified report it cannot produce and goes on with the next."""

from __future__ import annotations

from pathlib import Path

from faststream.kafka import TestKafkaBroker

from services.classifier.handlers import register_handlers
from services.classifier.registry import shipped_default
from services.classifier.settings import ClassifierSettings
from shared import topics
from shared.broker import create_broker
from shared.budget import fits, record_bytes
from shared.db import create_engine, session_factory
from shared.events import REASONS_MAX_BYTES, AreaScore, InsatsClassification, cap_reasons
from tests.conftest import test_settings
from tests.unit.test_classifier_handler import collect, submitted
from tests.unit.test_schemas import insats


def test_an_event_fits_up_to_the_limit_with_room_for_headers_and_framing() -> None:
    key = b"gu"
    limit = 100_000
    largest = max(n for n in range(90_000, limit) if fits(n, key, limit))
    assert record_bytes(largest, key) <= limit < record_bytes(largest + 1, key)
    assert limit - largest < 1_200  # the allowance is a kilobyte, not a guess of tens
    assert fits(b"x" * largest, key, limit)
    assert not fits(b"x" * (largest + 1), key, limit)


def test_a_classifications_explanation_is_capped_in_bytes_strongest_first() -> None:
    words = tuple(f"ord{i}" * 10 for i in range(50))
    kept = cap_reasons(words)
    assert kept == words[: len(kept)]
    assert len(str(list(kept)).encode()) <= REASONS_MAX_BYTES + 10
    many = InsatsClassification(
        ref="a",
        nsp_area="nyanlanda",
        source="classifier",
        confidence=0.5,
        candidates=tuple(AreaScore(code="nyanlanda", score=0.1) for _ in range(9)),
        reasons=words,
    )
    assert len(many.candidates) == 3
    assert many.reasons == kept


async def test_the_classifier_dead_letters_a_classified_report_too_large_and_goes_on(
    tmp_path: Path, sqlite_url: str
) -> None:
    settings = ClassifierSettings(
        **test_settings("memory", sqlite_url, tmp_path, kafka_max_message_bytes=65_536)  # type: ignore[arg-type]
    )
    broker = create_broker(settings)
    register_handlers(broker, settings, shipped_default(), session_factory(create_engine(sqlite_url)))
    classified = collect(broker, topics.REPORTS_CLASSIFIED)
    letters = collect(broker, topics.DEAD_LETTERS)
    # accepted before the limit was lowered: the submission fits, its classified event would not
    big = submitted(insatser=[insats(ref=f"gu-{i}", description="Läsa och skriva. " * 90) for i in range(31)])
    assert fits(big.model_dump_json().encode(), b"gu", 65_536)
    small = submitted(ruc_id="su", insatser=[insats(ref="su-1")])
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(big, topics.REPORTS_SUBMITTED, key=b"gu")
        await test_broker.publish(small, topics.REPORTS_SUBMITTED, key=b"gu")  # same partition
    assert [c["ruc_id"] for c in classified] == ["su"]
    (letter,) = letters
    assert letter["topic"] == topics.REPORTS_SUBMITTED
    assert "ReportClassified event would be" in letter["error"]
    assert str(big.event_id) in letter["payload"]


def test_the_budget_is_stated_once_and_compose_gives_it_to_brokers_and_services_alike() -> None:
    import re

    from shared.budget import DEFAULT_MAX_MESSAGE_BYTES
    from shared.settings import RucnetSettings

    compose = (Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text(encoding="utf-8")
    broker = re.search(r"KAFKA_MESSAGE_MAX_BYTES: \$\{RUCNET_KAFKA_MAX_MESSAGE_BYTES:-(\d+)\}", compose)
    services = re.search(
        r"RUCNET_KAFKA_MAX_MESSAGE_BYTES: \$\{RUCNET_KAFKA_MAX_MESSAGE_BYTES:-(\d+)\}", compose
    )
    assert broker is not None
    assert services is not None
    assert int(broker.group(1)) == int(services.group(1)) == DEFAULT_MAX_MESSAGE_BYTES
    assert RucnetSettings().kafka_max_message_bytes == DEFAULT_MAX_MESSAGE_BYTES
