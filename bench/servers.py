"""The servers of one benchmark process: a broker and a PostgreSQL server, started for the run.

The broker is an Apache Kafka 4.1.1 node (``rucnet.kafka_node``, production's producer settings:
idempotence, acks=all) when Java is present, else the embedded Tansu; ``RUCNET_BENCH_BROKER=tansu``
forces Tansu, ``RUCNET_BENCH_KAFKA_BOOTSTRAP=host:port`` uses that Kafka instead (the benchmarks
delete and recreate rucnet's topics there first: point it at a scratch cluster only). PostgreSQL is
``RUCNET_BENCH_PG_ADMIN_DSN`` when set, else a throwaway cluster (``rucnet.local_pg``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rucnet.embedded_broker import EmbeddedBroker, free_port  # noqa: E402
from rucnet.kafka_node import KAFKA_VERSION, KafkaNode, java_available  # noqa: E402
from rucnet.local_pg import LocalPostgres  # noqa: E402
from shared import topics  # noqa: E402
from shared.broker import ensure_topics  # noqa: E402
from shared.settings import RucnetSettings  # noqa: E402

EXTERNAL_KAFKA = os.environ.get("RUCNET_BENCH_KAFKA_BOOTSTRAP")
PG_ADMIN = os.environ.get("RUCNET_BENCH_PG_ADMIN_DSN")


def broker_kind() -> str:
    """``external``, ``kafka`` (a local Apache Kafka node) or ``tansu``."""
    if EXTERNAL_KAFKA:
        return "external"
    forced = os.environ.get("RUCNET_BENCH_BROKER", "")
    if forced in ("kafka", "tansu"):
        return forced
    return "kafka" if java_available() else "tansu"


@dataclass
class Bench:
    """The servers of one benchmark process: a broker (``bootstrap``) and PostgreSQL (``pg_admin``)."""

    work: Path
    kind: str
    pg_admin: str
    bootstrap: str = ""
    partitions: int = 3
    _tansu: EmbeddedBroker | None = field(default=None, repr=False)

    @property
    def kafka(self) -> bool:
        """A real Apache Kafka: production's idempotent producer, fetches answered when data arrives."""
        return self.kind != "tansu"

    @property
    def name(self) -> str:
        return {
            "external": f"Apache Kafka at {EXTERNAL_KAFKA}",
            "kafka": f"Apache Kafka {KAFKA_VERSION}, one local KRaft node",
            "tansu": "embedded Tansu",
        }[self.kind]

    async def fresh_topics(self) -> str:
        """rucnet's topics empty and no group offsets (Kafka: deleted and recreated; Tansu, which
        keeps memory only: a new broker); returns the bootstrap to use from now on."""
        if self.kind == "tansu":
            if self._tansu is not None:
                self._tansu.stop()
            self._tansu = EmbeddedBroker(free_port(), self.work / f"tansu-{uuid.uuid4().hex[:4]}.log")
            self._tansu.start()
            self.bootstrap = self._tansu.bootstrap
        else:
            await reset_topics(self.bootstrap)
        settings = RucnetSettings(kafka_bootstrap=self.bootstrap, kafka_partitions=self.partitions)
        await ensure_topics(settings)
        return self.bootstrap


@asynccontextmanager
async def environment(work: Path | None = None) -> AsyncIterator[Bench]:
    """A broker with rucnet's topics and a PostgreSQL server, both stopped afterwards."""
    async with AsyncExitStack() as stack:
        if work is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        kind = broker_kind()
        pg_admin = PG_ADMIN
        if pg_admin is None:
            local = LocalPostgres(Path(tempfile.mkdtemp(prefix="rucnet-bench-pg-")))
            await asyncio.to_thread(local.start)
            stack.callback(local.stop)
            pg_admin = local.admin_dsn
        bench = Bench(work, kind, pg_admin)
        if kind == "external":
            bench.bootstrap = EXTERNAL_KAFKA or ""
        elif kind == "kafka":
            node = KafkaNode(work / "kafka", heap_mb=1024)
            stack.callback(node.stop)
            await asyncio.to_thread(node.start)
            bench.bootstrap = node.bootstrap
        else:
            stack.callback(lambda: bench._tansu.stop() if bench._tansu else None)
        await bench.fresh_topics()
        if kind == "kafka":
            await warm_up(bench.bootstrap)
        yield bench


async def warm_up(bootstrap: str, timeout_s: float = 60.0) -> None:
    """The first consumer group on a new Kafka waits while ``__consumer_offsets`` is created: a
    throwaway group takes that wait here, before any clock starts."""
    consumer = AIOKafkaConsumer(
        topics.DEAD_LETTERS, bootstrap_servers=bootstrap, group_id="bench-warm-up", enable_auto_commit=False
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=200)
            if time.monotonic() > deadline:
                raise TimeoutError(f"no partitions assigned in {timeout_s}s")
        await consumer.commit()
    finally:
        await consumer.stop()


async def reset_topics(bootstrap: str, timeout_s: float = 60.0) -> None:
    """An external broker as fresh as an embedded one: rucnet's topics deleted, and gone.

    Kafka drops a group's offsets of a deleted topic; should any remain (a broker that keeps them),
    the benchmark stops instead of letting a consumer skip the new records.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while present := [t for t in await admin.list_topics() if t in topics.ALL_TOPICS]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics {present} were not deleted in {timeout_s}s")
            with contextlib.suppress(KafkaError):  # already being deleted
                await admin.delete_topics(present)
            await asyncio.sleep(0.5)
        groups = {group for group, *_ in await admin.list_consumer_groups()}
        for group in {topics.CLASSIFIER_GROUP, topics.AGGREGATOR_GROUP} & groups:
            if await admin.list_consumer_group_offsets(group):
                raise RuntimeError(f"group {group} still has offsets at {bootstrap}: delete it first")
    finally:
        await admin.close()
