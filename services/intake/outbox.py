"""What intake stored but the broker has not acknowledged yet, and the marks of what it has.

A report's row is committed before it is published; once the broker acknowledges it, its event id
waits in ``PublishedMarks`` and is marked published with many others in one UPDATE every few tens
of milliseconds. A crash before that flush costs only a re-send (the relay or the start-up outbox
sends rows not yet marked), and consumers dedupe by event id.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col, select

from services.intake.batching import ReceiptWriter
from services.intake.parts import AttendanceIn, ReportPart, attendance_event
from shared.events import AttendanceReported

log = logging.getLogger("rucnet.intake.outbox")
T = TypeVar("T")


async def unpublished_attendance(
    session: AsyncSession, secret: str, include_published: bool
) -> list[AttendanceReported]:
    query = select(ReportPart).where(col(ReportPart.kind) == "attendance")
    if not include_published:
        query = query.where(col(ReportPart.published_at).is_(None))
    rows = (await session.execute(query)).scalars().all()
    return [attendance_event(AttendanceIn.model_validate_json(r.body_json), secret) for r in rows]


class PublishedMarks:
    """Events being sent and acknowledged ones, marked published in batches by ``run``.

    The outbox relay asks ``pending`` so that it neither sends an event a request is sending right
    now nor one that is acknowledged but not marked yet.
    """

    def __init__(self, engine: AsyncEngine, interval_s: float = 0.05) -> None:
        self.writer = ReceiptWriter(engine)  # its own connection: flushes run beside the receipts'
        self.interval_s = interval_s
        self._sending: set[str] = set()
        self._waiting: set[str] = set()
        self._writing: set[str] = set()
        self._lock = asyncio.Lock()

    def sending(self, event_id: uuid.UUID | str) -> None:
        self._sending.add(str(event_id))

    def abandoned(self, event_id: uuid.UUID | str) -> None:
        """Not acknowledged (broker down, request cancelled): the relay's to send now."""
        self._sending.discard(str(event_id))

    def acknowledged(self, event_id: uuid.UUID | str) -> None:
        self._sending.discard(str(event_id))
        self._waiting.add(str(event_id))

    def is_acknowledged(self, event_id: uuid.UUID | str) -> bool:
        """Acknowledged by the broker, its mark not written yet."""
        return str(event_id) in self._waiting or str(event_id) in self._writing

    def pending(self, event_id: uuid.UUID | str) -> bool:
        """Being sent or acknowledged: not for the relay."""
        return str(event_id) in self._sending or self.is_acknowledged(event_id)

    async def along_with(self, write: Callable[[set[str]], Awaitable[T]]) -> T:
        """Run ``write`` with the ids waiting to be marked; it marks them in its own statement.

        The receipt writer does this with every batch, so under load marks cost no round trip of
        their own; ``run`` flushes whatever is left when no batch comes. On failure the ids wait.
        """
        taken, self._waiting = self._waiting, set()
        self._writing |= taken
        try:
            result = await write(taken)
        except BaseException:
            self._waiting |= taken
            raise
        finally:
            self._writing -= taken
        return result

    async def flush(self) -> int:
        """Mark every waiting id published; on failure they wait for the next flush."""
        async with self._lock:
            if not self._waiting:
                return 0
            taken = await self.along_with(self._mark)
            return len(taken)

    async def _mark(self, event_ids: set[str]) -> set[str]:
        await self.writer.mark_published(event_ids)
        return event_ids

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.flush()
            except Exception:
                log.exception("marking %d reports published failed; will retry", len(self._waiting))

    async def close(self) -> None:
        """The last flush, at stop; ids it cannot mark are sent again at the next start (deduped)."""
        try:
            await self.flush()
        except Exception:
            log.exception("could not mark the last %d reports published", len(self._waiting))
        await self.writer.close()
