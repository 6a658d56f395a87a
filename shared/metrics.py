"""Business metrics that follow the events themselves, counted by one broker middleware.

Counting where events are published and consumed keeps the handlers free of metric calls:
classifications and overrides when they are published, consumer lag after each handled message.
Counts are of publications (at least once), so a redelivered message can count twice.
"""

from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition
from faststream import BaseMiddleware
from faststream.message import StreamMessage
from prometheus_client import Counter, Gauge

from shared import topics
from shared.events import ClassificationOverridden, ReportClassified

CLASSIFICATIONS = Counter(
    "rucnet_classifications",
    "Insatser classified and published, by effective NSP area and where the area came from",
    ["nsp_area", "source", "needs_review"],
)
OVERRIDES = Counter("rucnet_overrides", "Classification overrides published by analysts", ["nsp_area"])
CONSUMER_LAG = Gauge(
    "rucnet_consumer_lag",
    "Messages behind the partition's high watermark after the last handled message",
    ["topic", "partition"],
)
# Set at every health check (compose probes /healthz every 15 s): the alerts' "broker away".
DEPENDENCY_UP = Gauge(
    "rucnet_dependency_up", "1 while the last health check reached the dependency, else 0", ["dependency"]
)


def count_published(destination: str, body: Any) -> None:
    if destination == topics.REPORTS_CLASSIFIED and isinstance(body, ReportClassified):
        for c in body.classifications:
            CLASSIFICATIONS.labels(c.nsp_area, c.source, str(c.needs_review).lower()).inc()
    elif destination == topics.CLASSIFICATIONS_OVERRIDDEN and isinstance(body, ClassificationOverridden):
        OVERRIDES.labels(body.nsp_area).inc()


def record_lag(msg: StreamMessage[Any]) -> None:
    """Lag from the consumer's last fetched high watermark: no request to the broker."""
    highwater = getattr(getattr(msg, "consumer", None), "highwater", None)
    records = msg.raw_message if isinstance(msg.raw_message, tuple) else (msg.raw_message,)
    if highwater is None or not records:
        return
    last = records[-1]
    try:
        top = highwater(TopicPartition(last.topic, last.partition))
    except (AssertionError, AttributeError, KeyError):  # not assigned any more (a rebalance)
        return
    if top is not None:
        CONSUMER_LAG.labels(last.topic, str(last.partition)).set(max(0, top - last.offset - 1))


class BusinessMetricsMiddleware(BaseMiddleware):
    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        result = await call_next(msg)
        record_lag(msg)
        return result

    async def publish_scope(self, call_next: Any, cmd: Any) -> Any:
        result = await call_next(cmd)
        for body in getattr(cmd, "batch_bodies", ()):
            count_published(getattr(cmd, "destination", ""), body)
        return result
