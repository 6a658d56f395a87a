"""What the classifier's routes and pages get by typed dependency (``Annotated`` aliases): with
``shared.deps``, the one place that reads ``app.state`` (``app.py`` writes it once). Page helpers
that hold only the request call the ``*_of`` functions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request
from faststream.kafka import KafkaBroker

from services.classifier.protocol import NspScorer
from services.classifier.review_sessions import ReviewSessions
from services.classifier.scoring import ScoringPool
from shared.deps import Sessions, sessions_of

__all__ = ["Sessions", "sessions_of"]


def broker_of(app: FastAPI) -> KafkaBroker:
    broker: KafkaBroker = app.state.broker
    return broker


def model_of(app: FastAPI) -> NspScorer:
    model: NspScorer = app.state.model
    return model


def review_sessions_of(app: FastAPI) -> ReviewSessions:
    """The review page's signed-in analysts (in memory; the cookie holds only an id)."""
    sessions: ReviewSessions = app.state.review_sessions
    return sessions


def cookie_secure_of(app: FastAPI) -> bool:
    return bool(app.state.cookie_secure)


async def _broker(request: Request) -> KafkaBroker:
    return broker_of(request.app)


async def _model(request: Request) -> NspScorer:
    return model_of(request.app)


async def _scoring(request: Request) -> ScoringPool:
    scoring: ScoringPool = request.app.state.scoring
    return scoring


async def _review_threshold(request: Request) -> float:
    threshold: float = request.app.state.review_threshold
    return threshold


async def _review_sessions(request: Request) -> ReviewSessions:
    return review_sessions_of(request.app)


Broker = Annotated[KafkaBroker, Depends(_broker)]
Model = Annotated[NspScorer, Depends(_model)]
Scoring = Annotated[ScoringPool, Depends(_scoring)]
ReviewThreshold = Annotated[float, Depends(_review_threshold)]
SignedIn = Annotated[ReviewSessions, Depends(_review_sessions)]
