"""Intake's PostgreSQL statement against the real database (the relay: test_intake_outbox_relay.py)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from services.intake.batching import ReceiptWriter
from services.intake.store import Receipt, ReportSubmission
from shared.db import create_engine, session_factory
from shared.events import ReportSubmitted
from shared.inbound import ReportIn
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
        again = await writer.store([receipt(report_id=str(first[0][0].report_id))])  # a correction
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
        assert all(row.published_at is None for row in rows.values())  # the relay's to send
    finally:
        await writer.close()
        await engine.dispose()
