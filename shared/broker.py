"""Kafka plumbing shared by the services: broker construction, topic creation, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import weakref
from collections.abc import Callable, Sequence
from itertools import chain
from types import MethodType
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, OutOfOrderSequenceNumber, UnknownProducerId
from aiokafka.partitioner import DefaultPartitioner
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.kafka.publisher.producer import AioKafkaFastProducerImpl
from faststream.kafka.subscriber.usecase import BatchSubscriber
from faststream.message import AckStatus, StreamMessage
from prometheus_client import REGISTRY, Counter
from pydantic import BaseModel, ValidationError

from shared import topics
from shared.budget import DEFAULT_MAX_MESSAGE_BYTES
from shared.events import DeadLetter, DeadLetterReason
from shared.logging import LogContextMiddleware, ids_in, log_context
from shared.metrics import BusinessMetricsMiddleware, count_published
from shared.settings import RucnetSettings

log = logging.getLogger("rucnet.broker")
E = TypeVar("E", bound=BaseModel)
DEAD_LETTERS = Counter("rucnet_dead_letters", "Messages parked in the dead-letter topic", ["topic"])


# A record batch is one produce request, and an idempotent producer has one in flight per partition:
# at aiokafka's default 16 KiB (four reports of ten insatser) a backlog was sent as hundreds of
# sequential round trips and socket writes. A batch may not exceed the topic's message limit.
RECORD_BATCH_BYTES = 256 * 1024


def create_broker(settings: RucnetSettings) -> KafkaBroker:
    service = type(settings).__name__.removesuffix("Settings").lower()
    return KafkaBroker(
        settings.kafka_bootstrap.split(","),  # FastStream takes a list; a cluster is "h1:p1,h2:p2,…"
        middlewares=(
            LogContextMiddleware,
            KafkaPrometheusMiddleware(registry=REGISTRY, app_name=service, metrics_prefix="faststream"),
            BusinessMetricsMiddleware,
        ),
        logger=logging.getLogger("rucnet.faststream"),
        acks="all",
        enable_idempotence=settings.kafka_idempotence,
        max_request_size=settings.kafka_max_message_bytes,
        max_batch_size=min(RECORD_BATCH_BYTES, settings.kafka_max_message_bytes),
        allow_auto_create_topics=False,
        request_timeout_ms=15_000,
        graceful_timeout=15.0,
        log_level=logging.DEBUG,  # the level of its routine "Received"/"Processed" lines
    )


# aiokafka sends no fetch to a broker while records it fetched from there wait to be consumed, so
# a backlog is read as fetch, consume, fetch: at the default 1 MiB a partition (≈ 300 classified
# reports, a batch and a half) every other batch waited for a round trip to the broker. A fetch
# response is held to two partitions' worth (aiokafka's default: 50 MiB) to bound a consumer's memory.
FETCH_BYTES_PER_PARTITION = 8 * 1024 * 1024


def consumer_options(settings: RucnetSettings, group_id: str) -> dict[str, Any]:
    """Every subscriber names its group, reads from committed offsets and commits after handling."""
    return {
        "group_id": group_id,
        "auto_offset_reset": "earliest",
        "fetch_max_wait_ms": settings.kafka_fetch_max_wait_ms,
        "max_partition_fetch_bytes": FETCH_BYTES_PER_PARTITION,
        "fetch_max_bytes": 2 * FETCH_BYTES_PER_PARTITION,
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "max_poll_interval_ms": 300_000,
    }


def batch_options(settings: RucnetSettings) -> dict[str, Any]:
    """A batch subscriber takes what one poll returns, up to ``kafka_batch_max_records``.

    Its handler validates each record itself (``parse_record_or_dead_letter``), so that one bad
    record is dead-lettered alone; FastStream's own decoding of the batch (a message object and a
    JSON parse per record) would be thrown away, so the decoder hands over the records as they are.
    """
    return {
        "max_records": settings.kafka_batch_max_records,
        "batch_timeout_ms": settings.kafka_batch_wait_ms,
        "decoder": _records_as_they_are,
    }


def _records_as_they_are(msg: StreamMessage[Any]) -> Any:
    return msg.raw_message


def batch_subscriber(router: Any, topic_names: Sequence[str], settings: RucnetSettings, group_id: str) -> Any:
    """A batch subscriber on ``router`` (``batch_options``, ``consumer_options``) that polls again
    at once after a poll that found nothing.

    FastStream's batch subscriber sleeps ``batch_timeout_ms`` after an empty ``getmany`` (which has
    already waited that long, and returns as soon as a record is fetched): a record fetched during
    that sleep waits for it. Its poll is replaced on this subscriber alone by the same poll without
    the sleep (FastStream 0.7's ``BatchSubscriber.get_msg``; ``tests/unit/test_broker_polling.py``
    fails if that hook changes)."""
    subscriber = router.subscriber(
        *topic_names, batch=True, **batch_options(settings), **consumer_options(settings, group_id)
    )
    if isinstance(subscriber, BatchSubscriber):
        subscriber.get_msg = MethodType(_poll_without_pause, subscriber)  # type: ignore[method-assign]
    return subscriber


async def _poll_without_pause(
    self: BatchSubscriber, consumer: AIOKafkaConsumer
) -> tuple[ConsumerRecord[Any, Any], ...]:
    polled = await consumer.getmany(timeout_ms=self.batch_timeout_ms, max_records=self.max_records)
    return tuple(chain(*polled.values()))


# At most this often a consumer commits its offsets (Kafka Streams' commit.interval.ms under
# exactly-once is 100 ms too): a crash redelivers at most this long's handled events, which the
# consumers dedupe, and a busy consumer sends a commit request for every few batches, not each.
COMMIT_INTERVAL_S = 0.1


class _Commits:
    """One consumer's offset commits, one request at a time in the background, at most every
    ``COMMIT_INTERVAL_S``, the newest offsets of every batch handled meanwhile merged into it."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer
        self.pending: dict[TopicPartition, int] = {}
        self.task: asyncio.Task[None] | None = None
        self.last = -math.inf  # when the last commit was sent (the loop's clock)

    def add(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            self.pending[tp] = max(offset, self.pending.get(tp, 0))
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._send())

    async def _send(self) -> None:
        loop = asyncio.get_running_loop()
        while self.pending:
            if (wait := self.last + COMMIT_INTERVAL_S - loop.time()) > 0:
                await asyncio.sleep(wait)  # meanwhile more batches' offsets merge into this one
            self.last = loop.time()
            assigned = self.consumer.assignment()
            offsets = {tp: o for tp, o in self.pending.items() if tp in assigned}  # revoked: the new owner's
            self.pending = {}
            if not offsets:
                continue
            try:
                await self.consumer.commit(offsets)
            except KafkaError as exc:  # a rebalance, a stopped consumer: redelivered, deduped
                log.warning("offset commit %s not made: %r", offsets, exc)


_COMMITS: weakref.WeakKeyDictionary[AIOKafkaConsumer, _Commits] = weakref.WeakKeyDictionary()


def commit_in_background(msg: KafkaMessage) -> None:
    """Commit a handled batch's offsets without holding up the next poll.

    Call it once the batch is stored and published: the offsets cover only this batch's records
    (taken now, not the consumer's position, which the next poll moves on), and commits are sent
    in order, one at a time and at most every ``COMMIT_INTERVAL_S``, so none passes a batch not
    yet handled. A commit lost to a crash or a
    rebalance only redelivers what was handled, which every consumer dedupes by event id. With the
    in-memory test broker (no real consumer) FastStream's own acknowledgement stays."""
    consumer = getattr(msg, "consumer", None)
    if not isinstance(consumer, AIOKafkaConsumer) or msg.committed:
        return
    offsets: dict[TopicPartition, int] = {}
    for record in batch_records(msg):
        tp = TopicPartition(record.topic, record.partition)
        offsets[tp] = max(record.offset + 1, offsets.get(tp, 0))
    if consumer not in _COMMITS:
        _COMMITS[consumer] = _Commits(consumer)
    _COMMITS[consumer].add(offsets)
    msg.committed = AckStatus.ACKED  # FastStream's acknowledgement then commits nothing itself


async def commits_sent(timeout_s: float = 5.0) -> None:
    """Wait (a bounded time) for the offset commits still under way: before the consumers stop."""
    tasks = [c.task for c in list(_COMMITS.values()) if c.task is not None and not c.task.done()]
    if tasks:
        await asyncio.wait(tasks, timeout=timeout_s)


async def ensure_topics(settings: RucnetSettings, names: tuple[str, ...] = topics.ALL_TOPICS) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            replicas = settings.kafka_replication_factor
            # Production's durability: with three replicas a write needs two of them (acks=all).
            configs = {"min.insync.replicas": "2"} if replicas >= 3 else {}
            await admin.create_topics(
                [NewTopic(n, settings.kafka_partitions, replicas, topic_configs=configs) for n in missing]
            )
    finally:
        await admin.close()


async def dead_letter_record(
    broker: KafkaBroker, record: ConsumerRecord[Any, Any], reason: DeadLetterReason, error: str
) -> DeadLetter:
    """Park a record that cannot be handled, with its origin, so the consumer can go on.

    The letter keeps the whole payload, so that it can be replayed as it was. Only when the letter
    would not fit the broker (the payload escaped in JSON, beside the error) is the payload cut,
    and then the letter says so (``payload_complete``) and ``rucnet dlq replay`` refuses it.
    """
    value: bytes = record.value or b""
    try:
        payload, complete = value.decode(), True
    except UnicodeDecodeError:  # not ours to replay faithfully: kept readable, marked incomplete
        payload, complete = value.decode(errors="replace"), False
    letter = DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key.decode(errors="replace") if record.key else None,
        error=error[:2000],
        payload=payload,
        reason=reason,
        payload_complete=complete,
        payload_bytes=len(value),
    )
    limit = int(broker._connection_kwargs.get("max_request_size", DEFAULT_MAX_MESSAGE_BYTES))
    room = limit - len(record.key or b"") - 1_000  # the record's own framing and headers
    excess = len(letter.model_dump_json().encode()) - room
    if excess > 0:  # cut by what is over (in characters, at least that many bytes), marked
        cut = payload[: max(0, len(payload) - excess)]
        letter = letter.model_copy(update={"payload": cut, "payload_complete": False})
        while len(letter.model_dump_json().encode()) > room and letter.payload:
            letter = letter.model_copy(update={"payload": letter.payload[: len(letter.payload) // 2]})
    await broker.publish(letter, topics.DEAD_LETTERS, key=record.key)
    DEAD_LETTERS.labels(letter.topic).inc()
    with log_context(**ids_in(value)):  # a batch binds no ids of its own
        log.warning(
            "dead-lettered %s[%s]@%s (%s): %s",
            letter.topic,
            letter.partition,
            letter.offset,
            reason,
            letter.error[:200],
        )
    return letter


async def parse_record_or_dead_letter(
    broker: KafkaBroker, record: ConsumerRecord[Any, Any], model: type[E]
) -> E | None:
    """Validate a record; a poison one is parked in the dead letters and None returned."""
    try:
        return model.model_validate_json(record.value or b"")
    except ValidationError as exc:
        await dead_letter_record(
            broker, record, DeadLetterReason.UNPARSEABLE, f"{model.__name__} does not parse: {exc}"
        )
        return None


async def publish_all(
    broker: KafkaBroker, events: Sequence[Any], topic: str, key: Callable[[Any], bytes]
) -> None:
    """Publish in order without a round trip each; returns once the broker has acknowledged them all.

    On a real broker the events go as a few record batches, one or more per partition (the one the
    producer would pick for the key), each serialised once: no per-event pass through FastStream's
    publish path. The in-memory test broker gets them one by one."""
    try:
        producer = aiokafka_producer(broker)
        if producer is None:
            pending = [await broker.publish(e, topic, key=key(e), no_confirm=True) for e in events]
            await asyncio.gather(*(p for p in pending if p is not None))  # the in-memory test broker: None
            return
        records = [(key(e), e.model_dump_json().encode()) for e in events]
        await asyncio.gather(*(sent for _held, sent in await send_records(producer, topic, records)))
        for event in events:
            count_published(topic, event)
    except PRODUCER_FENCED as exc:
        await renew_producer(broker, exc)
        raise


def aiokafka_producer(broker: KafkaBroker) -> AIOKafkaProducer | None:
    fast = broker.config.producer
    if not isinstance(fast, AioKafkaFastProducerImpl):
        return None
    producer = getattr(fast._producer, "producer", None)
    return producer if isinstance(producer, AIOKafkaProducer) else None


_PARTITIONER = DefaultPartitioner()
_JSON = [("content-type", b"application/json")]


async def send_records(
    producer: AIOKafkaProducer, topic: str, records: Sequence[tuple[bytes, bytes]], alone: bool = False
) -> list[tuple[list[int], asyncio.Future[Any]]]:
    """Keyed JSON records as record batches, each to its key's partition (as the producer would pick
    it), in order within a partition: no per-record pass through FastStream's publish path. Each
    batch's acknowledgement, with the indexes of the records it holds. ``alone``: a batch each, so
    that a broker refusing one refuses no other."""
    partitions = sorted(await producer.partitions_for(topic))
    by_partition: dict[int, list[int]] = {}
    for i, (k, _value) in enumerate(records):
        by_partition.setdefault(_PARTITIONER(k, partitions, partitions), []).append(i)
    sent: list[tuple[list[int], asyncio.Future[Any]]] = []
    for partition, indexes in by_partition.items():
        batch, held = producer.create_batch(), list[int]()
        for i in indexes:
            k, value = records[i]
            if (alone and held) or batch.append(key=k, value=value, timestamp=None, headers=_JSON) is None:
                sent.append((held, await producer.send_batch(batch, topic, partition=partition)))
                batch, held = producer.create_batch(), list[int]()
                batch.append(key=k, value=value, timestamp=None, headers=_JSON)
            held.append(i)
        sent.append((held, await producer.send_batch(batch, topic, partition=partition)))
    return sent


# An idempotent producer whose sequence the broker no longer accepts (after a partition leader was
# killed, say) fails every send from then on: only a new producer, with a new id, goes on.
PRODUCER_FENCED = (OutOfOrderSequenceNumber, UnknownProducerId)


async def renew_producer(broker: KafkaBroker, cause: BaseException) -> None:
    """Replace the broker's producer (its settings kept); the caller sends again, deduped downstream."""
    fast = broker.config.producer
    assert isinstance(fast, AioKafkaFastProducerImpl)  # the real broker's (not the in-memory one's)
    log.warning("replacing the Kafka producer after %r", cause)
    with contextlib.suppress(KafkaError, OSError):
        await fast.disconnect()
    await fast.connect(AIOKafkaProducer(**broker._connection_kwargs), fast.serializer, fast.codec)


def batch_records(msg: KafkaMessage) -> tuple[ConsumerRecord[Any, Any], ...]:
    """The records of a batch subscriber's message (a single one for a plain subscriber)."""
    raw: Any = msg.raw_message
    return tuple(raw) if isinstance(raw, tuple | list) else (raw,)
