"""What intake's entry points get by typed dependency (``Annotated`` aliases, as the full-stack
FastAPI template does): the one place meant to read ``app.state``. Routes take ``IntakeDep``;
code that holds the app outside a request (the upload's background send) calls ``intake_of``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request

from services.intake.service import Intake


def intake_of(app: FastAPI) -> Intake:
    intake: Intake = app.state.intake
    return intake


def _intake(request: Request) -> Intake:
    return intake_of(request.app)


IntakeDep = Annotated[Intake, Depends(_intake)]
