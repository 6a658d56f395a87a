"""Kafka handlers: one database transaction per message, the offset committed only after it.

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
from collections.abc import Awaitable, Callable
from typing import TypeVar

from faststream.kafka import KafkaBroker, KafkaMessage
from prometheus_client import Counter
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.aggregator.attendance import apply_attendance
from services.aggregator.completeness import record_arrival, ruc_problems
from services.aggregator.counting import KnownCodes, unknown_codes
from services.aggregator.settings import AggregatorSettings
from services.aggregator.store import apply_classified, apply_override
from shared import topics
from shared.broker import consumer_options, dead_letter, parse_or_dead_letter
from shared.events import AttendanceReported, ClassificationOverridden, ReportClassified, ReportSubmitted
from shared.reference import load_reference

log = logging.getLogger("rucnet.aggregator")
EVENTS_APPLIED = Counter("rucnet_aggregator_events", "Events seen by the aggregator", ["topic", "outcome"])
E = TypeVar("E", bound=BaseModel)
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


def classified_problems(event: ReportClassified, known: KnownCodes) -> list[str]:
    problems = unknown_codes(
        known,
        ruc_ids=[event.ruc_id],
        lan_codes=[event.huvudman.lan_kod],
        school_forms=[f for i in event.insatser for f in i.school_forms],
        nsp_areas=[i.nsp_area for i in event.insatser] + [c.nsp_area for c in event.classifications],
    )
    missing = sorted({i.ref for i in event.insatser} - {c.ref for c in event.classifications})
    if missing:
        problems.append(f"insatser without a classification {missing}")
    return problems


def override_problems(event: ClassificationOverridden, known: KnownCodes) -> list[str]:
    return unknown_codes(known, ruc_ids=[event.ruc_id], nsp_areas=[event.nsp_area])


def register_handlers(
    broker: KafkaBroker, settings: AggregatorSettings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    options = consumer_options(settings, topics.AGGREGATOR_GROUP)
    known = known_codes()

    async def consume(
        msg: KafkaMessage,
        model: type[E],
        topic: str,
        check: Callable[[E, KnownCodes], list[str]],
        apply: Callable[[AsyncSession, E, str], Awaitable[bool]],
    ) -> None:
        event = await parse_or_dead_letter(broker, msg, model)
        if event is None:
            return
        problems = check(event, known)
        if problems:
            await dead_letter(broker, msg, f"{model.__name__} has {'; '.join(problems)}")
            EVENTS_APPLIED.labels(topic, "dead_letter").inc()
            return
        for attempt in range(1, APPLY_ATTEMPTS + 1):
            try:
                async with sessions.begin() as session:
                    applied = await apply(session, event, topic)
            except Exception as exc:
                if is_transient(exc):
                    log.warning("database unavailable, %s will be redelivered: %s", topic, exc)
                    await asyncio.sleep(settings.retry_backoff_s)
                    raise
                if attempt == APPLY_ATTEMPTS:
                    await dead_letter(broker, msg, f"{model.__name__} cannot be applied: {exc!r}")
                    EVENTS_APPLIED.labels(topic, "dead_letter").inc()
                    return
                log.warning("applying %s failed (attempt %d), retrying: %r", topic, attempt, exc)
                await asyncio.sleep(settings.retry_backoff_s * attempt)
            else:
                EVENTS_APPLIED.labels(topic, "applied" if applied else "duplicate").inc()
                return

    # One consumer for several topics: a single group membership, so no rebalance between them.
    @broker.subscriber(
        topics.REPORTS_CLASSIFIED,
        topics.CLASSIFICATIONS_OVERRIDDEN,
        topics.ATTENDANCE_REPORTED,
        topics.REPORTS_SUBMITTED,
        **options,
    )
    async def handle_aggregator_event(msg: KafkaMessage) -> None:
        topic = msg.raw_message.topic  # type: ignore[union-attr]
        if topic == topics.CLASSIFICATIONS_OVERRIDDEN:
            await consume(msg, ClassificationOverridden, topic, override_problems, apply_override)
        elif topic == topics.ATTENDANCE_REPORTED:
            await consume(msg, AttendanceReported, topic, ruc_problems, apply_attendance)
        elif topic == topics.REPORTS_SUBMITTED:  # only its server stamp, for completeness
            await consume(msg, ReportSubmitted, topic, ruc_problems, record_arrival)
        else:
            await consume(msg, ReportClassified, topic, classified_problems, apply_classified)
