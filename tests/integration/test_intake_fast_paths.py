"""Intake's PostgreSQL statement and batched publishing against the real database and broker."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner
from sqlmodel import select

from services.intake.batching import ReceiptWriter
from services.intake.publishing import ReportPublisher, publish_submission
from services.intake.settings import IntakeSettings
from services.intake.store import Receipt, ReportSubmission
from shared import topics
from shared.broker import create_broker
from shared.db import create_engine, session_factory
from shared.events import ReportSubmitted
from shared.report import ReportIn
from tests.conftest import test_settings
from tests.integration.conftest import records_on
from tests.unit.test_schemas import insats, valid_report

pytestmark = pytest.mark.integration
PSEUDONYM = "hm-0123456789abcdef"


def receipt(ruc_id: str = "gu", title: str = "Studiehandledning", report_id: str | None = None) -> Receipt:
    report = ReportIn.model_validate(valid_report(ruc_id=ruc_id, insatser=[insats(title=title)]))
    return Receipt(report, PSEUDONYM, report_id)


async def test_on_postgresql_one_statement_stores_exactly_the_events_that_get_published(pg_url: str) -> None:
    engine = create_engine(pg_url)
    writer = ReceiptWriter(engine)
    tricky = b'Sade "version":1, och\\u0001 gick'.decode("unicode_escape")  # a quote and a control character (NUL is refused as input)
    try:
        first = await writer.store([receipt(), receipt(title=tricky), receipt(ruc_id="su")])
        # a correction, and the second event marked published in the same statement
        again = await writer.store(
            [receipt(report_id=str(first[0][0].report_id))], mark_published=[str(first[1][0].event_id)]
        )
        async with session_factory(engine)() as session:
            rows = {r.event_id: r for r in (await session.execute(select(ReportSubmission))).scalars()}
        for event, body in first + again:
            row = rows[str(event.event_id)]
            assert row.event_json == body
            assert ReportSubmitted.model_validate_json(body) == event
            assert event.version == row.seq
            assert row.huvudman_name == "Exempelkommun"
            assert "Exempelkommun" not in body
        assert [e.version for e, _ in first + again] == sorted(e.version for e, _ in first + again)
        assert first[1][0].insatser[0].title == tricky
        assert again[0][0].report_id == first[0][0].report_id
        await writer.mark_published([str(first[0][0].event_id)])
        async with session_factory(engine)() as session:
            marked = (
                await session.execute(select(ReportSubmission.event_id, ReportSubmission.published_at))
            ).all()
        published = {e for e, at in marked if at is not None}
        assert published == {str(first[0][0].event_id), str(first[1][0].event_id)}
    finally:
        await writer.close()
        await engine.dispose()


@pytest.mark.parametrize("linger_ms", [0, 20])
async def test_events_published_together_land_where_one_by_one_would_keyed_by_ruc_in_order(
    kafka_bootstrap: str, sqlite_url: str, tmp_path: Path, linger_ms: int
) -> None:
    kw = test_settings(kafka_bootstrap, sqlite_url, tmp_path)
    settings = IntakeSettings(**kw, report_linger_ms=linger_ms)  # type: ignore[arg-type]
    broker = create_broker(settings)
    await broker.start()
    publisher = ReportPublisher(broker, settings)
    await publisher.start()
    events = [
        ReportSubmitted.model_validate(
            {
                "report_id": uuid.uuid4(),
                "version": i + 1,
                "ruc_id": ruc,
                "year": 2020,
                "huvudman": {"pseudonym": PSEUDONYM, "lan_kod": "14", "type": "kommunal"},
                "insatser": [],
            }
        )  # fmt: skip
        for i, ruc in enumerate(["gu", "su", "lnu", "kau", "gu", "umu", "gu", "mau"])
    ]
    try:
        await asyncio.gather(*(publisher.publish(e, e.model_dump_json()) for e in events))
        await publish_submission(broker, events[0], events[0].model_dump_json())  # one by one
    finally:
        await publisher.stop()
        await broker.stop()
    records = await records_on(kafka_bootstrap, topics.REPORTS_SUBMITTED, len(events) + 1)
    records.sort(key=lambda r: (r.partition, r.offset))
    partitioner = DefaultPartitioner()
    every = list(range(settings.kafka_partitions))
    partition_of = {e.ruc_id: partitioner(e.ruc_id.encode(), every, every) for e in events}
    assert len(records) == len(events) + 1
    for record in records:
        event = ReportSubmitted.model_validate_json(record.value)
        assert record.key == event.ruc_id.encode()
        assert record.partition == partition_of[event.ruc_id]
        assert dict(record.headers)["content-type"] == b"application/json"
    gu_versions = [ReportSubmitted.model_validate_json(r.value).version for r in records if r.key == b"gu"]
    assert gu_versions == [1, 5, 7, 1]  # one RUC's events in the order they were published
