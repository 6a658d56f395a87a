"""Intake's composition root: settings in, FastAPI app out (nothing happens at import)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI
from prometheus_client import Counter

from services.intake.api import publish_submission, router
from services.intake.settings import IntakeSettings
from services.intake.store import mark_published, unpublished
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
    relay: list[asyncio.Task[None]] = []

    async def send_outbox(include_published: bool) -> int:
        async with sessions() as session:
            events = await unpublished(session, include_published)
        for event in events:
            await publish_submission(broker, event)
            async with sessions.begin() as session:
                await mark_published(session, event.event_id)
        return len(events)

    async def relay_loop() -> None:
        while True:
            await asyncio.sleep(settings.outbox_interval_s)
            try:
                await send_outbox(include_published=False)
            except Exception:
                log.exception("outbox relay failed; will retry")

    async def on_start() -> None:
        sent = await send_outbox(include_published=settings.republish_on_start)
        if sent:
            log.info("re-sent %d stored reports", sent)
        relay.append(asyncio.create_task(relay_loop()))

    async def on_stop() -> None:
        for task in relay:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = service_app("rucnet intake", engine, broker, on_start, on_stop)
    app.state.sessions = sessions
    app.state.broker = broker
    app.state.pseudonym_key = settings.pseudonym_key()
    app.state.metrics_accepted = REPORTS_ACCEPTED
    app.include_router(router)
    install_error_handlers(app)
    return app
