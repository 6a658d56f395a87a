"""What the deployment tests send and read through the published ports, as a RUC and Skolverket."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx

from rucnet.dataset2020 import plan_2020
from tests.deploy.deployment import ROOT, Deployment, wait_for


def create_demo_tokens(deployment: Deployment, path: Path) -> dict[str, Any]:
    """The runbook's way: `rucnet demo-tokens` in a one-off container of the migrate service."""
    result = deployment.compose("run", "--rm", "--no-deps", "-T", "migrate", "rucnet", "demo-tokens")
    start = result.stdout.index("{")  # anything compose printed before the command's own output
    tokens: dict[str, Any] = json.loads(result.stdout[start:])
    path.write_text(json.dumps(tokens), encoding="utf-8")
    return tokens


def run_demo(deployment: Deployment, tokens_file: Path) -> subprocess.CompletedProcess[str]:
    """`rucnet demo 2020 --tokens FILE` on this machine, against the published ports."""
    env = os.environ | {
        "RUCNET_INTAKE_PORT": str(deployment.ports["intake"]),
        "RUCNET_CLASSIFIER_PORT": str(deployment.ports["classifier"]),
        "RUCNET_AGGREGATOR_PORT": str(deployment.ports["aggregator"]),
    }
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "rucnet"), "demo", "2020", "--tokens", str(tokens_file), "--timeout", "600"],
        capture_output=True, text=True, env=env, timeout=900, cwd=tokens_file.parent,
    )  # fmt: skip


def national(deployment: Deployment, token: str, year: int) -> tuple[int, int]:
    response = httpx.get(
        f"{deployment.url('aggregator')}/api/v1/stats/national",
        params={"year": year},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    response.raise_for_status()
    body = response.json()
    return int(body["started"]["insatser"]), int(body["completed"]["insatser"])


def wait_national(deployment: Deployment, token: str, year: int, expected: tuple[int, int]) -> None:
    wait_for(
        f"national {year} = {expected}",
        lambda: national(deployment, token, year) == expected or None,
        timeout_s=300,
    )


def reports(year: int, ruc_id: str, count: int) -> list[dict[str, Any]]:
    """``count`` reports of one started insats each, by huvudmän of the RUC's own region."""
    template = next(s.payload for s in plan_2020() if s.ruc_id == ruc_id)
    made = []
    for i in range(count):
        insats = dict(template["insatser"][0], ref=f"deploy-{year}-{i}", status="started")
        insats.pop("actual_effects", None)
        huvudman = dict(template["huvudman"], name=f"Huvudman {i} i deploy-test")
        made.append(dict(template, year=year, huvudman=huvudman, insatser=[insats]))
    return made


def submit(deployment: Deployment, token: str, payloads: list[dict[str, Any]]) -> None:
    """Every report accepted (202): from here on the system must not lose it."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=deployment.url("intake"), headers=headers, timeout=30) as client:
        for payload in payloads:
            response = client.post("/api/v1/reports", json=payload)
            assert response.status_code == 202, response.text
