"""The one size budget: every event the pipeline produces must fit the broker's message limit.

``RucnetSettings.kafka_max_message_bytes`` is the limit (the compose broker's ``message.max.bytes``
and every producer's ``max_request_size``). Intake refuses a request whose events would not fit,
a producer can ask ``fits`` before it sends, and a consumer that meets an event it cannot produce
dead-letters it instead of retrying it forever. Pure functions: no broker, no settings.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from aiokafka.record.default_records import DefaultRecordBatchBuilder
from pydantic_core import to_json

from shared.events import (
    MAX_CANDIDATES,
    REASONS_MAX_BYTES,
    AreaScore,
    HuvudmanRef,
    Insats,
    InsatsClassification,
    ReportSubmitted,
)
from shared.reference import load_reference

DEFAULT_MAX_MESSAGE_BYTES = 1_048_576  # Kafka's message.max.bytes is 1 048 588; aiokafka's default
# What a record carries besides key and value: FastStream's headers (content type, correlation id,
# reply-to) are ~120 bytes; the rest is slack, so an event that passes here is never refused later.
HEADERS_ALLOWANCE = 1_024
# ReportClassified beyond the submission it carries: submission_event_id, model_version and the
# field names ("classifications", "model_version" of up to 200 characters).
CLASSIFIED_HEADER_BYTES = 400
_WORST_FLOAT = -2.2250738585072014e-308  # the longest repr a float has (24 characters)
_WORST_VERSION = 2**63 - 1  # a submission's version is its row's seq: at most a BIGINT


def record_bytes(value: bytes | int, key: bytes | None) -> int:
    """The size of one record as the producer counts it against ``max_request_size``."""
    length = value if isinstance(value, int) else len(value)
    framing = int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, b"", []))
    return framing + length + 5 + HEADERS_ALLOWANCE  # 5: the value length's varint, at most


def fits(value: bytes | int, key: bytes | None, max_message_bytes: int) -> bool:
    """Whether an event (its serialised bytes, or their count) can be produced under the limit.

    The intake relay calls this before sending an outbox row: one that does not fit is marked
    failed rather than retried, so it never wedges the rows behind it.
    """
    return record_bytes(value, key) <= max_message_bytes


@functools.cache
def _classification_bytes_without_ref() -> int:
    """The largest JSON an insats's classification can take, less its ref's JSON string."""
    longest = max(load_reference().nsp_codes, key=len)
    worst = InsatsClassification(
        ref="",
        nsp_area=longest,
        source="classifier",
        confidence=_WORST_FLOAT,
        candidates=tuple(AreaScore(code=longest, score=_WORST_FLOAT) for _ in range(MAX_CANDIDATES)),
        reasons=(),
        needs_review=False,
    )
    empty_ref, empty_reasons = 2, 2  # "" and []
    return len(worst.model_dump_json()) - empty_ref - empty_reasons + REASONS_MAX_BYTES + 1  # the comma


def classified_bytes_bound(submitted: ReportSubmitted, submitted_bytes: int) -> int:
    """An upper bound of the ReportClassified the classifier emits from ``submitted`` (whose JSON
    is ``submitted_bytes`` long): the same fields and insatser, plus a classification per insats."""
    per_insats = _classification_bytes_without_ref()
    refs = sum(len(to_json(i.ref)) for i in submitted.insatser)
    return submitted_bytes + CLASSIFIED_HEADER_BYTES + len(submitted.insatser) * per_insats + refs


class Texts(Protocol):
    """An insats's free text, inbound (``InsatsIn``) or in an event (``Insats``)."""

    @property
    def ref(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def expected_effects(self) -> str: ...
    @property
    def actual_effects(self) -> str: ...


@functools.cache
def _frames() -> tuple[int, int]:
    """The JSON of a submission with no insatser, and of an insats with no text (the most school
    forms, the longest codes), each as large as any can be."""
    reference = load_reference()
    insats = Insats(
        ref="",
        title="",
        status="completed",
        school_forms=tuple(sorted(reference.school_form_codes)),
        nsp_area=max(reference.nsp_codes, key=len),
    )
    report = ReportSubmitted(
        report_id=uuid.UUID(int=0),
        version=_WORST_VERSION,
        ruc_id=max(reference.ruc_ids, key=len),
        year=2000,
        huvudman=HuvudmanRef(pseudonym="hm-" + "0" * 16, lan_kod="00", type="kommunal"),
        insatser=(),
    )
    return len(report.model_dump_json()), len(insats.model_dump_json()) + 1  # the comma


def classified_bytes_quick_bound(insatser: Sequence[Texts]) -> int:
    """An upper bound of a report's ReportClassified (so of its ReportSubmitted too) without
    serialising it: a character takes at most 6 bytes of JSON (\\u001f), and a ref appears twice."""
    report_frame, insats_frame = _frames()
    per_insats = insats_frame + _classification_bytes_without_ref()
    chars = sum(
        2 * len(i.ref) + len(i.title) + len(i.description) + len(i.expected_effects) + len(i.actual_effects)
        for i in insatser
    )
    return report_frame + CLASSIFIED_HEADER_BYTES + len(insatser) * (per_insats + 2) + 6 * chars


@dataclass(frozen=True)
class Overflow:
    """An event that would not fit: which, how large (bytes) and the limit."""

    event: str
    size: int
    limit: int

    def message(self, what: str = "Rapporten") -> str:
        size, limit = (f"{n:,}".replace(",", " ") for n in (self.size, self.limit))
        return (
            f"{what} blir för stor för meddelandekön: {size} byte, högst {limit}. Dela upp den i "
            f"flera mindre / the {self.event} event would be {self.size} bytes, over the "
            f"{self.limit}-byte message limit: split it"
        )


def report_overflow(draft: ReportSubmitted, max_message_bytes: int) -> Overflow | None:
    """The first of a report's events (submitted, then classified) that would not fit, or None.

    ``draft`` is the submission as intake would store it; its version is set to the largest
    possible, so the answer holds whatever seq the database hands out.
    """
    body = draft.model_copy(update={"version": _WORST_VERSION}).model_dump_json().encode()
    key = draft.ruc_id.encode()
    if not fits(body, key, max_message_bytes):
        return Overflow("ReportSubmitted", record_bytes(body, key), max_message_bytes)
    classified = classified_bytes_bound(draft, len(body))
    if not fits(classified, key, max_message_bytes):
        return Overflow("ReportClassified", record_bytes(classified, key), max_message_bytes)
    return None


def event_overflow(
    event_name: str, body: bytes, key: bytes | None, max_message_bytes: int
) -> Overflow | None:
    """An event that is already serialised: None when it fits."""
    if fits(body, key, max_message_bytes):
        return None
    return Overflow(event_name, record_bytes(body, key), max_message_bytes)
