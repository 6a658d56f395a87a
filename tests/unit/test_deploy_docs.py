"""Every variable the services read is documented for ops, in the runbook and in .env.example."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "services", "rucnet")


def settings_classes() -> list[type[BaseSettings]]:
    """Every settings class in the project's code, found in the sources (a new one is picked up)."""
    for path in sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        if re.search(r"^class \w+\(\w*Settings\):", path.read_text(encoding="utf-8"), re.M):
            importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))

    def subclasses(cls: type[BaseSettings]) -> list[type[BaseSettings]]:
        return [c for s in cls.__subclasses__() for c in (s, *subclasses(s))]

    return [c for c in set(subclasses(BaseSettings)) if c.__module__.split(".")[0] in PACKAGES]


def environment_variables() -> set[str]:
    names = set()
    for cls in settings_classes():
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name, field in cls.model_fields.items():
            names.add((field.alias or prefix + name).upper())
    return names


def test_the_settings_classes_are_found() -> None:
    names = {cls.__name__ for cls in settings_classes()}
    assert {"RucnetSettings", "IntakeSettings", "ClassifierSettings", "AggregatorSettings"} <= names
    assert {"RUCNET_DATABASE_URL", "RUCNET_PSEUDONYM_SECRET", "RUCNET_LOG_FORMAT"} <= environment_variables()


@pytest.mark.parametrize("document", ["docs/operations.md", ".env.example"])
def test_every_variable_the_services_read_is_documented(document: str) -> None:
    text = (ROOT / document).read_text(encoding="utf-8")
    missing = sorted(name for name in environment_variables() if not re.search(rf"\b{name}\b", text))
    assert not missing, f"{document} does not document {missing}"


def test_every_variable_in_the_compose_file_is_documented() -> None:
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{(\w+)", compose))
    for document in ("docs/operations.md", ".env.example"):
        text = (ROOT / document).read_text(encoding="utf-8")
        missing = sorted(name for name in used if not re.search(rf"\b{name}\b", text))
        assert not missing, f"{document} does not document {missing}"


def test_env_example_sets_nothing_but_the_secrets() -> None:
    """Optional settings stay commented: an empty `NAME=` would reach the services as ''."""
    assignments = [
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert {name for name, _ in assignments} == {
        "POSTGRES_PASSWORD",
        "RUCNET_PSEUDONYM_SECRET",
        "GRAFANA_ADMIN_PASSWORD",
        "RUCNET_GRAFANA_DB_PASSWORD",
    }
    assert all(value == "" for _, value in assignments), "no secret values in the example"


def test_the_runbook_covers_what_ops_need() -> None:
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for heading in (
        "## First deploy",
        "## Configuration reference",
        "## Upgrading",
        "## Backup and restore",
        "## Replay and rebuild",
        "## Scaling out",
        "## Rotating tokens and secrets",
        "## What to watch on the Drift dashboard",
    ):
        assert heading in text
    for command in (
        "pg_dump",
        "pg_restore",
        "rucnet aggregates rebuild",
        "--scale aggregator=3",
        "rucnet migrate",
    ):
        assert command in text
