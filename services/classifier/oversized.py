"""Classified reports too large for the broker: dead-lettered, so the partition goes on.

Intake refuses a report whose classified event would not fit (shared/budget.py), so this catches
what came in before that check, or with a lower limit: retried, such an event would stop every
report behind it on its partition from ever being counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker

from shared.broker import dead_letter_record
from shared.budget import classified_bytes_bound, event_overflow, fits
from shared.events import DeadLetterReason, ReportClassified, ReportSubmitted


async def producible(
    broker: KafkaBroker,
    max_message_bytes: int,
    sources: Sequence[ConsumerRecord[Any, Any]],
    submitted: Sequence[ReportSubmitted],
    classified: Sequence[ReportClassified],
) -> tuple[list[ReportSubmitted], list[ReportClassified]]:
    """The (submitted, classified) pairs whose classified event fits; each other source record is
    dead-lettered with the size it would have had."""
    kept: tuple[list[ReportSubmitted], list[ReportClassified]] = ([], [])
    for record, event, result in zip(sources, submitted, classified, strict=True):
        key = result.ruc_id.encode()
        # the bound needs no serialising, and holds for nearly every report
        if not fits(classified_bytes_bound(event, len(record.value or b"")), key, max_message_bytes):
            overflow = event_overflow(
                "ReportClassified", result.model_dump_json().encode(), key, max_message_bytes
            )
            if overflow is not None:
                await dead_letter_record(
                    broker, record, DeadLetterReason.TOO_LARGE, overflow.message().split(" / ")[1]
                )
                continue
        kept[0].append(event)
        kept[1].append(result)
    return kept
