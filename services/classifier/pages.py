"""The analyst's review page: server-rendered Swedish HTML over the same decisions as the API.

Analysts sign in with the login an admin issued them (e-mail and password, ``review_login``), or
with a Skolverket bearer token: the classifier keeps a session (``review_sessions``) and the
HttpOnly, SameSite=Strict cookie holds only its random id. Every form carries a CSRF token: the
session's, or on the login form a double-submit cookie's. Every message the page shows is the
server's own, kept in the session for the next page: nothing in the address is ever shown.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.classifier.deps import (
    Broker,
    SignedIn,
    cookie_secure_of,
    model_of,
    review_sessions_of,
    sessions_of,
)
from services.classifier.page_text import actor_label
from services.classifier.queue_view import PAGE_SIZE, QueueFilter, queue_rows, readable
from services.classifier.review import ReviewDecision, ReviewError, apply_decision
from services.classifier.review_login import analyst_by_id, sign_in
from services.classifier.review_sessions import ReviewSession
from services.classifier.store import audit_log
from shared.auth import ApiToken, Principal, hash_token, resolve_token_hash
from shared.inbound import MAX_YEAR, MIN_YEAR
from shared.pages import page_templates
from shared.period import year_span
from shared.reference import load_reference

COOKIE = "rucnet_review_session"
LOGIN_CSRF_COOKIE = "rucnet_review_login_csrf"
router = APIRouter(prefix="/review", tags=["review page"], include_in_schema=False)
templates = page_templates(Path(__file__).parent / "templates")


def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    return sessions_of(request.app)


def _session(request: Request) -> ReviewSession | None:
    return review_sessions_of(request.app).get(request.cookies.get(COOKIE))


async def _principal(request: Request) -> Principal | None:
    signed_in = _session(request)
    if signed_in is None:
        return None
    async with _sessions(
        request
    )() as session:  # the token may have been revoked since, or the person disabled
        if signed_in.user_id is not None:  # a person: still allowed in, with the same password
            analyst = await analyst_by_id(session, signed_in.user_id)
            if analyst is None or not hmac.compare_digest(analyst.credential, signed_in.token_hash):
                return None
            return analyst.principal
        principal = await resolve_token_hash(session, signed_in.token_hash)
    return principal if principal is not None and principal.is_national else None


def _flash(request: Request, kind: str, text: str) -> None:
    review_sessions_of(request.app).flash(request.cookies.get(COOKIE), kind, text)


def csrf_for(request: Request) -> str:
    """The signed-in session's form token: a page on another site cannot know it."""
    signed_in = _session(request)
    return signed_in.csrf_token if signed_in is not None else ""


def _same_origin_form(request: Request, csrf_token: str) -> bool:
    expected = csrf_for(request)
    return bool(csrf_token) and bool(expected) and hmac.compare_digest(csrf_token, expected)


def _secure(request: Request) -> bool:
    return cookie_secure_of(request.app) or request.url.scheme == "https"


def _names() -> dict[str, str]:
    return {a.code: a.name_sv for a in load_reference().nsp_areas}


async def _render(
    request: Request, name: str, principal: Principal | None, status: int = 200, **ctx: object
) -> Response:
    analyst = None
    if principal is not None:
        async with _sessions(request)() as session:
            analyst = await display_name(session, principal)
    context = {
        "analyst": analyst,
        "model_version": model_of(request.app).version,
        "names": _names(),
        "csrf": csrf_for(request) if principal is not None else "",
        **ctx,
    }
    return templates.TemplateResponse(request, name, context, status_code=status)


async def display_name(session: AsyncSession, principal: Principal) -> str:
    """Who is signed in, as a person reads it: their name (or e-mail), or the token's label
    (`--label "Anna Analytiker"`)."""
    if principal.token_id < 0:
        analyst = await analyst_by_id(session, -principal.token_id)
        return analyst.shown_name if analyst is not None else "okänd"
    token = await session.get(ApiToken, principal.token_id)
    if token is not None and token.label.strip():
        return token.label.strip()[:120]
    return f"Skolverket (token {principal.token_id}, utan namn)"


def _back(**params: str) -> RedirectResponse:
    """Back to the queue with its filter (the message, if any, waits in the session)."""
    query = urlencode({k: v for k, v in params.items() if v})
    return RedirectResponse("/review" + (f"?{query}" if query else ""), status_code=303)


@router.get("", response_class=HTMLResponse)
async def queue_page(
    request: Request,
    signed_in: SignedIn,
    year: Annotated[str, Query(max_length=4)] = "",
    ruc: Annotated[str, Query(max_length=16)] = "",
    area: Annotated[str, Query(max_length=64)] = "",
    flagged_only: bool = False,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    principal = await _principal(request)
    if principal is None:
        return await _login_page(request)
    kind, text = signed_in.take_flash(request.cookies.get(COOKIE)) or ("", "")
    chosen = _filter(year, ruc, area, flagged_only, page)
    return await _queue(request, principal, chosen, message=text if kind == "ok" else "",
                        error=text if kind == "error" else "")  # fmt: skip


def _filter(year: str, ruc: str, area: str, flagged_only: bool, page: int) -> QueueFilter:
    reference = load_reference()
    return QueueFilter(
        int(year) if year.isdigit() and MIN_YEAR <= int(year) <= MAX_YEAR else None,
        ruc if ruc in reference.ruc_ids else "",
        area if area in reference.nsp_codes else "",
        flagged_only,
        page,
    )


async def _queue(
    request: Request, principal: Principal, chosen: QueueFilter, status: int = 200, **shown: object
) -> Response:
    reference = load_reference()
    async with _sessions(request)() as session:
        items, total = await queue_rows(session, chosen)
        years = {int(str(i["year"])) for i in items}
    card = shown.get("card")
    if isinstance(card, dict):  # the error summary links to the card's own field
        keys = [(i["ruc_id"], int(str(i["year"])), i["ref"]) for i in items]
        card["anchor"] = f"i{keys.index(card['key']) + 1}-reason" if card["key"] in keys else "main"
    areas = {y: [(a.code, a.name_sv) for a in reference.nsp_areas if a.valid_in(y)] for y in years}
    names = {a.code: a.name_sv for a in reference.nsp_areas}
    return await _render(
        request,
        "queue.html",
        principal,
        status,
        items=[readable(i, names) for i in items],
        ruc_names={r.id: r.host for r in reference.ruc},
        total=total,
        areas=areas,
        chosen=chosen,
        pages=max(1, -(-total // PAGE_SIZE)),
        page_size=PAGE_SIZE,
        ruc_list=sorted(reference.ruc, key=lambda r: r.host),
        all_areas=[(a.code, a.name_sv) for a in reference.nsp_areas],
        years=range(year_span()[1], year_span()[0] - 1, -1),  # the years a report can be for
        **({"message": "", "error": "", "card": None} | shown),
    )


SIGNED_OUT = "Du är utloggad: inloggningen gick ut eller du loggade ut. Logga in igen och gör om beslutet."
WRONG_LOGIN = "E-postadressen eller lösenordet stämmer inte. Kontrollera båda och försök igen."


async def _login_page(
    request: Request, status: int = 200, error: str = "", field: str = "", email: str = ""
) -> Response:
    token = secrets.token_hex(16)
    response = await _render(request, "login.html", None, status=status, error=error, field=field,
                             email=email, login_csrf=token)  # fmt: skip
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/review", secure=_secure(request)
    )
    return response


@router.post("/login")
async def login(
    request: Request,
    sessions: SignedIn,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    token: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """E-mail and password (the login an admin issued), or a Skolverket bearer token."""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not (csrf_token and expected and hmac.compare_digest(csrf_token, expected)):
        return await _login_page(request, 403, "Ogiltig förfrågan: ladda om sidan och logga in igen.")
    if token.strip():
        token_hash = hash_token(token.strip())
        async with _sessions(request)() as session:
            principal = await resolve_token_hash(session, token_hash)
        if principal is None or not principal.is_national:
            message = "Ogiltig token eller saknar behörighet för granskning."
            return await _login_page(request, 401, message, field="token")
        raw = sessions.open(token_hash)
    else:
        if not email.strip() or not password:
            return await _login_page(request, 400, "Fyll i e-postadress och lösenord.", "email", email)
        analyst = await sign_in(_sessions(request), email, password)
        if analyst is None:
            return await _login_page(request, 401, WRONG_LOGIN, "email", email)
        raw = sessions.open(analyst.credential, user_id=analyst.user_id)
    response = _back()
    response.set_cookie(
        COOKIE, raw, httponly=True, samesite="strict", path="/review", max_age=int(sessions.ttl_s),
        secure=_secure(request),
    )  # fmt: skip
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/review")
    return response


@router.post("/logout")
async def logout(
    request: Request, sessions: SignedIn, csrf_token: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    if not _same_origin_form(request, csrf_token):
        _flash(request, "error", "Ogiltig förfrågan: ladda om sidan och försök igen.")
        return _back()
    sessions.close(request.cookies.get(COOKIE))
    response = _back()
    response.delete_cookie(COOKIE, path="/review", httponly=True, samesite="strict")
    return response


@router.post("/decide")
async def decide(
    request: Request,
    broker: Broker,
    ruc_id: Annotated[str, Form(max_length=16)],
    year: Annotated[int, Form(ge=MIN_YEAR, le=MAX_YEAR)],
    ref: Annotated[str, Form(max_length=64)],
    action: Annotated[str, Form(max_length=16)],
    nsp_area: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Annotated[str, Form(max_length=64)] = "",
    back: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    if any("\x00" in field for field in (ruc_id, ref, action, nsp_area, reason, csrf_token, back)):
        # PostgreSQL text cannot hold NUL: refused here, not a 500 at the lookup
        _flash(request, "error", "Otillåtet tecken (NUL) i formuläret.")
        return _back()
    where = _kept_filter(back)
    principal = await _principal(request)
    if principal is None:
        return await _login_page(request, 401, SIGNED_OUT)
    hosts = {r.id: r.host for r in load_reference().ruc}
    insats = f"{hosts.get(ruc_id, ruc_id)} / {year} / {ref}"  # as the card names it
    if not _same_origin_form(request, csrf_token):
        _flash(request, "error", "Ogiltig förfrågan: ladda om sidan och försök igen.")
        return _back(**where)
    try:
        decision = ReviewDecision.model_validate(
            {"action": action, "nsp_area": nsp_area or None, "reason": reason}
        )
    except ValidationError as exc:
        # the page again, the card's choice kept and the message on the field it concerns
        card = {
            "key": (ruc_id, year, ref),
            "message": decision_message(exc),
            "area": nsp_area,
            "reason": reason,
        }
        chosen = _filter(where.get("year", ""), where.get("ruc", ""), where.get("area", ""),
                         where.get("flagged_only", "") in ("true", "1", "on"),
                         int(where["page"]) if where.get("page", "").isdigit() else 1)  # fmt: skip
        return await _queue(request, principal, chosen, 422, card=card, error=f"{insats}: {card['message']}")
    try:
        await apply_decision(_sessions(request), broker, (ruc_id, year, ref), decision, principal)
    except ReviewError as exc:
        _flash(request, "error", f"{insats}: {exc.detail.split(' / ')[0]}.")
        return _back(**where)
    done = "ändrad" if decision.action == "override" else "godkänd"
    _flash(request, "ok", f"{insats} {done}.")
    return _back(**where)


def decision_message(exc: ValidationError) -> str:
    """The Swedish half of the decision's rule, as a sentence that says what to do."""
    first = exc.errors()[0]
    text = str((first.get("ctx") or {}).get("error", first.get("msg", ""))).split(" / ")[0]
    if "motivering" in text:
        return "Skriv en motivering för att ändra området."
    return text[:1].upper() + text[1:].rstrip(".") + "."


def _kept_filter(back: str) -> dict[str, str]:
    """The queue's filter and page to return to (only its own keys: never a redirect elsewhere)."""
    keys = {"year", "ruc", "area", "flagged_only", "page"}
    return {k: v[:64] for k, v in parse_qsl(back) if k in keys}


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(request: Request) -> Response:
    principal = await _principal(request)
    if principal is None:
        return _back()
    async with _sessions(request)() as session:
        rows = await audit_log(session, None, None, 200, 0)
    ruc_names = {r.id: r.host for r in load_reference().ruc}
    items = [r.as_dict() | {"actor": actor_label(r.analyst)} for r in rows]
    return await _render(request, "audit.html", principal, items=items, ruc_names=ruc_names)
