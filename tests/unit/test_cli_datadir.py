"""The CLI finds the system's data by one rule, and says so when there is none."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from rucnet.cli import app
from rucnet.datadir import locate

runner = CliRunner()


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("RUCNET_DATA_DIR", raising=False)
    monkeypatch.delenv("RUCNET_DATABASE_URL", raising=False)
    folder = tmp_path / "clone" / "docs"
    folder.mkdir(parents=True)
    monkeypatch.chdir(folder)
    return folder


def test_the_nearest_rucnet_folder_above_is_the_data_dir(elsewhere: Path) -> None:
    (elsewhere.parent / ".rucnet").mkdir()
    assert locate() == (elsewhere.parent / ".rucnet").resolve()


def test_rucnet_data_dir_wins_over_a_nearby_folder(elsewhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (elsewhere.parent / ".rucnet").mkdir()
    monkeypatch.setenv("RUCNET_DATA_DIR", str(elsewhere / "data"))
    assert locate() == (elsewhere / "data").resolve()


@pytest.mark.parametrize(
    "args", [["token", "list"], ["report", "--year", "2020", "--out", "x"], ["demo", "2020"], ["demo-tokens"]]
)
def test_without_data_a_command_says_so_and_creates_nothing(elsewhere: Path, args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "No rucnet data found" in result.output
    assert "RUCNET_DATA_DIR" in result.output
    assert "Traceback" not in result.output
    assert not any(elsewhere.parent.rglob(".rucnet"))


def test_a_token_created_from_a_sub_folder_lands_in_the_clones_data(elsewhere: Path) -> None:
    (elsewhere.parent / ".rucnet").mkdir()
    created = runner.invoke(app, ["token", "create", "--ruc", "gu"])
    assert created.exit_code == 0, created.output
    listed = runner.invoke(app, ["token", "list"])
    assert "\tgu\t" in listed.output
    assert (elsewhere.parent / ".rucnet" / "rucnet.db").exists()
    assert not (elsewhere / ".rucnet").exists()


@pytest.mark.parametrize(
    ("args", "choices"),
    [
        (["user", "create", "--email", "a@gu.se", "--ruc", "nosuch", "--password-stdin"], "du, gu, hig"),
        (["token", "create", "--ruc", "nosuch"], "du, gu, hig"),
        (["token", "create", "--role", "boss"], "ruc, skolverket, admin"),
        (["demo", "2019"], "2020"),
    ],
)
def test_a_bad_value_lists_the_valid_choices(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], choices: str
) -> None:
    monkeypatch.setenv("RUCNET_DATA_DIR", str(elsewhere / "data"))
    monkeypatch.setenv("COLUMNS", "300")  # Rich's error box on one line
    result = runner.invoke(app, args, input="ett-långt-lösenord\n", terminal_width=200)
    assert result.exit_code == 2
    assert choices in " ".join(result.output.split())


def test_the_demo_says_when_the_system_is_not_running(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rucnet.embedded_broker import free_port

    monkeypatch.setenv("RUCNET_DATA_DIR", str(elsewhere / "data"))
    for name in ("INTAKE", "CLASSIFIER", "AGGREGATOR"):
        monkeypatch.setenv(f"RUCNET_{name}_PORT", str(free_port()))
    result = runner.invoke(app, ["demo", "2020"])
    assert result.exit_code == 1
    assert "Not running: intake" in result.output
    assert "rucnet dev" in result.output


def test_the_demo_with_tokens_from_demo_tokens_needs_no_data_dir(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment's database is not reachable from here: the demo only talks to the APIs."""
    from rucnet.embedded_broker import free_port

    for name in ("INTAKE", "CLASSIFIER", "AGGREGATOR"):
        monkeypatch.setenv(f"RUCNET_{name}_PORT", str(free_port()))
    tokens = elsewhere / "demo-tokens.json"
    tokens.write_text('{"ruc": {"gu": "t1"}, "skolverket": "t2"}', encoding="utf-8")
    result = runner.invoke(app, ["demo", "2020", "--tokens", str(tokens)])
    assert result.exit_code == 1
    assert "Not running: intake" in result.output
    assert not any(elsewhere.parent.rglob(".rucnet"))


def test_tokens_that_are_not_what_demo_tokens_prints_are_refused(elsewhere: Path) -> None:
    from rucnet.cli_demo import read_tokens

    bad = elsewhere / "bad.json"
    bad.write_text('{"gu": "t1"}', encoding="utf-8")
    with pytest.raises(typer.BadParameter, match="rucnet demo-tokens"):
        read_tokens(bad)


def test_an_existing_data_dir_open_to_others_is_tightened_to_its_owner(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rucnet import datadir

    data = elsewhere / ".rucnet"
    data.mkdir(mode=0o755)
    data.chmod(0o755)  # whatever the umask: made by hand, or by an older version
    monkeypatch.setenv("RUCNET_DATA_DIR", str(data))
    assert datadir.use_existing() == data.resolve()
    assert data.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("args", [["user", "--help"], ["user"], ["token", "create", "--help"], ["outbox"]])
def test_help_needs_no_data_dir(elsewhere: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    monkeypatch.setattr("sys.argv", ["rucnet", *args])  # the callback reads the words typed
    result = runner.invoke(app, args)
    assert "No rucnet data found" not in result.output
    assert "Usage:" in result.output
    assert not (elsewhere / ".rucnet").exists()
