"""Training a calibrated model: fit on everything, calibrate on what was held out.

Calibration never uses predictions on texts the scoring model trained on, and it uses the texts
that look like what the model meets in use: the real-style pool (hard texts written in the style
of Skolverket's quotes, held out by writing theme, and real ones, held out one by one in k folds)
while the easy written corpus always trains. Real texts weigh as much in it as all the hard ones.
The scores take on part of the 2020 distribution of completed insatser (the reference data's
``completed_2020``): the classifier is fitted with balanced class weights, so without it an area
with four insatser a year would be as likely a priori as one with fifty-nine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import GroupKFold

from services.classifier.calibration import PRIOR_WEIGHT, Calibration, calibrate, log_prior
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
# An uncalibrated quick fit (judged on its ranking only) weighs the prior as if its temperature were
# this: what calibration finds on real-style text (0.74–0.79 in the five folds of issue 22).
RANKING_TEMPERATURE = 0.76
MIN_POOL = 20  # fewer real-style texts than this: calibrate on every example held out


def weight(example: Example) -> float:
    return REAL_TRAIN_WEIGHT if example.real else 1.0


def real_style(example: Example) -> bool:
    return example.real or example.hard


def calibration_weights(pool: Sequence[Example]) -> np.ndarray:
    """Real texts together weigh as much as the written ones of the pool (at least one each)."""
    real = sum(e.real for e in pool)
    written = len(pool) - real
    share = max(1.0, written / real) if real and written else 1.0
    return np.array([share if e.real else 1.0 for e in pool])


def prior_for(classes: Sequence[str], counts: Mapping[str, int] | None) -> np.ndarray | None:
    if not counts:
        return None
    return log_prior(np.array([counts.get(c, 0) for c in classes], dtype=float))


def default_prior() -> dict[str, int]:
    """Completed insatser per area in Skolverket's 2020 PM (reference data)."""
    from shared.reference import load_reference

    return {a.code: a.completed_2020 for a in load_reference().nsp_areas}


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


def fit_calibration(
    examples: Sequence[Example],
    extra: Sequence[Example],
    prior: Mapping[str, int] | None = None,
    unseen: Sequence[Example] = (),
    fitted: tuple[Any, Any] | None = None,
) -> Calibration:
    """Calibrated on the real-style examples held out, the rest training every fold (with too few
    real-style ones, on every example held out), and on ``unseen`` ones no fit ever trains on
    (scored by ``fitted``, the model of all ``examples`` and ``extra``, when it is given)."""
    pool = [e for e in examples if real_style(e)]
    if len(pool) + len(unseen) < MIN_POOL:
        pool, rest = list(examples), []
    else:
        rest = [e for e in examples if not real_style(e)]
    logits, classes = held_out_logits(pool, [*rest, *extra])
    if unseen:
        vectorizer, clf = fitted or fit([*examples, *extra])
        scores = decision_values(vectorizer, clf, [e.text for e in unseen])
        extra_logits = np.full((len(unseen), len(classes)), scores.min() - 10.0)
        extra_logits[:, [classes.index(str(c)) for c in clf.classes_]] = scores
        logits, pool = np.vstack([logits, extra_logits]), [*pool, *unseen]
    truth = np.array([classes.index(e.label) for e in pool])
    real = np.array([e.real for e in pool])
    return calibrate(logits, truth, calibration_weights(pool), real, prior_for(classes, prior))


def train(
    examples: Sequence[Example],
    extra: Sequence[Example] = (),
    calibrated: bool = True,
    prior: Mapping[str, int] | None = None,
    unseen: Sequence[Example] = (),
) -> NspModel:
    """Fit on ``examples`` and ``extra`` (e.g. the reference vocabulary, never held out: it is not a
    text); calibrated on held-out predictions of ``examples`` unless ``calibrated`` is False (a
    quick fit for an evaluation that judges the ranking only). ``prior``: completed insatser per
    area (default: 2020's, from the reference data); ``{}`` for none. ``unseen``: labelled texts
    used in the calibration only, never trained on."""
    prior = default_prior() if prior is None else prior
    vectorizer, clf = fit([*examples, *extra])
    calibration = fit_calibration(examples, extra, prior, unseen, (vectorizer, clf)) if calibrated else None
    weighted = prior_for([str(c) for c in clf.classes_], prior)
    known = frozenset(w for e in examples for w in LETTER_WORD.findall(e.text.casefold()))
    version = f"{ALGORITHM}-{fingerprint([*examples, *extra, *unseen])}"
    meta: dict[str, Any] = {
        "examples": len(examples),
        "extra": len(extra),
        "real": sum(e.real for e in examples),
    }
    if calibration is None:
        if weighted is not None:  # the ranking as a calibrated model would give it
            clf.intercept_ = clf.intercept_ + RANKING_TEMPERATURE * PRIOR_WEIGHT * weighted
        return NspModel(version, vectorizer, clf, 1.0, known, meta)
    if weighted is not None:
        # softmax((x·w + b + t·k·log p) / t) = softmax(logits / t + k·log p): the scoring path is unchanged
        clf.intercept_ = clf.intercept_ + calibration.temperature * calibration.prior_weight * weighted
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
