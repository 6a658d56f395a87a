"""A transparent lexicon scorer over the NSP vocabulary, and the per-insats decision.

Pure and synchronous: text in, ranked areas with scores and the phrases that decided them out.
The lexicon is the baseline the trained model (model.py) is measured against; ``decide``
turns either's scores into a classification.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from shared.events import (
    AreaScore,
    Insats,
    InsatsClassification,
    ReportClassified,
    ReportSubmitted,
    classified_report,
)
from shared.reference import ReferenceData, load_reference

MODEL_VERSION = "lexicon-1"
CANDIDATES = 3  # the best areas a classification keeps, for the analyst who reviews it
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Scored:
    areas: tuple[AreaScore, ...]
    reasons: tuple[str, ...]
    readable: bool = True
    foreign: bool = False
    uncertain: bool = False  # below the model's calibrated review cut-off
    plausible: tuple[str, ...] = ()  # the areas a calibrated prediction set keeps (best first)

    @property
    def best(self) -> AreaScore:
        return self.areas[0]

    def needs_review(self, threshold: float = 0.0) -> bool:
        """Likely wrong: uncertain by the model's own calibration, below an operator's ``threshold``,
        or unreadable/foreign text (a confident guess about it would be a lie)."""
        return self.uncertain or self.best.score < threshold or not self.readable or self.foreign


def _normalise(text: str) -> str:
    return " " + " ".join(_WORD.findall(text.casefold())) + " "


def score_text(text: str, reference: ReferenceData, year: int | None = None) -> Scored:
    """Score every area by vocabulary hits (prefix match, so Swedish inflections count)."""
    normalised = _normalise(text)
    areas = [a for a in reference.nsp_areas if year is None or a.valid_in(year)]
    raw: dict[str, float] = {}
    hits: dict[str, list[str]] = {}
    for area in areas:
        found = [term for term in area.vocabulary if f" {_normalise(term).strip()}" in normalised]
        hits[area.code] = found
        raw[area.code] = sum(1.0 + 0.5 * term.count(" ") for term in found)
    exps = {code: math.exp(2.0 * value) for code, value in raw.items()}
    total = sum(exps.values())
    ranked = sorted(
        (AreaScore(code=code, score=round(value / total, 4)) for code, value in exps.items()),
        key=lambda s: (-s.score, s.code),
    )
    best = ranked[0].code
    return Scored(areas=tuple(ranked), reasons=tuple(hits[best]), readable=bool(normalised.strip()))


def scoring_text(insats: Insats) -> str:
    """What the model reads of an insats: its effects, which say what changed; the title and
    description only when there are no effects. The title names the topic (often "studiehandledning"
    or "nyanlända"), which the 2020 convention says little about the area: on the evaluation set a
    topic title before the effects took top-1 from 0.96 to 0.68 (docs/classifier-evaluation.md)."""
    effects = "\n".join(p for p in (insats.expected_effects, insats.actual_effects) if p.strip())
    return effects or insats.text


def decide(insats: Insats, scored: Scored, threshold: float) -> InsatsClassification:
    """The classification of an insats from its scored text (flagged as ``Scored.needs_review`` says)."""
    if insats.nsp_area is not None:
        return InsatsClassification(
            ref=insats.ref,
            nsp_area=insats.nsp_area,
            source="declared",
            confidence=1.0,
            candidates=scored.areas[:CANDIDATES],
            reasons=("angivet av inrapportören / declared by the submitter",),
        )
    return InsatsClassification(
        ref=insats.ref,
        nsp_area=scored.best.code,
        source="classifier",
        confidence=scored.best.score,
        candidates=scored.areas[:CANDIDATES],
        reasons=scored.reasons,
        needs_review=scored.needs_review(threshold),
    )


def classified_reports(
    events: Sequence[ReportSubmitted], scores: Sequence[Scored], threshold: float, version: str
) -> list[ReportClassified]:
    """The events' insatser with their ``scores`` (one per insats, in the events' order) decided;
    event ids are derived, so a redelivered submission yields the same classified event."""
    scored = iter(scores)
    return [
        classified_report(e, tuple(decide(i, next(scored), threshold) for i in e.insatser), version)
        for e in events
    ]


def classify_by_lexicon(event: ReportSubmitted, threshold: float) -> ReportClassified:
    """The report classified by the lexicon baseline, no model loaded: events for fixtures, the
    2020 dataset and benchmarks of the read side (the service scores with its model)."""
    reference = load_reference()
    scores = [score_text(scoring_text(i), reference, event.year) for i in event.insatser]
    return classified_reports([event], scores, threshold, MODEL_VERSION)[0]
