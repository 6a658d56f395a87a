"""Fixtures for real parts: a Kafka-protocol broker and PostgreSQL databases, started and cleaned here.

- ``kafka_bootstrap``: a fresh embedded Tansu broker per test (50 ms to start), with rucnet's topics.
  Set RUCNET_TEST_KAFKA_BOOTSTRAP to run against a real Kafka instead.
- ``pg_url``: a new, migrated PostgreSQL database per test on RUCNET_TEST_PG_ADMIN_URL
  (default: the machine's 127.0.0.1:5432, trust auth); dropped afterwards.
- ``sqlite_url``: a migrated SQLite database in the test's tmp dir.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest

from rucnet.embedded_broker import EmbeddedBroker, free_port
from rucnet.migrate import upgrade
from shared.broker import ensure_topics
from shared.settings import RucnetSettings

PG_ADMIN_DSN = os.environ.get("RUCNET_TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_async_url(database: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def kafka_bootstrap(tmp_path: Path) -> Iterator[str]:
    external = os.environ.get("RUCNET_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    broker = EmbeddedBroker(free_port(), tmp_path / "tansu.log")
    broker.start()
    try:
        settings = RucnetSettings(kafka_bootstrap=broker.bootstrap)
        asyncio.run(ensure_topics(settings))
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def embedded_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """The broker process itself, for tests that pause, kill or restart it."""
    broker = EmbeddedBroker(free_port(), tmp_path / "tansu-own.log")
    broker.start()
    asyncio.run(ensure_topics(RucnetSettings(kafka_bootstrap=broker.bootstrap)))
    try:
        yield broker
    finally:
        broker.stop()


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
    """Keyword arguments for any service's settings class, tuned for the embedded broker."""
    return {
        "kafka_bootstrap": kafka,
        "database_url": database_url,
        "data_dir": data_dir,
        "kafka_idempotence": bool(os.environ.get("RUCNET_TEST_KAFKA_BOOTSTRAP")),
        "kafka_fetch_max_wait_ms": 20,
        "pseudonym_secret": "test-secret",
        **extra,
    }


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test
