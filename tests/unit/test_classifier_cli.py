"""`rucnet classify` and `rucnet classifier-train --examples` as a user runs them (one data dir)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rucnet.cli import app
from services.classifier import registry
from services.classifier.evaluation import RecipeScore, compare_recipes
from services.classifier.registry import models_dir, newest_accepted, read_meta

RUNNER = CliRunner()
# Real-looking effects of one pattern (organising modersmål in a "resurscentrum") the corpus lacks.
SUPPLIED = [
    "Resurscentrum har fått ansvar för modersmålslärarnas tjänster.",
    "Resurscentrum fördelar modersmålslärarna mellan skolorna.",
    "Modersmålslärarna anställs nu av resurscentrum.",
    "Resurscentrum planerar modersmålslärarnas tjänster för alla skolor.",
    "Alla modersmålslärare har nu sina tjänster vid resurscentrum.",
    "Resurscentrum ansvarar för modersmålslärarnas scheman.",
]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RUCNET_DATA_DIR", str(tmp_path))
    return tmp_path


def _classify(texts: list[str], *args: str) -> list[dict[str, Any]]:
    stdin = "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts)
    result = RUNNER.invoke(app, ["classify", *args], input=stdin)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_each_line_gets_areas_a_confidence_and_the_review_flag(data_dir: Path) -> None:
    sure, unreadable = _classify(
        ["Rektorerna har tagit fram en gemensam rutin för mottagandet av nyanlända elever.", "🙂"],
        "--top",
        "2",
    )
    assert [a["code"] for a in sure["areas"]][0] == "styrning-och-ledning"
    assert len(sure["areas"]) == 2
    assert sure["confidence"] == sure["areas"][0]["score"]
    assert sure["needs_review"] is False
    assert unreadable["needs_review"] is True
    assert unreadable["plausible"]


def _two_folds(*args: object, **kwargs: object) -> tuple[RecipeScore, RecipeScore]:
    return compare_recipes(*args, **{**kwargs, "folds": 2})  # type: ignore[arg-type]


def _gained(*_args: object, **_kwargs: object) -> tuple[RecipeScore, RecipeScore]:
    return RecipeScore(1.0, 1.0, 5, lost=0, gained=2), RecipeScore(0.6, 1.0, 5)


def _supply(tmp_path: Path) -> tuple[Any, list[dict[str, str]]]:
    examples = tmp_path / "real.jsonl"
    rows = [{"text": t, "area": "styrning-och-ledning"} for t in SUPPLIED[1:]]
    examples.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    result = RUNNER.invoke(app, ["classifier-train", "--examples", str(examples)])
    assert result.exit_code == 0, result.output
    assert "judged on held-out real examples" in result.output
    return result, rows


def test_supplied_examples_that_gain_train_a_version_that_classify_then_uses(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "compare_recipes", _gained)
    before = _classify(SUPPLIED[:1])[0]
    result, rows = _supply(tmp_path)
    assert "i bruk" in result.output
    accepted = newest_accepted(models_dir(data_dir))
    assert accepted is not None
    assert read_meta(accepted)["learned_examples"] == len(rows)
    after = _classify(SUPPLIED[:1])[0]
    assert after["areas"][0]["code"] == "styrning-och-ledning"
    assert after["confidence"] != before["confidence"]


def test_supplied_examples_that_do_not_gain_only_recalibrate_the_doubt(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "compare_recipes", _two_folds)
    before = _classify(SUPPLIED[:1])[0]
    result, rows = _supply(tmp_path)
    assert "rejected" in result.output
    assert "recalibrated" in result.output
    in_use = newest_accepted(models_dir(data_dir))
    assert in_use is not None
    assert read_meta(in_use)["calibration_examples"] == len(rows)
    after = _classify(SUPPLIED[:1])[0]
    assert after["areas"][0]["code"] == before["areas"][0]["code"]  # what it learned is unchanged


def test_a_bad_examples_file_is_refused_naming_the_line(data_dir: Path, tmp_path: Path) -> None:
    examples = tmp_path / "bad.jsonl"
    examples.write_text('{"text": "Bra", "area": "nyanlanda"}\n{"text": "Dåligt", "area": "okänt"}\n')
    result = RUNNER.invoke(app, ["classifier-train", "--examples", str(examples)])
    assert result.exit_code == 2
    assert "Rad 2" in result.output
