"""Pure counting: the count spec, what an insats contributes, and the deltas between two versions.

``COUNT_SPEC`` is the one place the counting rule is written. Each count table is keyed by the
insats's year, RUC, län and status plus its own dimensions, and holds its measures. The live
upsert (``upserts.py``), the recount (``recount.py``: the rebuild's and the migrations'), verify,
the read API's sums (``queries.py``) and the count tables' columns (``tables.py``) are all derived
from it; the reporting views read the count tables and never count records again.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple

CountTable = Literal[
    "insats",
    "school_form",
    "nsp",
    "school_form_nsp",
    "nsp_basis",
    "classification",
    "huvudman",
    "start_month",
]
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
    # the facts a grouping of the recount leaves out keep these defaults (its tables never read them)
    school_forms: tuple[str, ...] = ()
    nsp_area: str = ""
    area_source: str = "classifier"  # declared / classifier / override: what the area rests on
    # what the classification dashboard sees (derived from the record in ``facts.py``)
    huvudman: str = ""  # the keyed pseudonym, never a name
    classified_area: str = ""
    declared: str = "false"  # "true" when the samordnare gave an area
    needs_review: str = "false"  # "true" while the classifier's tag awaits an analyst
    model_version: str = ""
    confidence_bucket: str = "0"  # the tenth of [0, 1] the confidence falls in: "0" … "9"
    confidence_milli: int = 0  # the confidence in thousandths (summed: mean = sum / n)
    participants: int = 0  # how many took part (0 when not reported)
    participants_reported: int = 0  # 1 when the insats reported its participants
    start_month: tuple[str, ...] = ()  # "YYYY-MM" of its start date; () when it gave none


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
    # the recount groups records once per grouping, by the facts its tables see: tables whose
    # dimensions would multiply the groups of the others (a huvudman, a confidence) group apart
    grouping: str = "records"


SCHOOL_FORM = Dimension("school_form", "school_forms", each=True)
NSP_AREA = Dimension("nsp_area", "nsp_area")
# What an insats's area rests on, as Skolverket signs it: an analyst's decision (an override, or an
# accept, which the classifier publishes as an override to the same area), the samordnare's own
# declaration, or the classifier's tag nobody has reviewed.
BASIS_OF_SOURCE = {"override": "confirmed", "declared": "declared", "classifier": "unreviewed"}
BASES = tuple(dict.fromkeys(BASIS_OF_SOURCE.values()))
BASIS = Dimension("basis", "area_source", labels=BASIS_OF_SOURCE)
COUNT_SPEC: dict[CountTable, CountSpec] = {
    # participants summed, and the insatser that reported them: the mean is one over the other
    "insats": CountSpec(
        "count_insats",
        measures=(
            Measure("n"),
            Measure("participants", "participants"),
            Measure("participants_reported", "participants_reported"),
        ),
    ),
    "school_form": CountSpec("count_school_form", (SCHOOL_FORM,)),
    "nsp": CountSpec("count_nsp", (NSP_AREA,)),
    # skolform × NSP: an insats counts once in each cell of its school forms and its area
    "school_form_nsp": CountSpec("count_school_form_nsp", (SCHOOL_FORM, NSP_AREA)),
    # NSP × basis: how many of an area's insatser an analyst confirmed, the samordnare declared,
    # or only the classifier tagged
    "nsp_basis": CountSpec("count_nsp_basis", (NSP_AREA, BASIS)),
    # what the classification dashboard shows: the effective and the classified area, what the
    # area rests on, whether it was declared or awaits review, the model and its confidence
    "classification": CountSpec(
        "count_classification",
        (
            NSP_AREA,
            Dimension("classified_area", "classified_area"),
            Dimension("area_source", "area_source"),
            Dimension("declared", "declared"),
            Dimension("needs_review", "needs_review"),
            Dimension("model_version", "model_version"),
            Dimension("confidence_bucket", "confidence_bucket"),
        ),
        (Measure("n"), Measure("confidence_milli", "confidence_milli")),
        grouping="classification",
    ),
    # the huvudmän a RUC's insatser come from (reporting status: a huvudman is a non-empty cell)
    "huvudman": CountSpec("count_huvudman", (Dimension("huvudman", "huvudman"),), grouping="huvudman"),
    # per month of start: an insats without a start date falls in no cell (each of no value)
    "start_month": CountSpec("count_start_month", (Dimension("start_month", "start_month", each=True),)),
}

# The national figures (GET /api/v1/stats/national, the PM): per status, the tables it is broken
# down by besides its total (started: per school form; completed: per NSP area and its basis).
NATIONAL: dict[str, tuple[CountTable, ...]] = {
    "started": ("school_form", "start_month"),
    "completed": ("nsp", "nsp_basis"),
}


def counted(spec: CountSpec) -> str:
    """The column of the table's measure that counts insatser (one per insats)."""
    return next(m.column for m in spec.measures if m.fact is None)


class Grouping(NamedTuple):
    """Tables the recount fills from one grouping of the records: by ``grouped``, ``summed`` summed."""

    tables: tuple[CountTable, ...]
    grouped: tuple[str, ...]
    summed: tuple[str, ...]


def _groupings() -> dict[str, Grouping]:
    names: dict[str, list[CountTable]] = {}
    for name, spec in COUNT_SPEC.items():
        names.setdefault(spec.grouping, []).append(name)
    out = {}
    for grouping, tables in names.items():
        specs = [COUNT_SPEC[t] for t in tables]
        grouped = tuple(dict.fromkeys([*BASE, *(d.fact for s in specs for d in s.dimensions)]))
        summed = tuple(dict.fromkeys(m.fact for s in specs for m in s.measures if m.fact))
        out[grouping] = Grouping(tuple(tables), grouped, summed)
    return out


GROUPINGS = _groupings()


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


def contributions(
    facts: InsatsFacts, weight: int = 1, tables: Iterable[CountTable] = COUNT_SPEC
) -> list[tuple[CountKey, Measures]]:
    """Every cell of every count table (of ``tables``) the insats falls in, with what it adds
    there. ``weight``: the insatser it stands for (the recount counts a group of records alike at
    once; then each summed fact holds the group's sum)."""
    base = (facts.year, facts.ruc_id, facts.lan_kod, facts.status)
    out = []
    for name in tables:
        spec = COUNT_SPEC[name]
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


SUMMED = tuple(dict.fromkeys(m.fact for s in COUNT_SPEC.values() for m in s.measures if m.fact))


def net_deltas(changes: Iterable[tuple[InsatsFacts | None, InsatsFacts | None]]) -> dict[CountKey, Measures]:
    """The count changes of many records at once, each (old, new) as in ``count_deltas``: the sum
    of theirs. The records a batch changes share a few facts between them, so each distinct facts
    is counted once, weighted by how many records gain it less how many lose it."""
    weights: dict[InsatsFacts, int] = {}
    for old, new in changes:
        if new is not None:
            weights[new] = weights.get(new, 0) + 1
        if old is not None:
            weights[old] = weights.get(old, 0) - 1
    return count_records(
        (facts._replace(**{f: getattr(facts, f) * weight for f in SUMMED}), weight)
        for facts, weight in weights.items()
        if weight
    )


def count_records(
    records: Iterable[tuple[InsatsFacts, int]], tables: Iterable[CountTable] = COUNT_SPEC
) -> dict[CountKey, Measures]:
    """The counts of records from scratch, each (facts, how many insatser it stands for)."""
    total: dict[CountKey, Measures] = {}
    names = tuple(tables)
    for facts, weight in records:
        add_into(total, contributions(facts, weight, names))
    return nonzero(total)


def flag(value: bool) -> str:
    """A yes/no fact as its key column holds it."""
    return "true" if value else "false"


def confidence_bucket(confidence: float) -> str:
    """The tenth of [0, 1] a confidence falls in, "0" … "9" (1.0 in the last)."""
    return str(min(int(confidence * 10), 9))


def confidence_milli(confidence: float) -> int:
    return int(confidence * 1000 + 0.5)


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
