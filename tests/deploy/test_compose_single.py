"""The production docker-compose.yml brought up as ops do (one Kafka node, profile `monitoring`),
checked from outside through its published ports, compose's health checks and Prometheus."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from rucnet.dataset2020 import COMPLETED_TOTAL_2020, STARTED_TOTAL_2020
from tests.deploy.deployment import ROOT, TIMINGS, Deployment, timed, wait_for
from tests.deploy.pipeline import create_demo_tokens, national, reports, run_demo, submit, wait_national

SERVICES = (
    "postgres",
    "kafka",
    "kafka-topics",
    "migrate",
    "intake",
    "classifier",
    "aggregator",
    "prometheus",
)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = Deployment(tmp_path_factory.mktemp("single"), profiles=("monitoring",))
    d.down(volumes=True)  # what an interrupted run may have left
    timed("up -d (single node, monitoring)")(d.up)
    timed("until every service is healthy")(d.wait_healthy)
    yield d
    timed("down -v")(lambda: d.down(volumes=True))


@pytest.fixture(scope="module")
def tokens(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("tokens") / "demo-tokens.json"
    return path, create_demo_tokens(deployment, path)


def test_every_service_is_healthy_through_its_compose_health_check(deployment: Deployment) -> None:
    assert sorted(deployment.services()) == sorted(SERVICES)
    states = {service: deployment.health(service) for service in SERVICES}
    assert states == {s: "completed" if s in ("kafka-topics", "migrate") else "healthy" for s in SERVICES}
    for service in ("intake", "classifier", "aggregator"):
        assert httpx.get(f"{deployment.url(service)}/healthz", timeout=5).json()["database"] is True


def test_the_2020_demo_through_the_published_ports_counts_the_pms_figures(
    deployment: Deployment, tokens: tuple[Path, dict[str, Any]]
) -> None:
    path, created = tokens
    result = timed("rucnet demo 2020 (129 reports)")(lambda: run_demo(deployment, path))
    assert result.returncode == 0, result.stderr + result.stdout
    assert national(deployment, created["skolverket"], 2020) == (STARTED_TOTAL_2020, COMPLETED_TOTAL_2020)
    assert (STARTED_TOTAL_2020, COMPLETED_TOTAL_2020) == (172, 141)


def test_grafana_would_read_the_provisioned_dashboards_where_they_are_mounted(deployment: Deployment) -> None:
    """Grafana has no image here (profile `grafana`): its mounts are checked against its files."""
    config = yaml.safe_load(
        Deployment(deployment.directory / "grafana", profiles=("grafana",)).compose("config").stdout
    )
    binds = {}
    for volume in config["services"]["grafana"]["volumes"]:  # compose 1.29 prints "source:target:mode"
        source, target = (
            volume.split(":")[:2] if isinstance(volume, str) else (volume["source"], volume["target"])
        )
        if source.startswith("/"):
            binds[target] = Path(source)
    provisioning = binds["/etc/grafana/provisioning"]
    providers = yaml.safe_load((provisioning / "dashboards" / "rucnet.yaml").read_text(encoding="utf-8"))
    for provider in providers["providers"]:
        target = provider["options"]["path"]
        assert target in binds, f"dashboards are read from {target}, which is not mounted"
        assert sorted(binds[target].glob("*.json")), f"no dashboard in {binds[target]}"
    assert sorted((provisioning / "datasources").glob("*.yaml"))
    assert provisioning == ROOT / "deploy" / "grafana" / "provisioning"


def kill_and_wait_restarted(deployment: Deployment, service: str, meanwhile: Callable[[], None]) -> None:
    """SIGKILL the container's main process (a crash, not `stop`), do ``meanwhile``, then wait until
    the restart policy has brought the same container back and its health check passes."""
    before = deployment.container(service)
    os.kill(before["State"]["Pid"], signal.SIGKILL)
    started = time.monotonic()
    meanwhile()

    def restarted() -> bool:
        now = deployment.container(service)
        return (
            now["Id"] == before["Id"]
            and now["RestartCount"] > before["RestartCount"]
            and (deployment.health(service) == "healthy")
        )

    wait_for(f"{service} restarted and healthy", restarted, 300)
    TIMINGS.append((f"{service}: killed until healthy again", time.monotonic() - started))


def test_a_killed_intake_comes_back_and_loses_nothing_it_accepted(
    deployment: Deployment, tokens: tuple[Path, dict[str, Any]]
) -> None:
    _, created = tokens
    submit(deployment, created["ruc"]["gu"], reports(2021, "gu", 25))  # killed right after the 202s
    kill_and_wait_restarted(deployment, "intake", meanwhile=lambda: None)
    wait_national(deployment, created["skolverket"], 2021, (25, 0))


def test_a_killed_aggregator_comes_back_and_counts_what_arrived_while_it_was_down(
    deployment: Deployment, tokens: tuple[Path, dict[str, Any]]
) -> None:
    _, created = tokens
    kill_and_wait_restarted(
        deployment,
        "aggregator",
        meanwhile=lambda: submit(deployment, created["ruc"]["gu"], reports(2022, "gu", 20)),
    )
    wait_national(deployment, created["skolverket"], 2022, (20, 0))
    assert national(deployment, created["skolverket"], 2020) == (172, 141)


def prometheus(deployment: Deployment, path: str) -> Any:
    response = httpx.get(f"{deployment.url('prometheus')}{path}", timeout=10)
    response.raise_for_status()
    return response.json()["data"]


def test_prometheus_scrapes_every_service_and_alerts_on_a_stopped_classifier(deployment: Deployment) -> None:
    def scraped() -> set[str]:
        targets = prometheus(deployment, "/api/v1/targets")["activeTargets"]
        return {t["labels"]["job"] for t in targets if t["health"] == "up"}

    wait_for("every service scraped", lambda: scraped() >= {"intake", "classifier", "aggregator"}, 120)
    rules = prometheus(deployment, "/api/v1/rules")["groups"]
    assert {r["name"] for g in rules for r in g["rules"]} >= {"RucnetServiceDown", "RucnetDeadLetters"}

    deployment.compose("stop", "classifier")
    started = time.monotonic()

    def firing() -> bool:
        alerts = prometheus(deployment, "/api/v1/alerts")["alerts"]
        return any(
            a["labels"]["alertname"] == "RucnetServiceDown"
            and a["labels"].get("job") == "classifier"
            and a["state"] == "firing"
            for a in alerts
        )

    wait_for("RucnetServiceDown firing for the classifier", firing, 300, every_s=5)
    TIMINGS.append(("classifier stopped until its alert fired", time.monotonic() - started))
    deployment.compose("start", "classifier")
    deployment.wait_healthy()


def test_the_data_survives_down_and_up_without_removing_the_volumes(
    deployment: Deployment, tokens: tuple[Path, dict[str, Any]]
) -> None:
    _, created = tokens
    timed("down (volumes kept)")(lambda: deployment.down(volumes=False))
    timed("up -d again")(deployment.up)
    timed("healthy again")(deployment.wait_healthy)
    assert national(deployment, created["skolverket"], 2020) == (172, 141)
    assert national(deployment, created["skolverket"], 2021) == (25, 0)
    upgrade = deployment.compose("run", "--rm", "migrate")  # the upgrade's step: a no-op when current
    assert upgrade.returncode == 0
    # the tokens were kept too, and the pipeline still counts
    submit(deployment, created["ruc"]["gu"], reports(2023, "gu", 3))
    wait_national(deployment, created["skolverket"], 2023, (3, 0))


def test_a_backup_restores_as_the_runbook_says_and_the_rebuild_recounts_what_came_after(
    deployment: Deployment, tokens: tuple[Path, dict[str, Any]]
) -> None:
    """docs/operations.md, "Backup and restore of PostgreSQL", command for command."""
    _, created = tokens
    dump = deployment.compose_bytes(
        "exec", "-T", "postgres", "sh", "-c", 'pg_dump -U "$POSTGRES_USER" -d "$POSTGRES_DB" --format=custom'
    )
    deployment.compose_bytes("exec", "-T", "postgres", "pg_restore", "--list", stdin=dump)
    submit(deployment, created["ruc"]["gu"], reports(2024, "gu", 4))  # after the backup
    wait_national(deployment, created["skolverket"], 2024, (4, 0))

    started = time.monotonic()
    deployment.compose("stop", "intake", "classifier", "aggregator")
    restore = (
        'pg_restore -U "$POSTGRES_USER" -d "$POSTGRES_DB" --clean --if-exists --no-owner --single-transaction'
    )
    deployment.compose_bytes("exec", "-T", "postgres", "sh", "-c", restore, stdin=dump)
    deployment.compose("run", "--rm", "migrate")
    deployment.up()
    deployment.wait_healthy()
    assert national(deployment, created["skolverket"], 2024) == (0, 0)  # the dump is older
    deployment.compose("run", "--rm", "--no-deps", "migrate", "rucnet", "aggregates", "rebuild")
    TIMINGS.append(("restore from pg_dump and rebuild", time.monotonic() - started))
    wait_national(deployment, created["skolverket"], 2024, (4, 0))
    assert national(deployment, created["skolverket"], 2020) == (172, 141)


def test_rotating_the_pseudonym_secret_recreates_the_services_which_count_on(
    deployment: Deployment, tokens: tuple[Path, dict[str, Any]]
) -> None:
    """docs/operations.md, "Rotating the pseudonym secret": a new value in .env, then `up -d`."""
    _, created = tokens
    services = ("intake", "classifier", "aggregator")
    before = {service: deployment.container(service)["Id"] for service in services}
    secret = "rotated-" + deployment.env["RUCNET_PSEUDONYM_SECRET"]
    lines = deployment.env_file.read_text(encoding="utf-8").splitlines()
    rotated = [
        f"RUCNET_PSEUDONYM_SECRET={secret}" if line.startswith("RUCNET_PSEUDONYM_SECRET=") else line
        for line in lines
    ]
    deployment.env_file.write_text("\n".join(rotated) + "\n", encoding="utf-8")
    timed("up -d with the rotated secret")(deployment.up)
    timed("healthy with the rotated secret")(deployment.wait_healthy)
    for service in services:
        container = deployment.container(service)
        assert container["Id"] != before[service], f"{service} was not recreated"
        assert f"RUCNET_PSEUDONYM_SECRET={secret}" in container["Config"]["Env"]
    submit(deployment, created["ruc"]["gu"], reports(2025, "gu", 2))
    wait_national(deployment, created["skolverket"], 2025, (2, 0))
