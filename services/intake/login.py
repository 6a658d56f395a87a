"""Logging in and out. The login form is CSRF-protected by a double-submit cookie (no session yet)."""

from __future__ import annotations

import math
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.forms import FieldError
from services.intake.throttle import LoginThrottle
from services.intake.users import (
    SessionUser,
    authenticate,
    close_session,
    normalise_email,
    open_session,
    same_token,
)
from services.intake.web import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    PageForbidden,
    checked_form,
    render,
    require_user,
    web_user,
)

router = APIRouter(include_in_schema=False)
WRONG_LOGIN = "E-postadressen eller lösenordet stämmer inte. Kontrollera båda och försök igen."


def _safe_next(target: object) -> str:
    if (
        isinstance(target, str)
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
    ):
        return target[:300]
    return "/rapporter"


def _login_page(request: Request, errors: list[FieldError], email: str, status_code: int) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        None,
        status_code,
        errors=errors,
        # a wrong pair is marked on both fields: the page must not tell which one was wrong
        messages={e.field: e.message for e in errors}
        | ({"password": WRONG_LOGIN} if any(e.message == WRONG_LOGIN for e in errors) else {}),
        email=email,
        csrf_token=token,
        next=_safe_next(request.query_params.get("next")),
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.app.state.cookie_secure,
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
async def login(request: Request) -> Response:
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
    throttle: LoginThrottle = request.app.state.login_throttle
    account, client = normalise_email(email), _client(request)
    wait = throttle.wait(account, client)
    if wait:
        return _throttled(request, wait)
    if not errors:
        if not throttle.begin(account, client):  # this client already has passwords being checked
            return _throttled(request, 1)
        user, raw = None, None
        try:
            user = await authenticate(request.app.state.sessions, email, password)
            if user is not None:
                async with request.app.state.sessions.begin() as session:
                    raw = await open_session(session, user, request.app.state.session_ttl_s)
        finally:
            throttle.end(account, client, succeeded=raw is not None)
        if raw is not None:
            response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
            response.set_cookie(
                SESSION_COOKIE,
                raw,
                httponly=True,
                samesite="lax",
                secure=request.app.state.cookie_secure,
                max_age=request.app.state.session_ttl_s,
            )
            response.delete_cookie(LOGIN_CSRF_COOKIE, path="/logga-in")
            return response
        errors.append(FieldError("email", WRONG_LOGIN, names_itself=True))
    return _login_page(request, errors, email, 400)


@router.post("/logga-ut")
async def logout(request: Request, user: Annotated[SessionUser, Depends(require_user)]) -> Response:
    await checked_form(request, user)
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions.begin() as session:
        await close_session(session, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/logga-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
