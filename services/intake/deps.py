"""What intake's entry points get by typed dependency (``Annotated`` aliases, as the full-stack
FastAPI template does): with ``shared.deps``, the one place that reads ``app.state`` (``app.py``
writes it once). Routes take the aliases (``IntakeDep``, ``ApiPrincipal``, ``Receipts``, …);
code that holds the app outside a request (the upload's background send) calls the ``*_of``."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, status

from services.intake.limits import RateLimiter
from services.intake.receipts import ReceiptClient
from services.intake.service import Intake
from services.intake.suggestions import SuggestionClient
from services.intake.throttle import LoginThrottle
from services.intake.users import SessionRules
from shared.auth import Principal, TokenCache
from shared.deps import Sessions, sessions_of
from shared.web import BearerPrincipal

if TYPE_CHECKING:
    from services.intake.web_upload import UploadJob

__all__ = ["Sessions", "sessions_of"]


def intake_of(app: FastAPI) -> Intake:
    intake: Intake = app.state.intake
    return intake


async def _intake(request: Request) -> Intake:
    return intake_of(request.app)


IntakeDep = Annotated[Intake, Depends(_intake)]


class LimitedPrincipal(BearerPrincipal):
    """The bearer token's principal, within its rate limit (429 with Retry-After beyond it)."""

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        principal = await super().__call__(request)
        limiter: RateLimiter = request.app.state.rate_limiter
        wait = limiter.retry_after(principal.token_id)
        if wait:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                detail=f"För många förfrågningar, försök igen om {wait} s / rate limit exceeded",
                headers={"Retry-After": str(wait)},
            )
        return principal


limited_principal = LimitedPrincipal()
ApiPrincipal = Annotated[Principal, Depends(limited_principal)]


def token_cache_of(app: FastAPI) -> TokenCache:
    cache: TokenCache = app.state.token_cache
    return cache


def receipts_of(app: FastAPI) -> ReceiptClient:
    """The aggregator's receipt API (what has been counted of a report)."""
    client: ReceiptClient = app.state.receipts
    return client


def suggestions_of(app: FastAPI) -> SuggestionClient:
    client: SuggestionClient = app.state.suggestions
    return client


def session_rules_of(app: FastAPI) -> SessionRules:
    rules: SessionRules = app.state.session_rules
    return rules


def session_ttl_s_of(app: FastAPI) -> int:
    ttl: int = app.state.session_ttl_s
    return ttl


def cookie_secure_of(app: FastAPI) -> bool:
    return bool(app.state.cookie_secure)


def login_throttle_of(app: FastAPI) -> LoginThrottle:
    throttle: LoginThrottle = app.state.login_throttle
    return throttle


def upload_jobs_of(app: FastAPI) -> OrderedDict[str, UploadJob]:
    """Dry-run uploads waiting for their user's "send" (``web_upload.py``), newest last."""
    jobs: OrderedDict[str, UploadJob] = app.state.upload_jobs
    return jobs


def upload_tasks_of(app: FastAPI) -> set[asyncio.Task[None]]:
    """Uploads being sent in the background; the lifespan's stop cancels them."""
    tasks: set[asyncio.Task[None]] = app.state.upload_tasks
    return tasks


def upload_parsing_of(app: FastAPI) -> set[int]:
    """Users whose file is being read now: one at a time each."""
    parsing: set[int] = app.state.upload_parsing
    return parsing


async def _token_cache(request: Request) -> TokenCache:
    return token_cache_of(request.app)


async def _receipts(request: Request) -> ReceiptClient:
    return receipts_of(request.app)


async def _login_throttle(request: Request) -> LoginThrottle:
    return login_throttle_of(request.app)


TokenCacheDep = Annotated[TokenCache, Depends(_token_cache)]
Receipts = Annotated[ReceiptClient, Depends(_receipts)]
Throttle = Annotated[LoginThrottle, Depends(_login_throttle)]
