"""Measuring the classifier on text it never trained on: top-1/top-2, the review flag, prediction
sets, calibration, the acceptance gate between versions, and the learning curve.

Pure functions over examples and the model protocol; training goes through ``training.train`` only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import GroupKFold, KFold

from services.classifier.examples import Example
from services.classifier.protocol import NspScorer
from services.classifier.rules import Scored
from services.classifier.training import held_out_groups, train

FOLDS = 5
MIN_REAL = 2  # with fewer real examples the gate falls back to the written corpus
CURVE_STEPS = (0, 10, 25, 50)
CURVE_SEEDS = 5


@dataclass(frozen=True)
class RecipeScore:
    top1: float
    top2: float
    n: int
    judged_on: str = "real"
    lost: int = 0  # held-out texts the other recipe got right and this one wrong (top-1)
    gained: int = 0  # and the reverse

    def gains_over(self, other: RecipeScore) -> bool:
        """Learning is taken only when it gains top-1 on the held-out real texts. Issue 22: by 5-fold
        on Skolverket's shared texts, learning them cost top-1 on average (0.70 → 0.61), a margin for
        noise had let in a version that cost 0.02, and through the CLI a tie on the inner folds
        still lost a text on the outer one. A lesson not taken still recalibrates the doubt."""
        return self.top1 > other.top1 + 1e-9

    def as_dict(self) -> dict[str, float | str]:
        return {
            "top1": round(self.top1, 4),
            "top2": round(self.top2, 4),
            "n": self.n,
            "judged_on": self.judged_on,
        }


@dataclass(frozen=True)
class HeldOut:
    """A model's answers on examples it did not train on."""

    labels: tuple[str, ...]
    truth: tuple[str, ...]
    scored: tuple[Scored, ...]

    def top_k(self, k: int, mask: Sequence[bool] | None = None) -> float:
        hits = [t in [a.code for a in s.areas[:k]] for t, s in zip(self.truth, self.scored, strict=True)]
        chosen = [h for h, m in zip(hits, mask or [True] * len(hits), strict=True) if m]
        return sum(chosen) / len(chosen) if chosen else 0.0

    def flagged(self) -> list[bool]:
        return [s.needs_review() for s in self.scored]

    def after_review(self) -> float:
        """The share right once analysts have fixed every flagged text (flagged, or unflagged and right)."""
        hits = [s.needs_review() or t == s.best.code for t, s in zip(self.truth, self.scored, strict=True)]
        return sum(hits) / len(hits) if hits else 0.0

    def __add__(self, other: HeldOut) -> HeldOut:
        return HeldOut(self.labels, self.truth + other.truth, self.scored + other.scored)

    def review(self) -> tuple[float, float]:
        """(share flagged, top-1 among the unflagged)."""
        flags = self.flagged()
        return sum(flags) / len(flags), self.top_k(1, [not f for f in flags])

    def set_coverage(self) -> tuple[float, float]:
        """(share whose prediction set holds the right area, mean set size)."""
        sets = [s.plausible or (s.best.code,) for s in self.scored]
        covered = sum(t in p for t, p in zip(self.truth, sets, strict=True)) / len(sets)
        return covered, float(np.mean([len(p) for p in sets]))

    def calibration_error(self, bins: int = 10) -> float:
        conf = np.array([s.best.score for s in self.scored])
        right = np.array(
            [t == s.best.code for t, s in zip(self.truth, self.scored, strict=True)], dtype=float
        )
        edges = np.linspace(0.0, 1.0, bins + 1)
        error = 0.0
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            inside = (conf > lo) & (conf <= hi)
            if inside.any():
                error += inside.mean() * abs(right[inside].mean() - conf[inside].mean())
        return float(error)

    def confusion(self) -> dict[str, dict[str, int]]:
        table = {a: dict.fromkeys(self.labels, 0) for a in self.labels}
        for truth, s in zip(self.truth, self.scored, strict=True):
            table[truth][s.best.code] += 1
        return table

    def as_score(self, judged_on: str) -> RecipeScore:
        return RecipeScore(self.top_k(1), self.top_k(2), len(self.truth), judged_on)


def held_out(model: NspScorer, examples: Sequence[Example], allowed: frozenset[str] | None = None) -> HeldOut:
    scored = model.score_many([e.text for e in examples], allowed)
    return HeldOut(model.labels, tuple(e.label for e in examples), tuple(scored))


def rank_with(scorer: Callable[[str], Sequence[str]], examples: Sequence[Example]) -> RecipeScore:
    """Top-1/top-2 of a fixed scorer (e.g. the lexicon baseline) that needs no training."""
    ranked = [scorer(e.text) for e in examples]
    top1 = sum(e.label in r[:1] for e, r in zip(examples, ranked, strict=True)) / len(examples)
    top2 = sum(e.label in r[:2] for e, r in zip(examples, ranked, strict=True)) / len(examples)
    return RecipeScore(top1, top2, len(examples), "fixed")


def _pooled(parts: Sequence[HeldOut], judged_on: str) -> RecipeScore:
    n = sum(len(p.truth) for p in parts)
    top1 = sum(p.top_k(1) * len(p.truth) for p in parts) / n
    top2 = sum(p.top_k(2) * len(p.truth) for p in parts) / n
    return RecipeScore(top1, top2, n, judged_on)


def compare_recipes(
    corpus: Sequence[Example],
    real: Sequence[Example],
    previous_learned: Sequence[Example],
    vocabulary: Sequence[Example],
    folds: int = FOLDS,
) -> tuple[RecipeScore, RecipeScore]:
    """(candidate, previous) on the same held-out folds: the candidate learned from the corpus and the
    real examples of the other folds, the previous version's recipe from the corpus and what it had
    learned (never the held-out texts). Judged on the real examples when there are enough of them,
    else on the corpus held out by writing theme."""
    on_real = len(real) >= MIN_REAL
    pool = list(real) if on_real else [*corpus, *real]
    if on_real:
        splits = KFold(n_splits=min(folds, len(pool)), shuffle=True, random_state=0).split(pool)
    else:
        groups = held_out_groups(pool)
        splits = GroupKFold(n_splits=min(folds, len(set(groups)))).split(pool, groups=groups)
    candidate_parts, previous_parts = [], []
    for train_idx, test_idx in splits:
        test = [pool[i] for i in test_idx]
        hidden = {e.text for e in test}
        base = list(corpus) if on_real else [pool[i] for i in train_idx if not pool[i].real]
        learned = [pool[i] for i in train_idx if pool[i].real]
        previous = [e for e in previous_learned if e.text not in hidden]
        candidate_model = train([*base, *learned], vocabulary, calibrated=False)
        previous_model = train([*base, *previous], vocabulary, calibrated=False)
        candidate_parts.append(held_out(candidate_model, test))
        previous_parts.append(held_out(previous_model, test))
    judged_on = "real" if on_real else "corpus"
    lost, gained = _disagreements(candidate_parts, previous_parts)
    candidate = dataclasses.replace(_pooled(candidate_parts, judged_on), lost=lost, gained=gained)
    return candidate, _pooled(previous_parts, judged_on)


def _disagreements(candidate: Sequence[HeldOut], previous: Sequence[HeldOut]) -> tuple[int, int]:
    """(texts only the previous got right, texts only the candidate got right), top-1."""
    lost = gained = 0
    for mine, theirs in zip(candidate, previous, strict=True):
        for truth, a, b in zip(mine.truth, mine.scored, theirs.scored, strict=True):
            lost += a.best.code != truth and b.best.code == truth
            gained += a.best.code == truth and b.best.code != truth
    return lost, gained


def learning_curve(
    corpus: Sequence[Example],
    vocabulary: Sequence[Example],
    real_style: Sequence[Example],
    steps: Sequence[int] = CURVE_STEPS,
    seeds: int = CURVE_SEEDS,
) -> dict[int, float]:
    """Top-1 on held-out real-style examples as ``steps`` of them are added as reviewed ones.

    Per seed the examples are shuffled, the last ``len - max(steps)`` are the test set and the first
    k are "reviewed"; the figure is the mean over seeds."""
    top = max(steps)
    out: dict[int, list[float]] = {k: [] for k in steps}
    for seed in range(seeds):
        order = np.random.default_rng(seed).permutation(len(real_style))
        shuffled = [real_style[i] for i in order]
        test = shuffled[top:]
        for k in steps:
            reviewed = [Example(e.text, e.label, e.provenance, real=True) for e in shuffled[:k]]
            model = train([*corpus, *reviewed], vocabulary, calibrated=False)
            out[k].append(held_out(model, test).top_k(1))
    return {k: float(np.mean(v)) for k, v in out.items()}


@dataclass(frozen=True)
class RealCrossValidation:
    """Real texts judged by k-fold: ``learned`` by models that trained on the other folds' real texts
    (and calibrated on them held out), ``unlearned`` by the model of the written corpus alone."""

    learned: HeldOut
    unlearned: HeldOut


def cross_validate_real(
    written: Sequence[Example], real: Sequence[Example], vocabulary: Sequence[Example], folds: int = FOLDS
) -> RealCrossValidation:
    """What learning real texts gains, on real texts the model never saw: each fold is scored by a
    model trained and calibrated on the written corpus and the other folds, never on the fold."""
    learned, unlearned = [], []
    for train_idx, test_idx in KFold(n_splits=min(folds, len(real)), shuffle=True, random_state=0).split(
        real
    ):
        others, test = [real[i] for i in train_idx], [real[i] for i in test_idx]
        learned.append(held_out(train([*written, *others], vocabulary), test))
        # calibrated on the other folds, trained on the written texts only: the shipped recipe
        unlearned.append(held_out(train(written, vocabulary, unseen=others), test))
    return RealCrossValidation(_joined(learned), _joined(unlearned))


def _joined(parts: Sequence[HeldOut]) -> HeldOut:
    out = parts[0]
    for part in parts[1:]:
        out = out + part
    return out
