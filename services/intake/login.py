"""Logging in and out. The login form is CSRF-protected by a double-submit cookie (no session yet)."""

from __future__ import annotations

import json
import math
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import FormData

from services.intake.deps import Sessions, Throttle, cookie_secure_of, session_ttl_s_of
from services.intake.forms import FieldError
from services.intake.users import (
    SessionUser,
    authenticate,
    close_session,
    normalise_email,
    open_session,
    resolve_session,
    same_token,
)
from services.intake.web import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    LoginRequired,
    PageForbidden,
    checked_form,
    render,
    require_user,
    restorer_for,
    web_user,
)

router = APIRouter(include_in_schema=False)
WRONG_LOGIN = "E-postadressen eller lösenordet stämmer inte. Kontrollera båda och försök igen."
EXPIRED = (
    "Du har blivit utloggad: inloggningen gick ut. Logga in igen, så visas det du skrev "
    "igen, ifyllt. Inget har skickats än."
)
EXPIRED_UPLOAD = "Du har blivit utloggad: inloggningen gick ut. Logga in igen och välj filen på nytt."
MAX_CARRIED = 1_000_000


def _carried(form: FormData) -> str:
    """A form's text fields (not its CSRF token, nor files) as JSON, to carry through the login."""
    pairs = [[k, v] for k, v in form.multi_items() if isinstance(v, str) and k != "csrf_token"]
    text = json.dumps(pairs, ensure_ascii=False)
    return text if len(text) <= MAX_CARRIED else ""


def _uncarried(text: object) -> FormData | None:
    if not isinstance(text, str) or not text or len(text) > MAX_CARRIED:
        return None
    try:
        pairs = json.loads(text)
    except ValueError:
        return None
    if not isinstance(pairs, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs
    ):
        return None
    return FormData([(k, v) for k, v in pairs])


async def login_required(request: Request, _exc: Exception) -> Response:
    """A page asked for without a live login: a GET goes to the login and comes back; a form sent
    after the login ran out is kept (its fields ride in the login page) and shown again after it."""
    if request.method == "GET":
        return RedirectResponse(f"/logga-in?next={request.url.path}", status_code=303)
    path = _safe_next(request.url.path)
    if restorer_for(path) is None:
        notice = EXPIRED_UPLOAD if path.startswith("/uppladdning") else None
        return _login_page(request, [], "", 200, notice=notice, target=path if notice else None)
    form = await request.form()
    return _login_page(request, [], "", 200, notice=EXPIRED, target=path, carried=_carried(form))


def _safe_next(target: object) -> str:
    if (
        isinstance(target, str)
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
    ):
        return target[:300]
    return "/rapporter"


def _login_page(
    request: Request,
    errors: list[FieldError],
    email: str,
    status_code: int,
    notice: str | None = None,
    target: str | None = None,
    carried: str = "",
) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        None,
        status_code,
        errors=errors,
        messages={e.field: e.message for e in errors},
        # a wrong pair is said once but marks both fields: the page must not tell which was wrong
        wrong_pair=any(e.message == WRONG_LOGIN for e in errors),
        email=email,
        csrf_token=token,
        next=target or _safe_next(request.query_params.get("next")),
        notice=notice,
        carried=carried,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=cookie_secure_of(request.app),
        path="/logga-in",
        max_age=3600,
    )
    return response


@router.get("/logga-in", response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    if await web_user(request) is not None:
        return RedirectResponse("/rapporter", status_code=303)
    return _login_page(request, [], "", 200)


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


def _throttled(request: Request, wait: int) -> Response:
    minutes = math.ceil(wait / 60)
    when = (
        f"{wait} {'sekund' if wait == 1 else 'sekunder'}"
        if wait < 60
        else f"{minutes} {'minut' if minutes == 1 else 'minuter'}"
    )
    response = render(
        request,
        "error.html",
        None,
        status.HTTP_429_TOO_MANY_REQUESTS,
        title="För många inloggningsförsök",
        message=f"För många inloggningsförsök. Vänta {when} och försök sedan igen.",
    )
    response.headers["Retry-After"] = str(wait)
    return response


@router.post("/logga-in", response_class=HTMLResponse)
async def login(request: Request, sessions: Sessions, throttle: Throttle) -> Response:
    form = await request.form()
    token = form.get("csrf_token")
    if not same_token(request.cookies.get(LOGIN_CSRF_COOKIE, ""), token if isinstance(token, str) else None):
        raise PageForbidden(
            "Formuläret saknar en giltig säkerhetstoken (CSRF). Ladda om sidan och försök igen."
        )
    email = str(form.get("email", ""))[:254]
    password = str(form.get("password", ""))[:1000]
    errors = []
    if not email.strip():
        errors.append(FieldError("email", "Fyll i din e-postadress.", names_itself=True))
    if not password:
        errors.append(FieldError("password", "Fyll i ditt lösenord.", names_itself=True))
    if "\x00" in email or "\x00" in password:
        errors.append(FieldError("email", WRONG_LOGIN, names_itself=True))
    account, client = normalise_email(email), _client(request)
    wait = throttle.wait(account, client)
    if wait:
        return _throttled(request, wait)
    if not errors:
        if not throttle.begin(account, client):  # this client already has passwords being checked
            return _throttled(request, 1)
        user, raw = None, None
        try:
            user = await authenticate(sessions, email, password)
            if user is not None:
                async with sessions.begin() as session:
                    raw = await open_session(session, user, session_ttl_s_of(request.app))
        finally:
            throttle.end(account, client, succeeded=raw is not None)
        if raw is not None:
            response = await _after_login(
                request, sessions, raw, _safe_next(form.get("next")), form.get("carried")
            )
            response.set_cookie(
                SESSION_COOKIE,
                raw,
                httponly=True,
                samesite="lax",
                secure=cookie_secure_of(request.app),
            )  # no max_age: the server's sliding expiry decides, and closing the browser ends it
            response.delete_cookie(LOGIN_CSRF_COOKIE, path="/logga-in")
            return response
        errors.append(FieldError("email", WRONG_LOGIN, names_itself=True))
    carried = form.get("carried")
    return _login_page(
        request, errors, email, 400,
        notice=EXPIRED if carried else None,
        target=_safe_next(form.get("next")),
        carried=carried if isinstance(carried, str) and _uncarried(carried) is not None else "",
    )  # fmt: skip


async def _after_login(
    request: Request, sessions: async_sessionmaker[AsyncSession], raw: str, target: str, carried: object
) -> Response:
    """Where a login leads: the page asked for, or the form it interrupted, filled in again."""
    restorer, fields = restorer_for(target), _uncarried(carried)
    if restorer is None or fields is None:
        return RedirectResponse(target, status_code=303)
    async with sessions() as session:
        user = await resolve_session(session, raw)
    assert user is not None
    return await restorer(request, user, fields, target)


def install(app: FastAPI) -> None:
    app.add_exception_handler(LoginRequired, login_required)
    app.include_router(router)


@router.post("/logga-ut")
async def logout(
    request: Request, sessions: Sessions, user: Annotated[SessionUser, Depends(require_user)]
) -> Response:
    await checked_form(request, user)
    async with sessions.begin() as session:
        await close_session(session, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/logga-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
