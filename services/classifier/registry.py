"""Model versions on disk: ``<data dir>/models/<version>/`` with the fitted model, its meta and
the reviewed examples it learned from. The service uses the newest *accepted* version; a version is
accepted only when it did not score worse than the one before it on real examples it never trained
on (see evaluation.compare_recipes).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from services.classifier.evaluation import RecipeScore, compare_recipes
from services.classifier.examples import Example, load_corpus, load_shared_real, vocabulary_examples
from services.classifier.model import ALGORITHM, fingerprint, load_model
from services.classifier.protocol import NspScorer
from services.classifier.training import train
from shared.events import utcnow
from shared.reference import ReferenceData, load_reference

log = logging.getLogger("rucnet.classifier")
_META_FILE, _LEARNED_FILE = "meta.json", "learned.jsonl"


def models_dir(data_dir: Path) -> Path:
    return data_dir / "models"


def save(
    model: NspScorer,
    directory: Path,
    learned: Sequence[Example],
    meta: dict[str, Any],
    calibration: Sequence[Example] = (),
) -> Path:
    """Write one version atomically (a temp dir renamed into place): readers never see half a model."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / model.version
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=directory))
    try:
        model.save(tmp)
        own_meta = {k: v for k, v in getattr(model, "meta", {}).items() if not k.startswith("_")}
        full_meta = {"version": model.version, "trained_at": utcnow().isoformat(), **own_meta, **meta}
        (tmp / _META_FILE).write_text(json.dumps(full_meta, ensure_ascii=False, indent=1), encoding="utf-8")
        with (tmp / _LEARNED_FILE).open("w", encoding="utf-8") as fh:
            for ex, use in [*((e, "learned") for e in learned), *((e, "calibration") for e in calibration)]:
                row = {"text": ex.text, "label": ex.label, "provenance": ex.provenance, "use": use}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def load(path: Path) -> NspScorer:
    """The model kept in ``path`` (a new kind of model adds its loader here, by its meta)."""
    return load_model(path, read_meta(path))


def read_meta(path: Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((path / _META_FILE).read_text(encoding="utf-8"))
    return meta


def _kept_examples(path: Path, use: str) -> list[Example]:
    file = path / _LEARNED_FILE
    if not file.exists():
        return []
    rows = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [
        Example(r["text"], r["label"], r.get("provenance", ""), real=True)
        for r in rows
        if r.get("use", "learned") == use
    ]


def learned_examples(path: Path) -> list[Example]:
    """The real examples a version trained on."""
    return _kept_examples(path, "learned")


def calibration_examples(path: Path) -> list[Example]:
    """Real examples a version was calibrated on without learning them (a rejected lesson)."""
    return _kept_examples(path, "calibration")


def newest_accepted(directory: Path) -> Path | None:
    candidates = []
    for meta_file in directory.glob(f"*/{_META_FILE}"):
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if meta.get("accepted"):
            candidates.append((str(meta.get("trained_at", "")), meta_file.parent.name, meta_file.parent))
    return max(candidates)[2] if candidates else None


def train_with(
    learned: Sequence[Example], reference: ReferenceData, calibration: Sequence[Example] = ()
) -> NspScorer:
    """Corpus + ``learned`` real examples, calibrated also on real texts it does not learn: the
    shared ones and ``calibration`` (one per text; a learned text is not also a calibration one)."""
    texts = {e.text for e in learned}
    corpus = [e for e in load_corpus() if e.text not in texts]
    unseen = {e.text: e for e in [*load_shared_real(), *calibration] if e.text not in texts}
    return train([*corpus, *learned], vocabulary_examples(reference), unseen=list(unseen.values()))


def train_default(reference: ReferenceData) -> NspScorer:
    """The shipped default: the corpus and the reference vocabulary, deterministic."""
    return train_with([], reference)


@lru_cache(maxsize=1)
def shipped_default() -> NspScorer:
    """The default trained once per process (several apps or tests in one process share it)."""
    return train_default(load_reference())


def outdated(path: Path, reference: ReferenceData) -> bool:
    """A version this release would not train: another algorithm, or a default (nothing learned)
    from an older shipped corpus. Its learned examples are kept; the model is rebuilt."""
    version = str(read_meta(path).get("version", ""))
    if not version.startswith(f"{ALGORITHM}-"):
        return True
    default = (
        f"{ALGORITHM}-{fingerprint([*load_corpus(), *vocabulary_examples(reference), *load_shared_real()])}"
    )
    return not learned_examples(path) and not calibration_examples(path) and version != default


def load_or_train(data_dir: Path, reference: ReferenceData) -> NspScorer:
    """The newest accepted version in the data dir; else the default, trained now and kept there.
    An unreadable or outdated version is rebuilt from the corpus and the examples it had learned."""
    directory = models_dir(data_dir)
    path = newest_accepted(directory)
    if path is not None:
        try:
            if not outdated(path, reference):
                return load(path)
            log.info("model %s is from an older release; rebuilding it from its examples", path.name)
        except Exception:  # noqa: BLE001 - an unreadable artifact (e.g. another scikit-learn) is rebuilt
            log.exception("model %s cannot be loaded; retraining it from its examples", path.name)
        learned, calibration = learned_examples(path), calibration_examples(path)
        if learned or calibration:
            rebuilt = train_with(learned, reference, calibration)
            meta = {"accepted": True, "rebuilt_from": path.name}
            _try_save(rebuilt, directory, learned, meta, calibration)
            return rebuilt
    model = shipped_default() if reference == load_reference() else train_default(reference)
    _try_save(model, directory, [], {"accepted": True, "note": "default: korpusen och referensordlistan"})
    return model


def _try_save(
    model: NspScorer,
    directory: Path,
    learned: Sequence[Example],
    meta: dict[str, Any],
    calibration: Sequence[Example] = (),
) -> None:
    try:
        save(model, directory, learned, meta, calibration)
    except OSError as exc:  # a read-only data dir still classifies, it just retrains next start
        log.warning("cannot keep model %s in %s: %s", model.version, directory, exc)


@dataclass(frozen=True)
class RetrainResult:
    version: str
    previous_version: str | None
    accepted: bool
    candidate: RecipeScore
    previous: RecipeScore
    learned: int
    in_use: str  # the version now in use: the candidate, or the previous recalibrated on the new texts


def merge_real(reviewed: Sequence[Example], supplied: Sequence[Example]) -> list[Example]:
    """Reviewed and supplied real examples, one per text: a supplied label wins over a review's."""
    by_text = {e.text: e for e in reviewed}
    by_text.update({e.text: e for e in supplied})
    return list(by_text.values())


def retrain(
    data_dir: Path, reference: ReferenceData, reviewed: Sequence[Example], supplied: Sequence[Example] = ()
) -> RetrainResult:
    """Train a version on corpus + real examples (the analysts' reviews and ``supplied`` ones, with
    what earlier versions learned); use it only if it gains on held-out real examples.

    Both recipes (the previous version's examples and the new set) are judged on the same held-out
    folds of the real examples, so the comparison differs only in what each learned from. A
    rejected lesson is not thrown away: the previous version's training is kept and its doubt
    (temperature, review cut-off) recalibrated on the new texts, which it never learns, so
    accuracy stays and the flag becomes more honest on real writing.
    """
    directory = models_dir(data_dir)
    previous_path = newest_accepted(directory)
    previous_learned = learned_examples(previous_path) if previous_path else []
    previous_calibration = calibration_examples(previous_path) if previous_path else []
    previous_version = read_meta(previous_path)["version"] if previous_path else None
    real = merge_real([*previous_calibration, *previous_learned, *reviewed], supplied)
    corpus = load_corpus()
    vocabulary = vocabulary_examples(reference)
    candidate_score, previous_score = compare_recipes(corpus, real, previous_learned, vocabulary)
    accepted = candidate_score.gains_over(previous_score)
    model = train_with(real, reference)
    evaluation = {"candidate": candidate_score.as_dict(), "previous": previous_score.as_dict()}
    meta = {
        "accepted": accepted,
        "previous_version": previous_version,
        "learned_examples": len(real),
        "evaluation": evaluation,
    }
    save(model, directory, real, meta)
    in_use = model.version
    if not accepted:
        learned_texts = {e.text for e in previous_learned}
        calibration = [e for e in real if e.text not in learned_texts]
        recalibrated = train_with(previous_learned, reference, calibration)
        recalibrated_meta = {
            "accepted": True,
            "previous_version": previous_version,
            "learned_examples": len(previous_learned),
            "calibration_examples": len(calibration),
            "rejected_candidate": model.version,
            "evaluation": evaluation,
        }
        save(recalibrated, directory, previous_learned, recalibrated_meta, calibration)
        in_use = recalibrated.version
    return RetrainResult(
        model.version, previous_version, accepted, candidate_score, previous_score, len(real), in_use
    )
