"""Pages for parts 1 and 2: attendance at network meetings and the SKA narrative."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from services.intake.deps import IntakeDep, sessions_of
from services.intake.forms import (
    attendance_problems,
    attendance_values,
    by_field,
    count_from,
    field_errors,
    resolve_attendees,
    with_problems,
)
from services.intake.parts import AttendanceIn, SkaIn, load_part, part_failed, parts_of
from services.intake.period import Period, current_period, year_of
from services.intake.service import accept_attendance, accept_ska
from services.intake.users import SessionUser
from services.intake.web import RESTORED, checked_form, form_page, render, reporter, scope_ruc

router = APIRouter(include_in_schema=False)
EXTRA_MEETINGS = 2


async def _saved_years(request: Request, ruc_id: str, kind: str) -> list[int]:
    if not ruc_id:
        return []
    sessions = sessions_of(request.app)
    async with sessions() as session:
        return [p.year for p in await parts_of(session, ruc_id) if p.kind == kind]


async def _year(request: Request, period: Period, saved: list[int]) -> tuple[int, str | None]:
    """The year asked for (?ar=); else the open year, or, when only other years have saved data,
    the latest of those (a page that seems empty must not look as if the data were lost)."""
    asked = year_of(request.query_params.get("ar"))
    first, last = period.span
    if asked is not None and first <= asked <= last:
        return asked, None
    if saved and period.open_year not in saved:
        latest = max(saved)
        return (
            latest,
            f"Visar {latest}, det senaste året med sparade uppgifter. "
            f"Välj {period.open_year} ovan för att fylla i det året.",
        )
    return period.open_year, None


async def _stored(request: Request, ruc_id: str, year: int, kind: str) -> dict[str, Any] | None:
    sessions = sessions_of(request.app)
    async with sessions() as session:
        return await load_part(session, ruc_id, year, kind)  # type: ignore[arg-type]


async def _year_context(request: Request, ruc_id: str, kind: str) -> tuple[int, dict[str, Any]]:
    """The year a part's page opens at, and what its year picker shows."""
    period, saved = await current_period(request), await _saved_years(request, ruc_id, kind)
    year, notice = await _year(request, period, saved)
    return year, {"years": period.years(), "saved_years": saved, "year_hint": period.hint(year),
                  "notice": notice}  # fmt: skip


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
    ruc_id = scope_ruc(user, None, request.query_params.get("ruc", ""))
    year, picker = await _year_context(request, ruc_id, "attendance")
    stored = await _stored(request, ruc_id, year, "attendance") if ruc_id else None
    values = stored or {"ruc_id": ruc_id, "year": year, "members": [], "meetings": []}
    sessions = sessions_of(request.app)
    async with sessions() as session:
        failed = bool(stored) and await part_failed(session, ruc_id, year, "attendance")
    return render(request, "attendance.html", user, form=_attendance_form(values), errors=[], messages={},
                  saved=request.query_params.get("sparad") == "1", failed=failed, **picker)  # fmt: skip


@router.post("/narvaro", response_class=HTMLResponse)
async def post_attendance(
    request: Request, intake: IntakeDep, user: Annotated[SessionUser, Depends(reporter)]
) -> Response:
    form = await checked_form(request, user)
    values = resolve_attendees(attendance_values(form, scope_ruc(user, form)))[0]
    picker = (await _year_context(request, values["ruc_id"], "attendance"))[1] | {"notice": None}
    if form.get("action") == "add":
        shown = _attendance_form(
            values, extra=count_from(form, "antal", most=100) + 1 - len(values["meetings"])
        )
        return render(request, "attendance.html", user, form=shown, errors=[], messages={}, **picker)
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
        return render(request, "attendance.html", user, 422, form=shown, errors=errors,
                      messages=by_field(errors), **picker)  # fmt: skip
    try:
        await accept_attendance(intake, part, user.principal)
    except HTTPException as exc:
        return render(request, "error.html", user, exc.status_code, title="Närvaron kunde inte sparas",
                      message=str(exc.detail).split(" / ")[0])  # fmt: skip
    return RedirectResponse(f"/narvaro?ar={part.year}&ruc={part.ruc_id}&sparad=1", status_code=303)


@form_page(r"/narvaro")
async def _restore_attendance(request: Request, user: SessionUser, form: FormData, _path: str) -> Response:
    values = attendance_values(form, scope_ruc(user, form))
    extra = max(0, count_from(form, "antal", most=100) - len(values["meetings"]))
    picker = (await _year_context(request, values["ruc_id"], "attendance"))[1]
    return render(request, "attendance.html", user, form=_attendance_form(values, extra=extra), errors=[],
                  messages={}, **(picker | {"notice": RESTORED}))  # fmt: skip


def _ska_values(user: SessionUser, form: FormData) -> dict[str, Any]:
    return {
        "ruc_id": scope_ruc(user, form),
        "year": str(form.get("year", "")),
        "narrative": str(form.get("narrative", "")),
    }


@form_page(r"/ska")
async def _restore_ska(request: Request, user: SessionUser, form: FormData, _path: str) -> Response:
    picker = (await _year_context(request, scope_ruc(user, form), "ska"))[1]
    return render(request, "ska.html", user, form=_ska_values(user, form), errors=[], messages={},
                  **(picker | {"notice": RESTORED}))  # fmt: skip


@router.get("/ska", response_class=HTMLResponse)
async def ska_page(request: Request, user: Annotated[SessionUser, Depends(reporter)]) -> Response:
    ruc_id = scope_ruc(user, None, request.query_params.get("ruc", ""))
    year, picker = await _year_context(request, ruc_id, "ska")
    stored = await _stored(request, ruc_id, year, "ska") if ruc_id else None
    values = stored or {"ruc_id": ruc_id, "year": year, "narrative": ""}
    return render(request, "ska.html", user, form=values, errors=[], messages={},
                  saved=request.query_params.get("sparad") == "1", **picker)  # fmt: skip


@router.post("/ska", response_class=HTMLResponse)
async def post_ska(
    request: Request, intake: IntakeDep, user: Annotated[SessionUser, Depends(reporter)]
) -> Response:
    form = await checked_form(request, user)
    values = _ska_values(user, form)
    try:
        part = SkaIn.model_validate(values)
    except ValidationError as exc:
        errors = field_errors(exc, fallback="narrative")
        picker = (await _year_context(request, values["ruc_id"], "ska"))[1] | {"notice": None}
        return render(request, "ska.html", user, 422, form=values, errors=errors, messages=by_field(errors),
                      **picker)  # fmt: skip
    try:
        await accept_ska(intake, part, user.principal)
    except HTTPException as exc:
        return render(request, "error.html", user, exc.status_code, title="Texten kunde inte sparas",
                      message=str(exc.detail).split(" / ")[0])  # fmt: skip
    return RedirectResponse(f"/ska?ar={part.year}&ruc={part.ruc_id}&sparad=1", status_code=303)
