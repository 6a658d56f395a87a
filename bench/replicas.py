"""The classifier and the aggregator as replicas in processes of their own (`rucnet classifier`,
`rucnet aggregator`, as the containers run them), for the end-to-end run with several of each."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from rucnet.embedded_broker import free_port
from shared import topics

GROUPS = {"classifier": topics.CLASSIFIER_GROUP, "aggregator": topics.AGGREGATOR_GROUP}
SETTLE_S = 15.0  # after every replica is healthy: their joins and rebalances (more under load)


def service_env(settings: dict[str, Any]) -> dict[str, str]:
    """The services' settings (``common.settings_kw``) as the environment of a process."""
    return dict(os.environ) | {
        f"RUCNET_{name.upper()}": str(value).lower() if isinstance(value, bool) else str(value)
        for name, value in settings.items()
    }


async def settled(seconds: float = SETTLE_S) -> None:
    """The replicas' group joins and the rebalances between them are start-up, not throughput.
    (aiokafka 0.14 cannot decode Kafka 4's DescribeGroups answer, so the groups are not asked.)"""
    await asyncio.sleep(seconds)


def start(name: str, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "rucnet", name],
            env=env | {f"RUCNET_{name.upper()}_PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return process, port


async def healthy(port: int, timeout_s: float = 600.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the replica on port {port} is not healthy after {timeout_s}s")
            await asyncio.sleep(0.25)


@asynccontextmanager
async def replicas(settings: dict[str, Any], count: int, log_dir: Path) -> AsyncIterator[None]:
    """``count`` classifier and ``count`` aggregator processes, healthy and in their groups."""
    env = service_env(settings)
    started: list[tuple[subprocess.Popen[bytes], int]] = []
    try:
        for name in GROUPS:
            for i in range(count):
                started.append(await asyncio.to_thread(start, name, env, log_dir / f"{name}-{i}.log"))
        await asyncio.gather(*(healthy(port) for _, port in started))
        await settled()
        yield
    finally:
        for process, _ in started:
            process.terminate()
        for process, _ in started:
            try:
                await asyncio.to_thread(process.wait, 30)
            except subprocess.TimeoutExpired:
                process.kill()
