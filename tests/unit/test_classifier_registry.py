"""Model versions on disk and learning from reviews: kept, reloaded, used only when not worse."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from services.classifier import registry
from services.classifier.evaluation import RecipeScore
from services.classifier.examples import Example
from services.classifier.model import NspModel
from services.classifier.registry import (
    calibration_examples,
    learned_examples,
    load,
    load_or_train,
    models_dir,
    newest_accepted,
    read_meta,
    save,
    shipped_default,
)
from shared.reference import load_reference

REFERENCE = load_reference()


def test_a_saved_model_loads_with_the_same_version_and_scores(tmp_path: Path) -> None:
    model = shipped_default()
    learned = [
        Example("Rutiner för studiehandledning", "styrning-och-ledning", "granskning gu/2020/1", real=True)
    ]
    path = save(model, tmp_path, learned, {"accepted": True})
    again = load(path)
    text = "Studiehandledning på modersmålet i klassrummet"
    assert again.version == model.version
    assert again.score(text).areas == model.score(text).areas
    assert learned_examples(path) == learned


def test_the_service_takes_the_newest_accepted_version(tmp_path: Path) -> None:
    model = shipped_default()
    assert isinstance(model, NspModel)
    directory = models_dir(tmp_path)
    save(model, directory, [], {"accepted": True})
    assert newest_accepted(directory) == directory / model.version
    assert load_or_train(tmp_path, REFERENCE).version == model.version
    meta = read_meta(directory / model.version)
    rejected = dataclasses.replace(model, version="charlr-3-rejected")
    save(rejected, directory, [], {"accepted": False})
    assert newest_accepted(directory) == directory / model.version
    assert meta["accepted"] is True


def test_without_a_stored_version_the_default_is_trained_and_kept(tmp_path: Path) -> None:
    model = load_or_train(tmp_path, REFERENCE)
    assert model.version == shipped_default().version
    assert newest_accepted(models_dir(tmp_path)) == models_dir(tmp_path) / model.version


@pytest.mark.parametrize(
    ("candidate", "previous", "accepted"),
    [
        (RecipeScore(0.90, 0.95, 300), RecipeScore(0.88, 0.97, 300), True),
        # a tie is no gain: learning real texts cost top-1 on average, so it must show a gain
        (RecipeScore(0.90, 0.95, 300), RecipeScore(0.90, 0.95, 300), False),
        (RecipeScore(0.85, 0.99, 300), RecipeScore(0.90, 0.95, 300), False),
        # any net loss on held-out real texts is a loss, even one text of forty
        (RecipeScore(0.95, 1.0, 40, lost=2, gained=1), RecipeScore(0.975, 1.0, 40), False),
        (RecipeScore(0.90, 1.0, 40, lost=3, gained=0), RecipeScore(0.975, 1.0, 40), False),
    ],
)
def test_a_lesson_is_taken_only_when_it_gains(
    candidate: RecipeScore, previous: RecipeScore, accepted: bool
) -> None:
    assert candidate.gains_over(previous) is accepted


def test_retraining_on_reviews_gives_a_new_version_in_use_that_learned_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gained, before = RecipeScore(1.0, 1.0, 2, lost=0, gained=1), RecipeScore(0.5, 1.0, 2)
    monkeypatch.setattr(registry, "compare_recipes", lambda *_args, **_kw: (gained, before))
    previous = load_or_train(tmp_path, REFERENCE)
    reviewed = [
        Example("Mottagningsenheten har flyttat till förvaltningen och beslut om placering fattas där.",
                "styrning-och-ledning", "granskning gu/2020/a", real=True),
        Example("Beslut om skolplacering av nyanlända fattas numera av förvaltningen enligt ny delegation.",
                "styrning-och-ledning", "granskning gu/2020/b", real=True),
    ]  # fmt: skip
    result = registry.retrain(tmp_path, REFERENCE, reviewed)
    assert result.accepted
    assert result.previous_version == previous.version != result.version
    assert result.candidate.top1 >= result.previous.top1
    in_use = load_or_train(tmp_path, REFERENCE)
    assert in_use.version == result.version
    assert learned_examples(models_dir(tmp_path) / result.version) == reviewed


def test_a_worse_version_is_kept_on_disk_and_the_previous_is_recalibrated_on_its_examples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worse, better = RecipeScore(0.70, 0.80, 300), RecipeScore(0.90, 0.95, 300)
    monkeypatch.setattr(registry, "compare_recipes", lambda *_args, **_kw: (worse, better))
    previous = load_or_train(tmp_path, REFERENCE)
    reviewed = [Example("Elevhälsan använder digitala verktyg", "digitalisering", "granskning", real=True)]
    result = registry.retrain(tmp_path, REFERENCE, reviewed)
    assert not result.accepted
    assert read_meta(models_dir(tmp_path) / result.version)["accepted"] is False
    in_use = load_or_train(tmp_path, REFERENCE)
    assert in_use.version == result.in_use not in (previous.version, result.version)
    kept = models_dir(tmp_path) / in_use.version
    assert learned_examples(kept) == []  # it learned nothing new ...
    assert [e.text for e in calibration_examples(kept)] == [reviewed[0].text]  # ... it was calibrated on it
    # the same ranking as before: only the doubt moved
    text = "Studiehandledningen organiseras centralt."
    assert in_use.score(text).best.code == previous.score(text).best.code


def test_a_version_from_an_older_release_is_rebuilt_with_what_it_had_learned(tmp_path: Path) -> None:
    old = models_dir(tmp_path) / "charlr-1-0123456789"
    old.mkdir(parents=True)
    (old / "meta.json").write_text(
        '{"version": "charlr-1-0123456789", "accepted": true, "trained_at": "2025"}'
    )
    row = '{"text": "Modersmålet schemaläggs centralt", "label": "styrning-och-ledning", "provenance": "g"}\n'
    (old / "learned.jsonl").write_text(row, encoding="utf-8")
    model = load_or_train(tmp_path, REFERENCE)
    assert model.version.startswith("charlr-3-")
    assert model.version != shipped_default().version  # it learned the example
    kept = newest_accepted(models_dir(tmp_path))
    assert kept is not None
    assert [e.text for e in learned_examples(kept)] == ["Modersmålet schemaläggs centralt"]
    assert read_meta(kept)["rebuilt_from"] == old.name


def test_a_default_from_an_older_corpus_gives_way_to_the_shipped_one(tmp_path: Path) -> None:
    old = models_dir(tmp_path) / "charlr-3-0123456789"
    old.mkdir(parents=True)
    (old / "meta.json").write_text(
        '{"version": "charlr-3-0123456789", "accepted": true, "trained_at": "2025"}'
    )
    assert load_or_train(tmp_path, REFERENCE).version == shipped_default().version
