"""Intake's copy of the NSP state on PostgreSQL and SQLite: any order and any redelivery of the
classifier's events leaves the newest classification and the latest decision."""

from __future__ import annotations

import datetime as dt
import random
import uuid

import pytest

from services.intake.nsp_store import nsp_rows, record_nsp_events
from shared.db import create_engine, session_factory
from shared.events import ClassificationOverridden, InsatsClassification, ReportClassified
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
