"""The Swedish web pages: login, the report form, receipts and the region's list.

Server-rendered (Jinja2, autoescaped), usable without JavaScript. Every POST carries a CSRF token;
the report goes in through ``accept_report``, the same path as the JSON API.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from services.intake.deps import Receipts, Sessions, intake_of, session_rules_of, sessions_of
from services.intake.forms import (
    FieldError,
    blank_insats,
    by_field,
    field_errors,
    field_id,
    report_values,
)
from services.intake.period import Period, current_period, year_of
from services.intake.receipt_page import AREA_SAVED, receipt_context
from services.intake.refresh import auto_refresh_round, refresh_in
from services.intake.report_view import area_progress, load_report
from services.intake.service import accept_report
from services.intake.store import latest_submissions, submission_versions
from services.intake.users import SessionUser, resolve_session, same_token
from shared.inbound import MAX_INSATSER, ReportIn
from shared.pages import page_templates
from shared.reference import load_reference

SESSION_COOKIE = "rucnet_session"
LOGIN_CSRF_COOKIE = "rucnet_login_csrf"
HUVUDMAN_TYPES = (
    ("kommunal", "Kommunal"),
    ("region", "Region"),
    ("enskild", "Enskild"),
    ("statlig", "Statlig"),
)
STATUSES = (("started", "Påbörjad"), ("completed", "Genomförd och avslutad/uppföljd"))

templates = page_templates(Path(__file__).parent / "templates")
templates.env.globals["field_id"] = field_id
router = APIRouter(include_in_schema=False)


class LoginRequired(Exception):
    pass


class PageForbidden(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


async def web_user(request: Request) -> SessionUser | None:
    rules = session_rules_of(request.app)
    async with sessions_of(request.app)() as session:
        return await resolve_session(session, request.cookies.get(SESSION_COOKIE), rules)


# A form a user filled in while their login ran out is shown again, filled in, once they have
# logged in again: the login page carries its fields, and the page's restorer renders them.
Restorer = Callable[[Request, SessionUser, FormData, str], Awaitable[Response]]
FORM_PAGES: list[tuple[re.Pattern[str], Restorer]] = []
RESTORED = (
    "Du är inloggad igen. Det du skrev finns kvar nedan; inget har skickats än. Kontrollera och skicka."
)


def form_page(pattern: str) -> Callable[[Restorer], Restorer]:
    def register(restorer: Restorer) -> Restorer:
        FORM_PAGES.append((re.compile(pattern), restorer))
        return restorer

    return register


def restorer_for(path: str) -> Restorer | None:
    return next((r for p, r in FORM_PAGES if p.fullmatch(path)), None)


async def require_user(request: Request) -> SessionUser:
    user = await web_user(request)
    if user is None:
        raise LoginRequired
    return user


async def reporter(user: Annotated[SessionUser, Depends(require_user)]) -> SessionUser:
    """RUC staff and admins report; Skolverket never sees a huvudman's name, so not these pages."""
    if user.role not in ("ruc", "admin"):
        raise PageForbidden("Din roll kan inte se eller lämna RUC-rapporter.")
    return user


async def checked_form(request: Request, user: SessionUser) -> FormData:
    form = await request.form()
    token = form.get("csrf_token")
    if not same_token(user.csrf_token, token if isinstance(token, str) else None):
        raise PageForbidden(
            "Formuläret saknar en giltig säkerhetstoken (CSRF). Ladda om sidan och försök igen."
        )
    return form


def scope_ruc(user: SessionUser, form: FormData | None = None, fallback: str = "") -> str:
    """RUC staff act for their own RUC whatever the form says; an admin picks one."""
    if user.role == "ruc":
        return user.ruc_id or ""
    chosen = form.get("ruc_id") if form is not None else None
    return chosen if isinstance(chosen, str) and chosen else fallback


def render(
    request: Request, name: str, user: SessionUser | None, status_code: int = 200, **context: Any
) -> Response:
    reference = load_reference()
    base = {
        "user": user,
        "ruc_names": {r.id: r.host for r in reference.ruc},
        "ruc_list": reference.ruc,
        "nsp_names": {a.code: a.name_sv for a in reference.nsp_areas},
    }
    return templates.TemplateResponse(request, name, base | context, status_code=status_code)


def form_context(values: dict[str, Any], errors: list[FieldError], period: Period) -> dict[str, Any]:
    reference = load_reference()
    year = year_of(values.get("year"))
    on = dt.date(year, 12, 31) if year else dt.date.today()
    return {
        "year_hint": period.hint(year),
        "values": values,
        "errors": errors,
        "messages": by_field(errors),
        "school_forms": [(s.code, s.name_on(on)) for s in reference.school_forms],
        "nsp_areas": [(a.code, a.name_sv) for a in reference.nsp_areas if year is None or a.valid_in(year)],
        "lan": [(lan.kod, f"{lan.kod} {lan.name_sv}") for lan in reference.lan],
        "huvudman_types": HUVUDMAN_TYPES,
        "statuses": STATUSES,
        "max_insatser": MAX_INSATSER,
    }


def install_web(app: FastAPI) -> None:
    """The pages' routes and their 403 page (the login's own handler: ``login.install``)."""

    async def forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageForbidden)
        user = await web_user(request)
        return render(request, "error.html", user, 403, title="Åtkomst nekad", message=exc.message)

    app.add_exception_handler(PageForbidden, forbidden)
    app.include_router(router)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    user = await web_user(request)
    return RedirectResponse("/rapporter" if user else "/logga-in", status_code=303)


@router.get("/rapporter", response_class=HTMLResponse)
async def report_list(
    request: Request, sessions: Sessions, user: Annotated[SessionUser, Depends(reporter)]
) -> Response:
    async with sessions() as session:
        rows = await latest_submissions(session, user.ruc_id if user.role == "ruc" else None)
    progress = await area_progress(sessions, user.ruc_id if user.role == "ruc" else None, rows)
    awaiting = sum(p.awaiting for p in progress.values())
    return render(request, "reports.html", user, reports=rows, progress=progress, awaiting=awaiting)


def _new_form(period: Period) -> dict[str, Any]:
    return {
        "year": str(period.open_year),
        "huvudman": {"name": "", "lan_kod": "", "type": ""},
        "insatser": [blank_insats()],
    }


@router.get("/rapporter/ny", response_class=HTMLResponse)
async def new_report(request: Request, user: Annotated[SessionUser, Depends(reporter)]) -> Response:
    period = await current_period(request)
    values = _new_form(period) | {"ruc_id": scope_ruc(user)}
    context = form_context(values, [], period)
    return render(request, "report_form.html", user, action="/rapporter/ny", **context)


@router.post("/rapporter/ny", response_class=HTMLResponse)
async def post_new_report(request: Request, user: Annotated[SessionUser, Depends(reporter)]) -> Response:
    return await _handle_report_form(request, user, "/rapporter/ny", report_id=None)


async def _handle_report_form(
    request: Request, user: SessionUser, action: str, report_id: str | None
) -> Response:
    form = await checked_form(request, user)
    values = report_values(form, scope_ruc(user, form))
    command = form.get("action", "submit")
    if command == "add" and len(values["insatser"]) < MAX_INSATSER:
        values["insatser"].append(blank_insats())
    elif isinstance(command, str) and command.startswith("remove-") and len(values["insatser"]) > 1:
        index = command.removeprefix("remove-")
        if index.isdigit() and int(index) < len(values["insatser"]):
            values["insatser"].pop(int(index))
    period = await current_period(request)
    if command != "submit":
        return render(request, "report_form.html", user, action=action, **form_context(values, [], period))
    try:
        report = ReportIn.model_validate(values)
    except ValidationError as exc:
        context = form_context(values, field_errors(exc), period)
        return render(request, "report_form.html", user, 422, action=action, **context)
    try:
        accepted = await accept_report(intake_of(request.app), report, user.principal, report_id=report_id)
    except HTTPException as exc:
        message = str(exc.detail).split(" / ")[0]
        return render(
            request,
            "error.html",
            user,
            exc.status_code,
            title="Rapporten kunde inte tas emot",
            message=message,
        )
    return RedirectResponse(f"/rapporter/{accepted.report_id}?skickad=1", status_code=303)


async def _own_versions(request: Request, user: SessionUser, report_id: str) -> list[Any] | None:
    async with sessions_of(request.app)() as session:
        versions = await submission_versions(session, report_id[:36])
    # Another RUC's report is answered like a missing one: its existence is not disclosed. The
    # owner is the latest version's RUC: an admin's correction that moves a report moves access.
    if not versions or (user.role == "ruc" and versions[-1].ruc_id != user.ruc_id):
        return None
    return versions


def _missing_report(request: Request, user: SessionUser) -> Response:
    return render(
        request, "error.html", user, 404, title="Rapporten finns inte", message="Ingen sådan rapport."
    )


@form_page(r"/rapporter/ny|/rapporter/[0-9a-f-]{36}/andra")
async def _restore_report(request: Request, user: SessionUser, form: FormData, path: str) -> Response:
    values = report_values(form, scope_ruc(user, form))
    context = form_context(values, [], await current_period(request))
    return render(request, "report_form.html", user, action=path, correcting=path.endswith("/andra"),
                  notice=RESTORED, **context)  # fmt: skip


@router.get("/rapporter/{report_id}", response_class=HTMLResponse)
async def receipt(
    request: Request,
    report_id: str,
    sessions: Sessions,
    client: Receipts,
    user: Annotated[SessionUser, Depends(reporter)],
) -> Response:
    report = await load_report(sessions, user.role, user.ruc_id, report_id)
    if report is None:
        return _missing_report(request, user)
    latest = report.latest
    status = await client.status(
        user.ruc_id if user.role == "ruc" else None, latest.report_id, latest.event_id
    )
    rounds = auto_refresh_round(request)
    context = receipt_context(report, status, load_reference(), auto_refresh=rounds is not None)
    message = request.query_params.get("omrade")
    page = render(
        request,
        "receipt.html",
        user,
        just_sent=request.query_params.get("skickad") == "1" and message is None,
        area_saved=AREA_SAVED.get(message or ""),
        statuses=dict(STATUSES),
        **context,
    )
    if context["refreshing"] and rounds is not None:  # a message about the area stays on reload
        saved = f"?omrade={message}" if message in AREA_SAVED else ""
        refresh_in(page, f"/rapporter/{latest.report_id}{saved}", rounds)
    return page


@router.get("/rapporter/{report_id}/andra", response_class=HTMLResponse)
async def edit_report(
    request: Request, report_id: str, user: Annotated[SessionUser, Depends(reporter)]
) -> Response:
    versions = await _own_versions(request, user, report_id)
    if versions is None:
        return _missing_report(request, user)
    latest = versions[-1]
    event = json.loads(latest.event_json)
    values = {
        "ruc_id": latest.ruc_id,
        "year": str(latest.year),
        "huvudman": {
            "name": latest.huvudman_name,
            "lan_kod": event["huvudman"]["lan_kod"],
            "type": event["huvudman"]["type"],
        },
        "insatser": [
            blank_insats() | i | {"school_forms": list(i["school_forms"])} for i in event["insatser"]
        ],
    }
    action = f"/rapporter/{latest.report_id}/andra"
    return render(
        request, "report_form.html", user, action=action, correcting=True,
        **form_context(values, [], await current_period(request)),
    )  # fmt: skip


@router.post("/rapporter/{report_id}/andra", response_class=HTMLResponse)
async def post_edit_report(
    request: Request, report_id: str, user: Annotated[SessionUser, Depends(reporter)]
) -> Response:
    versions = await _own_versions(request, user, report_id)
    if versions is None:
        return _missing_report(request, user)
    return await _handle_report_form(
        request, user, f"/rapporter/{versions[0].report_id}/andra", versions[0].report_id
    )
