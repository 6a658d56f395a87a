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
from aiokafka.admin import AIOKafkaAdminClient

from rucnet.embedded_broker import free_port
from shared import topics

GROUPS = {"classifier": topics.CLASSIFIER_GROUP, "aggregator": topics.AGGREGATOR_GROUP}


def service_env(settings: dict[str, Any]) -> dict[str, str]:
    """The services' settings (``common.settings_kw``) as the environment of a process."""
    return dict(os.environ) | {
        f"RUCNET_{name.upper()}": str(value).lower() if isinstance(value, bool) else str(value)
        for name, value in settings.items()
    }


async def groups_stable(bootstrap: str, members: dict[str, int], timeout_s: float = 120.0) -> None:
    """Until each group has its members and is Stable: their joins are start-up, not throughput."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            described = await admin.describe_consumer_groups(list(members))
            # raw DescribeGroups rows: (error, group, state, protocol type, protocol, members, …)
            ready = {
                g[1]: g[2] == "Stable" and len(g[5]) >= members[g[1]] for d in described for g in d.groups
            }
            if all(ready.get(group) for group in members):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"consumer groups not stable after {timeout_s}s: {ready}")
            await asyncio.sleep(0.25)
    finally:
        await admin.close()


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


async def healthy(port: int, timeout_s: float = 180.0) -> None:
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
        await groups_stable(settings["kafka_bootstrap"], dict.fromkeys(GROUPS.values(), count))
        yield
    finally:
        for process, _ in started:
            process.terminate()
        for process, _ in started:
            try:
                await asyncio.to_thread(process.wait, 30)
            except subprocess.TimeoutExpired:
                process.kill()
