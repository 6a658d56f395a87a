"""Where submit→counted goes: each latency report's path read back from what the stages left behind.

stored: its receipt's ``received_at`` (intake's batch, as it started); relayed: the record's
timestamp in ``reports.submitted`` (the relay's producer, at send); classified: the
classification's ``updated_at`` (the classifier's handler, before its store); published: the
record's timestamp in ``reports.classified``; counted: the aggregator's record ``updated_at``.
"""

from __future__ import annotations

import datetime as dt
import json

from aiokafka import AIOKafkaConsumer, TopicPartition
from common import percentile
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.aggregator.tables import RECORDS
from services.classifier.store import Classification
from services.intake.store import ReportSubmission
from shared import topics

STEPS = ("stored", "relayed", "classified", "published", "counted")


async def record_times(bootstrap: str, topic: str, partitions: int) -> dict[str, float]:
    """report_id → the producer's timestamp (s) of its record, the whole topic read once."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        times: dict[str, float] = {}
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for r in records:
                    times[json.loads(r.value or b"{}")["report_id"]] = r.timestamp / 1000
        return times
    finally:
        await consumer.stop()


async def latency_parts(
    engine: AsyncEngine, bootstrap: str, partitions: int, sent: dict[str, dt.datetime]
) -> dict[str, tuple[float, float]]:
    """Per step, (p50, p99) in ms of the time since the previous step."""
    refs = list(sent)
    reports, cls = ReportSubmission.__table__.c, Classification.__table__.c
    async with engine.connect() as conn:
        scored = {
            ref: (rid, at)
            for ref, rid, at in await conn.execute(
                select(cls.ref, cls.report_id, cls.updated_at).where(cls.ref.in_(refs))
            )
        }
        rids = [rid for rid, _ in scored.values()]
        found = select(reports.report_id, reports.received_at).where(reports.report_id.in_(rids))
        received: dict[str, dt.datetime] = dict((await conn.execute(found)).tuples().all())
        found = select(RECORDS.c.ref, RECORDS.c.updated_at).where(RECORDS.c.ref.in_(refs))
        counted: dict[str, dt.datetime] = dict((await conn.execute(found)).tuples().all())
    relayed = await record_times(bootstrap, topics.REPORTS_SUBMITTED, partitions)
    published = await record_times(bootstrap, topics.REPORTS_CLASSIFIED, partitions)
    gaps: dict[str, list[float]] = {step: [] for step in STEPS}
    for ref, submitted in sent.items():
        rid, classified_at = scored[ref]
        times = [
            submitted.timestamp(),
            received[rid].timestamp(),
            relayed[rid],
            classified_at.timestamp(),
            published[rid],
            counted[ref].timestamp(),
        ]
        for step, before, after in zip(STEPS, times, times[1:], strict=False):
            gaps[step].append((after - before) * 1000)
    return {step: (percentile(v, 50), percentile(v, 99)) for step, v in gaps.items()}
