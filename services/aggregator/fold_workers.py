"""PostgreSQL: the replay's fold and COPY in worker processes, one batch each at a time.

Validating and folding is Python work (≈ 6 µs of CPU an insats), and so is encoding the COPY:
in one process the interpreter's lock keeps both on one core. Each worker holds its own
connection and appends the batches it is given to the shadow tables, in a transaction per batch;
the rebuild's process only reads the topics and hands batches out, numbered in the order read.
The numbers, not the order the workers finish in, decide which row holds at the swap (the shadow
rows carry them; a record, its event's), so any worker may take any batch.

The workers are forked where the platform can (no start-up imports; the rebuild itself starts no
thread before them) and stopped, their connections closed, when the replay ends or fails.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import logging
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing.util import Finalize
from typing import Any, NamedTuple

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import URL

from services.aggregator.counting import KnownCodes
from services.aggregator.shadow import CopyShadowWriter, Folded, shadow_tables

log = logging.getLogger(__name__)
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
WORKERS = max(1, min(4, CORES))  # the cores this process may use (a container's CPU set), up to 4
IN_FLIGHT = 2  # batches handed to each worker ahead: one folding, one waiting


class Message(NamedTuple):
    """What the fold reads of a consumer record (cheap to send to a worker)."""

    topic: str
    value: bytes


class Counted(NamedTuple):
    events: int
    insatser: int
    overrides: int
    skipped: int


_worker: dict[str, Any] = {}


def _start(dsn: str, known: KnownCodes) -> None:
    loop = asyncio.new_event_loop()
    driver = loop.run_until_complete(asyncpg.connect(dsn))

    async def connection() -> Any:
        return driver

    dialect = asyncpg_dialect()  # type: ignore[no-untyped-call]
    writer = CopyShadowWriter(dialect, shadow_tables("postgresql"), connection)
    _worker.update(loop=loop, driver=driver, writer=writer, known=known)
    Finalize(None, _stop, exitpriority=10)  # on the pool's shutdown, before the process exits
    gc.freeze()  # what the worker inherited is never garbage: collections skip it


def _stop() -> None:
    loop = _worker["loop"]
    loop.run_until_complete(_worker["driver"].close())
    loop.close()


async def _write(folded: Folded) -> None:
    async with _worker["driver"].transaction():
        await _worker["writer"].write(folded)


def fold_and_copy(messages: list[Message], seq: int, stamp: dt.datetime) -> Counted:
    """In a worker: validate and fold one batch, append it to the shadow tables, commit."""
    from services.aggregator.rebuild import RebuildResult, fold  # the rebuild imports this module

    result = RebuildResult()
    gc.disable()  # the fold makes no reference cycles, only short-lived objects freed as it goes
    try:
        folded = fold(messages, _worker["known"], _worker["writer"].bind_time(stamp), seq, result)
    finally:
        gc.enable()
    _worker["loop"].run_until_complete(_write(folded))
    return Counted(result.events, result.insatser, result.overrides, result.skipped)


def driver_dsn(url: URL) -> str:
    """The engine's URL as asyncpg's own ``connect`` takes it."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def fold_workers(url: URL, known: KnownCodes, workers: int = WORKERS) -> Iterator[ProcessPoolExecutor | None]:
    """The workers, or None where the platform cannot run them (no POSIX semaphores, as in some
    containers): the replay then folds in its own process."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    try:
        pool = ProcessPoolExecutor(workers, context, initializer=_start, initargs=(driver_dsn(url), known))
    except (OSError, NotImplementedError) as cannot:
        log.warning("rebuild: no fold workers (%s); folding in this process", cannot)
        yield None
        return
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
