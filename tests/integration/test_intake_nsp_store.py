"""Intake's copy of the NSP state on PostgreSQL and SQLite: any order and any redelivery of the
classifier's events leaves the newest classification and the latest decision."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from pathlib import Path

import pytest

from rucnet.embedded_broker import EmbeddedBroker, free_port
from services.intake.nsp_events import register_nsp_handlers, run_consumer
from services.intake.nsp_store import nsp_rows, record_nsp_events
from shared import topics
from shared.broker import create_broker, ensure_topics
from shared.db import create_engine, session_factory
from shared.events import ClassificationOverridden, InsatsClassification, ReportClassified
from shared.settings import RucnetSettings
from tests.conftest import test_settings
from tests.unit.test_schemas import event_json, insats


def _classified(version: int, area: str) -> ReportClassified:
    body = event_json(version=version, insatser=[insats(ref="gu-1")])
    choice = InsatsClassification(ref="gu-1", nsp_area=area, source="classifier", confidence=0.6,
                                  candidates=[{"code": area, "score": 0.6}, {"code": "elevhalsa", "score": 0.3}])  # fmt: skip
    return ReportClassified.model_validate(body | {"submission_event_id": uuid.uuid4(), "huvudman": body["huvudman"],
                                                   "classifications": [choice], "model_version": "t"})  # fmt: skip


def _decided(minute: int, area: str) -> ClassificationOverridden:
    at = dt.datetime(2026, 1, 1, 12, minute, tzinfo=dt.UTC)
    return ClassificationOverridden(ruc_id="gu", year=2020, ref="gu-1", nsp_area=area, reason="r", analyst="a",
                                    occurred_at=at)  # fmt: skip


@pytest.fixture(params=["pg_url", "sqlite_url"])
def db_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(request.param)
    return url


async def test_any_order_and_redelivery_keeps_the_newest(db_url: str) -> None:
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    classified = [_classified(v, a) for v, a in [(3, "nyanlanda"), (7, "styrning-och-ledning"), (5, "digitalisering")]]
    decided = [_decided(m, a) for m, a in [(1, "elevhalsa"), (9, "kunskaper-och-varden"), (4, "digitalisering")]]
    stream = [("c", e) for e in classified] * 2 + [("d", e) for e in decided] * 2
    random.Random(7).shuffle(stream)
    try:
        for start in range(0, len(stream), 3):  # in batches, as polls deliver them
            batch = stream[start : start + 3]
            async with sessions.begin() as session:
                await record_nsp_events(session, [e for k, e in batch if k == "c"],  # type: ignore[misc]
                                        [e for k, e in batch if k == "d"])  # type: ignore[misc]  # fmt: skip
        async with sessions() as session:
            suggestions, decisions = await nsp_rows(session, [("gu", 2020, "gu-1"), ("gu", 2020, "none")])
    finally:
        await engine.dispose()
    [suggestion] = suggestions.values()
    assert (suggestion.version, suggestion.area) == (7, "styrning-och-ledning")
    assert decisions[("gu", 2020, "gu-1")].area == "kunskaper-och-varden"
    assert ("gu", 2020, "none") not in suggestions


async def test_the_consumer_waits_for_a_broker_that_comes_later_then_stores_what_it_reads(
    tmp_path: Path, sqlite_url: str
) -> None:
    port = free_port()
    settings = RucnetSettings(**test_settings(f"127.0.0.1:{port}", sqlite_url, tmp_path))  # type: ignore[arg-type]
    settings = settings.model_copy(update={"kafka_idempotence": False})  # the embedded broker has none
    engine = create_engine(sqlite_url)
    consumer = create_broker(settings)
    register_nsp_handlers(consumer, settings, session_factory(engine))
    starting = asyncio.create_task(run_consumer(consumer, retry_s=0.2, max_wait_s=1.0))
    await asyncio.sleep(1.0)  # no broker yet: it keeps trying, intake would keep serving
    assert not starting.done()
    embedded = EmbeddedBroker(port, tmp_path / "tansu.log")
    embedded.start()
    producer = create_broker(settings)
    try:
        await ensure_topics(settings)
        await asyncio.wait_for(starting, 60)
        await producer.start()
        await producer.publish(_classified(4, "nyanlanda"), topics.REPORTS_CLASSIFIED, key=b"gu")
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            async with session_factory(engine)() as session:
                suggestions, _ = await nsp_rows(session, [("gu", 2020, "gu-1")])
            if suggestions or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.2)
    finally:
        await producer.stop()
        await consumer.stop()
        embedded.stop()
        await engine.dispose()
    assert [(s.version, s.area) for s in suggestions.values()] == [(4, "nyanlanda")]
