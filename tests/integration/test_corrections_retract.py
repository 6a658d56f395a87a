"""Issue 14, scenario 3: a correction that moves a report to another year (or RUC) retracts what
its earlier version counted, everywhere: the counts, the read model, the reporting views, and
again after a rebuild, also when the events are redelivered and arrive out of order."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from services.aggregator.app import create_app
from services.aggregator.settings import AggregatorSettings
from services.aggregator.tables import PROCESSED, RECORDS
from shared import topics
from shared.db import create_engine
from shared.events import ReportClassified
from tests.conftest import test_settings
from tests.integration.conftest import running
from tests.integration.ops_support import classified, eventually, publish_all, run_cli, service_env
from tests.integration.test_faults_scale_out import national

pytestmark = pytest.mark.integration


def version(event: ReportClassified, number: int, **changes: Any) -> ReportClassified:
    """Another version of the same report (intake's correction route keeps the report id)."""
    return event.model_copy(update={"event_id": uuid.uuid4(), "version": number, **changes})


def message(event: ReportClassified) -> tuple[str, bytes, bytes]:
    return topics.REPORTS_CLASSIFIED, event.ruc_id.encode(), event.model_dump_json().encode()


async def scalar(url: str, query: Any) -> Any:
    engine = create_engine(url)
    async with engine.connect() as conn:
        value = await conn.scalar(query)
    await engine.dispose()
    return value


async def view_totals(url: str) -> dict[tuple[int, str], int]:
    """The reporting views' national figures per year and status, and their skolform × NSP cells."""
    engine = create_engine(url)
    async with engine.connect() as conn:
        totals = {
            (y, s): n
            for y, s, n in await conn.execute(text("SELECT year, status, n FROM reporting.national_total"))
        }
        cells = await conn.execute(
            text("SELECT year, status, sum(n) FROM reporting.school_form_nsp GROUP BY 1, 2")
        )
        totals |= {(y, f"{s} cells"): int(n) for y, s, n in cells}
    await engine.dispose()
    return totals


async def test_a_report_corrected_to_another_year_is_counted_once_under_the_new_year(
    pg_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    first = classified(year=2020, status="started", school_forms=("grundskola", "komvux"), ref="gu-x")
    moved = version(first, 2, year=2021)
    other = classified(ruc="kau", year=2020, status="started", ref="kau-y")  # counted throughout
    # the correction, then the first version redelivered (the same event) and replayed late
    stream = [message(first), message(other), message(moved), message(first), message(first)]
    settings = AggregatorSettings(**test_settings(kafka_bootstrap, pg_url, tmp_path))  # type: ignore[arg-type]
    async with running(create_app(settings)):
        await publish_all(kafka_bootstrap, stream)
        count_events = select(func.count()).select_from(PROCESSED)
        assert await eventually(lambda: scalar(pg_url, count_events), lambda n: n == 3, 60) == 3
    want = {
        2020: {
            "started": {"insatser": 1, "by_school_form": {"grundskola": 1}},
            "completed": {"insatser": 0, "by_nsp": {}},
        },
        2021: {
            "started": {"insatser": 1, "by_school_form": {"grundskola": 1, "komvux": 1}},
            "completed": {"insatser": 0, "by_nsp": {}},
        },
    }
    for year, expected in want.items():
        assert await national(pg_url, year) == expected
    records = select(RECORDS.c.ruc_id, RECORDS.c.year, RECORDS.c.ref).order_by(RECORDS.c.ruc_id)
    engine = create_engine(pg_url)
    async with engine.connect() as conn:
        assert [tuple(r) for r in await conn.execute(records)] == [
            ("gu", 2021, "gu-x"),
            ("kau", 2020, "kau-y"),
        ]
    await engine.dispose()
    views = {
        (2020, "started"): 1,
        (2021, "started"): 1,
        (2020, "started cells"): 1,
        (2021, "started cells"): 2,
    }
    assert await view_totals(pg_url) == views

    env = service_env(kafka_bootstrap, pg_url, tmp_path)
    verified = await asyncio.to_thread(run_cli, "aggregates", "verify", env=env)
    assert verified.returncode == 0, verified.stdout
    rebuilt = await asyncio.to_thread(run_cli, "aggregates", "rebuild", env=env)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    for year, expected in want.items():
        assert await national(pg_url, year) == expected
    assert await view_totals(pg_url) == views
    verified = await asyncio.to_thread(run_cli, "aggregates", "verify", env=env)
    assert verified.returncode == 0, verified.stdout
