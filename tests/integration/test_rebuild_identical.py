"""Rebuild after the count tables were emptied gives identical numbers, on PostgreSQL and SQLite,
even with the aggregator running and new events arriving while it replays."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from services.aggregator.app import create_app
from services.aggregator.settings import AggregatorSettings
from services.aggregator.tables import COUNT_TABLES, PROCESSED
from services.aggregator.verify import stored_counts
from shared.db import create_engine
from tests.conftest import test_settings
from tests.integration.conftest import running
from tests.integration.ops_support import (
    classified_events,
    eventually,
    make_stream,
    publish_all,
    run_cli,
    service_env,
)
from tests.integration.test_faults_scale_out import national

pytestmark = pytest.mark.integration


async def snapshot(url: str) -> dict[object, int]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        counts = await stored_counts(conn)
    await engine.dispose()
    return dict(counts)


async def processed(url: str) -> int:
    engine = create_engine(url)
    async with engine.connect() as conn:
        n = await conn.scalar(select(func.count()).select_from(PROCESSED))
    await engine.dispose()
    return int(n or 0)


async def empty_count_tables(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        for table in COUNT_TABLES.values():
            await conn.execute(delete(table))
    await engine.dispose()


@pytest.fixture(params=["pg_url", "sqlite_url"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(request.param)
    return url


async def test_a_rebuild_after_emptying_the_counts_gives_identical_numbers(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    url = database_url
    stream = make_stream(2400, seed=5)
    events = classified_events(stream)
    first, second = events[: len(events) * 2 // 3], events[len(events) * 2 // 3 :]
    settings = AggregatorSettings(**test_settings(kafka_bootstrap, url, tmp_path))  # type: ignore[arg-type]
    env = service_env(kafka_bootstrap, url, tmp_path)
    async with running(create_app(settings)):
        await publish_all(kafka_bootstrap, first)
        assert await eventually(lambda: processed(url), lambda n: n == len(first), 60) == len(first)
        before = await snapshot(url)

        await empty_count_tables(url)
        broken = await asyncio.to_thread(run_cli, "aggregates", "verify", env=env)
        assert broken.returncode == 1
        assert "differ" in broken.stdout

        rebuilt = await asyncio.to_thread(run_cli, "aggregates", "rebuild", env=env)
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert f"{len(first)} events" in rebuilt.stdout
        assert await snapshot(url) == before

        # Again, with the aggregator busy on new events while the rebuild replays and swaps.
        await empty_count_tables(url)
        publishing = asyncio.create_task(publish_all(kafka_bootstrap, second, chunk=20, pause_s=0.05))
        rebuilt = await asyncio.to_thread(run_cli, "aggregates", "rebuild", env=env)
        await publishing
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        for year in (2019, 2020):
            want = stream.expected(year)
            assert await eventually(lambda y=year: national(url, y), lambda g, w=want: g == w, 60) == want
    verified = await asyncio.to_thread(run_cli, "aggregates", "verify", env=env)
    assert verified.returncode == 0, verified.stdout
