"""Publishing ``ReportSubmitted``: the events of concurrent requests go out together.

Each ``broker.publish`` runs FastStream's whole publish path (command, middlewares, metrics) for
one message; ``publish_batch`` runs it once for many. A batch goes to one partition, so intake
picks the partition itself, the way Kafka's default partitioner does for a key (murmur2 of the
RUC id modulo the topic's partitions): one RUC's events stay on one partition, in order. The
partition count is read from the cluster at start; until it is known (or if it cannot be read,
or with the in-memory test broker) every event is published on its own, keyed by RUC, and the
client's partitioner decides, which is the same partition. Partitions added to the topic later
are seen at intake's next start (meanwhile the relay's one-by-one sends already use them); adding
partitions to a keyed topic moves keys in any case, so do it with intake stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import murmur2
from faststream.kafka import KafkaBroker, KafkaPublishMessage
from faststream.kafka.exceptions import BatchBufferOverflowException

from services.intake.batching import GroupCommit
from shared import topics
from shared.events import ReportSubmitted

log = logging.getLogger("rucnet.intake.publishing")
JSON_HEADERS = {"content-type": "application/json"}  # what FastStream sets for a model it encodes
BATCH_BYTES = 15_000  # under aiokafka's default max_batch_size (16 KiB) with room for headers


async def publish_submission(broker: KafkaBroker, event: ReportSubmitted, body: str | None = None) -> None:
    """One event, keyed by RUC; returns once the broker has acknowledged it (acks=all)."""
    payload = (body if body is not None else event.model_dump_json()).encode()
    await broker.publish(payload, topics.REPORTS_SUBMITTED, key=event.ruc_id.encode(), headers=JSON_HEADERS)


def partition_for(ruc_id: str, partitions: int) -> int:
    """Kafka's default partitioner for a keyed message (the Java client's and aiokafka's)."""
    hashed: int = murmur2(ruc_id.encode())
    return (hashed & 0x7FFFFFFF) % partitions


def chunks(bodies: Sequence[bytes], limit: int = BATCH_BYTES) -> list[list[int]]:
    """Indexes of ``bodies`` in order, cut where a batch would exceed ``limit`` bytes."""
    cut: list[list[int]] = []
    size = limit
    for index, body in enumerate(bodies):
        if size + len(body) > limit:
            cut.append([])
            size = 0
        cut[-1].append(index)
        size += len(body)
    return cut


class ReportPublisher:
    """``publish`` returns once the broker has acknowledged the event (acks=all), or raises."""

    def __init__(self, broker: KafkaBroker, bootstrap: str) -> None:
        self.broker = broker
        self.bootstrap = bootstrap
        self.partitions: int | None = None
        self._group: GroupCommit[tuple[ReportSubmitted, str], Exception | None] = GroupCommit(
            self._publish_many, retry_alone=False
        )

    async def start(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5_000)
        try:
            await admin.start()
            [described] = await admin.describe_topics([topics.REPORTS_SUBMITTED])
            self.partitions = len(described["partitions"]) or None
        except Exception as exc:  # noqa: BLE001 - publishing one by one still works
            log.warning("cannot read the topic's partitions (%r): publishing one by one", exc)
        finally:
            await admin.close()

    async def publish(self, event: ReportSubmitted, body: str) -> None:
        if self.partitions is None:
            await publish_submission(self.broker, event, body)
            return
        failure = await self._group.submit((event, body))
        if failure is not None:
            raise failure

    async def drain(self) -> None:
        await self._group.drain()

    async def _publish_many(self, items: list[tuple[ReportSubmitted, str]]) -> list[Exception | None]:
        assert self.partitions is not None
        by_partition: dict[int, list[int]] = {}
        for index, (event, _) in enumerate(items):
            by_partition.setdefault(partition_for(event.ruc_id, self.partitions), []).append(index)
        failures: list[Exception | None] = [None] * len(items)

        async def one_partition(partition: int, indexes: list[int]) -> None:
            bodies = [items[i][1].encode() for i in indexes]
            for chunk in chunks(bodies):  # in order: the next chunk only after this one's ack
                batch = [indexes[i] for i in chunk]
                chunk_bodies = [bodies[i] for i in chunk]
                try:
                    await self._publish_chunk(partition, [items[i] for i in batch], chunk_bodies)
                except Exception as exc:  # noqa: BLE001 - each request learns its own outcome
                    for i in batch:
                        failures[i] = exc

        await asyncio.gather(*(one_partition(p, ix) for p, ix in by_partition.items()))
        return failures

    async def _publish_chunk(
        self, partition: int, items: list[tuple[ReportSubmitted, str]], bodies: list[bytes]
    ) -> None:
        messages = [
            KafkaPublishMessage(body, key=event.ruc_id.encode())
            for (event, _), body in zip(items, bodies, strict=True)
        ]
        try:
            await self.broker.publish_batch(
                *messages, topic=topics.REPORTS_SUBMITTED, partition=partition, headers=JSON_HEADERS
            )
        except BatchBufferOverflowException:  # a smaller max_batch_size than assumed: one by one
            for event, body in items:
                await publish_submission(self.broker, event, body)
