"""Calibration as pure functions: temperature, the review cut-off, conformal prediction sets."""

from __future__ import annotations

import numpy as np

from services.classifier.calibration import (
    MAX_FLAGGED,
    PRIOR_WEIGHT,
    UNFLAGGED_TARGET,
    calibrate,
    conformal_level,
    fit_temperature,
    log_prior,
    review_cutoff,
    scaled,
    softmax,
)


def _overconfident(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits five times too sharp for how often their best class is right (about 70 %)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, n)
    logits = rng.normal(0, 1, (n, 4))
    logits[np.arange(n), truth] += 1.5
    return logits * 5, truth


def test_overconfident_logits_get_a_temperature_above_one() -> None:
    logits, truth = _overconfident()
    assert fit_temperature(logits, truth) > 2.0


def test_calibrated_scores_match_how_often_the_best_is_right() -> None:
    logits, truth = _overconfident()
    calibration = calibrate(logits, truth)
    probs = softmax(logits / calibration.temperature)
    right = (probs.argmax(axis=1) == truth).mean()
    assert abs(probs.max(axis=1).mean() - right) < 0.05


def test_the_cutoff_keeps_the_unflagged_right_often_enough_and_flags_at_most_half() -> None:
    confidence = np.linspace(0.3, 1.0, 200)
    right = confidence > 0.5  # every text above 0.5 is right
    cutoff = review_cutoff(confidence, right, np.ones(200))
    kept = confidence >= cutoff
    assert right[kept].mean() >= UNFLAGGED_TARGET
    assert 1 - kept.mean() <= MAX_FLAGGED
    assert cutoff <= 0.5 + 1e-9  # no higher than needed


def test_when_the_target_needs_more_than_the_ceiling_flagged_only_the_ceiling_is() -> None:
    confidence = np.linspace(0.0, 1.0, 100)
    right = np.arange(100) % 2 == 0  # right half the time at every confidence
    cutoff = review_cutoff(confidence, right, np.ones(100))
    assert abs((confidence < cutoff).mean() - MAX_FLAGGED) <= 0.01 + 1e-9


def test_real_examples_weigh_more_in_the_cutoff() -> None:
    confidence = np.array([0.9, 0.8, 0.7, 0.6])
    right = np.array([True, True, False, True])
    light = review_cutoff(confidence, right, np.array([1.0, 1.0, 1.0, 9.0]))
    assert light == 0.6  # the heavy right one at 0.6 outweighs the wrong one at 0.7


def test_conformal_sets_hold_the_right_class_about_as_often_as_promised() -> None:
    logits, truth = _overconfident(2000)
    calibration = calibrate(logits[:1000], truth[:1000])
    probs = softmax(logits[1000:] / calibration.temperature)
    level = conformal_level(softmax(logits[:1000] / calibration.temperature), truth[:1000])
    covered = probs[np.arange(1000), truth[1000:]] >= level
    assert 0.85 <= covered.mean() <= 0.95


def test_the_cut_off_is_set_on_the_real_texts_when_there_are_enough() -> None:
    rng = np.random.default_rng(1)
    n_written, n_real = 200, 40
    truth = rng.integers(0, 3, n_written + n_real)
    logits = rng.normal(0, 0.3, (n_written + n_real, 3))
    logits[np.arange(n_written), truth[:n_written]] += 6.0  # written: easy, nearly always right
    logits[n_written + np.arange(n_real), (truth[n_written:] + 1) % 3] += 1.0  # real: often wrong
    real = np.arange(n_written + n_real) >= n_written
    fitted = calibrate(logits, truth, real=real)
    confidence = scaled(logits, fitted.temperature).max(axis=1)
    flagged_real = (confidence[real] < fitted.cutoff).mean()
    assert 0.3 <= flagged_real <= MAX_FLAGGED + 0.03  # the real ones are doubted, up to the ceiling
    assert (confidence[~real] < fitted.cutoff).mean() < 0.1


def test_a_prior_moves_scores_towards_the_common_area() -> None:
    logits = np.zeros((1, 2))
    prior = log_prior(np.array([59.0, 4.0]))
    probs = scaled(logits, 1.0, PRIOR_WEIGHT * prior)
    assert probs[0, 0] > probs[0, 1]
    assert log_prior(np.array([1.0, 0.0]))[1] > -np.inf  # an area absent from the counts stays possible
