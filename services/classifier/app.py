"""Classifier's composition root: settings in, FastAPI app out (nothing happens at import)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI

from services.classifier import api, pages, suggest
from services.classifier.handlers import register_handlers
from services.classifier.protocol import NspScorer
from services.classifier.registry import load_or_train
from services.classifier.review import send_overrides
from services.classifier.review_sessions import ReviewSessions
from services.classifier.scoring import ScoringPool
from services.classifier.settings import ClassifierSettings
from shared.broker import create_broker
from shared.db import create_engine, session_factory
from shared.errors import install_error_handlers
from shared.reference import load_reference
from shared.web import service_app

log = logging.getLogger("rucnet.classifier")


def create_app(settings: ClassifierSettings, model: NspScorer | None = None) -> FastAPI:
    """``model``: the newest accepted version in the data dir unless given (tests pass one)."""
    model = model or load_or_train(settings.data_dir, load_reference())
    log.info("classifier model %s", model.version)
    engine = create_engine(settings.db_url)
    sessions = session_factory(engine)
    broker = create_broker(settings)
    scoring = ScoringPool(model, settings.scoring_workers)
    register_handlers(broker, settings, model, sessions, scoring)
    relay: list[asyncio.Task[None]] = []

    async def relay_loop() -> None:
        while True:
            await asyncio.sleep(settings.outbox_interval_s)
            try:
                await send_overrides(sessions, broker, include_published=False)
            except Exception:
                log.exception("override relay failed; will retry")

    async def on_start() -> None:
        await scoring.start()
        # After the broker lost its memory, every override is sent again with its own event id;
        # the aggregator dedupes by event id, so a broker that kept them changes nothing.
        sent = await send_overrides(sessions, broker, include_published=settings.republish_on_start)
        if sent:
            log.info("re-sent %d stored overrides", sent)
        relay.append(asyncio.create_task(relay_loop()))

    async def on_stop() -> None:
        for task in relay:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await scoring.close()

    app = service_app(
        "rucnet classifier", engine, broker, on_start, on_stop, max_body_bytes=settings.max_body_bytes
    )
    app.state.sessions = sessions
    app.state.broker = broker
    app.state.model = model
    app.state.scoring = scoring
    app.state.review_threshold = settings.review_threshold
    app.state.review_sessions = ReviewSessions(settings.review_session_ttl_s)
    app.state.cookie_secure = settings.cookie_secure
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(suggest.router)
    install_error_handlers(app)
    return app
