"""Intake starts, answers healthy and accepts (202) while the broker is stopped or paused (a paused
broker accepts connections and never answers); /readyz says the broker is away, and the relay sends
everything once it is back."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from rucnet.kafka_node import KafkaNode
from services.intake.app import create_app as intake_app
from services.intake.settings import IntakeSettings
from shared import topics
from tests.conftest import test_settings
from tests.integration.conftest import data_dir, eventually, records_on, running, token
from tests.integration.test_intake_outbox_relay import _unpublished
from tests.unit.test_schemas import insats, valid_report

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


@pytest.mark.parametrize("away", ["stopped", "paused"])
async def test_intake_starts_and_accepts_with_the_broker_away_and_catches_up_when_it_returns(
    away: str, kafka_node: KafkaNode, pg_url: str, tmp_path: Path
) -> None:
    if away == "stopped":
        await asyncio.to_thread(kafka_node.stop)
    else:
        kafka_node.signal(signal.SIGSTOP)
    try:
        kw = test_settings(kafka_node.bootstrap, pg_url, data_dir(tmp_path), outbox_interval_s=0.2)
        app = intake_app(IntakeSettings(**kw))  # type: ignore[arg-type]
        # bounded, so a start that waits for the broker fails here rather than at the suite's timeout
        started = running(app)
        (intake,) = await asyncio.wait_for(started.__aenter__(), timeout=60)
        try:
            gu = await token(pg_url, "ruc", "gu")
            statuses = [
                (await intake.post("/api/v1/reports", headers=gu,
                                   json=valid_report(insatser=[insats(ref=f"gu-{n}")]))).status_code
                for n in range(5)
            ]  # fmt: skip
            health, ready = await intake.get("/healthz"), await intake.get("/readyz")
            assert statuses == [202] * 5
            assert health.status_code == 200
            assert health.json()["status"] == "ok"
            assert ready.status_code == 200
            assert ready.json()["broker"] is False
            assert ready.json()["outbox_backlog"] == 5
            if away == "stopped":
                await asyncio.to_thread(kafka_node.start)
            else:
                kafka_node.signal(signal.SIGCONT)
            assert await eventually(lambda: _unpublished(pg_url), lambda n: n == 0, timeout_s=120) == 0
            ready = await eventually(
                lambda: intake.get("/readyz"), lambda r: r.json()["broker"], timeout_s=30
            )
            assert ready.json()["broker"] is True
        finally:
            await started.__aexit__(None, None, None)
    finally:
        kafka_node.signal(signal.SIGCONT)
    assert len(await records_on(kafka_node.bootstrap, topics.REPORTS_SUBMITTED, 5)) == 5
