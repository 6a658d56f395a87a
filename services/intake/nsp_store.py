"""Intake's own copy of what the classifier and the analysts decided about each insats's NSP area.

Intake never asks the classifier's tables: it keeps what the ``ReportClassified`` and
``ClassificationOverridden`` events say (its own consumer group, ``nsp_events.py``), per
(RUC, year, ref), so a receipt and ``GET /api/v1/reports/{id}`` can show the suggestion and whether
an analyst confirmed it. Both upserts are idempotent and order-free: a classification keeps the
highest version, a decision the latest (by time, then event id, as the aggregator does).
Helpers never commit; callers do.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col, select

from shared.db import UtcDateTime, insert_for, rows_by_key
from shared.events import ClassificationOverridden, ReportClassified, utcnow

Key = tuple[str, int, str]


class NspSuggestion(SQLModel, table=True):
    """The classifier's latest word on one insats of one year (from ``ReportClassified``)."""

    __tablename__ = "nsp_suggestion"

    ruc_id: str = Field(primary_key=True, max_length=16)
    year: int = Field(primary_key=True)
    ref: str = Field(primary_key=True, max_length=64)
    version: int
    area: str = Field(max_length=64, description="the area the classification counts it under")
    source: str = Field(max_length=16, description="declared or classifier")
    confidence: float
    candidates: str = Field(sa_type=Text, description="JSON list of [code, score], best first")
    needs_review: bool = False
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class NspDecision(SQLModel, table=True):
    """An analyst's decision on one insats's area (from ``ClassificationOverridden``): it holds
    for later versions too, as it does in the aggregator's counts."""

    __tablename__ = "nsp_decision"

    ruc_id: str = Field(primary_key=True, max_length=16)
    year: int = Field(primary_key=True)
    ref: str = Field(primary_key=True, max_length=64)
    area: str = Field(max_length=64)
    accepted: bool = False
    event_id: str = Field(max_length=36)
    occurred_at: dt.datetime = Field(sa_type=UtcDateTime)


_SUGGESTIONS = NspSuggestion.__table__  # type: ignore[attr-defined]
_DECISIONS = NspDecision.__table__  # type: ignore[attr-defined]


def suggestion_rows(events: Sequence[ReportClassified]) -> dict[Key, dict[str, Any]]:
    """Each insats's row from the newest version among ``events``."""
    rows: dict[Key, dict[str, Any]] = {}
    now = utcnow()
    for event in events:
        for c in event.classifications:
            key = (event.ruc_id, event.year, c.ref)
            if key in rows and rows[key]["version"] > event.version:
                continue
            rows[key] = {
                "ruc_id": event.ruc_id,
                "year": event.year,
                "ref": c.ref,
                "version": event.version,
                "area": c.nsp_area,
                "source": c.source,
                "confidence": c.confidence,
                "candidates": json.dumps([[a.code, a.score] for a in c.candidates]),
                "needs_review": c.needs_review,
                "updated_at": now,
            }
    return rows


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def decision_rows(events: Sequence[ClassificationOverridden]) -> dict[Key, dict[str, Any]]:
    """Each insats's latest decision among ``events`` (time, then event id: every replica agrees)."""
    rows: dict[Key, dict[str, Any]] = {}
    for event in sorted(events, key=lambda e: (_aware(e.occurred_at), str(e.event_id))):
        rows[(event.ruc_id, event.year, event.ref)] = {
            "ruc_id": event.ruc_id,
            "year": event.year,
            "ref": event.ref,
            "area": event.nsp_area,
            "accepted": event.accepted,
            "event_id": str(event.event_id),
            "occurred_at": event.occurred_at,
        }
    return rows


async def _upsert_newer(
    session: AsyncSession, table: Any, rows: dict[Key, dict[str, Any]], order: tuple[str, ...]
) -> int:
    """Write the rows that are newer (by ``order``'s columns) than what is stored for their key."""
    if not rows:
        return 0
    keys = sorted(rows)
    stored = {(r.ruc_id, r.year, r.ref): r for r in await rows_by_key(session, table, keys)}

    def rank(row: Any) -> tuple[Any, ...]:
        values = row if isinstance(row, dict) else row._mapping
        return tuple(_aware(v) if isinstance(v, dt.datetime) else v for v in (values[c] for c in order))

    fresh = [rows[k] for k in keys if k not in stored or rank(rows[k]) >= rank(stored[k])]
    if fresh:
        stmt = insert_for(session, table)
        replace = {c.name: stmt.excluded[c.name] for c in table.columns if not c.primary_key}  # type: ignore[attr-defined]
        upsert = stmt.on_conflict_do_update(index_elements=["ruc_id", "year", "ref"], set_=replace)  # type: ignore[attr-defined]
        await session.execute(upsert, fresh)
    return len(fresh)


async def record_nsp_events(
    session: AsyncSession,
    classified: Sequence[ReportClassified],
    decided: Sequence[ClassificationOverridden],
) -> int:
    """Keep what a batch of events says; a redelivered or older event changes nothing."""
    written = await _upsert_newer(session, _SUGGESTIONS, suggestion_rows(classified), ("version",))
    return written + await _upsert_newer(
        session, _DECISIONS, decision_rows(decided), ("occurred_at", "event_id")
    )


async def nsp_rows(
    session: AsyncSession, keys: Sequence[Key]
) -> tuple[dict[Key, NspSuggestion], dict[Key, NspDecision]]:
    """The stored suggestion and decision of each of these insatser (those there are)."""
    suggestions = {(r.ruc_id, r.year, r.ref): NspSuggestion.model_validate(r._mapping)
                   for r in await rows_by_key(session, _SUGGESTIONS, keys)}  # fmt: skip
    decisions = {(r.ruc_id, r.year, r.ref): NspDecision.model_validate(r._mapping)
                 for r in await rows_by_key(session, _DECISIONS, keys)}  # fmt: skip
    return suggestions, decisions


async def decided_keys(session: AsyncSession, ruc_id: str | None) -> set[Key]:
    """Every insats an analyst decided, for one RUC (``None``: all)."""
    query = select(col(NspDecision.ruc_id), col(NspDecision.year), col(NspDecision.ref))
    if ruc_id is not None:
        query = query.where(col(NspDecision.ruc_id) == ruc_id)
    return {(r[0], r[1], r[2]) for r in (await session.execute(query)).all()}
