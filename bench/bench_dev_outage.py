"""Under `rucnet dev`: pause the broker (SIGSTOP), kill intake (SIGKILL), and time how long until
`rucnet dev` has it healthy again and answering 202; then resume the broker and time until every
accepted report is counted. Issue 21's "a killed intake under a paused broker is healthy within
30 s" check.

    .venv/bin/python bench/bench_dev_outage.py [--reports 20]

Prints, never asserts. Runs its own `rucnet dev` (embedded Tansu) in a temporary data dir on free
ports; stops it at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import figure

from rucnet.embedded_broker import free_port


def children(pid: int) -> dict[str, int]:
    """`rucnet dev`'s children by what they run: intake, classifier, aggregator, the broker."""
    found = {}
    for line in subprocess.run(
        ["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    ).stdout.splitlines():
        child, _, args = line.strip().partition(" ")
        name = next(
            (n for n in ("intake", "classifier", "aggregator") if args.endswith(f"rucnet {n}")), "broker"
        )
        found[name] = int(child)
    return found


def until(probe: object, timeout_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            if probe():  # type: ignore[operator]
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return float("inf")


def report(n: int) -> dict[str, object]:
    return {
        "ruc_id": "gu",
        "year": 2020,
        "huvudman": {"name": "Exempelkommun", "lan_kod": "14", "type": "kommunal"},
        "insatser": [
            {
                "ref": f"gu-outage-{n}",
                "title": "Studiehandledning",
                "status": "started",
                "school_forms": ["grundskola"],
            }
        ],
    }


def main(reports: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ports = {name: str(free_port()) for name in ("KAFKA", "INTAKE", "CLASSIFIER", "AGGREGATOR")}
        env = (
            dict(os.environ)
            | {"RUCNET_DATA_DIR": str(Path(tmp) / "data")}
            | {f"RUCNET_{name}_PORT": port for name, port in ports.items()}
        )
        env.pop("RUCNET_KAFKA_BOOTSTRAP", None)
        env.pop("RUCNET_DATABASE_URL", None)
        dev = subprocess.Popen([sys.executable, "-m", "rucnet", "dev"], env=env, stdout=subprocess.DEVNULL)
        intake = f"http://127.0.0.1:{ports['INTAKE']}"
        aggregator = f"http://127.0.0.1:{ports['AGGREGATOR']}"
        try:
            up = until(
                lambda: all(
                    httpx.get(f"http://127.0.0.1:{ports[s]}/healthz", timeout=2).status_code == 200
                    for s in ("INTAKE", "CLASSIFIER", "AGGREGATOR")
                ),
                300,
            )
            print(f"rucnet dev healthy after {up:.1f} s")
            token = subprocess.run(
                [sys.executable, "-m", "rucnet", "token", "create", "--ruc", "gu"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            national = subprocess.run(
                [sys.executable, "-m", "rucnet", "token", "create", "--role", "skolverket"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            headers = {"Authorization": f"Bearer {token}"}
            before = children(dev.pid)
            os.kill(before["broker"], signal.SIGSTOP)
            os.kill(before["intake"], signal.SIGKILL)
            killed = time.monotonic()
            healthy = until(lambda: httpx.get(f"{intake}/healthz", timeout=2).status_code == 200, 120)
            codes = [
                httpx.post(
                    f"{intake}/api/v1/reports", json=report(n), headers=headers, timeout=10
                ).status_code
                for n in range(reports)
            ]
            accepted = time.monotonic() - killed
            ready = httpx.get(f"{intake}/readyz", timeout=5).json()
            os.kill(before["broker"], signal.SIGCONT)

            def counted() -> bool:
                body = httpx.get(
                    f"{aggregator}/api/v1/stats/national",
                    params={"year": 2020},
                    headers={"Authorization": f"Bearer {national}"},
                    timeout=5,
                ).json()
                return int(body["started"]["insatser"]) >= reports

            caught_up = until(counted, 300)
        finally:
            dev.send_signal(signal.SIGINT)
            dev.wait(timeout=60)
    print(f"202s while the broker was paused: {codes.count(202)} of {reports}; /readyz then: {ready}")
    figure("intake killed → healthy again (broker paused)", healthy, "s", goal="< 30 s")
    figure(f"intake killed → {reports} reports accepted", accepted, "s")
    figure("broker resumed → every accepted report counted", caught_up, "s")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=20)
    main(parser.parse_args().reports)
