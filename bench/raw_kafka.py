"""The broker's ceilings, measured with aiokafka alone: what a Kafka engineer would write.

- ``raw_chain``: produce → consume + produce → consume, with the sends of a batch gathered (not
  awaited one by one), the middle and the sink reading with ``getmany`` and committing once per
  batch; the producer has the services' settings (acks=all, idempotence where the broker has it)
  and the pipeline's key (one RUC: one partition, as the pipeline's reports).
- ``raw_round_trip``: produce → consume of one small message at a steady rate (the latency floor),
  with the pipeline's key and the services' fetch wait. aiokafka 0.14 keeps one fetch in flight per
  broker node, and a partition whose records were just handed out is left out of it: with every
  message on one partition, the next one waits for that fetch to end, up to the fetch wait.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

BATCH = 500


async def raw_topics(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, num_partitions=3, replication_factor=1) for n in names])
    finally:
        await admin.close()


def consumer(bootstrap: str, topic: str, fetch_wait_ms: int) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=fetch_wait_ms,
        enable_auto_commit=False,
    )


def producer(bootstrap: str, idempotence: bool, linger_ms: int = 0) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=idempotence, linger_ms=linger_ms
    )


async def raw_chain(
    bootstrap: str, payloads: list[bytes], key: bytes, idempotence: bool, fetch_wait_ms: int
) -> float:
    """Seconds for every payload to pass produce → consume+produce → consume (batched)."""
    a, b = f"raw-a-{uuid.uuid4().hex[:6]}", f"raw-b-{uuid.uuid4().hex[:6]}"
    await raw_topics(bootstrap, a, b)
    out = producer(bootstrap, idempotence, linger_ms=5)
    middle, sink = consumer(bootstrap, a, fetch_wait_ms), consumer(bootstrap, b, fetch_wait_ms)
    for part in (out, middle, sink):
        await part.start()

    async def forward() -> None:
        while True:
            polled = await middle.getmany(timeout_ms=500, max_records=BATCH)
            records = [r for rs in polled.values() for r in rs]
            if records:
                await asyncio.gather(*[await out.send(b, r.value, key=r.key) for r in records])
                await middle.commit()

    async def drain() -> None:
        received = 0
        while received < len(payloads):
            polled = await sink.getmany(timeout_ms=500, max_records=BATCH)
            if polled:
                received += sum(len(rs) for rs in polled.values())
                await sink.commit()

    relay, sink_done = asyncio.create_task(forward()), asyncio.create_task(drain())
    started = time.monotonic()
    try:
        for start in range(0, len(payloads), BATCH):
            await asyncio.gather(*[await out.send(a, p, key=key) for p in payloads[start : start + BATCH]])
        await asyncio.wait_for(sink_done, timeout=900)
        return time.monotonic() - started
    finally:
        relay.cancel()
        for part in (middle, sink, out):
            await part.stop()


async def raw_round_trip(
    bootstrap: str, rate: float, seconds: float, key: bytes, idempotence: bool, fetch_wait_ms: int
) -> list[float]:
    """Seconds from send to receipt of each message sent at ``rate`` per second."""
    topic = f"raw-rt-{uuid.uuid4().hex[:6]}"
    await raw_topics(bootstrap, topic)
    out, sink = producer(bootstrap, idempotence), consumer(bootstrap, topic, fetch_wait_ms)
    await out.start()
    await sink.start()
    latencies: list[float] = []
    total = int(rate * seconds)

    async def drain() -> None:
        async for message in sink:
            latencies.append(time.time() - float(message.value or b"0"))
            if len(latencies) == total:
                return

    task = asyncio.create_task(drain())
    try:
        await asyncio.sleep(1)  # the group settles before the clock starts
        for _ in range(total):
            await out.send(topic, str(time.time()).encode(), key=key)
            await asyncio.sleep(1 / rate)
        await asyncio.wait_for(task, timeout=120)
    finally:
        task.cancel()
        await out.stop()
        await sink.stop()
    return latencies
