"""The two hot statements of intake on PostgreSQL, straight through asyncpg.

``store.record_submissions`` (SQLAlchemy, any backend) needs a transaction of four round trips for
a batch of receipts: begin, insert returning ``seq``, update the events that carry it, commit.
Here one statement does it all and commits on its own: each row draws its ``seq`` from the table's
sequence and its event JSON gets that version put in as the row is inserted, so no half-written row
is ever visible. Every round trip costs the process a wake-up of PostgreSQL, and SQLAlchemy's
per-statement overhead was as large as the round trip itself, hence one statement and the driver.
Same table, same rows, same events as the portable path.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from services.intake.store import Receipt, to_event
from shared.events import ReportSubmitted, utcnow

# The events are serialised with version 1, which the database replaces by the row's seq. The
# pattern is unique in an event's JSON: "schema_version" has no quote before "version", and a
# quote inside any text value is escaped (\"), so user text cannot contain it.
_PLACEHOLDER = '"version":1,'
_INSERT = """
INSERT INTO report_submission (seq, report_id, event_id, ruc_id, year, huvudman_name,
                               huvudman_pseudonym, event_json, received_at)
SELECT seq, report_id, event_id, ruc_id, year, huvudman_name, huvudman_pseudonym,
       replace(event_json, $8, '"version":' || seq || ','), $9
FROM (SELECT nextval(pg_get_serial_sequence('report_submission', 'seq')) AS seq, r.*
      FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[])
           WITH ORDINALITY AS r(report_id, event_id, ruc_id, year, huvudman_name,
                                huvudman_pseudonym, event_json, n)
      ORDER BY n) AS numbered
RETURNING seq, event_id
"""


async def record_submissions(pg: Any, receipts: Sequence[Receipt]) -> list[tuple[ReportSubmitted, str]]:
    """Store reports and their events (the outbox), in order; ``pg`` is an asyncpg connection."""
    drafts = []
    for receipt in receipts:
        report_id = uuid.UUID(receipt.report_id) if receipt.report_id else uuid.uuid4()
        event = to_event(receipt.report, receipt.pseudonym, 1, report_id)
        body = event.model_dump_json()
        assert body.count(_PLACEHOLDER) == 1, "the version placeholder must be unique"
        drafts.append((event, body))
    columns = (
        [str(e.report_id) for e, _ in drafts],
        [str(e.event_id) for e, _ in drafts],
        [e.ruc_id for e, _ in drafts],
        [e.year for e, _ in drafts],
        [r.report.huvudman.name for r in receipts],
        [r.pseudonym for r in receipts],
        [body for _, body in drafts],
    )
    rows = await pg.fetch(_INSERT, *columns, _PLACEHOLDER, utcnow())
    versions: dict[str, int] = {row["event_id"]: row["seq"] for row in rows}
    stored = []
    for event, body in drafts:
        version = versions[str(event.event_id)]
        stored.append(
            (
                event.model_copy(update={"version": version}),
                body.replace(_PLACEHOLDER, f'"version":{version},', 1),
            )
        )
    return stored
