"""Classifier's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from services.classifier.handlers import register_handlers
from services.classifier.settings import ClassifierSettings
from shared.broker import create_broker
from shared.db import create_engine, session_factory
from shared.errors import install_error_handlers
from shared.web import service_app


def create_app(settings: ClassifierSettings) -> FastAPI:
    engine = create_engine(settings.db_url)
    broker = create_broker(settings)
    register_handlers(broker, settings)
    app = service_app("rucnet classifier", engine, broker)
    app.state.sessions = session_factory(engine)
    install_error_handlers(app)
    return app
