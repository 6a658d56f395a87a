"""How the services' batch consumers poll and commit (shared/broker.py): no pause after an empty
poll, and offsets committed in the background, in order, only up to what was handed over."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError
from faststream.kafka import KafkaRouter
from faststream.kafka.subscriber import usecase
from faststream.kafka.subscriber.usecase import BatchSubscriber
from faststream.message import AckStatus

from shared import broker
from shared.settings import RucnetSettings

A, B = TopicPartition("t", 0), TopicPartition("t", 1)


def record(tp: TopicPartition, offset: int) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, None, b"{}", None, 0, 2, [])


class FakeConsumer:
    """getmany as polled; commit held open until released, so that the next batch comes meanwhile."""

    def __init__(self, polled: dict[TopicPartition, list[ConsumerRecord[Any, Any]]] | None = None) -> None:
        self.polled = polled or {}
        self.polls: list[dict[str, Any]] = []
        self.commits: list[dict[TopicPartition, int]] = []
        self.release = asyncio.Event()
        self.assigned = {A, B}
        self.fail_next = False

    async def getmany(self, **kw: Any) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
        self.polls.append(kw)
        return self.polled

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        await self.release.wait()
        if self.fail_next:
            self.fail_next = False
            raise CommitFailedError("rebalanced")
        self.commits.append(dict(offsets))

    def assignment(self) -> set[TopicPartition]:
        return self.assigned


def settings() -> RucnetSettings:
    return RucnetSettings(kafka_batch_wait_ms=250, kafka_batch_max_records=7)


async def test_an_empty_poll_is_followed_by_the_next_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(usecase.anyio, "sleep", sleep)
    consumer = FakeConsumer()
    assert (
        await BatchSubscriber.get_msg(  # FastStream's own poll: sleeps batch_timeout_ms after nothing
            broker.batch_subscriber(KafkaRouter(), ["t"], settings(), "g"),
            consumer,  # type: ignore[arg-type]
        )
        == ()
    )
    assert slept == [0.25]
    subscriber = broker.batch_subscriber(KafkaRouter(), ["t"], settings(), "g")
    assert await subscriber.get_msg(consumer) == ()  # type: ignore[arg-type]
    assert slept == [0.25]  # the services' poll goes straight back to polling
    assert consumer.polls == [{"timeout_ms": 250, "max_records": 7}] * 2


async def test_a_poll_hands_over_every_partition_s_records_in_order() -> None:
    subscriber = broker.batch_subscriber(KafkaRouter(), ["t"], settings(), "g")
    polled = {A: [record(A, 4), record(A, 5)], B: [record(B, 9)]}
    got = await subscriber.get_msg(FakeConsumer(polled))  # type: ignore[arg-type]
    assert [(r.partition, r.offset) for r in got] == [(0, 4), (0, 5), (1, 9)]


def real_consumer(fake: FakeConsumer) -> AIOKafkaConsumer:
    """An unstarted aiokafka consumer (what ``commit_in_background`` accepts) doing the fake's calls."""
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", group_id="g")
    consumer.commit = fake.commit  # type: ignore[method-assign,assignment]
    consumer.assignment = fake.assignment  # type: ignore[method-assign]
    return consumer


def batch(consumer: Any, *records: ConsumerRecord[Any, Any]) -> Any:
    return SimpleNamespace(consumer=consumer, committed=None, raw_message=tuple(records))


async def test_batches_handled_while_a_commit_is_under_way_go_in_the_next_commit() -> None:
    fake = FakeConsumer()
    consumer = real_consumer(fake)
    first = batch(consumer, record(A, 0), record(A, 1), record(B, 0))
    broker.commit_in_background(first)
    assert first.committed == AckStatus.ACKED  # FastStream's own acknowledgement commits nothing
    await asyncio.sleep(0)
    second, third = batch(consumer, record(A, 2)), batch(consumer, record(B, 1), record(B, 2))
    broker.commit_in_background(second)
    broker.commit_in_background(third)
    fake.release.set()
    await broker.commits_sent()
    assert fake.commits == [{A: 2, B: 1}, {A: 3, B: 3}]  # the next offset to read, never past a batch


async def test_a_partition_revoked_meanwhile_is_not_committed_and_a_failed_commit_is_not_raised() -> None:
    fake = FakeConsumer()
    consumer = real_consumer(fake)
    fake.fail_next = True
    broker.commit_in_background(batch(consumer, record(A, 0)))
    await asyncio.sleep(0)
    fake.assigned = {B}
    broker.commit_in_background(batch(consumer, record(A, 1), record(B, 5)))
    fake.release.set()
    await broker.commits_sent()
    assert fake.commits == [{B: 6}]  # the first failed (a rebalance): redelivered, deduped downstream


async def test_the_in_memory_test_broker_s_messages_keep_faststream_s_acknowledgement() -> None:
    msg = batch(SimpleNamespace(), record(A, 0))
    broker.commit_in_background(msg)
    assert msg.committed is None
