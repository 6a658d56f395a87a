"""Queries over the count tables: what the read API and the national report show."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    # area → basis (confirmed / declared / unreviewed) → completed insatser; adds up to by_nsp
    completed_by_nsp_basis: dict[str, dict[str, int]] = field(default_factory=dict)


async def national_counts(session: AsyncSession, year: int) -> NationalCounts:
    """The year's national figures, read in one statement: one snapshot, so a batch being applied
    meanwhile shows in all of them or in none."""
    insats, forms, nsp, basis = (COUNT_TABLES[name] for name in ("insats", "school_form", "nsp", "nsp_basis"))
    area_basis = basis.c.nsp_area + literal("/") + basis.c.basis
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
        select(literal("basis"), basis.c.status, area_basis, func.sum(basis.c.n))
        .where(basis.c.year == year, basis.c.status == "completed")
        .group_by(basis.c.status, area_basis),
    )
    totals: dict[str, int] = {}
    by_form: dict[str, int] = {}
    by_nsp: dict[str, int] = {}
    by_basis: dict[str, dict[str, int]] = {}
    for kind, status, key, n in await session.execute(union_all(*parts)):
        if kind == "basis":  # codes hold no "/": area/basis splits back into the two
            area, _, how = key.rpartition("/")
            by_basis.setdefault(area, {})[how] = int(n or 0)
        else:
            {"total": totals, "form": by_form, "nsp": by_nsp}[kind][key or status] = int(n or 0)
    return NationalCounts(
        started_total=totals.get("started", 0),
        started_by_school_form=by_form,
        completed_total=totals.get("completed", 0),
        completed_by_nsp=by_nsp,
        completed_by_nsp_basis=by_basis,
    )
