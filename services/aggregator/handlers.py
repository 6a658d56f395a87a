"""Kafka handlers: one database transaction per message, the offset committed only after it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from faststream.kafka import KafkaBroker, KafkaMessage
from prometheus_client import Counter
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.aggregator.settings import AggregatorSettings
from services.aggregator.store import apply_classified, apply_override
from shared import topics
from shared.broker import DEAD_LETTERS, consumer_options, dead_letter, parse_or_dead_letter
from shared.events import ClassificationOverridden, ReportClassified

log = logging.getLogger("rucnet.aggregator")
EVENTS_APPLIED = Counter("rucnet_aggregator_events", "Events seen by the aggregator", ["topic", "outcome"])
E = TypeVar("E", bound=BaseModel)


def is_transient(exc: Exception) -> bool:
    """A database that is down or restarting: redeliver later. Anything else is the message's fault."""
    if isinstance(exc, OperationalError | InterfaceError | OSError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def register_handlers(
    broker: KafkaBroker, settings: AggregatorSettings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    options = consumer_options(settings, topics.AGGREGATOR_GROUP)

    async def consume(
        msg: KafkaMessage,
        model: type[E],
        topic: str,
        apply: Callable[[AsyncSession, E, str], Awaitable[bool]],
    ) -> None:
        event = await parse_or_dead_letter(broker, msg, model)
        if event is None:
            return
        try:
            async with sessions.begin() as session:
                applied = await apply(session, event, topic)
        except Exception as exc:
            if not is_transient(exc):
                await dead_letter(broker, msg, f"{model.__name__} cannot be applied: {exc!r}")
                DEAD_LETTERS.labels(topic).inc()
                return
            log.warning("database unavailable, %s will be redelivered: %s", topic, exc)
            await asyncio.sleep(settings.retry_backoff_s)
            raise
        EVENTS_APPLIED.labels(topic, "applied" if applied else "duplicate").inc()

    # One consumer for both topics: a single group membership, so no rebalance between two of them.
    @broker.subscriber(topics.REPORTS_CLASSIFIED, topics.CLASSIFICATIONS_OVERRIDDEN, **options)
    async def handle_aggregator_event(msg: KafkaMessage) -> None:
        topic = msg.raw_message.topic  # type: ignore[union-attr]
        if topic == topics.CLASSIFICATIONS_OVERRIDDEN:
            await consume(msg, ClassificationOverridden, topic, apply_override)
        else:
            await consume(msg, ReportClassified, topic, apply_classified)
