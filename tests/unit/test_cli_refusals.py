"""Commands that say no instead of doing nothing: a year outside the registry, a line that is not
a text to classify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rucnet.cli import app
from shared.period import year_span

RUNNER = CliRunner(env={"COLUMNS": "300", "NO_COLOR": "1"})


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RUCNET_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("RUCNET_DATABASE_URL", raising=False)
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [
        ["report", "--year", "1999", "--out", "tables"],
        ["deadline", "set", "--year", "2099", "--date", "2100-01-31"],
    ],
)
def test_a_year_outside_the_registry_is_refused_with_the_span_named(data_dir: Path, args: list[str]) -> None:
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 2
    first, last = year_span()
    assert f"outside the reporting years {first}–{last}" in result.output
    assert not (data_dir / "tables").exists()


def test_classify_answers_every_line_and_exits_non_zero_when_one_fails(data_dir: Path) -> None:
    stdin = json.dumps({"text": "Rutiner för mottagande av nyanlända"}) + "\nnot json\n"
    result = RUNNER.invoke(app, ["classify"], input=stdin)
    assert result.exit_code == 1
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert answers[0]["areas"]
    assert "error" in answers[1]
    assert "1 of 2 lines could not be classified" in result.stderr
