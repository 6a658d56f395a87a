"""Aggregator's composition root."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from services.aggregator import attendance, completeness_api, read_api, receipts, ruc_activation
from services.aggregator.deadline_metrics import DeadlineGauges
from services.aggregator.handlers import register_handlers
from services.aggregator.settings import AggregatorSettings
from shared.broker import create_broker
from shared.db import create_engine, session_factory
from shared.errors import install_error_handlers
from shared.web import service_app


def create_app(settings: AggregatorSettings) -> FastAPI:
    engine = create_engine(settings.db_url)
    sessions = session_factory(engine)
    broker = create_broker(settings)
    register_handlers(broker, settings, sessions)
    gauges = DeadlineGauges(sessions)

    async def on_start() -> None:
        gauges.start()

    app = service_app(
        "rucnet aggregator", engine, broker, on_start, gauges.stop, max_body_bytes=settings.max_body_bytes
    )
    app.state.sessions = sessions
    stats = APIRouter(prefix="/api/v1/stats")  # the one mount: counts, attendance, completeness
    stats.include_router(read_api.router)
    stats.include_router(attendance.router)
    stats.include_router(completeness_api.stats)
    app.include_router(stats)
    app.include_router(receipts.router)
    app.include_router(completeness_api.router)
    app.include_router(ruc_activation.router)
    install_error_handlers(app)
    return app
