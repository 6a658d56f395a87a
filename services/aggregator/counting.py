"""Pure counting: what an insats contributes, and the deltas between two versions of it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal

CountTable = Literal["insats", "school_form", "nsp"]


@dataclass(frozen=True)
class InsatsFacts:
    """What the counts see of one insats record: no text, no huvudman identity."""

    ruc_id: str
    year: int
    lan_kod: str
    status: str
    school_forms: tuple[str, ...]
    nsp_area: str


@dataclass(frozen=True, order=True)
class CountKey:
    table: CountTable
    year: int
    ruc_id: str
    lan_kod: str
    status: str
    dimension: str = ""


def contributions(facts: InsatsFacts) -> list[CountKey]:
    base = (facts.year, facts.ruc_id, facts.lan_kod, facts.status)
    keys = [CountKey("insats", *base), CountKey("nsp", *base, facts.nsp_area)]
    keys += [CountKey("school_form", *base, form) for form in sorted(set(facts.school_forms))]
    return keys


def count_deltas(old: InsatsFacts | None, new: InsatsFacts | None) -> dict[CountKey, int]:
    """The count changes that turn ``old`` into ``new``; unchanged keys are left out."""
    delta: Counter[CountKey] = Counter()
    if new is not None:
        delta.update(contributions(new))
    if old is not None:
        delta.subtract(contributions(old))
    return {key: n for key, n in sorted(delta.items()) if n != 0}


def effective_area(override: str | None, declared: str | None, classified: str) -> str:
    """An analyst's override wins, then the submitter's declared area, then the classifier's."""
    return override or declared or classified
