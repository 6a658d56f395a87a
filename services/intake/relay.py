"""The transactional outbox's relay: publishes what intake stored, in order, whatever the broker does.

A report is accepted (202) once its receipt and its outbox row are committed; from then on it is
this relay's job. One task sends the unpublished rows oldest first (by ``seq``, so per RUC in the
order they were accepted: the key is the RUC and one producer keeps a partition's order), waits for
the broker's acknowledgements (acks=all) and marks the acknowledged rows published in one UPDATE.
A broker outage only delays it: the next pass sends the same rows again, and consumers dedupe by
event id. It publishes with the service's FastStream broker's aiokafka producer (production's
settings: idempotence, acks=all, ``kafka_max_message_bytes``) as record batches per partition
(``shared.broker.send_records``); the in-memory test broker gets the rows one by one through
FastStream's publish path.

Every accepted row ends published or visibly failed. A row that can no longer be loaded (it no
longer validates as its event, after a rule or reference change) or that the broker refuses for
good (over its size limit) is marked failed alone (``failed_at`` and the error, reports and
attendance parts alike), counted (``rucnet_outbox_failed_total``, ``rucnet_outbox_failed_rows``)
and logged by name only, and the rows behind it go on: one row never wedges start-up or the queue.
The receipt then says it could not be sent on; ``rucnet outbox list --failed`` lists such rows and
``rucnet outbox retry`` sends them again once the cause is fixed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
from faststream.exceptions import IncorrectState
from faststream.kafka import KafkaBroker
from prometheus_client import Counter, Gauge
from pydantic import ValidationError
from sqlalchemy import Update, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.parts import AttendanceIn, ReportPart, attendance_event
from services.intake.store import ReportSubmission
from shared import topics
from shared.broker import PRODUCER_FENCED, aiokafka_producer, renew_producer, send_records
from shared.budget import fits
from shared.events import ReportSubmitted, utcnow
from shared.settings import RucnetSettings

log = logging.getLogger("rucnet.intake.relay")
BACKLOG_EVERY_S = 1.0  # while sending, the backlog is counted at most this often
BACKLOG = Gauge("rucnet_outbox_backlog", "Accepted reports and parts not yet acknowledged by the broker")
PUBLISHED = Counter("rucnet_outbox_published", "Outbox rows the broker acknowledged")
FAILED = Counter(
    "rucnet_outbox_failed",
    "Outbox rows marked failed: unloadable, or refused by the broker for good",
    ["kind"],
)
FAILED_NOW = Gauge(
    "rucnet_outbox_failed_rows", "Outbox rows marked failed and not yet retried (rucnet outbox list)"
)
PERMANENT = (MessageSizeTooLargeError, RecordTooLargeError)
HEADERS = {"content-type": "application/json"}  # what FastStream sets for a model it encodes
_REPORTS = ReportSubmission.__table__  # type: ignore[attr-defined]
_PARTS = ReportPart.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class OutboxRow:
    """One message to send: where it goes, and how to mark it once acknowledged or refused."""

    topic: str
    key: bytes
    value: bytes
    seq: int | None = None  # a report's row
    part: tuple[str, int, dt.datetime] | None = None  # an attendance part: (ruc, year, updated_at)

    @property
    def kind(self) -> str:
        return "report" if self.seq is not None else "attendance"

    @property
    def name(self) -> str:
        """How logs and the CLI name the row: never by its content (it may hold names)."""
        if self.part is not None:
            return f"attendance {self.part[0]} {self.part[1]}"
        return f"report seq {self.seq}"


def describe(exc: Exception) -> str:
    """An error without the offending input (a validation error would repeat names from the row)."""
    if isinstance(exc, ValidationError):
        problems = [f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['type']}" for e in exc.errors()[:10]]
        return f"cannot be loaded ({exc.error_count()} errors): " + "; ".join(problems)
    return f"{type(exc).__name__}: {str(exc)[:500]}"


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        broker: KafkaBroker,
        settings: RucnetSettings,
        interval_s: float,
        batch: int = 500,
        send_timeout_s: float = 30.0,
    ) -> None:
        self.engine = engine
        self.broker = broker
        self.settings = settings
        self.interval_s = interval_s
        self.batch = batch
        # An idempotent producer retries a send to an absent broker for as long as it takes: the
        # pass gives up waiting after this long and sends the rows again later (consumers dedupe).
        self.send_timeout_s = send_timeout_s
        self._wake = asyncio.Event()
        self.last_error: str | None = None
        self.backlog = 0
        self.failed = 0
        self._counted_at = -math.inf
        self._built: set[int] = set()

    def nudge(self, *built: int) -> None:
        """Something was stored: send it now rather than at the next interval. ``built``: the seqs of
        report rows whose event this process has just built from a validated model (``to_event``,
        under the rules this process loaded at start), so loading them need not validate them again."""
        self._built.update(built)
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled: pass over the outbox whenever nudged, at least every ``interval_s``."""
        failures = 0
        while True:
            try:
                sent = await self.pass_once()
                failures, self.last_error = 0, None
            except IncorrectState:  # not connected yet (intake starts without the broker): wait, quietly
                self.last_error = "broker not connected yet"
                await asyncio.sleep(self.interval_s)
                continue
            except Exception as exc:  # the broker or the database is away: back off, then again
                failures += 1
                self.last_error = repr(exc)
                log.warning("outbox relay: %r; retrying (%d)", exc, failures)
                with contextlib.suppress(Exception):  # the backlog shows how much waits meanwhile
                    await self.count_backlog()
                await asyncio.sleep(min(5.0, 0.2 * 2**failures))
                continue
            if sent:  # more may be waiting (stored during this pass): go on without a wait
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()

    async def pass_once(self) -> int:
        """Send one batch; returns how many rows it settled (published or failed)."""
        if time.monotonic() - self._counted_at >= BACKLOG_EVERY_S:  # queries off a lone report's path
            await self.count_backlog()
        rows, unloadable = await self._load()
        if unloadable:  # marked at once: a row that cannot be sent must not hold up the rest
            await self._mark([], unloadable)
        if not rows:
            if unloadable or time.monotonic() - self._counted_at >= BACKLOG_EVERY_S:
                await self.count_backlog()  # else: the last pass left it at what it sent
            return len(unloadable)
        outcomes = await self._send(rows)
        published, failed = [], []
        for row, outcome in zip(rows, outcomes, strict=True):
            if isinstance(outcome, PERMANENT):
                failed.append((row, repr(outcome)))
            elif isinstance(outcome, BaseException):
                break  # what follows waits for the next pass, in order
            else:
                published.append(row)
        await self._mark(published, failed)
        # Recounted when due: counting after every pass (four counts, on the empty pass that follows
        # each send) made the next report's nudge wait behind them at 50 reports/s.
        self.backlog = max(0, self.backlog - len(published) - len(failed))
        BACKLOG.set(self.backlog)
        if len(published) + len(failed) < len(rows):
            error = next(o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, PERMANENT))
            if isinstance(error, PRODUCER_FENCED):
                await renew_producer(self.broker, error)
            raise error if isinstance(error, Exception) else RuntimeError(repr(error))
        return len(rows) + len(unloadable)

    async def _send(self, rows: Sequence[OutboxRow]) -> list[object]:
        """Each row's outcome. On a real broker the rows go as record batches per topic and partition
        (one round of acknowledgements, no pass through FastStream's publish path per row); the rows of
        a batch the broker refused for good are sent again each in a batch of its own, to find which."""
        producer = aiokafka_producer(self.broker)
        if producer is None:  # the in-memory test broker
            return await self._publish_each(rows)
        outcomes = await self._send_batches(producer, rows, alone=False)
        refused = [i for i, outcome in enumerate(outcomes) if isinstance(outcome, PERMANENT)]
        again = await self._send_batches(producer, [rows[i] for i in refused], alone=True)
        for i, outcome in zip(refused, again, strict=True):
            outcomes[i] = outcome
        return outcomes

    async def _send_batches(
        self, producer: AIOKafkaProducer, rows: Sequence[OutboxRow], alone: bool
    ) -> list[object]:
        by_topic: dict[str, list[int]] = {}
        for i, row in enumerate(rows):
            by_topic.setdefault(row.topic, []).append(i)
        sends: list[asyncio.Future[object]] = []
        position: list[int] = []  # the row each entry of sends stands for
        for topic, indexes in by_topic.items():
            records = [(rows[i].key, rows[i].value) for i in indexes]
            for held, sent in await send_records(producer, topic, records, alone):
                sends += [sent] * len(held)
                position += [indexes[j] for j in held]
        outcomes: list[object] = [None] * len(rows)
        for i, outcome in zip(position, await _settled(sends, self.send_timeout_s), strict=True):
            outcomes[i] = outcome
        return outcomes

    async def _publish_each(self, rows: Sequence[OutboxRow]) -> list[object]:
        """The in-memory test broker: each row through FastStream's publish path, delivered at once."""
        return [
            await self.broker.publish(r.value, r.topic, key=r.key, headers=HEADERS, no_confirm=True)
            for r in rows
        ]

    async def _load(self) -> tuple[list[OutboxRow], list[tuple[OutboxRow, str]]]:
        """The next rows to send, and those that cannot be: each row is checked alone."""
        reports = _REPORTS.c
        query = select(reports.seq, reports.ruc_id, reports.event_json).where(
            reports.published_at.is_(None), reports.failed_at.is_(None), reports.event_json != ""
        )
        parts = _PARTS.c
        part_query = select(parts.ruc_id, parts.year, parts.updated_at, parts.body_json).where(
            parts.kind == "attendance", parts.published_at.is_(None), parts.failed_at.is_(None)
        )
        async with self.engine.connect() as conn:
            found = (await conn.execute(query.order_by(reports.seq).limit(self.batch))).all()
            part_rows = (await conn.execute(part_query.order_by(parts.updated_at).limit(self.batch))).all()
        if not found:  # every report row built here is settled (a nudge comes after its commit): a
            self._built.clear()  # row settled elsewhere (`rucnet outbox`) is not held for ever
        secret = self.settings.pseudonym_key()
        rows: list[OutboxRow] = []
        unloadable: list[tuple[OutboxRow, str]] = []
        for r in found:
            row = OutboxRow(topics.REPORTS_SUBMITTED, r.ruc_id.encode(), r.event_json.encode(), seq=r.seq)
            if r.seq not in self._built:
                try:  # what a consumer would refuse is refused here, where the row can be marked
                    ReportSubmitted.model_validate_json(r.event_json)
                except ValueError as exc:
                    unloadable.append((row, describe(exc)))
                    continue
            rows.append(row)
        for p in part_rows:
            row = OutboxRow(
                topics.ATTENDANCE_REPORTED, p.ruc_id.encode(), b"", part=(p.ruc_id, p.year, p.updated_at)
            )
            try:
                event = attendance_event(AttendanceIn.model_validate_json(p.body_json), secret)
            except (ValueError, KeyError) as exc:
                unloadable.append((row, describe(exc)))
                continue
            rows.append(replace(row, value=event.model_dump_json().encode()))
        limit = self.settings.kafka_max_message_bytes
        unloadable += [
            (r, f"too large: {len(r.value)} bytes, the broker takes {limit}")
            for r in rows
            if not fits(r.value, r.key, limit)
        ]
        return [r for r in rows if fits(r.value, r.key, limit)], unloadable

    async def _mark(self, published: Sequence[OutboxRow], failed: Sequence[tuple[OutboxRow, str]]) -> None:
        now = utcnow()
        reports = _REPORTS.c
        async with self.engine.begin() as conn:
            seqs = [r.seq for r in published if r.seq is not None]
            if seqs:
                await conn.execute(update(_REPORTS).where(reports.seq.in_(seqs)).values(published_at=now))
            for row in published:
                if row.part is not None:  # unless a newer version was saved meanwhile
                    await conn.execute(_this_part(row.part).values(published_at=now))
            for row, error in failed:
                # the row only, by name: the error may quote the row's content
                log.error("outbox: %s marked failed, not sent: %s", row.name, error.split(":")[0])
                FAILED.labels(row.kind).inc()
                if row.seq is not None:
                    refused = update(_REPORTS).where(reports.seq == row.seq)
                    await conn.execute(refused.values(failed_at=now, publish_error=error[:2000]))
                elif row.part is not None:
                    await conn.execute(_this_part(row.part).values(failed_at=now, publish_error=error[:2000]))
        self._built.difference_update(r.seq for r in published)
        self._built.difference_update(r.seq for r, _error in failed)
        PUBLISHED.inc(len(published))

    async def forget_published(self) -> None:
        """The broker lost what it had (the embedded one keeps memory only): send everything again."""
        async with self.engine.begin() as conn:
            sent = update(_REPORTS).where(_REPORTS.c.failed_at.is_(None))
            await conn.execute(sent.values(published_at=None))
            await conn.execute(update(_PARTS).where(_PARTS.c.failed_at.is_(None)).values(published_at=None))

    async def count_backlog(self) -> None:
        """What waits to be sent, and what failed and waits for someone (``rucnet outbox list``)."""
        reports, parts = _REPORTS.c, _PARTS.c
        attendance = parts.kind == "attendance"
        count = select(func.count())
        async with self.engine.connect() as conn:
            waiting = await conn.scalar(
                count.where(reports.published_at.is_(None), reports.failed_at.is_(None))
            )
            parts_waiting = await conn.scalar(
                count.where(attendance, parts.published_at.is_(None), parts.failed_at.is_(None))
            )
            failed = await conn.scalar(count.where(reports.failed_at.is_not(None)))
            parts_failed = await conn.scalar(count.where(attendance, parts.failed_at.is_not(None)))
        self.backlog = int(waiting or 0) + int(parts_waiting or 0)
        self.failed = int(failed or 0) + int(parts_failed or 0)
        self._counted_at = time.monotonic()
        BACKLOG.set(self.backlog)
        FAILED_NOW.set(self.failed)


def _this_part(part: tuple[str, int, dt.datetime]) -> Update:
    """The attendance part as it was loaded: a version saved since is left alone."""
    ruc_id, year, updated_at = part
    parts = _PARTS.c
    return update(_PARTS).where(
        and_(
            parts.ruc_id == ruc_id,
            parts.year == year,
            parts.kind == "attendance",
            parts.updated_at == updated_at,
        )
    )


async def _settled(sends: Sequence[asyncio.Future[object]], timeout_s: float) -> list[object]:
    """Each send's outcome (its result or its exception), a TimeoutError for those still pending."""
    done, _pending = await asyncio.wait(sends, timeout=timeout_s) if sends else (set(), set())
    outcomes: list[object] = []
    for sent in sends:
        if sent not in done:
            outcomes.append(TimeoutError(f"no acknowledgement within {timeout_s:.0f} s"))
        elif sent.cancelled():
            outcomes.append(asyncio.CancelledError())
        else:
            outcomes.append(sent.exception() or sent.result())
    return outcomes
