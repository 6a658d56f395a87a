"""Intake's composition root: settings in, FastAPI app out (nothing happens at import)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict

from fastapi import FastAPI
from prometheus_client import Counter

from services.intake import login, tokens, user_admin, web, web_nsp, web_parts, web_upload
from services.intake.api import router
from services.intake.api_reports import router as reports_router
from services.intake.batching import GroupCommit, ReceiptWriter
from services.intake.limits import RateLimiter
from services.intake.nsp_events import register_nsp_handlers, run_consumer
from services.intake.peer_tokens import PeerTokens
from services.intake.receipts import ReceiptClient
from services.intake.relay import OutboxRelay
from services.intake.service import Intake
from services.intake.settings import IntakeSettings
from services.intake.suggestions import SuggestionClient
from services.intake.throttle import LoginThrottle
from services.intake.users import SessionRules
from shared.auth import TokenCache
from shared.broker import create_broker
from shared.db import create_engine, session_factory
from shared.errors import install_error_handlers
from shared.web import service_app

log = logging.getLogger("rucnet.intake")
REPORTS_ACCEPTED = Counter("rucnet_reports_accepted", "Reports accepted by intake")


def create_app(settings: IntakeSettings) -> FastAPI:
    engine = create_engine(settings.db_url)
    sessions = session_factory(engine)
    broker = create_broker(settings)
    peer_tokens = PeerTokens(sessions)
    receipts = ReceiptClient(settings.aggregator_base, peer_tokens)
    suggestions = SuggestionClient(settings.classifier_base, peer_tokens)
    # The classifier's events for receipts: a broker client of its own, so that accepting reports
    # never waits for this consumer to connect.
    nsp_broker = create_broker(settings)
    register_nsp_handlers(nsp_broker, settings, sessions)
    receipt_store = ReceiptWriter(engine)
    receipt_batches = GroupCommit(receipt_store.store)  # group commit of concurrent requests
    relay = OutboxRelay(engine, broker, settings, settings.outbox_interval_s)
    background: list[asyncio.Task[None]] = []
    upload_tasks: set[asyncio.Task[None]] = set()  # uploads being sent (web_upload.py)

    async def on_start() -> None:
        if settings.republish_on_start:  # the embedded broker lost its memory: send everything again
            await relay.forget_published()
        background.append(asyncio.create_task(relay.run()))
        background.append(asyncio.create_task(run_consumer(nsp_broker)))

    async def on_stop() -> None:
        await receipt_batches.drain()
        for task in [*background, *upload_tasks]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await nsp_broker.stop()
        await suggestions.close()
        await receipts.close()
        await receipt_store.close()

    async def outbox_readiness() -> dict[str, object]:
        await relay.count_backlog()  # now, whatever the relay is waiting for
        # counts only: the relay's last error can quote a row's content (names); it is in the log
        return {"outbox_backlog": relay.backlog, "outbox_failed": relay.failed}

    app = service_app(
        "rucnet intake",
        engine,
        broker,
        on_start,
        on_stop,
        facts=outbox_readiness,
        serves_without_broker=True,
        max_body_bytes=settings.max_body_bytes,
        larger_bodies=[(web_upload.UPLOAD_PREFIX, settings.max_upload_bytes)],
    )
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.token_cache = TokenCache(settings.token_cache_ttl_s)
    app.state.relay = relay
    app.state.receipt_store = receipt_store
    app.state.receipt_batches = receipt_batches
    app.state.broker = broker
    app.state.pseudonym_key = settings.pseudonym_key()
    app.state.max_message_bytes = settings.kafka_max_message_bytes
    app.state.cookie_secure = settings.cookie_secure
    app.state.session_ttl_s = settings.session_ttl_s
    app.state.session_rules = SessionRules(
        settings.session_ttl_s, max(settings.session_max_s, settings.session_ttl_s)
    )
    app.state.idempotency_ttl_s = settings.idempotency_ttl_s
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    app.state.login_throttle = LoginThrottle(
        settings.login_failures_per_account,
        settings.login_failures_per_client,
        settings.login_window_s,
        settings.login_hashes_per_client,
        settings.login_first_delay_s,
    )
    app.state.receipts = receipts
    app.state.intake = Intake(
        engine=engine,
        sessions=sessions,
        receipt_batches=receipt_batches,
        relay=relay,
        pseudonym_key=settings.pseudonym_key(),
        max_message_bytes=settings.kafka_max_message_bytes,
        idempotency_ttl_s=settings.idempotency_ttl_s,
        accepted=REPORTS_ACCEPTED,
    )
    app.state.suggestions = suggestions
    app.state.nsp_broker = nsp_broker
    app.state.upload_jobs = OrderedDict()
    app.state.upload_tasks = upload_tasks
    app.state.upload_parsing = set()  # users whose file is being read: one each (web_upload.py)
    app.include_router(router)
    app.include_router(reports_router)
    app.include_router(tokens.router)
    app.include_router(user_admin.router)
    login.install(app)
    app.include_router(web_parts.router)
    app.include_router(web_upload.router)
    app.include_router(web_nsp.router)
    web.install_web(app)
    install_error_handlers(app)
    return app
