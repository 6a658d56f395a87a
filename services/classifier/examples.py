"""Labelled examples: the hand-written corpus shipped in ``corpus/``, the reference vocabulary, and
(from the store) every insats an analyst reviewed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from shared.reference import ReferenceData


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    provenance: str = ""
    hard: bool = False


def load_corpus() -> list[Example]:
    """The hand-written labelled corpus shipped with the service (JSON lines)."""
    raw = resources.files("services.classifier").joinpath("corpus", "nsp_corpus.jsonl")
    rows = [json.loads(line) for line in raw.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Example(r["text"], r["label"], r.get("provenance", ""), bool(r.get("hard", False))) for r in rows]


def vocabulary_examples(reference: ReferenceData) -> list[Example]:
    """Each area's reference vocabulary as tiny examples: words the corpus may lack still count."""
    return [
        Example(term, area.code, "referensdata: nsp_areas.json")
        for area in reference.nsp_areas
        for term in area.vocabulary
    ]
