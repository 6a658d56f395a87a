"""Reporting years and their deadlines: which years a report may be for, which one is open now.

The years are the span of the RUC registry (``shared/data/ruc_registry.json``, the first to the
last year any RUC is active): a report for another year has no network to belong to. A year's
deadline is what an admin set (`rucnet deadline set`, the aggregator's ``reporting_deadline``),
else 31 January of the following year; the deadline day lasts until midnight, Swedish time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from shared.reference import load_reference

SWEDEN = ZoneInfo("Europe/Stockholm")


def year_span() -> tuple[int, int]:
    """The first and last year of the registry: the years a report may be for."""
    years = [y for ruc in load_reference().ruc for y in ruc.active_years]
    return min(years), max(years)


def span_message() -> str:
    first, last = year_span()
    return f"Året måste vara mellan {first} och {last} / the year must be between {first} and {last}"


def in_span(year: int) -> int:
    """The year, if a report may be for it; else a ValueError naming the span."""
    first, last = year_span()
    if not first <= year <= last:
        raise ValueError(span_message())
    return year


def default_deadline(year: int) -> dt.date:
    return dt.date(year + 1, 1, 31)


def deadline_end(deadline: dt.date) -> dt.datetime:
    """A deadline day lasts until midnight in Sweden."""
    return dt.datetime.combine(deadline + dt.timedelta(days=1), dt.time(), SWEDEN).astimezone(dt.UTC)


def deadline_of(year: int, deadlines: Mapping[int, dt.date]) -> dt.date:
    return deadlines.get(year) or default_deadline(year)


def open_year(now: dt.datetime, deadlines: Mapping[int, dt.date]) -> int:
    """The year a samordnare reports for now: the earliest year, up to this one, whose deadline has
    not passed (in January the past year is still open); within the registry's span."""
    first, last = year_span()
    this_year = now.astimezone(SWEDEN).year
    for year in range(first, min(this_year, last) + 1):
        if now < deadline_end(deadline_of(year, deadlines)):
            return year
    return max(first, min(this_year, last))
