"""Batched key lookups find exactly the stored rows, on PostgreSQL by the primary key whatever the
table's statistics (a table that is never analysed, as with autovacuum off, has none)."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine, primary_key_lookup, rows_by_key, session_factory

METADATA = MetaData()
PROBE = Table(
    "key_probe",
    METADATA,
    Column("ruc_id", String(16), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("ref", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    postgresql_with={"autovacuum_enabled": "false"},  # never analysed, whatever the server's setting
)
ROWS = [{"ruc_id": "gu", "year": 2020, "ref": f"r{i}", "version": i} for i in range(20_000)] + [
    {"ruc_id": "su", "year": 2020, "ref": "r5", "version": -5},
    {"ruc_id": "gu", "year": 2021, "ref": "r5", "version": -6},
]
KEYS = [("gu", 2020, f"r{i}") for i in range(0, 20_000, 97)] + [
    ("gu", 2020, "missing"),
    ("su", 2020, "r5"),
    ("gu", 2021, "r5"),
    ("umu", 2020, "r5"),
]


@pytest.fixture(params=["pg", "sqlite"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("pg_url" if request.param == "pg" else "sqlite_url"))


async def stored_probe(url: str) -> AsyncEngine:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(METADATA.create_all)
        await conn.execute(insert(PROBE), ROWS)
    return engine


async def test_a_batch_of_keys_finds_exactly_the_stored_rows(url: str) -> None:
    engine = await stored_probe(url)
    try:
        async with session_factory(engine)() as session:
            found = await rows_by_key(session, PROBE, KEYS, ("ruc_id", "year", "ref", "version"))
            only_refs = await rows_by_key(session, PROBE, KEYS[:3], ("ref",))
            nothing = await rows_by_key(session, PROBE, [])
    finally:
        await engine.dispose()
    stored = {(r["ruc_id"], r["year"], r["ref"]): r["version"] for r in ROWS}
    expected = {key: stored[key] for key in KEYS if key in stored}
    assert {(r.ruc_id, r.year, r.ref): r.version for r in found} == expected
    assert len(found) == len(expected) == len(KEYS) - 2
    assert sorted(r.ref for r in only_refs) == ["r0", "r194", "r97"]
    assert nothing == []


async def test_on_postgresql_every_key_is_a_primary_key_probe_on_an_unanalysed_table(pg_url: str) -> None:
    engine = await stored_probe(pg_url)
    try:
        async with session_factory(engine)() as session:
            analysed = await session.scalar(
                text("SELECT reltuples FROM pg_class WHERE relname = 'key_probe'")
            )
            statement = primary_key_lookup(PROBE, ("version",)).element.text  # what rows_by_key runs
            plan_rows = await session.execute(
                text(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {statement}"),
                {"rucs": [k[0] for k in KEYS], "years": [k[1] for k in KEYS], "refs": [k[2] for k in KEYS]},
            )
    finally:
        await engine.dispose()
    plan = "\n".join(row[0] for row in plan_rows)
    assert analysed == -1  # never analysed: the planner has no statistics to go by
    assert "Nested Loop" in plan
    assert "Index Scan using key_probe_pkey" in plan
    assert "Rows Removed by Filter" not in plan  # no row of the RUC and year read only to be dropped
