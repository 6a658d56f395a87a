"""Fixtures for real parts: Apache Kafka, the embedded Tansu broker and PostgreSQL, started and cleaned here.

- PostgreSQL: ``RUCNET_TEST_PG_ADMIN_DSN`` when set; else a throwaway cluster from Debian's binaries
  started for the session (``rucnet.local_pg``) and its DSN put in that variable for every child.
- ``kafka_bootstrap``: a fresh Apache Kafka 4.1.1 KRaft node per test (about 3 s), with rucnet's
  topics and production's producer settings (idempotence, acks=all). ``RUCNET_TEST_KAFKA_BOOTSTRAP``
  runs against a Kafka of your own instead; ``RUCNET_TEST_BROKER=tansu`` runs them on the embedded one.
- ``kafka_node``: the node itself, for tests that pause, kill or restart it.
- ``tansu_bootstrap``: the embedded Tansu broker (``rucnet dev``'s default), so that stays proven.
- ``pg_url``: a new, migrated PostgreSQL database per test; dropped afterwards.
- ``sqlite_url``: a migrated SQLite database in the test's tmp dir.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest

from rucnet.embedded_broker import EmbeddedBroker, free_port
from rucnet.kafka_node import KafkaCluster, KafkaNode
from rucnet.local_pg import LocalPostgres
from rucnet.migrate import upgrade
from shared.broker import ensure_topics
from shared.settings import RucnetSettings

PG_DSN_VAR = "RUCNET_TEST_PG_ADMIN_DSN"
TANSU_BOOTSTRAPS: set[str] = set()  # brokers without an idempotent producer
_LOCAL_PG: list[LocalPostgres] = []


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(PG_DSN_VAR):
        return
    cluster = LocalPostgres(Path(tempfile.mkdtemp(prefix="rucnet-test-pg-")))
    cluster.start()
    _LOCAL_PG.append(cluster)
    os.environ[PG_DSN_VAR] = cluster.admin_dsn  # children (rucnet dev, CLI runs) see it too


def pytest_unconfigure(config: pytest.Config) -> None:
    while _LOCAL_PG:
        _LOCAL_PG.pop().stop()
        os.environ.pop(PG_DSN_VAR, None)


def pg_admin_dsn() -> str:
    return os.environ[PG_DSN_VAR]


def local_postgres() -> LocalPostgres | None:
    """The cluster this session started (None when ``RUCNET_TEST_PG_ADMIN_DSN`` names another)."""
    return _LOCAL_PG[0] if _LOCAL_PG else None


def _pg_async_url(database: str) -> str:
    base = pg_admin_dsn().rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(pg_admin_dsn())
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _with_topics(bootstrap: str, replication: int = 1) -> str:
    asyncio.run(
        ensure_topics(RucnetSettings(kafka_bootstrap=bootstrap, kafka_replication_factor=replication))
    )
    return bootstrap


@pytest.fixture
def kafka_node(tmp_path: Path) -> Iterator[KafkaNode]:
    """A single Apache Kafka node (broker and controller) with rucnet's topics."""
    node = KafkaNode(tmp_path / "kafka", heap_mb=384)
    node.start()
    try:
        _with_topics(node.bootstrap)
        yield node
    finally:
        node.stop()


@pytest.fixture
def kafka_cluster(tmp_path: Path) -> Iterator[KafkaCluster]:
    """Three Apache Kafka nodes, topics with three replicas and min.insync.replicas=2 (production's)."""
    cluster = KafkaCluster(tmp_path / "kafka-cluster")
    cluster.start()
    try:
        _with_topics(cluster.bootstrap, replication=3)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def tansu_bootstrap(tmp_path: Path) -> Iterator[str]:
    broker = EmbeddedBroker(free_port(), tmp_path / "tansu.log")
    broker.start()
    TANSU_BOOTSTRAPS.add(broker.bootstrap)
    try:
        yield _with_topics(broker.bootstrap)
    finally:
        TANSU_BOOTSTRAPS.discard(broker.bootstrap)
        broker.stop()


@pytest.fixture
def kafka_bootstrap(request: pytest.FixtureRequest) -> Iterator[str]:
    external = os.environ.get("RUCNET_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield external
    elif os.environ.get("RUCNET_TEST_BROKER") == "tansu":
        yield request.getfixturevalue("tansu_bootstrap")
    else:
        node: KafkaNode = request.getfixturevalue("kafka_node")
        yield node.bootstrap


@contextmanager
def new_pg_database() -> Iterator[str]:
    """A new PostgreSQL database migrated to the newest schema, dropped on exit."""
    name = f"rucnet_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = _pg_async_url(name)
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_url() -> Iterator[str]:
    with new_pg_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'rucnet.db'}"
    upgrade(url)
    return url


def test_settings(kafka: str, database_url: str, data_dir: Path, **extra: object) -> dict[str, object]:
    """Keyword arguments for any service's settings class: production's producer where the broker has it."""
    return {
        "kafka_bootstrap": kafka,
        "database_url": database_url,
        "data_dir": data_dir,
        "kafka_idempotence": kafka not in TANSU_BOOTSTRAPS,
        "kafka_fetch_max_wait_ms": 20,
        "pseudonym_secret": "test-secret-of-at-least-32-characters",
        **extra,
    }


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test
