"""The classifier's handler through TestKafkaBroker: classified, stored with its model version, published."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faststream.kafka import TestKafkaBroker
from sqlalchemy import select

from services.classifier.handlers import CHUNK_REPORTS, register_handlers
from services.classifier.registry import shipped_default
from services.classifier.settings import ClassifierSettings
from services.classifier.store import Classification
from shared import topics
from shared.broker import create_broker
from shared.db import create_engine, session_factory
from shared.events import ReportClassified, ReportSubmitted, derived_event_id
from tests.conftest import test_settings
from tests.unit.test_handlers import collect
from tests.unit.test_schemas import event_json, insats


async def stored(url: str) -> dict[str, Classification]:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        rows = (await session.execute(select(Classification))).scalars().all()
    await engine.dispose()
    return {r.ref: r for r in rows}


def submitted(**changes: Any) -> ReportSubmitted:
    return ReportSubmitted.model_validate(event_json(**changes))


INSATSER = [
    insats(ref="a", title="Rutiner för hur studiehandledning organiseras och fördelas av huvudmannen"),
    insats(ref="b", title="🙂🙂🙂"),
    insats(ref="c", title="Studiehandledning i klassrummet", nsp_area="elevhalsa", status="completed"),
]


async def test_a_report_is_classified_by_the_model_stored_and_published(
    tmp_path: Path, sqlite_url: str
) -> None:
    settings = ClassifierSettings(**test_settings("memory", sqlite_url, tmp_path))  # type: ignore[arg-type]
    model = shipped_default()
    broker = create_broker(settings)
    register_handlers(broker, settings, model, session_factory(create_engine(sqlite_url)))
    classified = collect(broker, topics.REPORTS_CLASSIFIED)
    event = submitted(insatser=INSATSER)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(event, topics.REPORTS_SUBMITTED, key=b"gu")
    (body,) = classified
    result = ReportClassified.model_validate(body)
    assert result.event_id == derived_event_id(event.event_id, "classified")
    assert result.model_version == model.version
    by_ref = {c.ref: c for c in result.classifications}
    assert (by_ref["a"].nsp_area, by_ref["a"].source, by_ref["a"].needs_review) == (
        "styrning-och-ledning", "classifier", False,
    )  # fmt: skip
    assert by_ref["a"].reasons
    assert by_ref["b"].needs_review
    assert by_ref["b"].confidence < 0.5
    assert (by_ref["c"].nsp_area, by_ref["c"].source) == ("elevhalsa", "declared")
    rows = await stored(sqlite_url)
    assert rows["a"].classified_area == "styrning-och-ledning"
    assert rows["a"].model_version == model.version
    assert rows["a"].review_state == "unreviewed"
    assert json.loads(rows["a"].reasons) == list(by_ref["a"].reasons)
    assert rows["c"].source == "declared"
    assert rows["c"].effective_area == "elevhalsa"


async def test_an_older_version_does_not_replace_a_newer_one(tmp_path: Path, sqlite_url: str) -> None:
    settings = ClassifierSettings(**test_settings("memory", sqlite_url, tmp_path))  # type: ignore[arg-type]
    broker = create_broker(settings)
    register_handlers(broker, settings, shipped_default(), session_factory(create_engine(sqlite_url)))
    newer = submitted(version=2, insatser=[insats(ref="a", title="Digitala verktyg i undervisningen")])
    older = submitted(version=1, insatser=[insats(ref="a", title="Betyg och bedömning")])
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(newer, topics.REPORTS_SUBMITTED, key=b"gu")
        await test_broker.publish(older, topics.REPORTS_SUBMITTED, key=b"gu")
    row = (await stored(sqlite_url))["a"]
    assert (row.version, row.classified_area) == (2, "digitalisering")


async def test_a_huge_text_is_classified_without_a_crash(tmp_path: Path, sqlite_url: str) -> None:
    settings = ClassifierSettings(**test_settings("memory", sqlite_url, tmp_path))  # type: ignore[arg-type]
    broker = create_broker(settings)
    register_handlers(broker, settings, shipped_default(), session_factory(create_engine(sqlite_url)))
    classified = collect(broker, topics.REPORTS_CLASSIFIED)
    huge = insats(ref="big", description="Språkutvecklande arbetssätt i alla ämnen. " * 240)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(submitted(insatser=[huge]), topics.REPORTS_SUBMITTED, key=b"gu")
    (body,) = classified
    assert ReportClassified.model_validate(body).classifications[0].nsp_area == "nyanlanda"
    assert len((await stored(sqlite_url))["big"].text) > 9_000


async def test_a_batch_larger_than_a_chunk_is_classified_whole_once_each(
    tmp_path: Path, sqlite_url: str
) -> None:
    settings = ClassifierSettings(**test_settings("memory", sqlite_url, tmp_path))  # type: ignore[arg-type]
    broker = create_broker(settings)
    register_handlers(broker, settings, shipped_default(), session_factory(create_engine(sqlite_url)))
    classified = collect(broker, topics.REPORTS_CLASSIFIED)
    events = [submitted(insatser=[insats(ref=f"r{i}")]) for i in range(CHUNK_REPORTS + 5)]
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish_batch(*events, topic=topics.REPORTS_SUBMITTED)
    sources = sorted(ReportClassified.model_validate(body).submission_event_id for body in classified)
    assert sources == sorted(e.event_id for e in events)
    assert len(await stored(sqlite_url)) == CHUNK_REPORTS + 5
