"""Labelled examples: the hand-written corpus and evaluation set shipped in ``corpus/``, the reference
vocabulary, labelled real texts supplied by a file, and (from the store) every insats an analyst reviewed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from shared.reference import ReferenceData

CORPUS = "nsp_corpus.jsonl"  # the training corpus (issue 15): short effect texts in the samordnare's style
REAL_STYLE = (
    "real_style_corpus.jsonl"  # hard texts in the style of Skolverket's quotes (issue 22), trained on
)
SHARED_REAL = "real_2020_shared.jsonl"  # 23 real effects from Skolverket's 2020 PM, its labels (issue 22)
REAL_STYLE_HOLDOUT = "real_style_holdout.jsonl"  # written apart in that style: never trained or tuned on
EVAL_SET = "eval_set.jsonl"  # written apart, never trained or tuned on
CURVE_SET = "curve_set.jsonl"  # a second, narrative-style set: the learning curve's pool, never trained on
LEGACY_CORPUS = "legacy_corpus.jsonl"  # the first corpus (issue 4): kept only to measure against


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    provenance: str = ""
    hard: bool = False
    group: str = ""  # texts written together about one theme: they are held out together
    real: bool = False  # a text from a real report (reviewed or supplied), not one we wrote


def _read(name: str, real: bool = False) -> list[Example]:
    raw = resources.files("services.classifier").joinpath("corpus", name)
    rows = [json.loads(line) for line in raw.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [
        Example(
            r["text"],
            r["label"],
            r.get("provenance", ""),
            bool(r.get("hard", False)),
            r.get("group", ""),
            real,
        )
        for r in rows
    ]


def load_corpus() -> list[Example]:
    """What the shipped model trains on, all written by the project: the corpus (issue 15) and the
    hard texts in the style of Skolverket's quotes (issue 22, marked ``hard``)."""
    return [*_read(CORPUS), *_read(REAL_STYLE)]


def load_shared_real() -> list[Example]:
    """The real 2020 effects Skolverket shared, labelled by its headings (``real``). The shipped
    model is calibrated on them but does not train on them: by k-fold, learning them cost top-1 on
    the held-out ones (docs/classifier.md, "Real texts")."""
    return _read(SHARED_REAL, real=True)


def load_real_style_holdout() -> list[Example]:
    """Hard texts in the real style written apart from the training ones: never trained or tuned on."""
    return _read(REAL_STYLE_HOLDOUT)


def load_eval_set() -> list[Example]:
    """The separate evaluation set: written by another method, never used for training or tuning."""
    return _read(EVAL_SET)


def load_curve_set() -> list[Example]:
    """A second set in a third (narrative) style, for the learning curve and as a second judge."""
    return _read(CURVE_SET)


def load_legacy_corpus() -> list[Example]:
    return _read(LEGACY_CORPUS)


def vocabulary_examples(reference: ReferenceData) -> list[Example]:
    """Each area's reference vocabulary as tiny examples: words the corpus may lack still count."""
    return [
        Example(term, area.code, "referensdata: nsp_areas.json")
        for area in reference.nsp_areas
        for term in area.vocabulary
    ]


class ExampleFileError(ValueError):
    """A line of a labelled-examples file that cannot be used (its message says which and why)."""


def read_examples_file(path: Path, codes: Iterable[str]) -> list[Example]:
    """Lines ``{"text": ..., "area": "<nsp code>"}`` of a file as real labelled examples."""
    known = set(codes)
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text, area = row["text"], row.get("area", row.get("label"))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ExampleFileError(f'Rad {number}: väntade {{"text": ..., "area": ...}} ({exc}).') from exc
        if not isinstance(text, str) or not text.strip():
            raise ExampleFileError(f"Rad {number}: texten saknas.")
        if area not in known:
            raise ExampleFileError(f"Rad {number}: okänt NSP-område {area!r}.")
        out.append(Example(text, area, f"{path.name}:{number}", group=f"fil:{path.name}", real=True))
    return out
