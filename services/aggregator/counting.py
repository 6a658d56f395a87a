"""Pure counting: what an insats contributes, and the deltas between two versions of it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, NamedTuple

CountTable = Literal["insats", "school_form", "nsp", "school_form_nsp"]


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


class CountKey(NamedTuple):
    table: CountTable
    year: int
    ruc_id: str
    lan_kod: str
    status: str
    dimension: str = ""
    dimension2: str = ""


def contributions(facts: InsatsFacts) -> list[CountKey]:
    base = (facts.year, facts.ruc_id, facts.lan_kod, facts.status)
    keys = [CountKey("insats", *base), CountKey("nsp", *base, facts.nsp_area)]
    keys += [CountKey("school_form", *base, form) for form in sorted(set(facts.school_forms))]
    return keys


def cross_contributions(facts: InsatsFacts) -> list[CountKey]:
    """The skolform × NSP cells an insats falls in: one per school form it targets."""
    base = (facts.year, facts.ruc_id, facts.lan_kod, facts.status)
    forms = sorted(set(facts.school_forms))
    return [CountKey("school_form_nsp", *base, form, facts.nsp_area) for form in forms]


def all_contributions(facts: InsatsFacts) -> list[CountKey]:
    """Everything the aggregator keeps a count of: the national tables and the cross table."""
    return contributions(facts) + cross_contributions(facts)


def count_deltas(
    old: InsatsFacts | None,
    new: InsatsFacts | None,
    contribute: Callable[[InsatsFacts], list[CountKey]] = contributions,
) -> dict[CountKey, int]:
    """The count changes that turn ``old`` into ``new``; unchanged keys are left out."""
    delta: Counter[CountKey] = Counter()
    if new is not None:
        delta.update(contribute(new))
    if old is not None:
        delta.subtract(contribute(old))
    return {key: n for key, n in sorted(delta.items()) if n != 0}


def count_all(records: Iterable[InsatsFacts]) -> dict[CountKey, int]:
    """The counts a set of records adds up to, from scratch: what verify and rebuild compare."""
    total: Counter[CountKey] = Counter()
    for facts in records:
        total.update(all_contributions(facts))
    return {key: n for key, n in sorted(total.items()) if n != 0}


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
