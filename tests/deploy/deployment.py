"""One compose deployment under test: docker-compose.yml plus deploy/test/compose.podman.yml,
driven with docker-compose 1.29 against podman's API (DOCKER_HOST, set by deploy/test/run.sh),
inspected with podman. Waits are bounded polls; each phase's time is recorded for the report."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERRIDE = ROOT / "deploy" / "test" / "compose.podman.yml"
SECRETS = (
    "POSTGRES_PASSWORD",
    "RUCNET_PSEUDONYM_SECRET",
    "RUCNET_GRAFANA_DB_PASSWORD",
    "GRAFANA_ADMIN_PASSWORD",
)
ONE_SHOTS = ("kafka-topics", "migrate")
TIMINGS: list[tuple[str, float]] = []
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_env_file(path: Path, extra: dict[str, str]) -> dict[str, str]:
    """An operator's `.env`: `.env.example` with the secrets filled in and `extra` set."""
    values = {name: secrets.token_urlsafe(24) for name in SECRETS} | extra
    lines = []
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        name = line.split("=", 1)[0]
        lines.append(line if name not in values or line.startswith("#") else "")
    lines += [f"{name}={value}" for name, value in values.items()]
    path.write_text("\n".join(lines) + f"\nRUCNET_ENV_FILE={path}\n", encoding="utf-8")
    return values


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float, every_s: float = 2.0) -> T:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = probe()
            if result is not None and result is not False:
                return result
        except (httpx.HTTPError, subprocess.SubprocessError, ValueError, KeyError) as exc:
            last = exc
        time.sleep(every_s)
    raise AssertionError(f"not within {timeout_s:.0f} s: {what} (last error: {last})")


def timed(label: str) -> Callable[[Callable[[], T]], T]:
    """Run the decorated function now and record its duration under ``label``."""

    def run(fn: Callable[[], T]) -> T:
        start = time.monotonic()
        try:
            return fn()
        finally:
            TIMINGS.append((label, time.monotonic() - start))

    return run


@dataclass
class Deployment:
    directory: Path
    profiles: tuple[str, ...] = ()
    extra_env: dict[str, str] = field(default_factory=dict)
    project: str = os.environ.get("RUCNET_DEPLOY_TEST_PROJECT", "rucnet-deploy-test")

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ports = {name: free_port() for name in ("intake", "classifier", "aggregator", "prometheus")}
        self.env_file = self.directory / ".env"
        self.env = write_env_file(
            self.env_file,
            {
                "RUCNET_VERSION": os.environ.get("RUCNET_VERSION", "deploy-test"),
                "INTAKE_HOST_PORT": str(self.ports["intake"]),
                "CLASSIFIER_HOST_PORT": str(self.ports["classifier"]),
                "AGGREGATOR_HOST_PORT": str(self.ports["aggregator"]),
                "PROMETHEUS_HOST_PORT": str(self.ports["prometheus"]),
                "KAFKA_HEAP_OPTS": "-Xms256m -Xmx512m",  # 2 shared cores: small heaps
                **self.extra_env,
            },
        )

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def command(self) -> tuple[list[str], dict[str, str]]:
        """docker-compose with this deployment's files, project and profiles; only the environment
        it needs (a developer's exported variables must not fill the secrets)."""
        command = ["docker-compose", "--project-directory", str(ROOT), "-p", self.project]
        command += [
            "-f",
            str(ROOT / "docker-compose.yml"),
            "-f",
            str(OVERRIDE),
            "--env-file",
            str(self.env_file),
        ]
        for profile in self.profiles:
            command += ["--profile", profile]
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_HOST", "LANG")}
        return command, env

    def compose(
        self, *args: str, check: bool = True, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        command, env = self.command()
        result = subprocess.run(
            [*command, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)}: {result.stderr[-3000:]}")
        return result

    def compose_bytes(self, *args: str, stdin: bytes | None = None) -> bytes:
        """For binary output or input (a pg_dump archive)."""
        command, env = self.command()
        result = subprocess.run(
            [*command, *args], input=stdin, capture_output=True, env=env, cwd=ROOT, timeout=600
        )
        if result.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)}: {result.stderr.decode()[-3000:]}")
        return result.stdout

    def container(self, service: str) -> dict[str, Any]:
        ids = self.compose("ps", "-q", service).stdout.split()
        assert len(ids) == 1, f"{service}: containers {ids}"
        inspected = subprocess.run(
            ["podman", "inspect", ids[0]], capture_output=True, text=True, check=True, timeout=60
        )
        data: dict[str, Any] = json.loads(inspected.stdout)[0]
        return data

    def services(self) -> list[str]:
        """The services `up` starts: those of no profile and those of this deployment's profiles
        (`config --services` of compose 1.29 lists every profile's)."""
        services = yaml.safe_load(self.compose("config").stdout)["services"]
        return sorted(
            name
            for name, s in services.items()
            if not s.get("profiles") or set(s["profiles"]) & set(self.profiles)
        )

    def health(self, service: str) -> str:
        state = self.container(service)["State"]
        if service in ONE_SHOTS:
            return "completed" if state["Status"] == "exited" and state["ExitCode"] == 0 else state["Status"]
        health: dict[str, Any] = state.get("Health") or state.get("Healthcheck") or {}
        return str(health.get("Status", "none")) if state["Status"] == "running" else state["Status"]

    def unhealthy(self) -> dict[str, str]:
        states = {s: self.health(s) for s in self.services()}
        return {s: h for s, h in states.items() if h not in ("healthy", "completed")}

    def wait_healthy(self, timeout_s: float = 600) -> None:
        deadline = time.monotonic() + timeout_s
        while bad := self.unhealthy():
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {s}\n{self.logs(s)}" for s in bad)
                raise AssertionError(f"not healthy within {timeout_s:.0f} s: {bad}\n{logs}")
            time.sleep(5)

    def up(self) -> None:
        self.compose("up", "-d", "--no-build")

    def down(self, volumes: bool) -> None:
        self.compose("down", *(["-v"] if volumes else []), "--remove-orphans", timeout=300)

    def logs(self, service: str) -> str:
        return self.compose("logs", "--no-color", "--tail", "60", service, check=False).stdout
