"""Event schemas: frozen, additive, past tense. Consumers ignore fields they do not know.

No huvudman name ever travels in an event: only a keyed pseudonym, the län and the type.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import to_json

SCHEMA_VERSION = 1
# A classification's explanation is bounded, so the ReportClassified made from a report has a size
# intake can bound before it accepts the report (shared/budget.py).
MAX_CANDIDATES = 3
REASONS_MAX_BYTES = 300
_NAMESPACE = uuid.UUID("6f1d0b52-2b7a-4c8e-9a51-4b0f6b1c7e10")

InsatsStatus = Literal["started", "completed"]
HuvudmanType = Literal["kommunal", "region", "enskild", "statlig"]
AreaSource = Literal["declared", "classifier", "override"]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def derived_event_id(parent: uuid.UUID, kind: str) -> uuid.UUID:
    """A deterministic id for an event caused by another: reprocessing yields the same id."""
    return uuid.uuid5(_NAMESPACE, f"{parent}:{kind}")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Event(_Model):
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    occurred_at: dt.datetime = Field(default_factory=utcnow)
    schema_version: Literal[1] = 1


class HuvudmanRef(_Model):
    pseudonym: str = Field(pattern=r"^hm-[0-9a-f]{16}$")
    lan_kod: str
    type: HuvudmanType


class Insats(_Model):
    ref: str
    title: str
    description: str = ""
    status: InsatsStatus
    school_forms: tuple[str, ...]
    expected_effects: str = ""
    actual_effects: str = ""
    nsp_area: str | None = None

    @property
    def text(self) -> str:
        """What the classifier reads: activity and effects."""
        parts = (self.title, self.description, self.expected_effects, self.actual_effects)
        return "\n".join(p for p in parts if p)


class ReportSubmitted(Event):
    report_id: uuid.UUID
    version: int = Field(ge=1, description="monotonic acceptance sequence: later wins")
    ruc_id: str
    year: int
    huvudman: HuvudmanRef
    insatser: tuple[Insats, ...]


class AreaScore(_Model):
    code: str
    score: float


class InsatsClassification(_Model):
    ref: str
    nsp_area: str
    source: AreaSource
    confidence: float
    candidates: tuple[AreaScore, ...] = ()
    reasons: tuple[str, ...] = ()
    needs_review: bool = False

    @field_validator("candidates", mode="before")
    @classmethod
    def _best_candidates(cls, value: object) -> object:
        return tuple(value)[:MAX_CANDIDATES] if isinstance(value, list | tuple) else value

    @field_validator("reasons")
    @classmethod
    def _bounded_reasons(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return cap_reasons(value)


def cap_reasons(reasons: tuple[str, ...], max_bytes: int = REASONS_MAX_BYTES) -> tuple[str, ...]:
    """The leading reasons whose JSON list stays within ``max_bytes`` (the strongest come first)."""
    kept: list[str] = []
    size = 2  # []
    for reason in reasons:
        cost = len(to_json(reason)) + (1 if kept else 0)
        if size + cost > max_bytes:
            break
        kept.append(reason)
        size += cost
    return tuple(kept)


class ReportClassified(Event):
    submission_event_id: uuid.UUID
    report_id: uuid.UUID
    version: int
    ruc_id: str
    year: int
    huvudman: HuvudmanRef
    insatser: tuple[Insats, ...]
    classifications: tuple[InsatsClassification, ...]
    model_version: str


def classified_report(
    submitted: ReportSubmitted, classifications: tuple[InsatsClassification, ...], model_version: str
) -> ReportClassified:
    """The classified event of a submission; its id is derived, so reprocessing yields the same one."""
    return ReportClassified(
        event_id=derived_event_id(submitted.event_id, "classified"),
        submission_event_id=submitted.event_id,
        report_id=submitted.report_id,
        version=submitted.version,
        ruc_id=submitted.ruc_id,
        year=submitted.year,
        huvudman=submitted.huvudman,
        insatser=submitted.insatser,
        classifications=classifications,
        model_version=model_version,
    )


class ClassificationOverridden(Event):
    """An analyst's decision on an insats's area: a change, or an accept (the area confirmed)."""

    ruc_id: str
    year: int
    ref: str
    nsp_area: str
    previous_area: str | None = None
    reason: str
    analyst: str
    accepted: bool = Field(default=False, description="an accept: nsp_area is the area confirmed as it was")


class MeetingHeld(_Model):
    """One network meeting: who came, as pseudonyms only."""

    date: dt.date
    attendees: tuple[str, ...] = ()


class AttendanceReported(Event):
    """Part 1 of a RUC's yearly report: its network meetings and attendance (a later one replaces it)."""

    ruc_id: str
    year: int
    network_size: int = Field(ge=0, description="huvudmän in the RUC's network that year")
    meetings: tuple[MeetingHeld, ...]


class DeadLetterReason(StrEnum):
    """Why a message was parked in the dead letters: what ``rucnet dlq list`` shows and tests
    match. A new reason is a new member here, passed where the message is parked."""

    UNPARSEABLE = "unparseable"  # not the event its topic carries (JSON, schema)
    UNKNOWN_CODES = "unknown_codes"  # parses, but names codes outside the reference data
    INCOMPLETE = "incomplete"  # parses, but lacks parts it needs (an insats without a classification)
    TOO_LARGE = "too_large"  # what it leads to would not fit the broker's message limit
    NOT_APPLIED = "not_applied"  # valid, but applying it failed every retry


class DeadLetter(Event):
    topic: str
    partition: int
    offset: int
    key: str | None
    error: str
    payload: str
    reason: DeadLetterReason | None = None  # None: parked before reasons were typed
    # False: ``payload`` is not the original (cut to fit the broker, or not UTF-8) and must not
    # be replayed. None: parked before this was recorded (then a cut one is 100 000 characters).
    payload_complete: bool | None = None
    payload_bytes: int | None = None  # the original message's size
