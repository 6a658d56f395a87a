"""Intake's consumer of the classifier's events: the NSP state its receipts and API show.

Its own consumer group, on a broker client of its own that starts (and retries) in the background,
so intake accepts reports whether or not this consumer is connected. One transaction per polled
batch, the offsets committed after it (NACK_ON_ERROR: a database fault redelivers the batch).
A record that does not parse is skipped with a warning: the aggregator, which counts it, parks it
in the dead letters; a second copy from intake would add nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated

from faststream import Context
from faststream.kafka import KafkaBroker, KafkaMessage, KafkaRouter
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.nsp_store import record_nsp_events
from shared import topics
from shared.broker import batch_records, batch_subscriber
from shared.events import ClassificationOverridden, ReportClassified
from shared.settings import RucnetSettings

log = logging.getLogger("rucnet.intake.nsp")


NspSessions = Annotated[async_sessionmaker[AsyncSession], Context("nsp_sessions")]


async def handle_nsp_events(msg: KafkaMessage, sessions: NspSessions) -> None:
    classified: list[ReportClassified] = []
    decided: list[ClassificationOverridden] = []
    for record in batch_records(msg):
        try:
            if record.topic == topics.REPORTS_CLASSIFIED:
                classified.append(ReportClassified.model_validate_json(record.value or b""))
            else:
                decided.append(ClassificationOverridden.model_validate_json(record.value or b""))
        except ValidationError as exc:
            log.warning("skipping %s@%s: %s", record.topic, record.offset, str(exc)[:200])
    if not classified and not decided:
        return
    try:
        async with sessions.begin() as session:
            await record_nsp_events(session, classified, decided)
    except Exception:
        log.exception("cannot store %d NSP events; they will be redelivered", len(classified) + len(decided))
        await asyncio.sleep(1.0)
        raise


def nsp_router(settings: RucnetSettings) -> KafkaRouter:
    router = KafkaRouter()
    names = [topics.REPORTS_CLASSIFIED, topics.CLASSIFICATIONS_OVERRIDDEN]
    batch_subscriber(router, names, settings, topics.INTAKE_GROUP)(handle_nsp_events)
    return router


def register_nsp_handlers(
    broker: KafkaBroker, settings: RucnetSettings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The router on ``broker`` (intake's second client), the sessions in its context."""
    broker.context.set_global("nsp_sessions", sessions)
    broker.include_router(nsp_router(settings))


async def run_consumer(broker: KafkaBroker, retry_s: float = 1.0, max_wait_s: float = 30.0) -> None:
    """Start ``broker``'s subscribers, retrying (backing off to ``max_wait_s``) until the broker
    answers; then leave them running (aiokafka reconnects by itself). Cancel to stop."""
    failures = 0
    while True:
        try:
            await broker.start()
            log.info("NSP event consumer started")
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            if failures == 1 or failures % 10 == 0:
                log.warning("NSP event consumer cannot start yet (%r); retrying", exc)
            with contextlib.suppress(Exception):
                await broker.stop()
            await asyncio.sleep(min(max_wait_s, retry_s * 2 ** min(failures, 10)))
