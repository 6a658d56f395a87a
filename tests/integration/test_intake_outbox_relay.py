"""The transactional outbox on the real broker: 202 means stored, the relay publishes in order per RUC.

The contract's revision 2: intake goes on accepting while Apache Kafka is down; the receipts say
"väntar" until the relay has the broker's acknowledgement, and then every report is counted exactly
once, a correction never losing to the version it replaced.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner
from sqlmodel import col, select

from rucnet.kafka_node import KafkaNode
from services.aggregator.app import create_app as aggregator_app
from services.aggregator.settings import AggregatorSettings
from services.classifier.app import create_app as classifier_app
from services.classifier.settings import ClassifierSettings
from services.intake.app import create_app as intake_app
from services.intake.batching import ReceiptWriter
from services.intake.relay import OutboxRelay
from services.intake.settings import IntakeSettings
from services.intake.store import Receipt, ReportSubmission
from shared import topics
from shared.broker import create_broker
from shared.db import create_engine, session_factory
from shared.events import ReportSubmitted
from shared.inbound import ReportIn
from tests.conftest import test_settings
from tests.integration.conftest import data_dir, eventually, records_on, running, token
from tests.unit.test_schemas import insats, valid_report

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
OUTAGE_S = 60.0


def receipt(ruc_id: str, ref: str, insatser: int = 1) -> Receipt:
    """A report of ``insatser`` insatser (``ref``, ``ref-2``, …) with 1 600-character descriptions."""
    many = [insats(ref=ref if i == 0 else f"{ref}-{i + 1}", description="d" * 1600) for i in range(insatser)]
    return Receipt(ReportIn.model_validate(valid_report(ruc_id=ruc_id, insatser=many)), "hm-0123456789abcdef")


async def test_the_relay_publishes_stored_reports_keyed_by_ruc_in_acceptance_order_and_marks_them(
    kafka_bootstrap: str, pg_url: str, tmp_path: Path
) -> None:
    settings = IntakeSettings(**test_settings(kafka_bootstrap, pg_url, tmp_path))  # type: ignore[arg-type]
    engine, broker = create_engine(pg_url), create_broker(settings)
    await broker.start()
    writer, relay = ReceiptWriter(engine), OutboxRelay(engine, broker, settings, interval_s=0.1)
    rucs = ["gu", "su", "lnu", "kau", "gu", "umu", "gu", "mau"]
    try:
        stored = await writer.store([receipt(r, f"{r}-2020-{i:03d}") for i, r in enumerate(rucs)])
        assert await relay.pass_once() == len(rucs)
        assert await relay.pass_once() == 0  # nothing twice
        assert relay.backlog == 0
        async with session_factory(engine)() as session:
            rows = (await session.execute(select(ReportSubmission))).scalars().all()
        assert all(r.published_at is not None for r in rows)
    finally:
        await broker.stop()
        await writer.close()
        await engine.dispose()
    records = await records_on(kafka_bootstrap, topics.REPORTS_SUBMITTED, len(rucs))
    every = list(range(settings.kafka_partitions))
    partitioner = DefaultPartitioner()
    assert len(records) == len(rucs)
    for record in records:
        event = ReportSubmitted.model_validate_json(record.value)
        assert record.key == event.ruc_id.encode()
        assert record.partition == partitioner(record.key, every, every)
        assert dict(record.headers)["content-type"] == b"application/json"
    gu = [ReportSubmitted.model_validate_json(r.value).version for r in sorted(records, key=lambda r: r.offset)
          if r.key == b"gu"]  # fmt: skip
    assert gu == [e.version for e, _ in stored if e.ruc_id == "gu"]


async def test_a_row_the_broker_refuses_for_good_is_marked_failed_and_the_rows_behind_it_go_out(
    kafka_bootstrap: str, pg_url: str, tmp_path: Path
) -> None:
    kw = test_settings(kafka_bootstrap, pg_url, tmp_path, kafka_max_message_bytes=65_536)
    settings = IntakeSettings(**kw)  # type: ignore[arg-type]
    engine, broker = create_engine(pg_url), create_broker(settings)
    await broker.start()
    writer, relay = ReceiptWriter(engine), OutboxRelay(engine, broker, settings, interval_s=0.1)
    try:
        await writer.store([receipt("gu", "gu-1"), receipt("gu", "gu-2", insatser=50), receipt("gu", "gu-3")])
        assert await relay.pass_once() == 3
        async with session_factory(engine)() as session:
            rows = (
                await session.execute(select(ReportSubmission).order_by(col(ReportSubmission.seq)))
            ).scalars()
            state = [(r.published_at is not None, r.failed_at is not None) for r in rows]
        assert state == [(True, False), (False, True), (True, False)]
    finally:
        await broker.stop()
        await writer.close()
        await engine.dispose()
    refs = [ReportSubmitted.model_validate_json(r.value).insatser[0].ref
            for r in await records_on(kafka_bootstrap, topics.REPORTS_SUBMITTED, 2)]  # fmt: skip
    assert refs == ["gu-1", "gu-3"]


async def test_intake_accepts_every_report_while_kafka_is_down_and_each_is_counted_once_after(
    kafka_node: KafkaNode, pg_url: str, tmp_path: Path
) -> None:
    """60 s without a broker while RUCs report and correct: 202 for all, "väntar", then exact counts."""
    kw = test_settings(kafka_node.bootstrap, pg_url, data_dir(tmp_path))
    apps = (
        intake_app(IntakeSettings(**kw, outbox_interval_s=0.2)),  # type: ignore[arg-type]
        classifier_app(ClassifierSettings(**kw)),  # type: ignore[arg-type]
        aggregator_app(AggregatorSettings(**kw)),  # type: ignore[arg-type]
    )
    async with running(*apps) as (intake, _classifier, aggregator):
        tokens = {ruc: await token(pg_url, "ruc", ruc) for ruc in ("gu", "su", "lnu")}
        national = await token(pg_url, "skolverket")
        statuses: list[int] = []
        accepted: dict[tuple[str, str], list[str]] = {}

        async def send(ruc: str, ref: str, status: str) -> None:
            effects = {"actual_effects": "Fler elever når målen."} if status == "completed" else {}
            body = valid_report(ruc_id=ruc, insatser=[insats(ref=ref, status=status, **effects)])
            response = await intake.post("/api/v1/reports", json=body, headers=tokens[ruc])
            statuses.append(response.status_code)
            accepted.setdefault((ruc, ref), []).append(status)

        await send("gu", "gu-0", "started")  # counted before the outage
        await kafka_node_stopped(kafka_node)
        outage_started = time.monotonic()
        n = 0
        while time.monotonic() - outage_started < OUTAGE_S:
            ruc = ("gu", "su", "lnu")[n % 3]
            await send(
                ruc, f"{ruc}-{n // 6}", "started" if n % 2 == 0 else "completed"
            )  # a correction follows
            n += 1
            await asyncio.sleep(0.5)
        waiting = await _unpublished(pg_url)
        assert waiting > 0, "with the broker away nothing can have been acknowledged"
        ready = await eventually(
            lambda: intake.get("/readyz"), lambda r: r.json()["outbox_backlog"] == waiting, timeout_s=45
        )
        assert ready.status_code == 200  # intake goes on accepting: it is ready, and says what waits
        assert ready.json()["broker"] is False
        assert ready.json()["outbox_backlog"] == waiting
        await asyncio.to_thread(kafka_node.start)
        assert set(statuses) == {202}, f"every valid report is accepted: {sorted(set(statuses))}"
        assert await eventually(lambda: _unpublished(pg_url), lambda w: w == 0, timeout_s=120) == 0

        want_started = sum(1 for v in accepted.values() if v[-1] == "started")
        want_completed = sum(1 for v in accepted.values() if v[-1] == "completed")

        async def stats() -> dict[str, Any]:
            response = await aggregator.get("/api/v1/stats/national", params={"year": 2020},
                                            headers=national)  # fmt: skip
            return dict(response.json())

        got = await eventually(stats, lambda s: (s["started"]["insatser"], s["completed"]["insatser"])
                               == (want_started, want_completed), timeout_s=120)  # fmt: skip
        assert (got["started"]["insatser"], got["completed"]["insatser"]) == (want_started, want_completed)


async def kafka_node_stopped(node: KafkaNode) -> None:
    await asyncio.to_thread(node.stop)


async def _unpublished(pg_url: str) -> int:
    engine = create_engine(pg_url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.execute(
                select(ReportSubmission.seq).where(col(ReportSubmission.published_at).is_(None))
            )
            return len(rows.all())
    finally:
        await engine.dispose()
