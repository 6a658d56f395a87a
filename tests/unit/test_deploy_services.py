"""The containers' commands and configuration, run outside Docker (no engine runs here).

Each service gets the environment `docker-compose config` resolves for it, with only what Docker
would provide swapped for local stand-ins: the broker and database addresses, free ports, a data
dir. Then the compose commands run as processes, the image's health check decides when they are
up, and a report goes through them. Needs the real broker and PostgreSQL, like tests/integration.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from rucnet.embedded_broker import free_port
from shared import topics
from tests.conftest import TANSU_BOOTSTRAPS
from tests.unit.test_deploy_compose import ROOT, resolved
from tests.unit.test_schemas import insats, valid_report

pytestmark = pytest.mark.integration
SERVICES = ("intake", "classifier", "aggregator")
HEALTHCHECK = ROOT / "deploy" / "docker" / "healthcheck.py"


def service_env(
    name: str, kafka: str, database_url: str, data_dir: Path, ports: dict[str, int]
) -> dict[str, str]:
    env = {k: str(v) for k, v in resolved()["services"][name]["environment"].items()}
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", "/root"),
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
        # What Docker's network and volumes give the containers:
        "RUCNET_DATABASE_URL": database_url,
        "RUCNET_KAFKA_BOOTSTRAP": kafka,
        "RUCNET_DATA_DIR": str(data_dir),
        "RUCNET_INTAKE_PORT": str(ports["intake"]),
        "RUCNET_CLASSIFIER_PORT": str(ports["classifier"]),
        "RUCNET_AGGREGATOR_PORT": str(ports["aggregator"]),
    }
    if "RUCNET_AGGREGATOR_URL" in env:
        env["RUCNET_AGGREGATOR_URL"] = f"http://127.0.0.1:{ports['aggregator']}"
    if kafka in TANSU_BOOTSTRAPS:
        env["RUCNET_KAFKA_IDEMPOTENCE"] = "false"  # the embedded broker has no InitProducerId
    return env


def healthy(name: str, env: dict[str, str]) -> bool:
    check = subprocess.run([sys.executable, str(HEALTHCHECK), name], env=env, capture_output=True, timeout=10)
    return check.returncode == 0


@pytest.fixture
def stack(kafka_bootstrap: str, pg_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    ports = {name: free_port() for name in SERVICES}
    envs = {
        name: service_env(name, kafka_bootstrap, pg_url, tmp_path / "data", ports)
        for name in (*SERVICES, "migrate")
    }
    migrate = subprocess.run(
        resolved()["services"]["migrate"]["command"],
        env=envs["migrate"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr
    processes: dict[str, subprocess.Popen[bytes]] = {}
    logs = {name: tmp_path / f"{name}.log" for name in SERVICES}
    try:
        for name in SERVICES:
            with logs[name].open("wb") as out:
                processes[name] = subprocess.Popen(
                    resolved()["services"][name]["command"],
                    env=envs[name],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
        deadline = time.monotonic() + 120
        waiting = set(SERVICES)
        while waiting and time.monotonic() < deadline:
            for name in sorted(waiting):
                assert processes[name].poll() is None, f"{name} exited: {logs[name].read_text()}"
                if healthy(name, envs[name]):
                    waiting.discard(name)
            time.sleep(0.2)
        assert not waiting, f"not healthy within 120 s: {waiting}"
        yield {"ports": ports, "envs": envs, "logs": logs, "kafka": kafka_bootstrap}
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def token(env: dict[str, str], *args: str) -> dict[str, str]:
    result = subprocess.run(
        ["rucnet", "token", "create", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return {"Authorization": f"Bearer {result.stdout.strip()}"}


def json_log(path: Path) -> list[dict[str, Any]]:
    """Every complete line is one JSON object; a line still being written (no newline yet) is not
    read: the services run on while the test reads their logs."""
    text = path.read_text(encoding="utf-8")
    complete = text if text.endswith("\n") else text.rpartition("\n")[0]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


async def publish_raw(kafka: str, body: dict[str, Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        await producer.send_and_wait(topics.REPORTS_SUBMITTED, json.dumps(body).encode(), key=b"gu")
    finally:
        await producer.stop()


def test_the_compose_commands_and_settings_run_the_pipeline(stack: dict[str, Any]) -> None:
    ports, envs = stack["ports"], stack["envs"]
    gu = token(envs["migrate"], "--ruc", "gu")
    skolverket = token(envs["migrate"], "--role", "skolverket")
    intake = f"http://127.0.0.1:{ports['intake']}"
    aggregator = f"http://127.0.0.1:{ports['aggregator']}"
    classifier = f"http://127.0.0.1:{ports['classifier']}"

    report = valid_report(
        insatser=[insats(), insats(ref="gu-2020-002", status="completed", nsp_area="elevhalsa")]
    )
    accepted = httpx.post(f"{intake}/api/v1/reports", json=report, headers=gu, timeout=30)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] == "accepted"

    deadline = time.monotonic() + 60
    stats: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = httpx.get(f"{aggregator}/api/v1/stats/national", params={"year": 2020}, headers=skolverket)
        stats = response.json()
        # Both conditions, though the counts are read in one statement (one snapshot).
        if (
            response.status_code == 200
            and stats["completed"]["insatser"] == stats["started"]["insatser"] == 1
        ):
            break
        time.sleep(0.2)
    assert stats["started"]["insatser"] == 1, stats
    assert stats["completed"]["by_nsp"]["elevhalsa"] == 1, stats

    poison = {"event_id": str(uuid.uuid4()), "report_id": str(uuid.uuid4()), "insatser": "not a list"}
    asyncio.run(publish_raw(stack["kafka"], poison))
    deadline = time.monotonic() + 30
    lines: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        lines = [line for line in json_log(stack["logs"]["classifier"]) if "dead-lettered" in line["msg"]]
        if lines:
            break
        time.sleep(0.2)
    assert lines, "the classifier logged no dead letter"
    assert lines[0]["event_id"] == poison["event_id"]
    assert lines[0]["report_id"] == poison["report_id"]
    assert {"ts", "level", "logger", "msg"} <= set(lines[0])

    intake_metrics = httpx.get(f"{intake}/metrics").text
    assert "rucnet_reports_accepted_total 1.0" in intake_metrics
    classifier_metrics = httpx.get(f"{classifier}/metrics").text
    # counts publications, at least once: a batch redelivered after a rebalance may count twice
    published = re.search(
        r'^rucnet_classifications_total\{needs_review="false",nsp_area="elevhalsa",source="declared"\} (\S+)$',
        classifier_metrics,
        re.MULTILINE,
    )
    assert published is not None, classifier_metrics
    assert float(published.group(1)) >= 1
    assert f'rucnet_dead_letters_total{{topic="{topics.REPORTS_SUBMITTED}"}} 1.0' in classifier_metrics
    assert (
        'faststream_received_messages_total{app_name="aggregator"' in httpx.get(f"{aggregator}/metrics").text
    )
    for name in SERVICES:
        json_log(stack["logs"][name])
