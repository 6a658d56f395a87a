"""The rebuild's swap on PostgreSQL: the new ``insats_record`` built beside the live one and renamed
in. Readers keep the old numbers until the swap and the views read the new table after it; a
rebuild that fails, before or during the swap, leaves the live tables as they were."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.aggregator import fold_workers
from services.aggregator.rebuild import rebuild_from
from services.aggregator.verify import stored_counts
from shared.db import create_engine
from tests.conftest import new_pg_database
from tests.unit.test_batch_apply import ListReader, stream

pytestmark = pytest.mark.integration

STATE = {
    "records": "SELECT count(*) FROM insats_record",
    "events": "SELECT count(*) FROM processed_event",
    "reports": "SELECT count(*) FROM report_version",
    "fresh": "SELECT count(*) FROM reporting.data_freshness",
    "counted": "SELECT coalesce(sum(n), 0) FROM count_insats",
    "years": "SELECT count(*) FROM reporting.report_year",
    "classified": "SELECT coalesce(sum(n), 0) FROM reporting.classification",
}


async def state(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {name: int(await conn.scalar(text(query)) or 0) for name, query in STATE.items()}


async def every_count(engine: AsyncEngine) -> dict[Any, Any]:
    async with engine.connect() as conn:
        return dict(await stored_counts(conn))


async def leftovers(engine: AsyncEngine) -> list[str]:
    """Tables the rebuild made for itself and should not leave behind."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT tablename FROM pg_tables WHERE tablename LIKE '%\\_\\_%' ORDER BY 1")
        )
        return [name for (name,) in rows]


async def indexes(engine: AsyncEngine) -> set[tuple[str, str]]:
    """The indexes of the tables the swap renames in place of the live ones."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT tablename, indexname FROM pg_indexes"
                " WHERE tablename IN ('insats_record', 'processed_event', 'report_version')"
            )
        )
        return {(table, name) for table, name in rows}


def batches(seed: int, every: int = 7) -> list[list[Any]]:
    events = stream(seed)
    return [events[i : i + every] for i in range(0, len(events), every)]


class FailingReader(ListReader):
    """Gives its first batch, then fails: a broker lost mid-replay."""

    async def batches(self) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]:
        yield self.pending.pop(0)
        raise ConnectionError("broker gone")


async def _rebuilt_first(url: str) -> tuple[AsyncEngine, dict[str, int], set[tuple[str, str]]]:
    engine = create_engine(url)
    before_indexes = await indexes(engine)
    await rebuild_from(engine, ListReader(batches(0)))
    return engine, await state(engine), before_indexes


async def options(engine: AsyncEngine) -> list[str] | None:
    async with engine.connect() as conn:
        found = await conn.scalar(text("SELECT reloptions FROM pg_class WHERE relname = 'insats_record'"))
        return list(found) if found else None


def test_views_read_the_rebuilt_table_and_its_indexes_and_options_stay() -> None:
    async def scenario(url: str) -> None:
        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE insats_record SET (fillfactor = 90)"))
        await engine.dispose()
        engine, first, migrated = await _rebuilt_first(url)
        assert await options(engine) == ["fillfactor=90"]
        assert first["records"] > 0
        assert first["years"] > 0
        assert first["classified"] == first["counted"]
        assert len(migrated) >= 3
        assert await indexes(engine) == migrated  # the primary keys and the report index, as migrated
        assert await leftovers(engine) == []
        await rebuild_from(engine, ListReader(batches(1)))  # another stream: other numbers
        second = await state(engine)
        assert second != first
        assert second["classified"] == second["counted"]
        await engine.dispose()

    with new_pg_database() as url:
        asyncio.run(scenario(url))


def test_a_rebuild_that_fails_leaves_the_live_tables_as_they_were() -> None:
    async def scenario(url: str) -> None:
        engine, first, _ = await _rebuilt_first(url)
        with pytest.raises(ConnectionError):
            await rebuild_from(engine, FailingReader(batches(1)))
        assert await state(engine) == first
        assert await leftovers(engine) == []
        assert multiprocessing.active_children() == []  # the fold workers are gone
        # something the swap cannot carry over depends on the table: the swap fails as a whole
        async with engine.begin() as conn:
            await conn.execute(text("CREATE MATERIALIZED VIEW held AS SELECT count(*) FROM insats_record"))
        with pytest.raises(Exception, match="depend"):
            await rebuild_from(engine, ListReader(batches(1)))
        assert await state(engine) == first
        # a trigger the copy would lack: refused before the replay
        async with engine.begin() as conn:
            await conn.execute(text("DROP MATERIALIZED VIEW held"))
            await conn.execute(
                text("CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'")
            )
            await conn.execute(
                text(
                    "CREATE TRIGGER kept BEFORE INSERT ON insats_record FOR EACH ROW EXECUTE FUNCTION noop()"
                )
            )
        with pytest.raises(RuntimeError, match="triggers"):
            await rebuild_from(engine, ListReader(batches(1)))
        assert await state(engine) == first
        assert await leftovers(engine) == []
        await engine.dispose()

    with new_pg_database() as url:
        asyncio.run(scenario(url))


async def _wait_for_lock_wait(engine: AsyncEngine, timeout_s: float = 60.0) -> None:
    """Until some session waits for a lock (the rebuild's rename, behind the reader)."""
    deadline = time.monotonic() + timeout_s
    async with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            )
            if waiting:
                return
            await asyncio.sleep(0.05)
    raise TimeoutError("the rebuild never waited for the reader")


def test_a_reader_keeps_the_old_numbers_until_the_swap_which_waits_for_it() -> None:
    async def scenario(url: str) -> None:
        engine, first, _ = await _rebuilt_first(url)
        reader = create_engine(url)
        async with reader.connect() as conn:
            await conn.execute(text("BEGIN ISOLATION LEVEL REPEATABLE READ"))
            seen = await conn.scalar(text(STATE["classified"]))
            rebuilding = asyncio.create_task(rebuild_from(engine, ListReader(batches(1))))
            await _wait_for_lock_wait(reader)
            assert await conn.scalar(text(STATE["classified"])) == seen  # still readable, still old
            assert not rebuilding.done()
            await conn.execute(text("COMMIT"))
        await rebuilding
        after = await state(engine)
        assert after != first
        assert after["classified"] == after["counted"]
        await reader.dispose()
        await engine.dispose()

    with new_pg_database() as url:
        asyncio.run(scenario(url))


def test_without_worker_processes_the_replay_folds_in_its_own_process_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(url: str) -> None:
        engine, with_workers, _ = await _rebuilt_first(url)
        counted = await every_count(engine)

        def no_semaphores(*_args: object, **_kwargs: object) -> None:
            raise OSError("no POSIX semaphores here")

        monkeypatch.setattr(fold_workers, "ProcessPoolExecutor", no_semaphores)
        await rebuild_from(engine, ListReader(batches(0)))
        assert await state(engine) == with_workers
        assert await every_count(engine) == counted
        await engine.dispose()

    with new_pg_database() as url:
        asyncio.run(scenario(url))
