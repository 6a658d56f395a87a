"""Publishing ``ReportSubmitted`` on the request path: a producer of intake's own.

A request waits for the broker's acknowledgement of its event (the contract's 202), so the publish
is on every request's path. FastStream builds a command and runs its middlewares for each message,
which cost a request more than storing its receipt did; report events therefore go out through an
aiokafka producer of their own (the client FastStream itself runs on), with the same settings.
Concurrent sends join the producer's batch for their partition, so requests that arrive together
share one produce request with no batching code here, and the client's default partitioner keeps
one RUC's events on one partition, in the order they were sent. Everything else intake publishes
(the outbox relay, attendance) goes through the FastStream broker.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker

from services.intake.settings import IntakeSettings
from shared import topics
from shared.events import ReportSubmitted

log = logging.getLogger("rucnet.intake.publishing")
JSON_HEADERS = {"content-type": "application/json"}  # what FastStream sets for a model it encodes
_RECORD_HEADERS = [(name, value.encode()) for name, value in JSON_HEADERS.items()]


async def publish_submission(broker: KafkaBroker, event: ReportSubmitted, body: str | None = None) -> None:
    """One event, keyed by RUC; returns once the broker has acknowledged it (acks=all)."""
    payload = (body if body is not None else event.model_dump_json()).encode()
    await broker.publish(payload, topics.REPORTS_SUBMITTED, key=event.ruc_id.encode(), headers=JSON_HEADERS)


class ReportPublisher:
    """``publish`` returns once the broker has acknowledged the event (acks=all), or raises."""

    def __init__(self, broker: KafkaBroker, settings: IntakeSettings) -> None:
        self.broker = broker
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            client_id="rucnet-intake-reports",
            acks="all",
            enable_idempotence=self.settings.kafka_idempotence,
            linger_ms=self.settings.report_linger_ms,
            request_timeout_ms=15_000,
        )
        try:
            await producer.start()
        except KafkaError as exc:  # the in-memory test broker has no server: publish through it
            log.warning("no producer of its own for report events (%r): through the broker", exc)
            await producer.stop()
            return
        self._producer = producer

    async def publish(self, event: ReportSubmitted, body: str) -> None:
        if self._producer is None:
            await publish_submission(self.broker, event, body)
            return
        sent = await self._producer.send(
            topics.REPORTS_SUBMITTED, body.encode(), key=event.ruc_id.encode(), headers=_RECORD_HEADERS
        )
        await sent

    async def stop(self) -> None:
        """Sends what is under way (their requests are still waiting), then closes."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
