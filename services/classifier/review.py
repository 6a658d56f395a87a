"""An analyst's decision on one insats, shared by the JSON API and the HTML page.

An override is stored (with its audit line) before it is published, and the stored event is the
outbox: a failed publish is re-sent by the relay, and a broker that lost its memory gets every
override again, with the same event ids, at start (``republish_on_start``).
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from faststream.kafka import KafkaBroker
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.classifier.review_login import analyst_by_id
from services.classifier.store import (
    Key,
    get_classification,
    mark_override_published,
    overrides_to_send,
    record_override,
)
from shared import topics
from shared.auth import ApiToken, Principal
from shared.events import ClassificationOverridden
from shared.inbound import NoNul
from shared.reference import load_reference

log = logging.getLogger("rucnet.classifier")


class ReviewDecision(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["accept", "override"]
    nsp_area: Annotated[str, NoNul] | None = Field(default=None, max_length=64)
    reason: Annotated[str, NoNul] = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _override_needs_area_and_reason(self) -> ReviewDecision:
        if self.action == "override":
            if not self.nsp_area:
                raise ValueError("nsp_area krävs vid ändring / nsp_area is required to override")
            if self.nsp_area not in load_reference().nsp_codes:
                raise ValueError(f"okänt NSP-område / unknown NSP area {self.nsp_area!r}")
            if not self.reason.strip():
                raise ValueError("motivering krävs vid ändring / a reason is required to override")
        return self


class ReviewError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


async def analyst_name(session: AsyncSession, principal: Principal) -> str:
    """Who decided: the role, the token's id and label or the person's id and name (never a secret)."""
    if principal.token_id < 0:
        analyst = await analyst_by_id(session, -principal.token_id)
        name = f" ({analyst.shown_name})" if analyst is not None else ""
        return f"{principal.role}#user{-principal.token_id}{name}"[:200]
    token = await session.get(ApiToken, principal.token_id)
    label = f" ({token.label})" if token is not None and token.label else ""
    return f"{principal.role}#{principal.token_id}{label}"[:200]


async def publish_override(broker: KafkaBroker, event: ClassificationOverridden) -> None:
    await broker.publish(event, topics.CLASSIFICATIONS_OVERRIDDEN, key=event.ruc_id.encode())


async def apply_decision(
    sessions: async_sessionmaker[AsyncSession],
    broker: KafkaBroker,
    key: Key,
    decision: ReviewDecision,
    principal: Principal,
) -> dict[str, object]:
    """Accept or override one stored classification; returns the audit entry (and whether sent).
    Both publish a ClassificationOverridden (an accept with the same area and ``accepted``), so the
    national counts learn that an analyst confirmed the area."""
    async with sessions.begin() as session:
        row = await get_classification(session, key)
        if row is None:
            raise ReviewError(404, "Okänd insats / no classified insats with that RUC, year and ref")
        area = row.effective_area if decision.action == "accept" else decision.nsp_area or ""
        if decision.action == "override":
            if not load_reference().area(area).valid_in(row.year):
                raise ReviewError(422, f"{area!r} gäller inte år {row.year} / not an NSP area in {row.year}")
            if area == row.effective_area:
                raise ReviewError(409, f"Insatsen har redan området {area!r} / already {area!r}: accept it")
        event = ClassificationOverridden(
            ruc_id=row.ruc_id,
            year=row.year,
            ref=row.ref,
            nsp_area=area,
            previous_area=row.effective_area,
            reason=decision.reason.strip(),
            analyst=await analyst_name(session, principal),
            accepted=decision.action == "accept",
        )
        audit = await record_override(session, row, event)
    published = False
    try:
        await publish_override(broker, event)
        async with sessions.begin() as session:
            await mark_override_published(session, str(event.event_id))
        published = True
    except Exception:  # stored: the relay sends it when the broker is back
        log.exception("decision %s not yet published", event.event_id)
    return audit.as_dict() | {"published": published}


async def send_overrides(
    sessions: async_sessionmaker[AsyncSession], broker: KafkaBroker, include_published: bool
) -> int:
    """Publish stored overrides in the order they were made; returns how many were sent."""
    async with sessions() as session:
        events = await overrides_to_send(session, include_published)
    for event in events:
        await publish_override(broker, event)
        async with sessions.begin() as session:
            await mark_override_published(session, str(event.event_id))
    return len(events)
