"""Confidence that means something on unseen text: fitted on held-out predictions only.

Pure numpy/scipy. The input is decision values of models that did *not* train on the texts they
scored (whole writing themes of the corpus held out together, and real examples by k-fold), so the
fit sees the model as it meets new wording, not as it remembers its own corpus. Three things come
out of it: a softmax temperature (scores near 0.8 are right about 80 % of the time), a review
cut-off (below it an insats is flagged, chosen so the unflagged ones are right often enough), and a
conformal level (the areas above it form a prediction set that holds the right one ~90 % of the time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

UNFLAGGED_TARGET = (
    0.97  # right among the unflagged held-out corpus texts: real text runs harder, so aim above 0.9
)
MAX_FLAGGED = 0.5  # never flag more than this share of the held-out texts to reach the target
SET_COVERAGE = 0.9  # the prediction set holds the right area this often


@dataclass(frozen=True)
class Calibration:
    temperature: float
    cutoff: float  # flag a text whose best calibrated score is below this
    set_level: float  # the prediction set: areas whose calibrated score is at least this
    held_out: int  # how many held-out predictions it was fitted on

    def as_dict(self) -> dict[str, float]:
        return {
            "temperature": round(self.temperature, 4),
            "cutoff": round(self.cutoff, 4),
            "set_level": round(self.set_level, 4),
            "held_out": self.held_out,
        }


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def fit_temperature(logits: np.ndarray, truth: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The softmax temperature that minimises the (weighted) log loss of held-out predictions."""
    w = np.ones(len(truth)) if weights is None else weights

    def nll(t: float) -> float:
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-(w * logp[np.arange(len(truth)), truth]).sum() / w.sum())

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)


def review_cutoff(confidence: np.ndarray, right: np.ndarray, weights: np.ndarray) -> float:
    """The lowest cut-off whose unflagged texts are right ``UNFLAGGED_TARGET`` of the time, but
    flagging at most ``MAX_FLAGGED`` (then the best that keeps half, an honest ceiling)."""
    order = np.argsort(-confidence, kind="stable")
    conf, hit, w = confidence[order], right[order].astype(float), weights[order]
    kept_share = np.cumsum(w) / w.sum()
    accuracy = np.cumsum(w * hit) / np.cumsum(w)
    allowed = kept_share >= 1 - MAX_FLAGGED
    good = np.flatnonzero(allowed & (accuracy >= UNFLAGGED_TARGET))
    if len(good):
        return float(conf[good[-1]])
    return float(conf[np.flatnonzero(allowed)[0]]) if allowed.any() else 0.0


def conformal_level(probs: np.ndarray, truth: np.ndarray) -> float:
    """Split-conformal threshold: the areas scoring at least this hold the right one ``SET_COVERAGE``
    of the time (on exchangeable data; real texts differ, so it is a guide, not a guarantee)."""
    scores = 1.0 - probs[np.arange(len(truth)), truth]
    n = len(scores)
    rank = min(n, int(np.ceil((n + 1) * SET_COVERAGE)))
    return float(1.0 - np.sort(scores)[rank - 1])


def calibrate(logits: np.ndarray, truth: np.ndarray, weights: np.ndarray | None = None) -> Calibration:
    w = np.ones(len(truth)) if weights is None else np.asarray(weights, dtype=float)
    temperature = fit_temperature(logits, truth, w)
    probs = softmax(logits / temperature)
    confidence = probs.max(axis=1)
    right = probs.argmax(axis=1) == truth
    return Calibration(
        temperature=temperature,
        cutoff=review_cutoff(confidence, right, w),
        set_level=conformal_level(probs, truth),
        held_out=len(truth),
    )
