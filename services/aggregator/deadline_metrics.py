"""The gauges behind the alert RucnetReportsMissingNearDeadline (deploy/prometheus/rules).

For each year RUC may be reporting on (last year and this one), how many active RUC have no
report yet and when the year's deadline ends; the rule compares the two with Prometheus' clock.
Refreshed from the database once a minute in the background: a scrape never waits for SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from services.aggregator.completeness import year_deadline
from services.aggregator.ruc_activation import active_rucs
from services.aggregator.tables import ReportArrival
from shared.period import deadline_end

MISSING = Gauge("rucnet_rucs_without_report", "Active RUC with no report accepted for the year", ["year"])
DEADLINE = Gauge(
    "rucnet_reporting_deadline_timestamp_seconds", "When the year's reporting deadline ends (UTC)", ["year"]
)
log = logging.getLogger(__name__)


def open_years(today: dt.date) -> tuple[int, int]:
    """Last year's reports are due early this year (31 January by default); this year's next."""
    return today.year - 1, today.year


async def refresh(session: AsyncSession, today: dt.date) -> dict[int, tuple[int, float]]:
    """Set the gauges; returns {year: (RUC without a report, deadline's end as a Unix time)}."""
    figures = {}
    for year in open_years(today):
        reported = set(
            (await session.execute(select(ReportArrival.ruc_id).where(col(ReportArrival.year) == year)))
            .scalars()
            .all()
        )
        missing = sum(ruc.id not in reported for ruc in await active_rucs(session, year))
        ends = deadline_end(await year_deadline(session, year)).timestamp()
        MISSING.labels(str(year)).set(missing)
        DEADLINE.labels(str(year)).set(ends)
        figures[year] = (missing, ends)
    return figures


class DeadlineGauges:
    """A background task that refreshes the gauges every ``interval_s`` until cancelled."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], interval_s: float = 60.0) -> None:
        self.sessions = sessions
        self.interval_s = interval_s
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        while True:
            try:
                async with self.sessions() as session:
                    await refresh(session, dt.datetime.now(dt.UTC).date())
            except Exception:  # the database away: the health check says so; try again later
                log.warning("deadline gauges not refreshed", exc_info=True)
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        self.task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
