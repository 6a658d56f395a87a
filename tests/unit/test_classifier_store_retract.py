"""Whatever the batching and order of a report's versions, the classifier's store keeps what the
latest version holds in the review queue and retracts what it left out (one read per batch).
An older version that arrives in a later batch than a newer one is not covered: the store keeps no
report's latest version, so it cannot tell (the aggregator's counts can: ``test_batch_apply.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest
from sqlalchemy import select

from services.classifier.store import RETRACTED, Classification, record_classified
from shared.db import create_engine, session_factory
from shared.events import HuvudmanRef, Insats, InsatsClassification, ReportClassified

REPORT, OTHER = uuid.UUID(int=1), uuid.UUID(int=2)


def classified(report: uuid.UUID, version: int, refs: Sequence[str]) -> ReportClassified:
    insatser = tuple(
        Insats(ref=r, title="Studiehandledning", status="completed", school_forms=("grundskola",))
        for r in refs
    )
    return ReportClassified(
        submission_event_id=uuid.uuid4(),
        report_id=report,
        version=version,
        ruc_id="gu",
        year=2020,
        huvudman=HuvudmanRef(pseudonym="hm-0123456789abcdef", lan_kod="14", type="kommunal"),
        insatser=insatser,
        classifications=tuple(
            InsatsClassification(ref=r, nsp_area="nyanlanda", source="classifier", confidence=0.8)
            for r in refs
        ),
        model_version="m1",
    )


V1 = classified(REPORT, 1, ["a", "b", "c"])
V2 = classified(REPORT, 2, ["a", "b"])  # leaves c out
V3 = classified(OTHER, 3, ["c"])  # another report takes c over
BATCHINGS = {
    "one by one": [[V1], [V2]],
    "in one batch": [[V1, V2]],
    "the later first, one batch": [[V2, V1]],
    "redelivered": [[V1, V2], [V1], [V2]],
    "taken over, then left out": [[V1], [V3], [V2]],
    "taken over in the same batch": [[V1, V3, V2]],
}
EXPECTED = {
    "taken over, then left out": {"a": "unreviewed", "b": "unreviewed", "c": "unreviewed"},
    "taken over in the same batch": {"a": "unreviewed", "b": "unreviewed", "c": "unreviewed"},
}


async def states_after(url: str, name: str) -> dict[str, str]:
    """Each insats's review state once the batching ``name`` is stored in the database at ``url``."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    for batch in BATCHINGS[name]:
        async with sessions.begin() as session:
            await record_classified(session, batch)
    async with sessions() as session:
        rows = (await session.execute(select(Classification))).scalars().all()
        states = {row.ref: row.review_state for row in rows}
    await engine.dispose()
    return states


def expected(name: str) -> dict[str, str]:
    return EXPECTED.get(name, {"a": "unreviewed", "b": "unreviewed", "c": RETRACTED})


@pytest.mark.parametrize("name", BATCHINGS)
async def test_what_the_latest_version_left_out_is_retracted_however_batched(
    name: str, sqlite_url: str
) -> None:
    assert await states_after(sqlite_url, name) == expected(name)
