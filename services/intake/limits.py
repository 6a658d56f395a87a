"""Protections in front of the API: a request size limit and a per-token rate limit."""

from __future__ import annotations

import json
import math
import time
from collections import deque

from fastapi import HTTPException, Request, status
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import Principal
from shared.web import BearerPrincipal

UPLOAD_PREFIX = "/uppladdning"


class _TooLarge(BaseException):
    """A BaseException so the framework's body parsing (which catches Exception) lets it through."""


class BodySizeLimit:
    """413 for a body above the limit, whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = self.max_upload_bytes if path.startswith(UPLOAD_PREFIX) else self.max_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _reject(send, limit)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _reject(send, limit)


async def _reject(send: Send, limit: int) -> None:
    body = json.dumps(
        {"detail": f"För stor förfrågan: högst {limit} byte / request body too large (limit {limit} bytes)"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status.HTTP_413_CONTENT_TOO_LARGE,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RateLimiter:
    """A sliding one-minute window per token, in memory (one intake process per deployment)."""

    def __init__(self, per_minute: int, window_s: float = 60.0) -> None:
        self.per_minute = per_minute
        self.window_s = window_s
        self._hits: dict[int, deque[float]] = {}

    def retry_after(self, key: int, now: float | None = None) -> int:
        """0 when the request may go ahead (and is counted), else seconds to wait."""
        now = time.monotonic() if now is None else now
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if len(hits) >= self.per_minute:
            return max(1, math.ceil(hits[0] + self.window_s - now))
        hits.append(now)
        return 0


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
