"""Queries over the count tables: the spec's measures summed, by any of a table's key columns.

Nothing here knows a measure or a dimension by name: the read API, the national figures and the
PM export ask for a count table and the key columns to group by, and get every measure the spec
declares for it (``counting.COUNT_SPEC``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Table, func, literal, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from services.aggregator.counting import COUNT_SPEC, NATIONAL, CountTable, counted
from services.aggregator.tables import COUNT_TABLES


class Sum(NamedTuple):
    """One group of a count table: its key columns' values and each measure's sum, by column."""

    key: tuple[Any, ...]
    measures: dict[str, int]


def where_region(table: Table, years: tuple[int, int], ruc_id: str | None, lan_kod: str | None) -> list[Any]:
    clauses = [table.c.year >= years[0], table.c.year <= years[1]]
    if ruc_id is not None:
        clauses.append(table.c.ruc_id == ruc_id)
    if lan_kod is not None:
        clauses.append(table.c.lan_kod == lan_kod)
    return clauses


async def sums(
    session: AsyncSession, name: CountTable, group: Sequence[str], where: Sequence[Any]
) -> list[Sum]:
    """The table's measures summed per group of ``group`` columns; empty groups left out."""
    table, measures = COUNT_TABLES[name], [m.column for m in COUNT_SPEC[name].measures]
    columns = [table.c[c] for c in group]
    query = select(*columns, *(func.sum(table.c[m]) for m in measures)).where(*where).group_by(*columns)
    out = []
    for row in (await session.execute(query)).all():
        values = {m: int(v or 0) for m, v in zip(measures, row[len(group) :], strict=True)}
        if any(values.values()):
            out.append(Sum(tuple(row[: len(group)]), values))
    return out


@dataclass(frozen=True)
class NationalCounts:
    """A year's national figures: per status, the insatser and each breakdown ``NATIONAL`` names."""

    totals: dict[str, int]
    breakdowns: dict[tuple[str, CountTable], dict[tuple[str, ...], int]] = field(default_factory=dict)
    # per status, every measure of ``count_insats`` summed (the count ``n`` among them)
    measures: dict[str, dict[str, int]] = field(default_factory=dict)

    def by(self, status: str, name: CountTable) -> dict[tuple[str, ...], int]:
        return self.breakdowns.get((status, name), {})

    @property
    def started_total(self) -> int:
        return self.totals.get("started", 0)

    @property
    def completed_total(self) -> int:
        return self.totals.get("completed", 0)

    @property
    def started_by_school_form(self) -> dict[str, int]:
        return {k[0]: n for k, n in self.by("started", "school_form").items()}

    @property
    def completed_by_nsp(self) -> dict[str, int]:
        return {k[0]: n for k, n in self.by("completed", "nsp").items()}

    @property
    def completed_by_nsp_basis(self) -> dict[str, dict[str, int]]:
        """area → basis (confirmed / declared / unreviewed) → completed insatser; adds up to by_nsp."""
        out: dict[str, dict[str, int]] = {}
        for (area, basis), n in self.by("completed", "nsp_basis").items():
            out.setdefault(area, {})[basis] = n
        return out


async def national_counts(session: AsyncSession, year: int) -> NationalCounts:
    """The year's national figures, read in one statement: one snapshot, so a batch being applied
    meanwhile shows in all of them or in none. Key columns are joined by "/" (codes hold none)."""
    parts = []
    insats = COUNT_TABLES["insats"]
    for measure in COUNT_SPEC["insats"].measures:  # every measure of the totals, by its column
        summed = func.sum(insats.c[measure.column])
        total = select(literal("insats"), insats.c.status, literal(measure.column), summed)
        parts.append(total.where(insats.c.year == year).group_by(insats.c.status))
    for status, names in NATIONAL.items():
        for name in names:
            table, spec = COUNT_TABLES[name], COUNT_SPEC[name]
            key: Any = literal("")
            for i, dimension in enumerate(spec.dimensions):
                key = table.c[dimension.column] if i == 0 else key + literal("/") + table.c[dimension.column]
            query = select(literal(name), table.c.status, key, func.sum(table.c[counted(spec)]))
            where = (table.c.year == year, table.c.status == status)
            parts.append(query.where(*where).group_by(table.c.status, key))
    measures: dict[str, dict[str, int]] = {}
    breakdowns: dict[tuple[str, CountTable], dict[tuple[str, ...], int]] = {}
    for name, status, key, n in await session.execute(union_all(*parts)):
        if name == "insats":
            measures.setdefault(status, {})[key] = int(n or 0)
        else:
            breakdowns.setdefault((status, name), {})[tuple(key.split("/"))] = int(n or 0)
    count = counted(COUNT_SPEC["insats"])
    totals = {status: values.get(count, 0) for status, values in measures.items()}
    return NationalCounts(totals, breakdowns, measures)
