"""Prometheus' alert rules: valid, unit-tested with promtool, each pointing at its runbook section,
and the gauges the deadline alert reads."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

from services.aggregator.completeness import set_deadline
from services.aggregator.deadline_metrics import open_years, refresh
from services.aggregator.tables import ReportArrival
from shared.db import create_engine, session_factory

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules" / "rucnet-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "tests" / "alerts.test.yml"
RUNBOOK = ROOT / "docs" / "operations.md"


def alerts() -> list[dict[str, object]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool is not installed (make system-deps installs Debian's prometheus)")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_the_rules_and_the_prometheus_config_are_valid() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = promtool("check", "config", "--syntax-only", "deploy/prometheus/prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr


def test_every_alert_fires_on_its_fault_in_promtool_s_unit_tests() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text(encoding="utf-8")))
    assert tested == {str(rule["alert"]) for rule in alerts()}


def test_ops_are_alerted_on_each_fault_the_runbook_covers() -> None:
    assert {str(rule["alert"]) for rule in alerts()} >= {
        "RucnetServiceDown",
        "RucnetOutboxBacklogGrowing",
        "RucnetOutboxFailedRows",
        "RucnetDeadLetters",
        "RucnetConsumerLag",
        "RucnetBrokerUnreachable",
        "RucnetReportsMissingNearDeadline",
    }


def test_each_alert_names_a_runbook_section_that_exists() -> None:
    headings = re.findall(r"^#{2,4} (.+)$", RUNBOOK.read_text(encoding="utf-8"), re.M)
    anchors = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}
    for rule in alerts():
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        document, anchor = str(annotations["runbook"]).split("#")
        assert document == "docs/operations.md"
        assert anchor == str(rule["alert"]).lower(), rule["alert"]
        assert anchor in anchors, f"docs/operations.md has no section #{anchor}"
        assert annotations["summary"]
        assert annotations["description"]


def gauge(name: str, year: int) -> float | None:
    return REGISTRY.get_sample_value(name, {"year": str(year)})


async def test_the_deadline_gauges_count_the_active_ruc_without_a_report(sqlite_url: str) -> None:
    today = dt.date(2026, 1, 20)
    last_year, this_year = open_years(today)
    engine = create_engine(sqlite_url)
    try:
        async with session_factory(engine)() as session:
            await set_deadline(session, last_year, dt.date(2026, 2, 2))
            stamp = dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.UTC)
            session.add(ReportArrival(ruc_id="gu", year=last_year, first_at=stamp, last_at=stamp))
            await session.commit()
            figures = await refresh(session, today)
    finally:
        await engine.dispose()
    active = figures[this_year][0]
    assert active >= 18
    assert figures[last_year][0] == active - 1
    assert gauge("rucnet_rucs_without_report", last_year) == active - 1
    ends = dt.datetime(2026, 2, 2, 23, 0, tzinfo=dt.UTC)  # midnight in Stockholm (CET, UTC+1)
    assert gauge("rucnet_reporting_deadline_timestamp_seconds", last_year) == ends.timestamp()
    assert figures[this_year][1] == dt.datetime(2027, 1, 31, 23, 0, tzinfo=dt.UTC).timestamp()
