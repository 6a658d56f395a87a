"""Group commit: requests that arrive while one batch is under way share the next one.

Storing a receipt costs the same round trips (one statement on PostgreSQL) whether it is stored
alone or with seven others; round trips, each a wake-up of another process, are what a request
spent most of its time and CPU on (publishing is the outbox relay's, in batches of its own). There is no
timer: a lone request goes at once, and under load every request that came in during one batch
joins the next.
One batch runs at a time, so receipts are stored (and get their versions) in the order the requests
arrived. ``GroupCommit`` batches the receipts; ``ReceiptWriter`` stores them on a
``DedicatedConnection``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.intake import store, store_pg
from services.intake.store import Receipt
from shared.events import ReportSubmitted

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger("rucnet.intake.batching")


class GroupCommit(Generic[T, R]):
    """``submit`` an item, get ``handle``'s answer for it; ``handle`` maps a batch to its answers."""

    def __init__(self, handle: Callable[[list[T]], Awaitable[list[R]]], max_batch: int = 64) -> None:
        self.handle = handle
        self.max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work())
        return await future

    async def drain(self) -> None:
        """Wait until everything submitted so far is handled (at shutdown)."""
        while self._worker is not None and not self._worker.done():
            await asyncio.shield(self._worker)

    async def _work(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            try:
                await self._run([item for item, _ in batch], [future for _, future in batch])
            except BaseException:  # cancelled (shutdown): nobody may wait forever
                for _, future in batch + self._queue:
                    future.cancel()
                self._queue = []
                raise

    async def _run(self, items: list[T], futures: list[asyncio.Future[R]]) -> None:
        try:
            answers = await self.handle(items)
        except Exception as exc:
            if len(items) == 1:
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
                return
            # One bad item must not fail the others: each on its own, each with its own answer.
            log.warning("a batch of %d failed (%r); storing them one by one", len(items), exc)
            for item, future in zip(items, futures, strict=True):
                await self._run([item], [future])
            return
        for future, answer in zip(futures, answers, strict=True):
            if not future.done():  # done: the request was cancelled; its row stays in the outbox
                future.set_result(answer)


class DedicatedConnection:
    """One connection kept open for one sequential user (a batch writer), outside the pool's churn.

    A pool checkout pings first (``pool_pre_ping``: three round trips on asyncpg) and resets on
    return; a writer that runs a statement every few milliseconds keeps its own connection
    instead. Any failure drops it, so the next use starts on a fresh one.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.asyncpg = engine.dialect.driver == "asyncpg"
        self._conn: AsyncConnection | None = None
        self._driver: Any = None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self._held() as conn, conn.begin():
            yield conn

    @contextlib.asynccontextmanager
    async def driver(self) -> AsyncIterator[Any]:
        """The asyncpg connection itself (each statement commits on its own)."""
        async with self._held():
            yield self._driver

    @contextlib.asynccontextmanager
    async def _held(self) -> AsyncIterator[AsyncConnection]:
        if self._conn is None:
            self._conn = await self.engine.connect()
            self._driver = (await self._conn.get_raw_connection()).driver_connection
            if self.asyncpg:
                # asyncpg prepares every statement; after five runs PostgreSQL may keep a generic
                # plan chosen while the table was nearly empty (a sequential scan for the
                # `event_id = ANY(...)` marks), which then slows down as the table grows.
                await self._driver.execute("SET plan_cache_mode = force_custom_plan")
        try:
            yield self._conn
        except BaseException:
            conn, self._conn, self._driver = self._conn, None, None
            with contextlib.suppress(Exception):  # possibly broken: never back into the pool
                await conn.invalidate()
                await conn.close()
            raise

    async def close(self) -> None:
        conn, self._conn, self._driver = self._conn, None, None
        if conn is not None:
            await conn.invalidate()  # not back into the pool with this session's settings
            await conn.close()


class ReceiptWriter:
    """Stores batches of receipts (``GroupCommit``'s handler) on a connection of its own."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.connection = DedicatedConnection(engine)

    async def store(self, receipts: list[Receipt]) -> list[tuple[ReportSubmitted, str]]:
        if self.connection.asyncpg:
            async with self.connection.driver() as pg:
                return await store_pg.record_submissions(pg, receipts)
        async with self.connection.transaction() as conn:
            return await store.record_submissions(conn, receipts)

    async def close(self) -> None:
        await self.connection.close()
