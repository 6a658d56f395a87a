"""Intake's composition root: settings in, FastAPI app out (nothing happens at import)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict

from fastapi import FastAPI
from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.intake import login, tokens, user_admin, web, web_parts, web_upload
from services.intake.api import router
from services.intake.batching import GroupCommit, ReceiptWriter
from services.intake.limits import BodySizeLimit, RateLimiter
from services.intake.receipts import ReceiptClient
from services.intake.relay import OutboxRelay
from services.intake.settings import IntakeSettings
from shared.auth import TokenCache
from shared.broker import create_broker
from shared.db import create_engine, session_factory
from shared.errors import install_error_handlers
from shared.web import service_app

log = logging.getLogger("rucnet.intake")
REPORTS_ACCEPTED = Counter("rucnet_reports_accepted", "Reports accepted by intake")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
        b"frame-ancestors 'none'; form-action 'self'",
    ),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


def create_app(settings: IntakeSettings) -> FastAPI:
    engine = create_engine(settings.db_url)
    sessions = session_factory(engine)
    broker = create_broker(settings)
    receipts = ReceiptClient(settings.aggregator_base, sessions)
    receipt_store = ReceiptWriter(engine)
    receipt_batches = GroupCommit(receipt_store.store)  # group commit of concurrent requests
    relay = OutboxRelay(engine, broker, settings, settings.outbox_interval_s)
    background: list[asyncio.Task[None]] = []

    async def on_start() -> None:
        if settings.republish_on_start:  # the embedded broker lost its memory: send everything again
            await relay.forget_published()
        background.append(asyncio.create_task(relay.run()))

    async def on_stop() -> None:
        await receipt_batches.drain()
        for task in [*background, *app.state.upload_tasks]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await receipts.close()
        await receipt_store.close()

    async def outbox_readiness() -> dict[str, object]:
        return {"outbox_backlog": relay.backlog, "relay_error": relay.last_error}

    app = service_app(
        "rucnet intake", engine, broker, on_start, on_stop, facts=outbox_readiness, serves_without_broker=True
    )
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.token_cache = TokenCache(settings.token_cache_ttl_s)
    app.state.relay = relay
    app.state.receipt_store = receipt_store
    app.state.receipt_batches = receipt_batches
    app.state.broker = broker
    app.state.pseudonym_key = settings.pseudonym_key()
    app.state.metrics_accepted = REPORTS_ACCEPTED
    app.state.cookie_secure = settings.cookie_secure
    app.state.session_ttl_s = settings.session_ttl_s
    app.state.idempotency_ttl_s = settings.idempotency_ttl_s
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    app.state.receipts = receipts
    app.state.upload_jobs = OrderedDict()
    app.state.upload_tasks = set()
    app.include_router(router)
    app.include_router(tokens.router)
    app.include_router(user_admin.router)
    app.include_router(login.router)
    app.include_router(web_parts.router)
    app.include_router(web_upload.router)
    web.install_web(app)
    install_error_handlers(app)
    app.add_middleware(
        BodySizeLimit, max_bytes=settings.max_body_bytes, max_upload_bytes=settings.max_upload_bytes
    )
    app.add_middleware(SecurityHeaders)
    return app
