"""A batch folded in one transaction counts exactly what the same events applied one by one do,
whatever their order, duplicates and stale versions (SQLite: the embedded store)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Sequence

import pytest
from sqlalchemy import select

from rucnet.migrate import upgrade
from services.aggregator.store import COUNT_TABLES, RECORDS, Countable, apply_events
from shared import topics
from shared.db import create_engine, session_factory
from shared.events import (
    ClassificationOverridden,
    HuvudmanRef,
    Insats,
    InsatsClassification,
    ReportClassified,
)

FORMS = ("grundskola", "gymnasieskola", "komvux")
AREAS = ("nyanlanda", "elevhalsa", "digitalisering")


def report(seq: int, version: int, refs: Sequence[str], rng: random.Random) -> ReportClassified:
    insatser = tuple(
        Insats(
            ref=ref,
            title="Studiehandledning",
            status=rng.choice(("started", "completed")),
            school_forms=tuple(rng.sample(FORMS, rng.randint(1, 2))),
            nsp_area=rng.choice((None, *AREAS)),
        )
        for ref in refs
    )
    return ReportClassified(
        submission_event_id=uuid.uuid4(),
        report_id=uuid.UUID(int=seq),
        version=version,
        ruc_id=rng.choice(("gu", "kau")),
        year=2020,
        huvudman=HuvudmanRef(pseudonym="hm-0123456789abcdef", lan_kod="14", type="kommunal"),
        insatser=insatser,
        classifications=tuple(
            InsatsClassification(ref=i.ref, nsp_area=rng.choice(AREAS), source="classifier", confidence=0.7)
            for i in insatser
        ),
        model_version="test",
    )


def stream(seed: int) -> list[Countable]:
    """Reports in several versions (some refs dropped or added), overrides, and redeliveries."""
    rng = random.Random(seed)
    events: list[Countable] = []
    for seq in range(8):
        refs = [f"r{seq}-{i}" for i in range(rng.randint(1, 4))]
        for version in range(1, rng.randint(2, 4)):
            events.append(report(seq, seq * 10 + version, refs, rng))
            refs = refs[: rng.randint(1, len(refs))] + [f"r{seq}-new{version}"]
    keys = [(e.ruc_id, e.year, i.ref) for e in events if isinstance(e, ReportClassified) for i in e.insatser]
    for ruc_id, year, ref in rng.sample(keys, 6):
        events.append(
            ClassificationOverridden(
                ruc_id=ruc_id, year=year, ref=ref, nsp_area=rng.choice(AREAS), reason="r", analyst="a"
            )
        )
    events += rng.sample(events, 5)  # redeliveries
    rng.shuffle(events)
    return events


def topic_of(event: Countable) -> str:
    return (
        topics.CLASSIFICATIONS_OVERRIDDEN
        if isinstance(event, ClassificationOverridden)
        else topics.REPORTS_CLASSIFIED
    )


async def counted(
    url: str, batches: list[list[Countable]]
) -> tuple[set[tuple[object, ...]], set[tuple[object, ...]], int]:
    engine = create_engine(url)
    sessions = session_factory(engine)
    outcomes = []
    for batch in batches:
        async with sessions.begin() as session:
            outcomes += await apply_events(session, [(e, topic_of(e)) for e in batch])
    async with engine.connect() as conn:
        tables = [RECORDS.c.ruc_id, RECORDS.c.ref, RECORDS.c.version, RECORDS.c.nsp_area, RECORDS.c.status]
        records = {tuple(r) for r in await conn.execute(select(*tables))}
        counts = set()
        for name, (table, _) in COUNT_TABLES.items():
            counts |= {(name, *r) for r in await conn.execute(select(table).where(table.c.n != 0))}
    await engine.dispose()
    return records, counts, len(outcomes) - sum(outcomes)


@pytest.mark.parametrize("seed", range(6))
def test_one_batch_counts_what_one_by_one_counts(seed: int, tmp_path: object) -> None:
    events = stream(seed)
    results = []
    for name, batches in (
        ("one-by-one", [[e] for e in events]),
        ("one-batch", [events]),
        ("batches-of-7", [events[i : i + 7] for i in range(0, len(events), 7)]),
    ):
        url = f"sqlite+aiosqlite:///{tmp_path}/{name}.db"
        upgrade(url)
        results.append(asyncio.run(counted(url, batches)))
    records, counts, duplicates = results[0]
    assert records
    assert counts
    assert duplicates == 5  # the five redeliveries, whichever batch they fell in
    assert all(r == results[0] for r in results[1:])
