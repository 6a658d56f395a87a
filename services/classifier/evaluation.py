"""Measuring the classifier: cross-validated top-1/top-2, per-area recall, confusion, calibration.

Pure functions over examples; the report is Markdown and deterministic (same corpus, same file).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold

from services.classifier.examples import Example
from services.classifier.model import fit_pipeline, fit_temperature, oof_logits, prepare, softmax

FOLDS = 5


@dataclass(frozen=True)
class RecipeScore:
    top1: float
    top2: float
    n: int

    def not_worse_than(self, other: RecipeScore) -> bool:
        """Top-1 decides; a tie is not worse (more reviewed examples never count against a version)."""
        return self.top1 >= other.top1 - 1e-9

    def as_dict(self) -> dict[str, float]:
        return {"top1": round(self.top1, 4), "top2": round(self.top2, 4), "n": self.n}


@dataclass(frozen=True)
class CvReport:
    labels: tuple[str, ...]
    truth: tuple[str, ...]
    ranked: tuple[tuple[str, ...], ...]
    confidence: tuple[float, ...]
    hard: tuple[bool, ...]
    temperature: float

    def top_k(self, k: int, mask: Sequence[bool] | None = None) -> float:
        hits = [t in r[:k] for t, r in zip(self.truth, self.ranked, strict=True)]
        chosen = [h for h, m in zip(hits, mask or [True] * len(hits), strict=True) if m]
        return sum(chosen) / len(chosen) if chosen else 0.0

    def recall(self, label: str) -> float:
        return self.top_k(1, [t == label for t in self.truth])

    def confusion(self) -> dict[str, dict[str, int]]:
        table = {a: dict.fromkeys(self.labels, 0) for a in self.labels}
        for truth, ranked in zip(self.truth, self.ranked, strict=True):
            table[truth][ranked[0]] += 1
        return table

    def calibration_error(self, bins: int = 10) -> float:
        conf = np.array(self.confidence)
        right = np.array([t == r[0] for t, r in zip(self.truth, self.ranked, strict=True)], dtype=float)
        edges = np.linspace(0.0, 1.0, bins + 1)
        error = 0.0
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            inside = (conf > lo) & (conf <= hi)
            if inside.any():
                error += inside.mean() * abs(right[inside].mean() - conf[inside].mean())
        return float(error)

    def review_share(self, threshold: float) -> tuple[float, float]:
        """(share flagged below the threshold, top-1 among the unflagged)."""
        keep = [c >= threshold for c in self.confidence]
        return 1 - sum(keep) / len(keep), self.top_k(1, keep)


def cross_validate(examples: Sequence[Example], extra: Sequence[Example], folds: int = FOLDS) -> CvReport:
    texts = [e.text for e in examples]
    truth = [e.label for e in examples]
    logits, classes = oof_logits(texts, truth, extra, folds)
    index = np.array([classes.index(t) for t in truth])
    temperature = fit_temperature(logits, index)
    probs = softmax(logits / temperature)
    order = np.argsort(-probs, axis=1, kind="stable")
    return CvReport(
        labels=tuple(classes),
        truth=tuple(truth),
        ranked=tuple(tuple(classes[j] for j in row) for row in order),
        confidence=tuple(float(p) for p in probs.max(axis=1)),
        hard=tuple(e.hard for e in examples),
        temperature=temperature,
    )


def rank_with(scorer: Callable[[str], Sequence[str]], examples: Sequence[Example]) -> RecipeScore:
    """Top-1/top-2 of a fixed scorer (e.g. the lexicon baseline) that needs no training."""
    ranked = [scorer(e.text) for e in examples]
    top1 = sum(e.label in r[:1] for e, r in zip(examples, ranked, strict=True)) / len(examples)
    top2 = sum(e.label in r[:2] for e, r in zip(examples, ranked, strict=True)) / len(examples)
    return RecipeScore(top1, top2, len(examples))


def _key(example: Example) -> tuple[str, str]:
    return (example.text, example.label)


def compare_recipes(
    corpus: Sequence[Example],
    reviewed: Sequence[Example],
    previous_learned: Sequence[Example],
    vocabulary: Sequence[Example],
    folds: int = FOLDS,
) -> tuple[RecipeScore, RecipeScore]:
    """(candidate, previous) top-k on the same folds of corpus + reviewed examples."""
    reviewed_texts = {e.text for e in reviewed}
    pool = [e for e in corpus if e.text not in reviewed_texts] + list(reviewed)
    candidate_keys = {_key(e) for e in pool}
    previous_keys = {_key(e) for e in corpus} | {_key(e) for e in previous_learned}
    previous_only = [e for e in previous_learned if _key(e) not in candidate_keys]
    labels = np.array([e.label for e in pool])
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    hits = {"candidate": [0, 0], "previous": [0, 0]}
    for train_idx, test_idx in splits.split(np.zeros(len(pool)), labels):
        train_part = [pool[i] for i in train_idx]
        test_part = [pool[i] for i in test_idx]
        recipes = {
            "candidate": [e for e in train_part if _key(e) in candidate_keys],
            "previous": [e for e in train_part if _key(e) in previous_keys] + previous_only,
        }
        for name, chosen in recipes.items():
            learn = [*chosen, *vocabulary]
            vec, clf = fit_pipeline([e.text for e in learn], [e.label for e in learn])
            scores = np.asarray(clf.decision_function(vec.transform([prepare(e.text) for e in test_part])))
            order = np.argsort(-scores, axis=1, kind="stable")
            for example, row in zip(test_part, order, strict=True):
                top = [str(clf.classes_[j]) for j in row[:2]]
                hits[name][0] += example.label == top[0]
                hits[name][1] += example.label in top
    n = len(pool)
    candidate = RecipeScore(hits["candidate"][0] / n, hits["candidate"][1] / n, n)
    previous = RecipeScore(hits["previous"][0] / n, hits["previous"][1] / n, n)
    return candidate, previous
