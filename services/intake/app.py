"""Intake's composition root: settings in, FastAPI app out (nothing happens at import)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from functools import partial

from fastapi import FastAPI
from prometheus_client import Counter

from services.intake import login, tokens, user_admin, web, web_parts, web_upload
from services.intake.api import publish_attendance, router
from services.intake.batching import GroupCommit, ReceiptWriter
from services.intake.limits import RateLimiter
from services.intake.outbox import PublishedMarks, unpublished_attendance
from services.intake.parts import mark_part_published
from services.intake.publishing import ReportPublisher, publish_submission
from services.intake.receipts import ReceiptClient
from services.intake.settings import IntakeSettings
from services.intake.store import Receipt, unpublished
from services.intake.throttle import LoginThrottle
from shared.auth import TokenCache
from shared.broker import create_broker
from shared.db import create_engine, session_factory
from shared.errors import install_error_handlers
from shared.events import ReportSubmitted
from shared.web import service_app

log = logging.getLogger("rucnet.intake")
REPORTS_ACCEPTED = Counter("rucnet_reports_accepted", "Reports accepted by intake")


def create_app(settings: IntakeSettings) -> FastAPI:
    engine = create_engine(settings.db_url)
    sessions = session_factory(engine)
    broker = create_broker(settings)
    receipts = ReceiptClient(settings.aggregator_base, sessions)
    marks = PublishedMarks(engine, settings.mark_published_interval_s)

    receipt_store = ReceiptWriter(engine)

    async def store_receipts(batch: list[Receipt]) -> list[tuple[ReportSubmitted, str]]:
        return await marks.along_with(partial(receipt_store.store, batch))

    receipt_batches = GroupCommit(store_receipts)  # group commit of concurrent requests
    publisher = ReportPublisher(broker, settings)
    background: list[asyncio.Task[None]] = []

    async def send_outbox(include_published: bool) -> int:
        async with sessions() as session:
            events = await unpublished(session, include_published)
            parts = await unpublished_attendance(session, settings.pseudonym_key(), include_published)
        events = [e for e in events if include_published or not marks.pending(e.event_id)]
        for event in events:
            await publish_submission(broker, event)
            marks.acknowledged(event.event_id)
        for part in parts:
            await publish_attendance(broker, part)
            async with sessions.begin() as session:
                await mark_part_published(session, part.ruc_id, part.year, "attendance")
        return len(events) + len(parts)

    async def relay_loop() -> None:
        while True:
            await asyncio.sleep(settings.outbox_interval_s)
            try:
                await send_outbox(include_published=False)
            except Exception:
                log.exception("outbox relay failed; will retry")

    async def on_start() -> None:
        await publisher.start()
        background.append(asyncio.create_task(marks.run()))
        sent = await send_outbox(include_published=settings.republish_on_start)
        if sent:
            log.info("re-sent %d stored reports", sent)
        background.append(asyncio.create_task(relay_loop()))

    async def on_stop() -> None:
        await receipt_batches.drain()
        await publisher.stop()
        for task in [*background, *app.state.upload_tasks]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await marks.close()
        await receipts.close()
        await receipt_store.close()

    app = service_app(
        "rucnet intake",
        engine,
        broker,
        on_start,
        on_stop,
        max_body_bytes=settings.max_body_bytes,
        larger_bodies=[(web_upload.UPLOAD_PREFIX, settings.max_upload_bytes)],
    )
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.token_cache = TokenCache(settings.token_cache_ttl_s)
    app.state.published_marks = marks
    app.state.receipt_store = receipt_store
    app.state.receipt_batches = receipt_batches
    app.state.publisher = publisher
    app.state.broker = broker
    app.state.pseudonym_key = settings.pseudonym_key()
    app.state.max_message_bytes = settings.kafka_max_message_bytes
    app.state.metrics_accepted = REPORTS_ACCEPTED
    app.state.cookie_secure = settings.cookie_secure
    app.state.session_ttl_s = settings.session_ttl_s
    app.state.idempotency_ttl_s = settings.idempotency_ttl_s
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    app.state.login_throttle = LoginThrottle(
        settings.login_failures_per_account, settings.login_failures_per_client, settings.login_window_s
    )
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
    return app
