"""Queries over the count tables: what the read API and the national report show."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, literal, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from services.aggregator.tables import COUNT_TABLES


@dataclass(frozen=True)
class NationalCounts:
    started_total: int
    started_by_school_form: dict[str, int]
    completed_total: int
    completed_by_nsp: dict[str, int]


async def national_counts(session: AsyncSession, year: int) -> NationalCounts:
    """The year's national figures, read in one statement: one snapshot, so a batch being applied
    meanwhile shows in all of them or in none."""
    insats, forms, nsp = (COUNT_TABLES[name] for name in ("insats", "school_form", "nsp"))
    parts = (
        select(literal("total"), insats.c.status, literal(""), func.sum(insats.c.n))
        .where(insats.c.year == year)
        .group_by(insats.c.status),
        select(literal("form"), forms.c.status, forms.c.school_form, func.sum(forms.c.n))
        .where(forms.c.year == year, forms.c.status == "started")
        .group_by(forms.c.status, forms.c.school_form),
        select(literal("nsp"), nsp.c.status, nsp.c.nsp_area, func.sum(nsp.c.n))
        .where(nsp.c.year == year, nsp.c.status == "completed")
        .group_by(nsp.c.status, nsp.c.nsp_area),
    )
    totals: dict[str, int] = {}
    by_form: dict[str, int] = {}
    by_nsp: dict[str, int] = {}
    for kind, status, key, n in await session.execute(union_all(*parts)):
        {"total": totals, "form": by_form, "nsp": by_nsp}[kind][key or status] = int(n or 0)
    return NationalCounts(
        started_total=totals.get("started", 0),
        started_by_school_form=by_form,
        completed_total=totals.get("completed", 0),
        completed_by_nsp=by_nsp,
    )
