"""`rucnet dlq replay` on the embedded Tansu (no idempotent producer) found by RUCNET_KAFKA_PORT
alone, as `rucnet dev` runs it; a letter whose payload was cut when it was parked is refused, stays
unreplayed and is named; a large payload is parked whole."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from faststream.kafka import TestKafkaBroker

from shared import topics
from shared.broker import create_broker, dead_letter_record
from shared.events import DeadLetter, DeadLetterReason
from shared.settings import RucnetSettings
from tests.conftest import test_settings
from tests.integration.conftest import records_on
from tests.integration.ops_support import run_cli, service_env
from tests.integration.test_dlq_poison import send

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def letter(payload: str, **extra: Any) -> DeadLetter:
    return DeadLetter(topic=topics.REPORTS_CLASSIFIED, partition=0, offset=int(uuid.uuid4().int % 10**9), key="gu",
                      error="boom", payload=payload, reason=DeadLetterReason.NOT_APPLIED, **extra)  # fmt: skip


async def test_replay_on_tansu_by_port_alone_refuses_cut_payloads(
    tansu_bootstrap: str, sqlite_url: str, tmp_path: Path
) -> None:
    whole = letter('{"whole": true}', payload_complete=True)
    cut = letter('{"cut": tr', payload_complete=False)
    legacy_cut = letter("x" * 100_000)  # parked before payload_complete existed, cut at 100 000
    await send(
        tansu_bootstrap,
        [(topics.DEAD_LETTERS, x.model_dump_json().encode()) for x in (whole, cut, legacy_cut)],
    )
    env = service_env(tansu_bootstrap, sqlite_url, tmp_path)
    del (
        env["RUCNET_KAFKA_BOOTSTRAP"],
        env["RUCNET_KAFKA_IDEMPOTENCE"],
    )  # as a user types it beside `rucnet dev`
    env["RUCNET_KAFKA_PORT"] = tansu_bootstrap.rsplit(":", 1)[1]

    listed = run_cli("dlq", "list", env=env)
    replayed = run_cli("dlq", "replay", "--all", env=env)
    again = run_cli("dlq", "replay", "--all", env=env)

    assert listed.returncode == 0, listed.stderr
    assert "Dead letters (3)" in listed.stdout  # found on the port alone
    assert replayed.returncode == 1, replayed.stderr  # something was refused: the operator must act
    assert "replayed 1 dead letter" in replayed.stdout
    assert str(cut.event_id) in replayed.stdout.replace("\n", "")
    assert str(legacy_cut.event_id) in replayed.stdout.replace("\n", "")
    assert "replayed 0 dead letter" in again.stdout  # the cut ones are still refused, never "replayed"
    values = [r.value for r in await records_on(tansu_bootstrap, topics.REPORTS_CLASSIFIED, 1)]
    assert values == [b'{"whole": true}']


async def test_a_payload_is_parked_whole_and_one_too_large_for_the_letter_is_marked_cut(
    tmp_path: Path,
) -> None:
    settings = RucnetSettings(
        **test_settings("memory", "sqlite+aiosqlite://", tmp_path, kafka_max_message_bytes=200_000)
    )  # type: ignore[arg-type]
    broker = create_broker(settings)
    parked: list[DeadLetter] = []

    @broker.subscriber(topics.DEAD_LETTERS, group_id="probe")
    async def probe(body: DeadLetter) -> None:
        parked.append(body)

    async with TestKafkaBroker(broker):
        for value in (b"y" * 150_000, b'"' * 150_000):  # quotes double when the letter escapes them
            record: ConsumerRecord[Any, Any] = ConsumerRecord(
                topics.REPORTS_SUBMITTED, 0, 7, 0, 0, b"gu", value, None, 2, len(value), ()
            )
            await dead_letter_record(broker, record, DeadLetterReason.UNPARSEABLE, "boom")
    whole, cut = parked
    assert (whole.payload_complete, len(whole.payload), whole.payload_bytes) == (True, 150_000, 150_000)
    assert cut.payload_complete is False
    assert cut.payload_bytes == 150_000
    assert len(cut.model_dump_json().encode()) < 200_000
