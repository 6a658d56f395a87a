"""The aggregator's Kafka handler, a module-level function on a ``KafkaRouter`` (what it needs comes
from the broker's context, set by ``register_handlers``): one database transaction per polled
batch, the offsets committed only after it.

- A message that does not parse, or names codes outside the reference data, is dead-lettered at
  once: no retry can fix it.
- A database that is down, restarting or reporting a deadlock/serialisation failure is transient:
  the handler raises, FastStream's NACK_ON_ERROR seeks back, and the same message comes again.
- Any other error while applying is retried a few times in place (it may still be a transient
  fault in disguise), then dead-lettered so one bad message cannot stall its partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from aiokafka import ConsumerRecord
from faststream import Context
from faststream.kafka import KafkaBroker, KafkaMessage, KafkaRouter
from faststream.kafka.annotations import KafkaBroker as BrokerDep
from prometheus_client import Counter
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.aggregator.attendance import apply_attendance
from services.aggregator.completeness import record_arrivals, ruc_problems
from services.aggregator.counting import KnownCodes, unknown_codes
from services.aggregator.settings import AggregatorSettings
from services.aggregator.store import apply_events
from shared import topics
from shared.broker import (
    batch_records,
    batch_subscriber,
    commit_in_background,
    dead_letter_record,
    parse_record_or_dead_letter,
)
from shared.events import (
    AttendanceReported,
    ClassificationOverridden,
    DeadLetterReason,
    ReportClassified,
    ReportSubmitted,
)
from shared.reference import load_reference

log = logging.getLogger("rucnet.aggregator")
EVENTS_APPLIED = Counter("rucnet_aggregator_events", "Events seen by the aggregator", ["topic", "outcome"])
APPLY_ATTEMPTS = 3
# SQLSTATE classes worth waiting for: connection (08), rollback (40: deadlock, serialisation),
# resources (53), operator intervention (57: shutdown, starting up), lock not available.
TRANSIENT_SQLSTATES = ("08", "40", "53", "57", "55P03")


def is_transient(exc: BaseException) -> bool:
    """A database that is down, restarting or busy: redeliver later. Else it is the message's fault."""
    if isinstance(exc, OperationalError | InterfaceError | OSError | PoolTimeout):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    cause: BaseException | None = exc
    while cause is not None:
        state = getattr(cause, "sqlstate", None) or getattr(getattr(cause, "orig", None), "sqlstate", None)
        if isinstance(state, str) and state.startswith(TRANSIENT_SQLSTATES):
            return True
        cause = cause.__cause__
    return False


def known_codes() -> KnownCodes:
    reference = load_reference()
    return KnownCodes(
        ruc_ids=reference.ruc_ids,
        lan_codes=reference.lan_codes,
        school_forms=reference.school_form_codes,
        nsp_areas=reference.nsp_codes,
    )


Problem = tuple[DeadLetterReason, str]


def classified_problems(event: ReportClassified, known: KnownCodes) -> list[Problem]:
    codes = unknown_codes(
        known,
        ruc_ids=[event.ruc_id],
        lan_codes=[event.huvudman.lan_kod],
        school_forms=[f for i in event.insatser for f in i.school_forms],
        nsp_areas=[i.nsp_area for i in event.insatser] + [c.nsp_area for c in event.classifications],
    )
    problems = [(DeadLetterReason.UNKNOWN_CODES, p) for p in codes]
    missing = sorted({i.ref for i in event.insatser} - {c.ref for c in event.classifications})
    if missing:
        problems.append((DeadLetterReason.INCOMPLETE, f"insatser without a classification {missing}"))
    return problems


def override_problems(event: ClassificationOverridden, known: KnownCodes) -> list[Problem]:
    codes = unknown_codes(known, ruc_ids=[event.ruc_id], nsp_areas=[event.nsp_area])
    return [(DeadLetterReason.UNKNOWN_CODES, p) for p in codes]


def ruc_checked(event: AttendanceReported | ReportSubmitted, known: KnownCodes) -> list[Problem]:
    return [(DeadLetterReason.UNKNOWN_CODES, p) for p in ruc_problems(event, known)]


Parsed = tuple[ConsumerRecord[Any, Any], BaseModel]
# topic → (event model, its reference-code check)
EVENT_TYPES: dict[str, tuple[type[Any], Callable[[Any, KnownCodes], list[Problem]]]] = {
    topics.REPORTS_CLASSIFIED: (ReportClassified, classified_problems),
    topics.CLASSIFICATIONS_OVERRIDDEN: (ClassificationOverridden, override_problems),
    topics.ATTENDANCE_REPORTED: (AttendanceReported, ruc_checked),
    topics.REPORTS_SUBMITTED: (ReportSubmitted, ruc_checked),  # only its server stamp, for completeness
}


async def apply_parsed(session: AsyncSession, parsed: Sequence[Parsed]) -> list[bool]:
    """Apply a batch of valid events in one transaction; callers commit. Per event: False when it
    was a duplicate. Counts and completeness are batched; attendance (rare) goes one by one."""
    outcomes: dict[int, bool] = {}
    countable = [
        (i, e)
        for i, (_, e) in enumerate(parsed)
        if isinstance(e, ReportClassified | ClassificationOverridden)
    ]
    applied = await apply_events(session, [(e, parsed[i][0].topic) for i, e in countable])
    outcomes |= dict(zip((i for i, _ in countable), applied, strict=True))
    arrivals = [(i, e) for i, (_, e) in enumerate(parsed) if isinstance(e, ReportSubmitted)]
    recorded = await record_arrivals(session, [e for _, e in arrivals])
    outcomes |= dict(zip((i for i, _ in arrivals), recorded, strict=True))
    for i, (record, event) in enumerate(parsed):
        if isinstance(event, AttendanceReported):
            outcomes[i] = await apply_attendance(session, event, record.topic)
    return [outcomes[i] for i in range(len(parsed))]


@dataclass(frozen=True)
class Aggregating:
    """What the handler needs beside the broker, set once in the broker's context (``register``)."""

    settings: AggregatorSettings
    sessions: async_sessionmaker[AsyncSession]
    known: KnownCodes


AggregatingDep = Annotated[Aggregating, Context("aggregating")]


async def valid(broker: KafkaBroker, record: ConsumerRecord[Any, Any], known: KnownCodes) -> BaseModel | None:
    """The record's event, or None when it went to the dead letters (unparseable, unknown codes)."""
    model, check = EVENT_TYPES[record.topic]
    event: BaseModel | None = await parse_record_or_dead_letter(broker, record, model)
    if event is None:
        return None
    problems = check(event, known)
    if problems:
        text = "; ".join(p for _, p in problems)
        await dead_letter_record(broker, record, problems[0][0], f"{model.__name__} has {text}")
        EVENTS_APPLIED.labels(record.topic, "dead_letter").inc()
        return None
    return event


async def apply_alone(
    broker: KafkaBroker, aggregating: Aggregating, record: ConsumerRecord[Any, Any], event: BaseModel
) -> None:
    """One event in its own transaction: a few tries, then the dead letters."""
    for attempt in range(1, APPLY_ATTEMPTS + 1):
        try:
            async with aggregating.sessions.begin() as session:
                (applied,) = await apply_parsed(session, [(record, event)])
        except Exception as exc:
            if is_transient(exc):
                raise
            if attempt == APPLY_ATTEMPTS:
                await dead_letter_record(
                    broker,
                    record,
                    DeadLetterReason.NOT_APPLIED,
                    f"{type(event).__name__} cannot be applied: {exc!r}",
                )
                EVENTS_APPLIED.labels(record.topic, "dead_letter").inc()
                return
            log.warning("applying %s failed (attempt %d), retrying: %r", record.topic, attempt, exc)
            await asyncio.sleep(aggregating.settings.retry_backoff_s * attempt)
        else:
            EVENTS_APPLIED.labels(record.topic, "applied" if applied else "duplicate").inc()
            return


async def handle_aggregator_events(msg: KafkaMessage, broker: BrokerDep, aggregating: AggregatingDep) -> None:
    """A polled batch (every topic: one group membership, so no rebalance between them) applied in
    one transaction, its offsets committed after that transaction, in the background while the
    next batch is polled."""
    await aggregate_batch(msg, broker, aggregating)
    commit_in_background(msg)


async def aggregate_batch(msg: KafkaMessage, broker: KafkaBroker, aggregating: Aggregating) -> None:
    """A transient database fault redelivers the batch (the handler raises: NACK_ON_ERROR seeks
    back); any other failure is retried event by event, so one bad message is isolated and
    dead-lettered while the rest are counted."""
    parsed = [
        (r, e) for r in batch_records(msg) if (e := await valid(broker, r, aggregating.known)) is not None
    ]
    if not parsed:
        return
    try:
        try:
            async with aggregating.sessions.begin() as session:
                outcomes = await apply_parsed(session, parsed)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.warning("a batch of %d events failed, applying them one by one: %r", len(parsed), exc)
            for record, event in parsed:
                await apply_alone(broker, aggregating, record, event)
            return
    except Exception as exc:  # transient: the whole batch comes again
        log.warning("database unavailable, %d events will be redelivered: %s", len(parsed), exc)
        await asyncio.sleep(aggregating.settings.retry_backoff_s)
        raise
    for (record, _), applied in zip(parsed, outcomes, strict=True):
        EVENTS_APPLIED.labels(record.topic, "applied" if applied else "duplicate").inc()


def aggregator_router(settings: AggregatorSettings) -> KafkaRouter:
    """The aggregator's one subscriber: its group, batching and ack policy from the settings."""
    router = KafkaRouter()
    batch_subscriber(router, list(EVENT_TYPES), settings, topics.AGGREGATOR_GROUP)(handle_aggregator_events)
    return router


def register_handlers(
    broker: KafkaBroker, settings: AggregatorSettings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The router on ``broker``, what its handler needs in the broker's context."""
    broker.context.set_global("aggregating", Aggregating(settings, sessions, known_codes()))
    broker.include_router(aggregator_router(settings))
