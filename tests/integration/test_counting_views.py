"""The count spec end to end on PostgreSQL: live counting in batches and the rebuild leave the
records, the count tables, the read API and the reporting views (what Grafana and the national
report read) at what the oracle of tests/unit/test_batch_apply.py counts."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import text

from services.aggregator.rebuild import rebuild_from
from shared.db import create_engine
from tests.conftest import new_pg_database
from tests.unit.test_batch_apply import YEARS, ListReader, live, national_of, oracle, outcome, stream

pytestmark = pytest.mark.integration

# each count table's view, its key columns in the spec's order and then n
VIEWS = {
    "insats": "SELECT year, ruc_id, lan_kod, status, n FROM reporting.insats_count",
    "school_form": "SELECT year, ruc_id, lan_kod, status, school_form, n FROM reporting.school_form_count",
    "nsp": "SELECT year, ruc_id, lan_kod, status, nsp_area, n FROM reporting.nsp_count",
    "school_form_nsp": "SELECT year, ruc_id, lan_kod, status, school_form, nsp_area, n FROM reporting.school_form_nsp",
    "nsp_basis": "SELECT year, ruc_id, lan_kod, status, nsp_area, basis, n FROM reporting.nsp_basis_count",
}


async def view_counts(url: str) -> Counter[tuple[Any, ...]]:
    engine = create_engine(url)
    counts: Counter[tuple[Any, ...]] = Counter()
    async with engine.connect() as conn:
        for table, query in VIEWS.items():
            for row in await conn.execute(text(query)):
                counts[(table, *row[:4], tuple(row[4:-1]))] += row[-1]
    await engine.dispose()
    return counts


def check(url: str, want_records: dict[Any, Any], want_counts: Counter[tuple[Any, ...]]) -> None:
    records, counts, national = asyncio.run(outcome(url))
    assert records == want_records
    assert counts == want_counts
    assert asyncio.run(view_counts(url)) == want_counts
    assert national == {year: national_of(want_counts, year) for year in YEARS}


@pytest.mark.parametrize("seed", range(3))
def test_live_rebuild_and_views_count_what_the_oracle_counts_on_postgresql(seed: int) -> None:
    events = stream(seed)
    want_records, want_counts = oracle(events)
    batches = [events[i : i + 7] for i in range(0, len(events), 7)]
    with new_pg_database() as url:
        asyncio.run(live(url, batches))
        check(url, want_records, want_counts)
    with new_pg_database() as url:

        async def rebuilt() -> None:
            engine = create_engine(url)
            await rebuild_from(engine, ListReader(batches))
            await engine.dispose()

        asyncio.run(rebuilt())
        check(url, want_records, want_counts)
