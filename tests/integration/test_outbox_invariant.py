"""Every accepted row ends published or visibly failed: the relay over mixed outbox rows.

Good reports and attendance parts lie between reports and parts that no longer load (a stored
event that no longer validates, an attendance part whose attendees are not members) and that are
over the broker's size limit. The relay publishes every good one, marks each bad one failed alone,
counts it, `outbox_entries` lists it, and once the cause is fixed a retry sends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.batching import ReceiptWriter
from services.intake.outbox import outbox_entries, retry_failed
from services.intake.parts import AttendanceIn, save_part
from services.intake.relay import OutboxRelay
from services.intake.settings import IntakeSettings
from shared import topics
from shared.broker import create_broker
from shared.db import create_engine, session_factory
from shared.events import AttendanceReported, ReportSubmitted
from tests.conftest import test_settings
from tests.integration.conftest import eventually, records_on
from tests.integration.test_intake_outbox_relay import receipt

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
SMALL_LIMIT = 65_536  # the broker's own limit stays 1 MB: "fixing the cause" is raising ours to it


def attendance(ruc_id: str, meetings: int = 2, members: int = 5) -> AttendanceIn:
    names = [f"Kommun {i}" for i in range(members)]
    return AttendanceIn.model_validate(
        {"ruc_id": ruc_id, "year": 2020, "members": names,
         "meetings": [{"date": f"2020-{m % 12 + 1:02d}-01", "attendees": names} for m in range(meetings)]}
    )  # fmt: skip


async def settle(relay: OutboxRelay) -> None:
    """Pass until nothing is left to settle (bounded: each pass settles at least one row)."""
    for _ in range(20):
        if await relay.pass_once() == 0:
            return
    raise AssertionError("the relay kept finding rows to settle")


def failed_total(kind: str) -> float:
    return REGISTRY.get_sample_value("rucnet_outbox_failed_total", {"kind": kind}) or 0.0


async def test_good_rows_are_published_bad_ones_failed_alone_listed_and_retried_once_fixed(
    kafka_bootstrap: str, pg_url: str, tmp_path: Path
) -> None:
    kw = test_settings(kafka_bootstrap, pg_url, tmp_path, kafka_max_message_bytes=SMALL_LIMIT)
    small = IntakeSettings(**kw)  # type: ignore[arg-type]
    engine: AsyncEngine = create_engine(pg_url)
    broker = create_broker(small)
    await broker.start()
    writer = ReceiptWriter(engine)
    before = {kind: failed_total(kind) for kind in ("report", "attendance")}
    try:
        stored = await writer.store([
            receipt("gu", "good-1"), receipt("gu", "unloadable"), receipt("gu", "good-2"),
            receipt("su", "oversize", insatser=50), receipt("su", "good-3"),
        ])  # fmt: skip
        seq = {e.insatser[0].ref: e.version for e, _ in stored}
        async with session_factory(engine).begin() as session:
            await save_part(session, "attendance", attendance("gu"))
            await save_part(session, "attendance", attendance("lnu", meetings=30, members=150))  # oversize
            await save_part(session, "attendance", attendance("kau"))
        async with engine.begin() as conn:  # rows stored under older rules that no longer validate
            await conn.execute(
                text("UPDATE report_submission SET event_json = replace(event_json, '\"started\"', '\"paborjad\"') "
                     "WHERE seq = :seq"), {"seq": seq["unloadable"]},
            )  # fmt: skip
            stranger = attendance("umu").model_dump(mode="json")
            stranger["meetings"][0]["attendees"].append("Okänd kommun")
            await conn.execute(text("INSERT INTO report_part (ruc_id, year, kind, body_json, updated_at) "
                                    "VALUES ('umu', 2020, 'attendance', :body, now())"),
                               {"body": json.dumps(stranger)})  # fmt: skip

        relay = OutboxRelay(engine, broker, small, interval_s=0.1)
        await settle(relay)

        async with engine.connect() as conn:
            failed = {(e.kind, e.ident) for e in await outbox_entries(conn, failed=True)}
            waiting = await outbox_entries(conn, failed=False)
        assert failed == {
            ("report", str(seq["unloadable"])), ("report", str(seq["oversize"])),
            ("attendance", "lnu:2020"), ("attendance", "umu:2020"),
        }  # fmt: skip
        assert waiting == []
        await relay.count_backlog()
        assert (relay.backlog, relay.failed) == (0, 4)
        assert failed_total("report") - before["report"] == 2
        assert failed_total("attendance") - before["attendance"] == 2
        reports = await records_on(kafka_bootstrap, topics.REPORTS_SUBMITTED, 3)
        assert sorted(ReportSubmitted.model_validate_json(r.value).insatser[0].ref for r in reports) == [
            "good-1",
            "good-2",
            "good-3",
        ]
        parts = await records_on(kafka_bootstrap, topics.ATTENDANCE_REPORTED, 2)
        assert sorted(AttendanceReported.model_validate_json(r.value).ruc_id for r in parts) == ["gu", "kau"]

        # The causes fixed: the stored event repaired, the part corrected, the limit raised to the broker's.
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE report_submission SET event_json = replace(event_json, '\"paborjad\"', '\"started\"') "
                     "WHERE seq = :seq"), {"seq": seq["unloadable"]},
            )  # fmt: skip
            await conn.execute(text("UPDATE report_part SET body_json = :body WHERE ruc_id = 'umu'"),
                               {"body": attendance("umu").model_dump_json()})  # fmt: skip
            assert await retry_failed(conn) == 4
        await broker.stop()  # intake restarted with the limit raised: its producer takes larger messages
        large = IntakeSettings(**test_settings(kafka_bootstrap, pg_url, tmp_path))  # type: ignore[arg-type]
        broker = create_broker(large)
        await broker.start()
        await settle(OutboxRelay(engine, broker, large, interval_s=0.1))

        async with engine.connect() as conn:
            assert await outbox_entries(conn, failed=True) == []
            assert await outbox_entries(conn, failed=False) == []
            unsent = await conn.scalar(
                text("SELECT count(*) FROM report_submission WHERE published_at IS NULL")
            )
        assert unsent == 0
        reports = await records_on(kafka_bootstrap, topics.REPORTS_SUBMITTED, 5)
        assert sorted(ReportSubmitted.model_validate_json(r.value).insatser[0].ref for r in reports) == [
            "good-1",
            "good-2",
            "good-3",
            "oversize",
            "unloadable",
        ]
        parts = await records_on(kafka_bootstrap, topics.ATTENDANCE_REPORTED, 4)
        assert sorted(AttendanceReported.model_validate_json(r.value).ruc_id for r in parts) == [
            "gu",
            "kau",
            "lnu",
            "umu",
        ]
    finally:
        await broker.stop()
        await writer.close()
        await engine.dispose()


async def test_a_batch_the_broker_refuses_costs_only_the_row_it_refuses_for(
    kafka_bootstrap: str, pg_url: str, tmp_path: Path
) -> None:
    """The relay sends a pass's rows as record batches. A topic whose own limit is below intake's
    (a misconfiguration the client cannot see) refuses the batch holding an oversize row: its rows
    are sent again one by one, the oversize one is marked failed, and the rows around it are
    published (the idempotent producer is renewed after the refusal, as after any sequence gap)."""
    settings = IntakeSettings(**test_settings(kafka_bootstrap, pg_url, tmp_path))  # type: ignore[arg-type]
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.alter_configs([
            ConfigResource(ConfigResourceType.TOPIC, topics.REPORTS_SUBMITTED, configs={"max.message.bytes": "20000"})
        ])  # fmt: skip
    finally:
        await admin.close()
    engine: AsyncEngine = create_engine(pg_url)
    broker = create_broker(settings)
    await broker.start()
    writer = ReceiptWriter(engine)
    relay = OutboxRelay(engine, broker, settings, interval_s=0.1)
    running = asyncio.create_task(relay.run())
    try:
        stored = await writer.store([
            receipt("gu", "small-1"), receipt("gu", "small-2"), receipt("gu", "large", insatser=20),
            receipt("gu", "small-3"),
        ])  # fmt: skip
        seq = {e.insatser[0].ref: e.version for e, _ in stored}
        relay.nudge(*seq.values())  # as intake does: built by this process, loaded without validating again

        async def outbox() -> tuple[list[tuple[str, str]], int]:
            async with engine.connect() as conn:
                failed = [(e.kind, e.ident) for e in await outbox_entries(conn, failed=True)]
                return failed, len(await outbox_entries(conn, failed=False))

        assert await eventually(outbox, lambda o: o[1] == 0, 60) == ([("report", str(seq["large"]))], 0)
        reports = await records_on(kafka_bootstrap, topics.REPORTS_SUBMITTED, 3)
        refs = sorted({ReportSubmitted.model_validate_json(r.value).insatser[0].ref for r in reports})
        assert refs == ["small-1", "small-2", "small-3"]
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await broker.stop()
        await writer.close()
        await engine.dispose()
