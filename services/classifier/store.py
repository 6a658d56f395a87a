"""The classifier's tables: each insats's latest classification, the analysts' overrides (an outbox
of ClassificationOverridden events) and the review audit. Helpers never commit; callers do.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Text, case, func, text, tuple_, update
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col, select

from services.classifier.examples import Example
from shared.db import UtcDateTime, insert_for, rows_by_key
from shared.events import ClassificationOverridden, Insats, InsatsClassification, ReportClassified, utcnow

MAX_STORED_TEXT = 20_000
Key = tuple[str, int, str]


class Classification(SQLModel, table=True):
    """The latest version of one insats for one year, as the classifier saw it, and its review."""

    __tablename__ = "classification"

    ruc_id: str = Field(primary_key=True, max_length=16)
    year: int = Field(primary_key=True)
    ref: str = Field(primary_key=True, max_length=64)
    version: int
    report_id: str = Field(max_length=36, index=True)
    status: str = Field(max_length=16)
    title: str = Field(max_length=300)
    text: str = Field(sa_type=Text, description="what the model read, kept to learn from reviews")
    description: str = Field(
        default="", sa_type=Text, description="the insats's description, for the analyst"
    )
    declared_area: str | None = Field(default=None, max_length=64)
    classified_area: str = Field(max_length=64)
    source: str = Field(max_length=16)
    confidence: float = Field(index=True)
    candidates: str = Field(sa_type=Text, description="JSON list of {code, score}")
    reasons: str = Field(sa_type=Text, description="JSON list of words or phrases")
    needs_review: bool = False
    model_version: str = Field(max_length=64)
    review_state: str = Field(default="unreviewed", max_length=16, index=True)
    reviewed_area: str | None = Field(default=None, max_length=64)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)

    @property
    def effective_area(self) -> str:
        return self.reviewed_area or self.declared_area or self.classified_area

    def as_dict(self) -> dict[str, object]:
        return {
            "ruc_id": self.ruc_id,
            "year": self.year,
            "ref": self.ref,
            "version": self.version,
            "status": self.status,
            "title": self.title,
            "text": self.text[:2000],
            "description": self.description[:2000],
            "declared_area": self.declared_area,
            "classified_area": self.classified_area,
            "nsp_area": self.effective_area,
            "source": self.source,
            "confidence": self.confidence,
            "candidates": json.loads(self.candidates),
            "reasons": json.loads(self.reasons),
            "needs_review": self.needs_review,
            "model_version": self.model_version,
            "review_state": self.review_state,
            "updated_at": self.updated_at.isoformat(),
        }


class ClassificationOverride(SQLModel, table=True):
    """An analyst's override, kept as the event it was published as, to re-send it unchanged."""

    __tablename__ = "classification_override"

    event_id: str = Field(primary_key=True, max_length=36)
    ruc_id: str = Field(max_length=16)
    year: int
    ref: str = Field(max_length=64)
    nsp_area: str = Field(max_length=64)
    occurred_at: dt.datetime = Field(sa_type=UtcDateTime, index=True)
    event_json: str = Field(sa_type=Text)
    published_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)


class ReviewAudit(SQLModel, table=True):
    """Who decided what about which insats, and when: append-only."""

    __tablename__ = "review_audit"

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
    analyst: str = Field(max_length=200)
    action: str = Field(max_length=16)
    ruc_id: str = Field(max_length=16)
    year: int
    ref: str = Field(max_length=64)
    from_area: str | None = Field(default=None, max_length=64)
    to_area: str = Field(max_length=64)
    reason: str = Field(default="", sa_type=Text)
    model_version: str = Field(max_length=64)
    event_id: str | None = Field(default=None, max_length=36)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "analyst": self.analyst,
            "action": self.action,
            "ruc_id": self.ruc_id,
            "year": self.year,
            "ref": self.ref,
            "from_area": self.from_area,
            "to_area": self.to_area,
            "reason": self.reason,
            "model_version": self.model_version,
            "event_id": self.event_id,
        }


def _classification_row(event: ReportClassified, insats: Insats, c: InsatsClassification) -> dict[str, Any]:
    return {
        "ruc_id": event.ruc_id,
        "year": event.year,
        "ref": insats.ref,
        "version": event.version,
        "report_id": str(event.report_id),
        "status": insats.status,
        "title": insats.title[:300],
        "text": insats.text[:MAX_STORED_TEXT],
        "description": insats.description[:MAX_STORED_TEXT],
        "declared_area": insats.nsp_area,
        "classified_area": c.nsp_area if c.source == "classifier" else c.candidates[0].code,
        "source": c.source,
        "confidence": c.confidence if c.source == "classifier" else c.candidates[0].score,
        "candidates": json.dumps([a.model_dump() for a in c.candidates]),
        "reasons": json.dumps(list(c.reasons), ensure_ascii=False),
        "needs_review": c.needs_review,
        "model_version": event.model_version,
        "review_state": "unreviewed",
        "reviewed_area": None,
        "updated_at": utcnow(),
    }


async def record_classified(session: AsyncSession, events: Sequence[ReportClassified]) -> int:
    """Keep each insats's newest version; a review already made survives a resubmission; what a
    report's later version left out leaves the review queue.

    A whole batch costs two reads (the stored versions of its insatser, the stored rows of its
    reports) and one upsert, whatever its size, plus one update when something is retracted.
    """
    rows: dict[Key, dict[str, Any]] = {}
    for event in events:
        by_ref = {c.ref: c for c in event.classifications}
        for insats in event.insatser:
            key = (event.ruc_id, event.year, insats.ref)
            if key not in rows or rows[key]["version"] <= event.version:
                rows[key] = _classification_row(event, insats, by_ref[insats.ref])
    if not rows:
        return 0
    table = Classification.__table__  # type: ignore[attr-defined]
    keys = sorted(rows)
    reviews, held_before = await _stored(session, keys, sorted({str(e.report_id) for e in events}))
    fresh = []
    for key in keys:
        row, old = rows[key], reviews.get(key)
        if old is not None:
            if old.version > row["version"]:
                continue
            row["review_state"], row["reviewed_area"] = old.review_state, old.reviewed_area
        fresh.append(row)
    upserted = {(r["ruc_id"], r["year"], r["ref"]) for r in fresh}
    held = [h for h in held_before if h[0] not in upserted]  # the rows the upsert leaves as they are
    if fresh:
        stmt = insert_for(session, table)
        replace = {c.name: stmt.excluded[c.name] for c in table.columns if not c.primary_key}  # type: ignore[attr-defined]
        upsert = stmt.on_conflict_do_update(index_elements=["ruc_id", "year", "ref"], set_=replace)  # type: ignore[attr-defined]
        await session.execute(upsert, fresh)
    held += [
        ((r["ruc_id"], r["year"], r["ref"]), r["report_id"], r["version"])
        for r in fresh
        if r["review_state"] != RETRACTED
    ]
    await _retract_left_out(session, events, held)
    return len(fresh)


RETRACTED = "retracted"  # a later version of its report left the insats out: not in the queue
Held = list[tuple[Key, str, int]]  # an insats's key, the report and version its row holds


_REVIEW = ("ruc_id", "year", "ref", "version", "review_state", "reviewed_area")
_BOTH_READS = text(
    "SELECT true AS by_key, f.ruc_id, f.year, f.ref, f.version, f.review_state, f.reviewed_area, "
    "f.report_id FROM unnest(CAST(:rucs AS VARCHAR[]), CAST(:years AS INTEGER[]), CAST(:refs AS VARCHAR[])) "
    "AS wanted(ruc_id, year, ref) CROSS JOIN LATERAL (SELECT * FROM classification AS t "
    "WHERE t.ruc_id = wanted.ruc_id AND t.year = wanted.year AND t.ref = wanted.ref LIMIT 1) AS f "
    "UNION ALL SELECT false, t.ruc_id, t.year, t.ref, t.version, t.review_state, t.reviewed_area, "
    "t.report_id FROM classification AS t WHERE t.report_id = ANY(CAST(:reports AS VARCHAR[])) "
    f"AND t.review_state != '{RETRACTED}'"
)


async def _stored(
    session: AsyncSession, keys: Sequence[Key], reports: Sequence[str]
) -> tuple[dict[Key, Any], Held]:
    """Before the batch's upsert: the stored rows of its insatser (version and review, by key), and
    the rows its reports hold (not retracted; none for a report seen the first time, by the indexed
    report id). On PostgreSQL both in one statement, each key one primary-key probe (``rows_by_key``)."""
    table = Classification.__table__  # type: ignore[attr-defined]
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        rucs, years, refs = (list(column) for column in zip(*keys, strict=True))
        params = {"rucs": rucs, "years": years, "refs": refs, "reports": list(reports)}
        found = list(await session.execute(_BOTH_READS, params))
        by_key = {(r.ruc_id, r.year, r.ref): r for r in found if r.by_key}
        held = [((r.ruc_id, r.year, r.ref), r.report_id, r.version) for r in found if not r.by_key]
        return by_key, held
    by_key = {(r.ruc_id, r.year, r.ref): r for r in await rows_by_key(session, table, keys, _REVIEW)}
    names = ("ruc_id", "year", "ref", "report_id", "version")
    query = sa_select(*(table.c[n] for n in names)).where(
        table.c.report_id.in_(reports), table.c.review_state != RETRACTED
    )
    return by_key, [
        ((r, y, ref), report_id, version) for r, y, ref, report_id, version in await session.execute(query)
    ]


async def _retract_left_out(session: AsyncSession, events: Sequence[ReportClassified], held: Held) -> None:
    """What a report's later version left out leaves the review queue, as it leaves the counts
    (the aggregator's rule: a version retracts only what its own report held before)."""
    latest: dict[str, ReportClassified] = {}
    for event in events:
        known = latest.get(str(event.report_id))
        if known is None or known.version < event.version:
            latest[str(event.report_id)] = event
    kept = {r: {(e.ruc_id, e.year, i.ref) for i in e.insatser} for r, e in latest.items()}
    left_out = sorted(
        key
        for key, report_id, version in held
        if report_id in latest and version < latest[report_id].version and key not in kept[report_id]
    )
    table = Classification.__table__  # type: ignore[attr-defined]
    columns = tuple_(table.c.ruc_id, table.c.year, table.c.ref)
    for start in range(0, len(left_out), 500):
        chunk = left_out[start : start + 500]
        await session.execute(update(table).where(columns.in_(chunk)).values(review_state=RETRACTED))


async def get_classification(session: AsyncSession, key: Key) -> Classification | None:
    return await session.get(Classification, key)


async def review_queue(
    session: AsyncSession,
    year: int | None,
    ruc_id: str | None,
    flagged_only: bool,
    limit: int,
    offset: int,
) -> tuple[list[Classification], int]:
    """Unreviewed, classifier-decided insatser (a declared area needs no review; a retracted insats
    is not counted): completed ones first, as only they count per NSP area, then the flagged,
    each part least confident first."""
    query = select(Classification).where(
        Classification.review_state == "unreviewed", Classification.source == "classifier"
    )
    if year is not None:
        query = query.where(Classification.year == year)
    if ruc_id is not None:
        query = query.where(Classification.ruc_id == ruc_id)
    if flagged_only:
        query = query.where(col(Classification.needs_review).is_(True))
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    # completed first, then flagged, then the least confident: what most likely misplaces a national count
    ordered = query.order_by(
        case((col(Classification.status) == "completed", 0), else_=1),
        col(Classification.needs_review).desc(),
        col(Classification.confidence),
        col(Classification.ruc_id),
        col(Classification.year),
        col(Classification.ref),
    )
    rows = (await session.execute(ordered.limit(limit).offset(offset))).scalars().all()
    return list(rows), int(total)


async def record_override(
    session: AsyncSession, row: Classification, event: ClassificationOverridden
) -> ReviewAudit:
    """An analyst's decision (an override, or an accept: ``event.accepted``), kept as the event to
    publish (the outbox) with its audit line; the decided area holds for later versions too."""
    session.add(
        ClassificationOverride(
            event_id=str(event.event_id),
            ruc_id=event.ruc_id,
            year=event.year,
            ref=event.ref,
            nsp_area=event.nsp_area,
            occurred_at=event.occurred_at,
            event_json=event.model_dump_json(),
        )
    )
    audit = ReviewAudit(
        at=event.occurred_at,
        analyst=event.analyst,
        action="accept" if event.accepted else "override",
        ruc_id=row.ruc_id,
        year=row.year,
        ref=row.ref,
        from_area=row.effective_area,
        to_area=event.nsp_area,
        reason=event.reason,
        model_version=row.model_version,
        event_id=str(event.event_id),
    )
    session.add(audit)
    # an accept of an overridden insats leaves it overridden: it confirms the analyst's area
    state = "accepted" if event.accepted and row.review_state != "overridden" else "overridden"
    row.review_state, row.reviewed_area, row.updated_at = state, event.nsp_area, utcnow()
    session.add(row)
    return audit


async def audit_log(
    session: AsyncSession, ruc_id: str | None, year: int | None, limit: int, offset: int
) -> list[ReviewAudit]:
    query = select(ReviewAudit)
    if ruc_id is not None:
        query = query.where(ReviewAudit.ruc_id == ruc_id)
    if year is not None:
        query = query.where(ReviewAudit.year == year)
    query = query.order_by(col(ReviewAudit.at).desc(), col(ReviewAudit.id).desc()).limit(limit).offset(offset)
    return list((await session.execute(query)).scalars().all())


async def overrides_to_send(session: AsyncSession, include_published: bool) -> list[ClassificationOverridden]:
    query = select(ClassificationOverride)
    if not include_published:
        query = query.where(col(ClassificationOverride.published_at).is_(None))
    rows = (await session.execute(query.order_by(col(ClassificationOverride.occurred_at)))).scalars()
    return [ClassificationOverridden.model_validate_json(r.event_json) for r in rows]


async def mark_override_published(session: AsyncSession, event_id: str) -> None:
    row = await session.get(ClassificationOverride, event_id)
    if row is not None and row.published_at is None:
        row.published_at = utcnow()
        session.add(row)


async def reviewed_examples(session: AsyncSession) -> list[Example]:
    """Every reviewed insats as a labelled example: an override's area, or the accepted one."""
    query = select(Classification).where(col(Classification.review_state).in_(("accepted", "overridden")))
    order = (col(Classification.ruc_id), col(Classification.year), col(Classification.ref))
    rows = (await session.execute(query.order_by(*order))).scalars()
    return [
        Example(
            r.text, r.effective_area, f"granskning {r.ruc_id}/{r.year}/{r.ref} ({r.review_state})", real=True
        )
        for r in rows
        if r.text.strip()
    ]
