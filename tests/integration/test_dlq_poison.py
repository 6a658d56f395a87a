"""Poison messages (bad JSON, a wrong schema version, unknown codes) land in the dead-letter topic
with their origin while the good messages around them are counted; `rucnet dlq list` shows them and
`rucnet dlq replay` re-publishes a fixed one exactly once."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY

from rucnet.dlq import read_letters
from services.aggregator.app import create_app
from services.aggregator.queries import national_counts
from services.aggregator.settings import AggregatorSettings
from shared import topics
from shared.db import create_engine, session_factory
from shared.events import ClassificationOverridden, DeadLetter, DeadLetterReason
from tests.conftest import test_settings
from tests.integration.conftest import running
from tests.integration.ops_support import classified, eventually, run_cli, service_env

pytestmark = pytest.mark.integration


async def completed_by_nsp(url: str) -> dict[str, int]:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        counts = await national_counts(session, 2020)
    await engine.dispose()
    return {k: v for k, v in counts.completed_by_nsp.items() if v}


async def send(bootstrap: str, messages: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for topic, value in messages:
            await producer.send_and_wait(topic, value, key=b"gu")
    finally:
        await producer.stop()


async def test_poison_messages_are_dead_lettered_and_the_good_ones_around_them_counted(
    kafka_bootstrap: str, sqlite_url: str, tmp_path: Path
) -> None:
    good = [classified(nsp_area=area) for area in ("nyanlanda", "elevhalsa", "digitalisering")]
    wrong_version = json.loads(classified().model_dump_json()) | {"schema_version": 2}
    unknown_form = classified(school_forms=("gymnasium",))
    unknown_area = ClassificationOverridden(
        ruc_id="gu", year=2020, ref=good[0].insatser[0].ref, nsp_area="astrologi", reason="x", analyst="a"
    )
    poison = [
        (topics.REPORTS_CLASSIFIED, b"{not json"),
        (topics.REPORTS_CLASSIFIED, json.dumps(wrong_version).encode()),
        (topics.REPORTS_CLASSIFIED, unknown_form.model_dump_json().encode()),
        (topics.CLASSIFICATIONS_OVERRIDDEN, unknown_area.model_dump_json().encode()),
    ]
    messages = [(topics.REPORTS_CLASSIFIED, e.model_dump_json().encode()) for e in good]
    await send(kafka_bootstrap, [messages[0], *poison[:2], messages[1], *poison[2:], messages[2]])
    before = REGISTRY.get_sample_value("rucnet_dead_letters_total", {"topic": topics.REPORTS_CLASSIFIED}) or 0

    settings = AggregatorSettings(**test_settings(kafka_bootstrap, sqlite_url, tmp_path, retry_backoff_s=0.1))  # type: ignore[arg-type]
    async with running(create_app(settings)):
        counted = await eventually(lambda: completed_by_nsp(sqlite_url), lambda c: sum(c.values()) == 3, 30)
        letters = await eventually(lambda: read_letters(kafka_bootstrap), lambda ls: len(ls) >= 4, 30)
    assert counted == {"nyanlanda": 1, "elevhalsa": 1, "digitalisering": 1}
    assert sorted(letter.payload for letter in letters) == sorted(value.decode() for _, value in poison)
    by_payload = {letter.payload: letter for letter in letters}
    reasons = {payload: letter.reason for payload, letter in by_payload.items()}
    assert reasons == {
        "{not json": DeadLetterReason.UNPARSEABLE,
        json.dumps(wrong_version): DeadLetterReason.UNPARSEABLE,
        unknown_form.model_dump_json(): DeadLetterReason.UNKNOWN_CODES,
        unknown_area.model_dump_json(): DeadLetterReason.UNKNOWN_CODES,
    }
    assert "schema_version" in by_payload[json.dumps(wrong_version)].error  # the details, for people
    assert "unknown school form ['gymnasium']" in by_payload[unknown_form.model_dump_json()].error
    assert by_payload[unknown_area.model_dump_json()].topic == topics.CLASSIFICATIONS_OVERRIDDEN
    assert all(letter.offset >= 0 and letter.key == "gu" for letter in letters)  # origin kept
    after = REGISTRY.get_sample_value("rucnet_dead_letters_total", {"topic": topics.REPORTS_CLASSIFIED})
    assert after == before + 3

    env = service_env(kafka_bootstrap, sqlite_url, tmp_path)
    listed = run_cli("dlq", "list", env=env | {"COLUMNS": "250"})
    assert listed.returncode == 0, listed.stderr
    assert "Dead letters (4)" in listed.stdout
    assert "astrologi" in listed.stdout
    assert DeadLetterReason.UNKNOWN_CODES in listed.stdout  # the reason, as the enum spells it


async def test_a_replayed_dead_letter_is_counted_once_and_never_replayed_again(
    kafka_bootstrap: str, sqlite_url: str, tmp_path: Path
) -> None:
    fixed = classified(nsp_area="elevhalsa")  # parked earlier by a bug since fixed
    letter = DeadLetter(
        topic=topics.REPORTS_CLASSIFIED,
        partition=0,
        offset=0,
        key="gu",
        error="boom",
        payload=fixed.model_dump_json(),
        reason=DeadLetterReason.NOT_APPLIED,
    )
    await send(kafka_bootstrap, [(topics.DEAD_LETTERS, letter.model_dump_json().encode())])
    env = service_env(kafka_bootstrap, sqlite_url, tmp_path)
    unknown = run_cli("dlq", "replay", "--id", str(uuid.uuid4()), env=env)
    assert "replayed 0" in unknown.stdout

    first = run_cli("dlq", "replay", "--id", str(letter.event_id), env=env)
    again = run_cli("dlq", "replay", "--all", env=env)
    assert first.returncode == 0, first.stderr
    assert "replayed 1" in first.stdout
    assert "replayed 0" in again.stdout

    settings = AggregatorSettings(**test_settings(kafka_bootstrap, sqlite_url, tmp_path))  # type: ignore[arg-type]
    async with running(create_app(settings)):
        counted = await eventually(lambda: completed_by_nsp(sqlite_url), lambda c: bool(c), 30)
    assert counted == {"elevhalsa": 1}


async def test_an_event_the_database_refuses_is_isolated_and_the_rest_of_its_batch_counted(
    kafka_bootstrap: str, pg_url: str, tmp_path: Path
) -> None:
    """A valid event PostgreSQL cannot store (a ref longer than its column) fails the batch's one
    transaction; the batch is then applied event by event, so only that one is dead-lettered."""
    good = [classified(nsp_area=area) for area in ("nyanlanda", "elevhalsa", "digitalisering")]
    refused = classified(nsp_area="elevhalsa", ref="x" * 100)
    batch = [good[0], refused, good[1], good[2]]
    await send(kafka_bootstrap, [(topics.REPORTS_CLASSIFIED, e.model_dump_json().encode()) for e in batch])

    settings = AggregatorSettings(**test_settings(kafka_bootstrap, pg_url, tmp_path, retry_backoff_s=0.05))  # type: ignore[arg-type]
    async with running(create_app(settings)):
        letters = await eventually(lambda: read_letters(kafka_bootstrap), lambda ls: len(ls) >= 1, 30)
        counted = await eventually(lambda: completed_by_nsp(pg_url), lambda c: sum(c.values()) == 3, 30)
    assert counted == {"nyanlanda": 1, "elevhalsa": 1, "digitalisering": 1}
    assert [letter.payload for letter in letters] == [refused.model_dump_json()]
    assert letters[0].reason == DeadLetterReason.NOT_APPLIED
