"""The count spec end to end on PostgreSQL: live counting in batches and the rebuild leave the
records, the count tables, the read API and every reporting view that shows a count (what Grafana
and the national report read) at what the oracle of tests/unit/test_batch_apply.py counts."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from services.aggregator.queries import national_counts
from services.aggregator.read_api import region_stats
from services.aggregator.rebuild import rebuild_from
from shared.db import create_engine, session_factory
from tests.conftest import new_pg_database
from tests.unit.test_batch_apply import (
    RUCS,
    YEARS,
    ListReader,
    live,
    national_of,
    oracle,
    outcome,
    stream,
)

pytestmark = pytest.mark.integration

# each count table's view, its key columns in the spec's order and then n
VIEWS = {
    "insats": "SELECT year, ruc_id, lan_kod, status, n FROM reporting.insats_count",
    "school_form": "SELECT year, ruc_id, lan_kod, status, school_form, n FROM reporting.school_form_count",
    "nsp": "SELECT year, ruc_id, lan_kod, status, nsp_area, n FROM reporting.nsp_count",
    "school_form_nsp": "SELECT year, ruc_id, lan_kod, status, school_form, nsp_area, n FROM reporting.school_form_nsp",
    "nsp_basis": "SELECT year, ruc_id, lan_kod, status, nsp_area, basis, n FROM reporting.nsp_basis_count",
    "start_month": "SELECT year, ruc_id, lan_kod, status, start_month, n FROM reporting.start_month_count",
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


# the views that sum count tables across their keys, each as the oracle's counts add up
STATUS = "SELECT year, ruc_id, insatser, started, completed, huvudman_count FROM reporting.reporting_status"
CLASSIFICATION = """
SELECT year, ruc_id, status, nsp_area, classified_area, area_source, declared, awaiting_review,
       model_version, n, mean_confidence
FROM reporting.classification"""
BUCKETS = "SELECT year, model_version, area_source, bucket_from, n FROM reporting.confidence_bucket"


def summed_views_of(want: Counter[tuple[Any, ...]]) -> dict[str, Any]:
    """What the summing views must show, from the oracle's cells."""
    status: dict[tuple[Any, ...], list[Any]] = {}
    for (table, year, ruc, _lan, state, dims), n in want.items():
        if table not in ("insats", "huvudman") or not n:
            continue
        row = status.setdefault((year, ruc), [0, 0, 0, set()])
        if table == "insats":
            row[0] += n
            row[1 if state == "started" else 2] += n
        else:
            row[3].add(dims[0])
    classification: Counter[tuple[Any, ...]] = Counter()
    milli: Counter[tuple[Any, ...]] = Counter()
    buckets: Counter[tuple[Any, ...]] = Counter()
    for (table, year, ruc, _lan, state, dims), n in want.items():
        if not table.startswith("classification"):
            continue
        area, classified, source, declared, review, model, bucket = dims
        cell = (year, ruc, state, area, classified, source, declared == "true", review == "true", model)
        if table == "classification":
            classification[cell] += n
            buckets[(year, model, source, Decimal(bucket) / 10)] += n
        else:
            milli[cell] += n
    return {
        "status": {k: (a, b, c, len(h)) for k, (a, b, c, h) in status.items()},
        "classification": {k: (n, round(milli[k] / n / 1000, 6)) for k, n in classification.items() if n},
        "buckets": +buckets,
    }


async def summed_views(url: str) -> dict[str, Any]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        status = {(r[0], r[1]): tuple(r[2:]) for r in await conn.execute(text(STATUS)) if r[2] or r[5]}
        classification = {
            tuple(r[:9]): (r[9], round(r[10], 6)) for r in await conn.execute(text(CLASSIFICATION))
        }
        buckets = Counter({tuple(r[:4]): r[4] for r in await conn.execute(text(BUCKETS))})
    await engine.dispose()
    return {"status": status, "classification": classification, "buckets": buckets}


async def region_figures(url: str) -> dict[tuple[int, str], Any]:
    """The read API's per-RUC figures (what ``GET /api/v1/stats/ruc/{ruc}`` answers), by year and RUC."""
    engine = create_engine(url)
    out = {}
    async with session_factory(engine)() as session:
        for year in YEARS:
            for ruc in RUCS:
                stats = await region_stats(session, year, ruc, None)
                out[(year, ruc)] = stats.model_dump(include={"started", "completed"})
    await engine.dispose()
    return out


def region_figures_of(want: Counter[tuple[Any, ...]]) -> dict[tuple[int, str], Any]:
    out = {}
    for year in YEARS:
        for ruc in RUCS:
            per = {s: {"insatser": 0, "by_school_form": {}, "by_nsp": {}} for s in ("started", "completed")}
            for (table, y, r, _lan, state, dims), n in want.items():
                if (y, r) != (year, ruc) or not n:
                    continue
                if table == "insats":
                    per[state]["insatser"] += n
                elif table in ("school_form", "nsp"):
                    by = per[state]["by_school_form" if table == "school_form" else "by_nsp"]
                    by[dims[0]] = by.get(dims[0], 0) + n
            out[(year, ruc)] = per
    return out


NATIONAL_TOTAL = "SELECT year, status, n, participants, participants_reported FROM reporting.national_total"


async def national_totals(url: str) -> tuple[dict[tuple[Any, ...], tuple[int, ...]], ...]:
    """The view's totals and the read API's (``national_counts``, behind ``completed.participants``)."""
    engine = create_engine(url)
    async with engine.connect() as conn:
        view = {(r[0], r[1]): tuple(r[2:]) for r in await conn.execute(text(NATIONAL_TOTAL))}
    api = {}
    async with session_factory(engine)() as session:
        for year in YEARS:
            for state, m in (await national_counts(session, year)).measures.items():
                if m["n"]:
                    api[(year, state)] = (m["n"], m["participants"], m["participants_reported"])
    await engine.dispose()
    return view, api


def national_totals_of(want: Counter[tuple[Any, ...]]) -> dict[tuple[Any, ...], tuple[int, ...]]:
    """Per year and status: insatser, participants summed, insatser that reported participants."""
    out: dict[tuple[Any, ...], list[int]] = {}
    measures = ("insats", "insats.participants", "insats.participants_reported")
    for (table, year, _ruc, _lan, state, _dims), n in want.items():
        if table in measures:
            out.setdefault((year, state), [0, 0, 0])[measures.index(table)] += n
    return {k: tuple(v) for k, v in out.items() if v[0]}


def check(url: str, want_records: dict[Any, Any], want_counts: Counter[tuple[Any, ...]]) -> None:
    records, counts, national = asyncio.run(outcome(url))
    assert records == want_records
    assert counts == want_counts
    assert asyncio.run(view_counts(url)) == +Counter({k: n for k, n in want_counts.items() if k[0] in VIEWS})
    assert asyncio.run(summed_views(url)) == summed_views_of(want_counts)
    assert national == {year: national_of(want_counts, year) for year in YEARS}
    assert asyncio.run(region_figures(url)) == region_figures_of(want_counts)
    want_totals = national_totals_of(want_counts)
    assert asyncio.run(national_totals(url)) == (want_totals, want_totals)


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
