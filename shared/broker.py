"""Kafka plumbing shared by the services: broker construction, topic creation, dead letters."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY, Counter
from pydantic import BaseModel, ValidationError

from shared import topics
from shared.events import DeadLetter
from shared.logging import LogContextMiddleware
from shared.metrics import BusinessMetricsMiddleware
from shared.settings import RucnetSettings

log = logging.getLogger("rucnet.broker")
E = TypeVar("E", bound=BaseModel)
DEAD_LETTERS = Counter("rucnet_dead_letters", "Messages parked in the dead-letter topic", ["topic"])


def create_broker(settings: RucnetSettings) -> KafkaBroker:
    service = type(settings).__name__.removesuffix("Settings").lower()
    return KafkaBroker(
        settings.kafka_bootstrap,
        middlewares=(
            LogContextMiddleware,
            KafkaPrometheusMiddleware(registry=REGISTRY, app_name=service, metrics_prefix="faststream"),
            BusinessMetricsMiddleware,
        ),
        logger=logging.getLogger("rucnet.faststream"),
        acks="all",
        enable_idempotence=settings.kafka_idempotence,
        allow_auto_create_topics=False,
        request_timeout_ms=15_000,
        graceful_timeout=15.0,
        log_level=logging.WARNING,
    )


def consumer_options(settings: RucnetSettings, group_id: str) -> dict[str, Any]:
    """Every subscriber names its group, reads from committed offsets and commits after handling."""
    return {
        "group_id": group_id,
        "auto_offset_reset": "earliest",
        "fetch_max_wait_ms": settings.kafka_fetch_max_wait_ms,
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "max_poll_interval_ms": 300_000,
    }


async def ensure_topics(settings: RucnetSettings, names: tuple[str, ...] = topics.ALL_TOPICS) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            await admin.create_topics(
                [NewTopic(n, num_partitions=settings.kafka_partitions, replication_factor=1) for n in missing]
            )
    finally:
        await admin.close()


async def dead_letter(broker: KafkaBroker, msg: KafkaMessage, error: str) -> DeadLetter:
    """Park a message that cannot be handled, with its origin, so the consumer can go on."""
    raw = msg.raw_message
    record: Any = raw[0] if isinstance(raw, tuple) else raw
    letter = DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key.decode(errors="replace") if record.key else None,
        error=error[:2000],
        payload=msg.body.decode(errors="replace")[:100_000],
    )
    await broker.publish(letter, topics.DEAD_LETTERS, key=record.key)
    DEAD_LETTERS.labels(letter.topic).inc()
    log.warning(
        "dead-lettered %s[%s]@%s: %s", letter.topic, letter.partition, letter.offset, letter.error[:200]
    )
    return letter


async def parse_or_dead_letter(broker: KafkaBroker, msg: KafkaMessage, model: type[E]) -> E | None:
    """Validate a raw message; a poison one is parked in the dead letters and None returned."""
    try:
        return model.model_validate_json(msg.body)
    except ValidationError as exc:
        await dead_letter(broker, msg, f"{model.__name__} does not parse: {exc}")
        return None
