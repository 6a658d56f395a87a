"""Suggestions for insatser not yet submitted: intake's upload dry run asks which area each row
would get. Any valid token (a RUC's too) may ask: the answer says nothing about stored data.

The texts are read as the Kafka handler reads a submitted insats (``scoring_text``) and flagged as
it flags them, so a suggestion shown before sending is the tag the insats gets after it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from services.classifier.deps import ReviewThreshold, Scoring
from services.classifier.rules import CANDIDATES, Scored, scoring_text
from shared.auth import Principal
from shared.events import Insats, InsatsStatus
from shared.inbound import MAX_YEAR, MIN_YEAR
from shared.reference import load_reference
from shared.web import current_principal

router = APIRouter(prefix="/api/v1", tags=["suggestions"])
MAX_ITEMS = 500
Text = Annotated[str, Field(max_length=10_000)]


class InsatsText(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(max_length=300)] = ""
    description: Text = ""
    status: InsatsStatus = "completed"
    expected_effects: Text = ""
    actual_effects: Text = ""


class SuggestionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int | None = Field(default=None, ge=MIN_YEAR, le=MAX_YEAR, description="only areas of that year")
    insatser: list[InsatsText] = Field(min_length=1, max_length=MAX_ITEMS)


class AreaOut(BaseModel):
    code: str
    score: float


class SuggestionOut(BaseModel):
    areas: list[AreaOut] = Field(description="best first")
    confidence: float
    needs_review: bool
    plausible: list[str] = Field(description="the areas the calibrated prediction set keeps, best first")


class Suggestions(BaseModel):
    model_version: str
    items: list[SuggestionOut]


def suggestion(scored: Scored, top: int, threshold: float) -> dict[str, Any]:
    """One text's answer: the best ``top`` areas, the review flag as the service sets it."""
    return {
        "areas": [{"code": a.code, "score": a.score} for a in scored.areas[:top]],
        "confidence": scored.best.score,
        "needs_review": scored.needs_review(threshold),
        "plausible": list(scored.plausible or (scored.best.code,)),
    }


@router.post("/suggestions", response_model=Suggestions, responses={401: {}, 413: {}, 422: {}})
async def post_suggestions(
    body: SuggestionRequest,
    scoring: Scoring,
    threshold: ReviewThreshold,
    _principal: Annotated[Principal, Depends(current_principal)],
) -> dict[str, Any]:
    """The areas the classifier would give these insatser, best first, without storing anything."""
    allowed = frozenset(load_reference().nsp_codes_for(body.year)) if body.year is not None else None
    texts = [
        scoring_text(Insats(ref="-", title=i.title, description=i.description, status=i.status,
                            school_forms=(), expected_effects=i.expected_effects,
                            actual_effects=i.actual_effects))
        for i in body.insatser
    ]  # fmt: skip
    scores = await scoring.score_batch([(t, allowed) for t in texts], areas=CANDIDATES)
    return {
        "model_version": scoring.model.version,
        "items": [suggestion(s, CANDIDATES, threshold) for s in scores],
    }
