"""Running the services in-process against the real broker and the real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from tests.inprocess import bearer as token
from tests.inprocess import running

__all__ = ["running", "token"]  # what the tests import from here, shared with bench/ (tests/inprocess.py)

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], until: Callable[[T], bool], timeout_s: float = 30
) -> T:
    """Poll ``probe`` until ``until`` holds or the time is up (bounded: never a bare sleep)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if until(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


async def records_on(
    kafka: str, topic: str, at_least: int, timeout_s: float = 15
) -> list[ConsumerRecord[Any, Any]]:
    """What ``topic`` holds from its start: read until ``at_least`` records or the time is up."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka, group_id=None, auto_offset_reset="earliest", fetch_max_wait_ms=20
    )
    await consumer.start()
    seen: list[ConsumerRecord[Any, Any]] = []

    async def more() -> int:
        batches = await consumer.getmany(timeout_ms=200)
        seen.extend(r for batch in batches.values() for r in batch)
        return len(seen)

    try:
        await eventually(more, lambda n: n >= at_least, timeout_s)
    finally:
        await consumer.stop()
    return seen


def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir(exist_ok=True)
    return path
