"""Training a calibrated model: fit on everything, calibrate on what was held out.

Calibration never uses predictions on texts the scoring model trained on: corpus texts are held out
by writing theme (``Example.group``: texts written together share wording, so a random fold would
let a near-twin in), real examples (reviewed or supplied) by k-fold, and in the calibration real
ones weigh more, because they are what the model meets in use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import GroupKFold

from services.classifier.calibration import Calibration, calibrate
from services.classifier.examples import Example
from services.classifier.model import (
    ALGORITHM,
    LETTER_WORD,
    NspModel,
    decision_values,
    fingerprint,
    fit_pipeline,
)

FOLDS = 5
# In training a real text counts as one written one: learning 4/5 of a set and judging the fifth,
# 1x did as well as or better than 2x and 3x on every set we have (docs/classifier.md). In the
# calibration it counts 3x: it is what the model meets in use.
REAL_TRAIN_WEIGHT = 1.0
REAL_CALIBRATION_WEIGHT = 3.0


def weight(example: Example) -> float:
    return REAL_TRAIN_WEIGHT if example.real else 1.0


def calibration_weight(example: Example) -> float:
    return REAL_CALIBRATION_WEIGHT if example.real else 1.0


def fit(examples: Sequence[Example]) -> tuple[Any, Any]:
    """The fitted vectoriser and classifier on ``examples`` (real ones weighted up)."""
    return fit_pipeline(
        [e.text for e in examples], [e.label for e in examples], [weight(e) for e in examples]
    )


def held_out_groups(examples: Sequence[Example]) -> list[str]:
    """The unit each example is held out with: its writing theme, or itself when it has none."""
    return [e.group if e.group and not e.real else f"#{i}" for i, e in enumerate(examples)]


def held_out_logits(
    examples: Sequence[Example], extra: Sequence[Example], folds: int = FOLDS
) -> tuple[np.ndarray, list[str]]:
    """Decision values of each example by a model that trained on the others (and on ``extra``)."""
    classes = sorted({e.label for e in examples} | {e.label for e in extra})
    out = np.zeros((len(examples), len(classes)))
    groups = held_out_groups(examples)
    splitter = GroupKFold(n_splits=min(folds, len(set(groups))))
    for train_idx, test_idx in splitter.split(np.zeros(len(examples)), groups=groups):
        vectorizer, clf = fit([*(examples[i] for i in train_idx), *extra])
        scores = decision_values(vectorizer, clf, [examples[i].text for i in test_idx])
        cols = [classes.index(str(c)) for c in clf.classes_]
        out[np.ix_(test_idx, cols)] = scores
        missing = [j for j in range(len(classes)) if j not in cols]
        out[np.ix_(test_idx, missing)] = scores.min() - 10.0  # a class the fold never saw: never chosen
    return out, classes


def fit_calibration(examples: Sequence[Example], extra: Sequence[Example]) -> Calibration:
    logits, classes = held_out_logits(examples, extra)
    truth = np.array([classes.index(e.label) for e in examples])
    return calibrate(logits, truth, np.array([calibration_weight(e) for e in examples]))


def train(examples: Sequence[Example], extra: Sequence[Example] = (), calibrated: bool = True) -> NspModel:
    """Fit on ``examples`` and ``extra`` (e.g. the reference vocabulary, never held out: it is not a
    text); calibrated on held-out predictions of ``examples`` unless ``calibrated`` is False (a
    quick fit for an evaluation that judges the ranking only)."""
    calibration = fit_calibration(examples, extra) if calibrated else None
    vectorizer, clf = fit([*examples, *extra])
    known = frozenset(w for e in examples for w in LETTER_WORD.findall(e.text.casefold()))
    version = f"{ALGORITHM}-{fingerprint([*examples, *extra])}"
    meta: dict[str, Any] = {
        "examples": len(examples),
        "extra": len(extra),
        "real": sum(e.real for e in examples),
    }
    if calibration is None:
        return NspModel(version, vectorizer, clf, 1.0, known, meta)
    meta["calibration"] = calibration.as_dict()
    return NspModel(
        version,
        vectorizer,
        clf,
        calibration.temperature,
        known,
        meta,
        calibration.cutoff,
        calibration.set_level,
    )
