"""Reading whole topics from the beginning without a consumer group: the rebuild's replay and the
dead-letter listing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Sequence
from types import TracebackType

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition


def _now_ms() -> int:
    return int(time.time() * 1000)  # the clock aiokafka stamps its fetch responses with


class TopicReader:
    """Reads topics from the beginning without a consumer group (commits nothing), up to their end.

    The end is what the topics held when ``batches()`` was called: every partition's position has
    reached the high watermark of a fetch *sent* after that call. (Tansu's ListOffsets counts
    batches, not records, so end offsets are only a lower bound there; the high watermark in a
    fetch response is exact.) ``idle_ms`` asks for that much quiet on top.
    """

    def __init__(self, bootstrap: str, names: Sequence[str], idle_ms: int = 0) -> None:
        self.names = tuple(names)
        self.idle_ms = idle_ms
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=20,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        self.partitions: list[TopicPartition] = []

    async def __aenter__(self) -> TopicReader:
        await self.consumer.start()
        self.partitions = await topic_partitions(self.consumer, self.names)
        self.consumer.assign(self.partitions)
        await self.consumer.seek_to_beginning(*self.partitions)
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.consumer.stop()

    async def _caught_up(self, since_ms: int, first_fetch: dict[TopicPartition, int]) -> bool:
        """Positions at high watermarks from fetches requested after ``since_ms``: a partition's
        fetches do not overlap, so a response stamped after the first one stamped after
        ``since_ms`` answers a request sent after it."""
        done = True
        for tp in self.partitions:
            stamp = self.consumer.last_poll_timestamp(tp)
            if stamp is None or stamp <= since_ms:
                done = False
                continue
            first = first_fetch.setdefault(tp, stamp)
            highwater = self.consumer.highwater(tp)
            if stamp <= first or highwater is None or await self.consumer.position(tp) < highwater:
                done = False
        return done

    async def batches(self, max_records: int = 2000) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]:
        """The records from the current positions up to the end (see the class), in batches."""
        since_ms, first_fetch = _now_ms(), dict[TopicPartition, int]()
        quiet_since: float | None = None
        while True:
            fetched = await self.consumer.getmany(timeout_ms=20, max_records=max_records)
            records = [r for batch in fetched.values() for r in batch]
            if records:
                quiet_since = None
                yield records
            if not await self._caught_up(since_ms, first_fetch):
                continue
            quiet_since = quiet_since if quiet_since is not None else time.monotonic()
            if (time.monotonic() - quiet_since) * 1000 >= self.idle_ms:
                return


async def topic_partitions(consumer: AIOKafkaConsumer, names: Iterable[str]) -> list[TopicPartition]:
    """Every partition of ``names``, asked of the broker now.

    A consumer that assigns partitions itself has no subscription, so its own metadata holds no
    topics: Apache Kafka answers a metadata request for no topics with none (the embedded broker
    sends them all anyway). ``fetch_all_metadata`` asks for every topic.
    """
    cluster = await consumer._client.fetch_all_metadata()
    return [
        TopicPartition(name, p) for name in names for p in sorted(cluster.partitions_for_topic(name) or ())
    ]
