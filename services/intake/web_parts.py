"""Pages for parts 1 and 2: attendance at network meetings and the SKA narrative."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.api import accept_attendance, accept_ska
from services.intake.forms import (
    attendance_problems,
    attendance_values,
    by_field,
    count_from,
    field_errors,
    with_problems,
)
from services.intake.parts import AttendanceIn, SkaIn, load_part, part_failed
from services.intake.users import SessionUser
from services.intake.web import checked_form, render, reporter, scope_ruc

router = APIRouter(include_in_schema=False)
EXTRA_MEETINGS = 2


def _year(request: Request) -> int:
    raw = request.query_params.get("ar", "")
    return int(raw) if raw.isdigit() and 2015 <= int(raw) <= 2100 else dt.date.today().year - 1


async def _stored(request: Request, ruc_id: str, year: int, kind: str) -> dict[str, Any] | None:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions() as session:
        return await load_part(session, ruc_id, year, kind)  # type: ignore[arg-type]


def _attendance_form(values: dict[str, Any], extra: int = EXTRA_MEETINGS) -> dict[str, Any]:
    meetings = [
        {"date": str(m.get("date", "")), "attendees": "\n".join(m.get("attendees", []))}
        for m in values["meetings"]
    ]
    meetings += [{"date": "", "attendees": ""}] * extra
    return {"year": values["year"], "ruc_id": values["ruc_id"], "members": "\n".join(values["members"]),
            "meetings": meetings}  # fmt: skip


@router.get("/narvaro", response_class=HTMLResponse)
async def attendance_page(request: Request, user: Annotated[SessionUser, Depends(reporter)]) -> Response:
    ruc_id, year = scope_ruc(user, None, request.query_params.get("ruc", "")), _year(request)
    stored = await _stored(request, ruc_id, year, "attendance") if ruc_id else None
    values = stored or {"ruc_id": ruc_id, "year": year, "members": [], "meetings": []}
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions() as session:
        failed = bool(stored) and await part_failed(session, ruc_id, year, "attendance")
    return render(request, "attendance.html", user, form=_attendance_form(values), errors=[], messages={},
                  saved=request.query_params.get("sparad") == "1", failed=failed)  # fmt: skip


@router.post("/narvaro", response_class=HTMLResponse)
async def post_attendance(request: Request, user: Annotated[SessionUser, Depends(reporter)]) -> Response:
    form = await checked_form(request, user)
    values = attendance_values(form, scope_ruc(user, form))
    if form.get("action") == "add":
        shown = _attendance_form(
            values, extra=count_from(form, "antal", most=100) + 1 - len(values["meetings"])
        )
        return render(request, "attendance.html", user, form=shown, errors=[], messages={})
    problems = attendance_problems(values)
    try:
        part = AttendanceIn.model_validate(values)
        errors = problems
    except ValidationError as exc:
        errors = with_problems(field_errors(exc, fallback="members"), problems)
    if errors:
        # a failed save shows as many meeting blocks as before, not two more
        extra = max(0, count_from(form, "antal", most=100) - len(values["meetings"]))
        shown = _attendance_form(values, extra=extra)
        return render(
            request, "attendance.html", user, 422, form=shown, errors=errors, messages=by_field(errors)
        )
    try:
        await accept_attendance(request.app, part, user.principal)
    except HTTPException as exc:
        return render(request, "error.html", user, exc.status_code, title="Närvaron kunde inte sparas",
                      message=str(exc.detail).split(" / ")[0])  # fmt: skip
    return RedirectResponse(f"/narvaro?ar={part.year}&ruc={part.ruc_id}&sparad=1", status_code=303)


@router.get("/ska", response_class=HTMLResponse)
async def ska_page(request: Request, user: Annotated[SessionUser, Depends(reporter)]) -> Response:
    ruc_id, year = scope_ruc(user, None, request.query_params.get("ruc", "")), _year(request)
    stored = await _stored(request, ruc_id, year, "ska") if ruc_id else None
    values = stored or {"ruc_id": ruc_id, "year": year, "narrative": ""}
    return render(request, "ska.html", user, form=values, errors=[], messages={},
                  saved=request.query_params.get("sparad") == "1")  # fmt: skip


@router.post("/ska", response_class=HTMLResponse)
async def post_ska(request: Request, user: Annotated[SessionUser, Depends(reporter)]) -> Response:
    form = await checked_form(request, user)
    values = {
        "ruc_id": scope_ruc(user, form),
        "year": str(form.get("year", "")),
        "narrative": str(form.get("narrative", "")),
    }
    try:
        part = SkaIn.model_validate(values)
    except ValidationError as exc:
        errors = field_errors(exc, fallback="narrative")
        return render(request, "ska.html", user, 422, form=values, errors=errors, messages=by_field(errors))
    try:
        await accept_ska(request.app, part, user.principal)
    except HTTPException as exc:
        return render(request, "error.html", user, exc.status_code, title="Texten kunde inte sparas",
                      message=str(exc.detail).split(" / ")[0])  # fmt: skip
    return RedirectResponse(f"/ska?ar={part.year}&ruc={part.ruc_id}&sparad=1", status_code=303)
