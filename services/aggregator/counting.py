"""Pure counting: the count spec, what an insats contributes, and the deltas between two versions.

``COUNT_SPEC`` is the one place the counting rule is written. Each count table is keyed by the
insats's year, RUC, län and status plus its own dimensions, and holds its measures. The live
upsert (``upserts.py``), the rebuild's recount (``rebuild.py``), verify and the count tables'
columns (``tables.py``) are all derived from it; the reporting views read the count tables.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple

CountTable = Literal["insats", "school_form", "nsp", "school_form_nsp", "nsp_basis"]
Measures = tuple[int, ...]  # one value per measure of the table, in the spec's order
BASE = ("year", "ruc_id", "lan_kod", "status")  # every count table's leading key columns


class InsatsFacts(NamedTuple):
    """What the counts see of one insats record: no text, no huvudman identity.

    This and ``CountKey`` are tuples: the aggregator makes several keys per insats it counts, and
    a tuple is built, hashed and ordered in C where a frozen dataclass runs Python for each."""

    ruc_id: str
    year: int
    lan_kod: str
    status: str
    school_forms: tuple[str, ...]
    nsp_area: str
    area_source: str  # declared / classifier / override: what the area rests on


class Dimension(NamedTuple):
    """A key column of a count table, taken from a field of ``InsatsFacts``."""

    column: str
    fact: str
    each: bool = False  # the fact is a tuple: the insats counts once under each distinct value
    labels: Mapping[str, str] | None = None  # the fact's value → the column's (None: as it is)


class Measure(NamedTuple):
    """A value column: 1 per insats (a count) when ``fact`` is None, else the sum of that fact."""

    column: str
    fact: str | None = None


class CountSpec(NamedTuple):
    table: str
    dimensions: tuple[Dimension, ...] = ()
    measures: tuple[Measure, ...] = (Measure("n"),)


SCHOOL_FORM = Dimension("school_form", "school_forms", each=True)
NSP_AREA = Dimension("nsp_area", "nsp_area")
# What an insats's area rests on, as Skolverket signs it: an analyst's decision (an override, or an
# accept, which the classifier publishes as an override to the same area), the samordnare's own
# declaration, or the classifier's tag nobody has reviewed.
BASIS_OF_SOURCE = {"override": "confirmed", "declared": "declared", "classifier": "unreviewed"}
BASES = tuple(dict.fromkeys(BASIS_OF_SOURCE.values()))
BASIS = Dimension("basis", "area_source", labels=BASIS_OF_SOURCE)
COUNT_SPEC: dict[CountTable, CountSpec] = {
    "insats": CountSpec("count_insats"),
    "school_form": CountSpec("count_school_form", (SCHOOL_FORM,)),
    "nsp": CountSpec("count_nsp", (NSP_AREA,)),
    # skolform × NSP: an insats counts once in each cell of its school forms and its area
    "school_form_nsp": CountSpec("count_school_form_nsp", (SCHOOL_FORM, NSP_AREA)),
    # NSP × basis: how many of an area's insatser an analyst confirmed, the samordnare declared,
    # or only the classifier tagged
    "nsp_basis": CountSpec("count_nsp_basis", (NSP_AREA, BASIS)),
}
# The facts records are grouped by before counting (the rebuild) and the facts summed per group.
GROUPED_FACTS = tuple(dict.fromkeys([*BASE, *(d.fact for s in COUNT_SPEC.values() for d in s.dimensions)]))
SUMMED_FACTS = tuple(dict.fromkeys(m.fact for s in COUNT_SPEC.values() for m in s.measures if m.fact))


class CountKey(NamedTuple):
    table: CountTable
    year: int
    ruc_id: str
    lan_kod: str
    status: str
    dimensions: tuple[str, ...] = ()  # the values of the table's dimensions, in the spec's order


def _cells(dimensions: tuple[Dimension, ...], facts: InsatsFacts) -> Iterator[tuple[str, ...]]:
    values = []
    for dimension in dimensions:
        value = getattr(facts, dimension.fact)
        if dimension.labels is not None:
            value = dimension.labels[value]
        values.append(sorted(set(value)) if dimension.each else (value,))
    return itertools.product(*values)


def contributions(facts: InsatsFacts, weight: int = 1) -> list[tuple[CountKey, Measures]]:
    """Every cell of every count table the insats falls in, with what it adds there. ``weight``:
    the insatser it stands for (the rebuild counts a group of records alike at once; then each
    summed fact holds the group's sum)."""
    base = (facts.year, facts.ruc_id, facts.lan_kod, facts.status)
    out = []
    for name, spec in COUNT_SPEC.items():
        values = tuple(weight if m.fact is None else getattr(facts, m.fact) for m in spec.measures)
        out += [(CountKey(name, *base, cell), values) for cell in _cells(spec.dimensions, facts)]
    return out


def add_into(
    total: dict[CountKey, Measures], changes: Iterable[tuple[CountKey, Measures]], sign: int = 1
) -> None:
    for key, values in changes:
        held = total.get(key)
        if held is None:
            total[key] = tuple(sign * v for v in values)
        else:
            total[key] = tuple(h + sign * v for h, v in zip(held, values, strict=True))


def nonzero(total: Mapping[CountKey, Measures]) -> dict[CountKey, Measures]:
    return {key: values for key, values in sorted(total.items()) if any(values)}


def count_deltas(old: InsatsFacts | None, new: InsatsFacts | None) -> dict[CountKey, Measures]:
    """The count changes that turn ``old`` into ``new`` (None: not counted); unchanged keys are left out."""
    delta: dict[CountKey, Measures] = {}
    if new is not None:
        add_into(delta, contributions(new))
    if old is not None:
        add_into(delta, contributions(old), -1)
    return nonzero(delta)


def count_records(records: Iterable[tuple[InsatsFacts, int]]) -> dict[CountKey, Measures]:
    """The counts of records from scratch, each (facts, how many insatser it stands for)."""
    total: dict[CountKey, Measures] = {}
    for facts, weight in records:
        add_into(total, contributions(facts, weight))
    return nonzero(total)


def effective_area(override: str | None, declared: str | None, classified: str) -> str:
    """An analyst's override wins, then the submitter's declared area, then the classifier's."""
    return override or declared or classified


@dataclass(frozen=True)
class KnownCodes:
    """The reference codes an event may use; anything else is a poison message, not a new count."""

    ruc_ids: frozenset[str]
    lan_codes: frozenset[str]
    school_forms: frozenset[str]
    nsp_areas: frozenset[str]


def unknown_codes(
    known: KnownCodes,
    *,
    ruc_ids: Iterable[str] = (),
    lan_codes: Iterable[str] = (),
    school_forms: Iterable[str] = (),
    nsp_areas: Iterable[str | None] = (),
) -> list[str]:
    """Human-readable problems, empty when every code is known."""
    checks: list[tuple[str, Iterable[str | None], frozenset[str]]] = [
        ("RUC", ruc_ids, known.ruc_ids),
        ("län", lan_codes, known.lan_codes),
        ("school form", school_forms, known.school_forms),
        ("NSP area", nsp_areas, known.nsp_areas),
    ]
    problems = []
    for label, values, allowed in checks:
        bad = sorted({v for v in values if v is not None and v not in allowed})
        if bad:
            problems.append(f"unknown {label} {bad}")
    return problems
