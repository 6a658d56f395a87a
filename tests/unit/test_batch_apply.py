"""Whatever the batching, order and redeliveries of a stream of reports, corrections (that move an
insats to another year, ref or RUC, or leave it out) and overrides, the live aggregator, the
rebuild and the read API count what a plain oracle of the contract counts (SQLite: the embedded
store; tests/integration checks the reporting views on PostgreSQL)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import select

from rucnet.migrate import upgrade
from services.aggregator.counting import BASIS_OF_SOURCE, COUNT_SPEC, CountKey, Measures
from services.aggregator.folding import Countable
from services.aggregator.queries import national_counts
from services.aggregator.rebuild import rebuild_from
from services.aggregator.store import apply_events
from services.aggregator.tables import RECORDS
from services.aggregator.verify import stored_counts, verify
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
RUCS, YEARS, REFS = ("gu", "kau"), (2020, 2021), ("a", "b", "c")  # few: reports collide
HUVUDMAN = ("hm-0123456789abcdef", "hm-fedcba9876543210")
CONFIDENCES = (0.0, 0.1, 0.35, 0.7, 0.95, 0.9995)  # bucket edges, and a rounding of thousandths


def report(report_id: int, version: int, rng: random.Random) -> ReportClassified:
    refs = rng.sample(REFS, rng.randint(1, 3))
    insatser = tuple(
        Insats(
            ref=ref,
            title="Studiehandledning",
            status=rng.choice(("started", "completed")),
            school_forms=tuple(rng.sample(FORMS, rng.randint(1, 2))),
            nsp_area=rng.choice((None, *AREAS)),
            participants=(None, 0, 7, 25)[
                (report_id + version + ord(ref)) % 4
            ],  # the stream's draws unchanged
            started_on=(None, dt.date(2020, 3, 9), dt.date(2020, 11, 30))[(report_id + ord(ref)) % 3],
        )
        for ref in refs
    )
    # as the classifier does: a declared area is kept (source "declared"), else the model tags one
    classifications = tuple(
        InsatsClassification(ref=i.ref, nsp_area=i.nsp_area, source="declared", confidence=1.0)
        if i.nsp_area
        else InsatsClassification(
            ref=i.ref,
            nsp_area=rng.choice(AREAS),
            source="classifier",
            confidence=(confidence := rng.choice(CONFIDENCES)),
            needs_review=confidence < 0.5,
        )
        for i in insatser
    )
    return ReportClassified(
        submission_event_id=uuid.uuid4(),
        report_id=uuid.UUID(int=report_id),
        version=version,
        ruc_id=rng.choice(RUCS),
        year=rng.choice(YEARS),
        huvudman=HuvudmanRef(pseudonym=rng.choice(HUVUDMAN), lan_kod="14", type="kommunal"),
        insatser=insatser,
        classifications=classifications,
        model_version=rng.choice(("test", "test-2")),
    )


def stream(seed: int) -> list[Countable]:
    """Six reports, each corrected up to three times (a new RUC, year or set of refs each time),
    versions numbered in acceptance order as intake does; analysts' overrides and accepts;
    redeliveries; shuffled."""
    rng = random.Random(seed)
    events: list[Countable] = []
    for version in range(1, 16):
        events.append(report(rng.randrange(6), version, rng))
    for _ in range(5):
        ruc_id, year, ref = rng.choice(RUCS), rng.choice(YEARS), rng.choice(REFS)
        events.append(
            ClassificationOverridden(
                ruc_id=ruc_id,
                year=year,
                ref=ref,
                nsp_area=rng.choice(AREAS),
                reason="r",
                analyst="a",
                accepted=rng.random() < 0.5,
            )
        )
    events += rng.sample(events, 5)  # redeliveries
    rng.shuffle(events)
    return events


def oracle(
    events: list[Countable],
) -> tuple[dict[tuple[Any, ...], tuple[Any, ...]], Counter[tuple[Any, ...]]]:
    """The contract, written plainly: per insats the highest version that contains it holds, unless
    its report has a later version (which left it out); an analyst's area (override or accept) wins,
    then the declared one. The records and the counts (one per insats, one per school form, one per
    area, one per form × area, one per area × what it rests on: analyst, samordnare or model, one
    per classification cell with its confidence summed in thousandths, one per huvudman)."""
    unique = {e.event_id: e for e in events}.values()
    reports = [e for e in unique if isinstance(e, ReportClassified)]
    latest = {r.report_id: max(x.version for x in reports if x.report_id == r.report_id) for r in reports}
    overrides = sorted(
        (o for o in unique if isinstance(o, ClassificationOverridden)),
        key=lambda o: (o.occurred_at, str(o.event_id)),
    )
    area_of = {(o.ruc_id, o.year, o.ref): o.nsp_area for o in overrides}
    winners: dict[tuple[Any, ...], tuple[ReportClassified, Insats]] = {}
    for r in sorted(reports, key=lambda r: r.version):
        for insats in r.insatser:
            winners[(r.ruc_id, r.year, insats.ref)] = (r, insats)
    records, counts = {}, Counter[tuple[Any, ...]]()
    for key, (r, insats) in winners.items():
        if latest[r.report_id] > r.version:
            continue
        tag = next(c for c in r.classifications if c.ref == insats.ref)
        classified = tag.nsp_area
        area = area_of.get(key) or insats.nsp_area or classified
        basis = "confirmed" if key in area_of else "declared" if insats.nsp_area else "unreviewed"
        forms = sorted(set(insats.school_forms))
        records[key] = (r.version, insats.status, area, basis, tuple(forms))
        base = (r.year, r.ruc_id, "14", insats.status)
        counts[("insats", *base, ())] += 1
        counts[("insats.participants", *base, ())] += insats.participants or 0
        counts[("insats.participants_reported", *base, ())] += insats.participants is not None
        if insats.started_on is not None:
            counts[("start_month", *base, (insats.started_on.isoformat()[:7],))] += 1
        counts[("nsp", *base, (area,))] += 1
        counts[("nsp_basis", *base, (area, basis))] += 1
        for form in forms:
            counts[("school_form", *base, (form,))] += 1
            counts[("school_form_nsp", *base, (form, area))] += 1
        source = "override" if key in area_of else tag.source
        review = "true" if tag.needs_review and key not in area_of else "false"
        declared = "true" if insats.nsp_area else "false"
        bucket = str(min(int(tag.confidence * 10), 9))
        cell = (area, classified, source, declared, review, r.model_version, bucket)
        counts[("classification", *base, cell)] += 1
        counts[("classification.confidence_milli", *base, cell)] += round(tag.confidence * 1000)
        counts[("huvudman", *base, (r.huvudman.pseudonym,))] += 1
    return records, counts


def topic_of(event: Countable) -> str:
    return (
        topics.CLASSIFICATIONS_OVERRIDDEN
        if isinstance(event, ClassificationOverridden)
        else topics.REPORTS_CLASSIFIED
    )


def by_measure(counts: Mapping[CountKey, Measures]) -> Counter[tuple[Any, ...]]:
    """Counts as the oracle writes them: the count under the table's name, a sum under
    ``table.column``."""
    out = Counter[tuple[Any, ...]]()
    for k, m in counts.items():
        for measure, value in zip(COUNT_SPEC[k.table].measures, m, strict=True):
            name = k.table if measure.fact is None else f"{k.table}.{measure.column}"
            out[(name, k.year, k.ruc_id, k.lan_kod, k.status, k.dimensions)] = value
    return +out


class ListReader:
    """The rebuild's reader over a list: the batches once, then nothing (its catch-up)."""

    def __init__(self, batches: list[list[Countable]]) -> None:
        self.pending = [[self.record(i, e) for i, e in enumerate(b)] for b in batches]

    @staticmethod
    def record(offset: int, e: Countable) -> ConsumerRecord[bytes, bytes]:
        value = e.model_dump_json().encode()
        return ConsumerRecord(topic_of(e), 0, offset, 0, 0, None, value, None, 0, len(value), ())

    async def batches(self) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]:
        while self.pending:
            yield self.pending.pop(0)


async def outcome(
    url: str,
) -> tuple[dict[tuple[Any, ...], tuple[Any, ...]], Counter[tuple[Any, ...]], dict[Any, Any]]:
    """What the database holds: records, counts, the read API's national figures; verify is clean."""
    engine = create_engine(url)
    async with engine.connect() as conn:
        columns = (
            RECORDS.c[c]
            for c in ("ruc_id", "year", "ref", "version", "status", "nsp_area", "area_source", "school_forms")
        )
        rows = await conn.execute(select(*columns))
        records = {
            (r[0], r[1], r[2]): (r[3], r[4], r[5], BASIS_OF_SOURCE[r[6]], tuple(json.loads(r[7])))
            for r in rows
        }
        counts = by_measure(await stored_counts(conn))
    async with session_factory(engine)() as session:
        national = {}
        for year in YEARS:
            got = await national_counts(session, year)
            forms, areas = (
                {k: n for k, n in d.items() if n} for d in (got.started_by_school_form, got.completed_by_nsp)
            )
            bases = {
                a: {b: n for b, n in d.items() if n}
                for a, d in got.completed_by_nsp_basis.items()
                if any(d.values())
            }
            national[year] = (got.started_total, forms, got.completed_total, areas, bases)
    assert (await verify(engine)).clean
    await engine.dispose()
    return records, counts, national


async def live(url: str, batches: list[list[Countable]]) -> int:
    engine = create_engine(url)
    duplicates = 0
    for batch in batches:
        async with session_factory(engine).begin() as session:
            applied = await apply_events(session, [(e, topic_of(e)) for e in batch])
        duplicates += applied.count(False)
    await engine.dispose()
    return duplicates


def national_of(
    counts: Counter[tuple[Any, ...]], year: int
) -> tuple[int, dict[str, int], int, dict[str, int], dict[str, dict[str, int]]]:
    """The national figures the oracle's counts give (as the contract's endpoint shows them)."""
    by: dict[tuple[str, str], Counter[str]] = {}
    bases: dict[str, dict[str, int]] = {}
    for (table, y, _ruc, _lan, status, dims), n in counts.items():
        if y == year:
            by.setdefault((table, status), Counter())[dims[0] if dims else ""] += n
        if y == year and (table, status) == ("nsp_basis", "completed"):
            area, basis = dims
            bases.setdefault(area, {}).setdefault(basis, 0)
            bases[area][basis] += n
    empty: Counter[str] = Counter()
    return (
        by.get(("insats", "started"), empty).total(),
        dict(by.get(("school_form", "started"), empty)),
        by.get(("insats", "completed"), empty).total(),
        dict(by.get(("nsp", "completed"), empty)),
        bases,
    )


@pytest.mark.parametrize("seed", range(8))
def test_live_and_rebuild_count_what_the_oracle_counts(seed: int, tmp_path: Path) -> None:
    events = stream(seed)
    want_records, want_counts = oracle(events)
    assert want_records
    mentioned = {
        (e.ruc_id, e.year, i.ref) for e in events if isinstance(e, ReportClassified) for i in e.insatser
    }
    assert mentioned - want_records.keys(), "the stream retracts some insatser"
    runs = {
        "one-by-one": [[e] for e in events],
        "one-batch": [events],
        "batches-of-7": [events[i : i + 7] for i in range(0, len(events), 7)],
    }
    for name, batches in runs.items():
        url = f"sqlite+aiosqlite:///{tmp_path}/{name}.db"
        upgrade(url)
        assert asyncio.run(live(url, batches)) == 5  # the five redeliveries, whichever batch they fell in
        records, counts, national = asyncio.run(outcome(url))
        assert (name, records) == (name, want_records)
        assert (name, counts) == (name, want_counts)
        for year in YEARS:
            assert national[year] == national_of(want_counts, year)
    url = f"sqlite+aiosqlite:///{tmp_path}/rebuilt.db"
    upgrade(url)
    engine = create_engine(url)
    asyncio.run(rebuild_from(engine, ListReader(runs["batches-of-7"])))
    asyncio.run(engine.dispose())
    records, counts, _ = asyncio.run(outcome(url))
    assert records == want_records
    assert counts == want_counts
