"""The review API for Skolverket analysts: the queue, a decision per insats, the audit, the model."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from services.classifier.deps import Broker, Model, Sessions
from services.classifier.review import ReviewDecision, ReviewError, apply_decision
from services.classifier.store import audit_log, get_classification, review_queue
from shared.auth import Principal
from shared.inbound import MAX_YEAR, MIN_YEAR
from shared.web import national_principal

router = APIRouter(prefix="/api/v1", tags=["review"])
National = Annotated[Principal, Depends(national_principal)]
Year = Annotated[int | None, Query(ge=MIN_YEAR, le=MAX_YEAR)]
RucId = Annotated[str | None, Query(max_length=16, pattern=r"^[a-z]+$")]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
# Path parameters bounded like the stored columns: a 20-digit year is a 422, not an OverflowError
PathRuc = Annotated[str, Path(max_length=16, pattern=r"^[a-z]+$")]
PathYear = Annotated[int, Path(ge=MIN_YEAR, le=MAX_YEAR)]
PathRef = Annotated[str, Path(max_length=64)]
ERRORS: dict[int | str, dict[str, object]] = {401: {}, 403: {}, 404: {}, 409: {}, 422: {}}


@router.get("/review/queue", responses=ERRORS)
async def get_review_queue(
    sessions: Sessions,
    _principal: National,
    year: Year = None,
    ruc_id: RucId = None,
    flagged_only: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, object]:
    """Unreviewed classifier decisions, least confident first (``flagged_only``: below threshold)."""
    async with sessions() as session:
        rows, total = await review_queue(session, year, ruc_id, flagged_only, limit, offset)
    return {"total": total, "items": [r.as_dict() for r in rows]}


@router.post("/review/{ruc_id}/{year}/{ref:path}", responses=ERRORS)
async def post_review(
    ruc_id: PathRuc,
    year: PathYear,
    ref: PathRef,
    decision: ReviewDecision,
    sessions: Sessions,
    broker: Broker,
    principal: National,
) -> dict[str, object]:
    """Accept the current area, or override it with a reason (published as ClassificationOverridden)."""
    try:
        return await apply_decision(sessions, broker, (ruc_id, year, ref), decision, principal)
    except ReviewError as exc:
        raise HTTPException(exc.status, detail=exc.detail) from exc


@router.get("/review/audit", responses=ERRORS)
async def get_review_audit(
    sessions: Sessions,
    _principal: National,
    year: Year = None,
    ruc_id: RucId = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, object]:
    """Every accept and override, newest first: who, what, when and why."""
    async with sessions() as session:
        rows = await audit_log(session, ruc_id, year, limit, offset)
    return {"items": [r.as_dict() for r in rows]}


@router.get("/classifications/{ruc_id}/{year}/{ref:path}", responses=ERRORS)
async def get_one_classification(
    ruc_id: PathRuc, year: PathYear, ref: PathRef, sessions: Sessions, _principal: National
) -> dict[str, object]:
    async with sessions() as session:
        row = await get_classification(session, (ruc_id, year, ref))
    if row is None:
        raise HTTPException(404, detail="Okänd insats / no classified insats with that RUC, year and ref")
    return row.as_dict()


@router.get("/model", responses=ERRORS)
async def get_model(model: Model, _principal: National) -> dict[str, object]:
    """The model version in use and how it was measured when it was trained."""
    meta = {k: v for k, v in getattr(model, "meta", {}).items() if not k.startswith("_")}
    return {"version": model.version, "labels": list(model.labels), "meta": meta}
