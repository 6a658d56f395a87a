"""`rucnet dev` as a user runs it: a real process tree on free ports with its own data dir."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from rucnet.embedded_broker import free_port

RUCNET = str(Path(sys.executable).with_name("rucnet"))


@dataclass
class DevStack:
    data_dir: Path
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    broker: str = "tansu"  # or "kafka": `rucnet dev --broker kafka`

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.env[f'RUCNET_{service.upper()}_PORT']}"

    def start(self, timeout_s: float = 90) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [RUCNET, "dev", "--broker", self.broker], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        for service in ("intake", "classifier", "aggregator"):
            while not self._healthy(service):
                assert self.process.poll() is None, self.log.read_text()[-3000:]
                assert time.monotonic() < deadline, f"{service} not healthy: {self.log.read_text()[-3000:]}"
                time.sleep(0.2)

    def _healthy(self, service: str) -> bool:
        try:
            return httpx.get(self.url(service) + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def children(self) -> dict[str, int]:
        """The service processes `rucnet dev` started, by name."""
        assert self.process is not None
        found = {}
        pids = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        for pid in pids:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if len(cmdline) >= 4 and cmdline[1:3] == [b"-m", b"rucnet"]:
                found[cmdline[3].decode()] = int(pid)
        return found

    def broker_pid(self) -> int | None:
        """The Apache Kafka child (`java … kafka.Kafka …`) of `rucnet dev --broker kafka`."""
        assert self.process is not None
        for pid in Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split():
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if cmdline[0].endswith(b"java") and b"kafka.Kafka" in cmdline:
                return int(pid)
        return None

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [RUCNET, *args], env=self.env, capture_output=True, text=True, timeout=60, check=True
        )
        return result.stdout


def page_stack(tmp: Path) -> DevStack:
    """A `rucnet dev` (not started) on free ports with its data dir under ``tmp``, its outbox
    relay quick: what the browser tests share across a module."""
    env = dict(os.environ) | {
        f"RUCNET_{name}_PORT": str(free_port()) for name in ("KAFKA", "INTAKE", "CLASSIFIER", "AGGREGATOR")
    }
    env |= {"RUCNET_DATA_DIR": str(tmp / "data"), "RUCNET_OUTBOX_INTERVAL_S": "0.5"}
    env.pop("RUCNET_DATABASE_URL", None)
    return DevStack(tmp / "data", env, tmp / "dev.log")


@pytest.fixture
def dev_stack(tmp_path: Path) -> Iterator[DevStack]:
    env = dict(os.environ) | {
        "RUCNET_DATA_DIR": str(tmp_path / "data"),
        "RUCNET_KAFKA_PORT": str(free_port()),
        "RUCNET_INTAKE_PORT": str(free_port()),
        "RUCNET_CLASSIFIER_PORT": str(free_port()),
        "RUCNET_AGGREGATOR_PORT": str(free_port()),
    }
    env.pop("RUCNET_DATABASE_URL", None)
    stack = DevStack(tmp_path / "data", env, tmp_path / "dev.log")
    try:
        yield stack
    finally:
        if stack.process is not None:
            stack.stop()
            if stack.process.returncode not in (0, None):
                os.killpg(stack.process.pid, signal.SIGKILL)
