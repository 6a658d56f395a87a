"""The reporting period as the pages show it: the year a new form starts at and its deadline."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from fastapi import Request

from services.intake.deps import receipts_of
from shared.events import utcnow
from shared.pages import MONTHS
from shared.period import deadline_end, deadline_of, open_year, year_span


def sv_date(day: dt.date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


@dataclass(frozen=True)
class Period:
    open_year: int
    deadlines: dict[int, dt.date] = field(default_factory=dict)  # what an admin set; others default

    @property
    def span(self) -> tuple[int, int]:
        return year_span()

    def years(self) -> list[int]:
        """The years a form offers, the newest first."""
        first, last = self.span
        return list(range(last, first - 1, -1))

    def deadline(self, year: int) -> dt.date:
        return deadline_of(year, self.deadlines)

    def hint(self, year: int | None) -> str:
        """The deadline of the year shown, in words: "… senast 31 januari 2027"."""
        first, last = self.span
        allowed = f"År {first}–{last}."
        if year is None or not first <= year <= last:
            return f"{allowed} Öppet nu: {self.open_year}, senast {sv_date(self.deadline(self.open_year))}."
        day = self.deadline(year)
        if utcnow() < deadline_end(day):
            return f"{allowed} Sista dag för {year}: {sv_date(day)}."
        return f"{allowed} Sista dag för {year} var {sv_date(day)}; en rapport nu räknas som sen."


async def current_period(request: Request) -> Period:
    """From the aggregator (which keeps the admin-set deadlines); the default rule if it is away."""
    client = receipts_of(request.app)
    body = await client.period()
    if body is None:
        return Period(open_year(utcnow(), {}))
    set_ = {
        int(d["year"]): dt.date.fromisoformat(d["deadline"]) for d in body["deadlines"] if d["set_by_admin"]
    }
    return Period(int(body["open_year"]), set_)


def year_of(raw: object) -> int | None:
    text = str(raw or "").strip()
    return int(text) if text.isdigit() and len(text) == 4 else None
