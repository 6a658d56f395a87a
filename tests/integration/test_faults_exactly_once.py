"""10 000 insatser (with corrections and overrides) streamed while, in turn, an aggregator and a
classifier are SIGKILLed and restarted, the broker is paused for several seconds and PostgreSQL is
restarted. Afterwards verify is clean and the national counts are exactly the final state's."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from rucnet.embedded_broker import EmbeddedBroker
from shared.auth import create_token
from shared.db import create_engine, session_factory
from tests.conftest import PG_ADMIN_DSN
from tests.integration.ops_support import (
    Services,
    eventually,
    make_stream,
    prepare_classifier_model,
    publish_all,
    run_cli,
    service_env,
    wait_healthy,
)
from tests.integration.test_faults_scale_out import national

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
BROKER_PAUSE_S = 5.0


async def restart_postgresql() -> None:
    """Restart the cluster and wait (bounded) until it takes connections again."""
    cluster = os.listdir("/etc/postgresql")[0]
    await asyncio.to_thread(
        subprocess.run,
        ["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "restart"],
        check=True,
        timeout=60,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=2)
            await conn.close()
            return
        except (OSError, asyncpg.PostgresError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_ten_thousand_insatser_are_counted_exactly_once_through_kills_pauses_and_restarts(
    embedded_broker: EmbeddedBroker, pg_url: str, tmp_path: Path
) -> None:
    stream = make_stream(10_000, seed=2020)
    env = service_env(embedded_broker.bootstrap, pg_url, tmp_path)
    prepare_classifier_model(tmp_path)
    services = Services()
    published = 0

    def progress(n: int) -> None:
        nonlocal published
        published = n

    async def reached(fraction: float) -> None:
        await eventually(
            lambda: asyncio.sleep(0, published), lambda n: n >= fraction * len(stream.events), 120
        )

    try:
        aggregators = services.start("aggregator", env, tmp_path, 2)
        classifiers = services.start("classifier", env, tmp_path, 2)
        await asyncio.to_thread(wait_healthy, [*aggregators, *classifiers])
        publisher = asyncio.create_task(
            publish_all(embedded_broker.bootstrap, stream.events, chunk=100, pause_s=0.6, progress=progress)
        )
        await reached(0.15)
        aggregators[0].kill(signal.SIGKILL)
        aggregators[0].start()
        await reached(0.35)
        classifiers[0].kill(signal.SIGKILL)
        classifiers[0].start()
        await reached(0.55)
        assert embedded_broker.process is not None
        embedded_broker.process.send_signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(BROKER_PAUSE_S)  # the fault itself lasts this long; nothing waits on it
        finally:
            embedded_broker.process.send_signal(signal.SIGCONT)
        await reached(0.75)
        await restart_postgresql()
        await asyncio.wait_for(publisher, timeout=120)

        for year in (2019, 2020):
            want = stream.expected(year)
            got = await eventually(
                lambda y=year: national(pg_url, y), lambda g, w=want: g == w, timeout_s=150
            )
            assert got == want, f"{year}: lost or double-counted"

        engine = create_engine(pg_url)
        async with session_factory(engine)() as session:
            token = await create_token(session, "skolverket", None)
        await engine.dispose()
        await asyncio.to_thread(wait_healthy, aggregators[:1])
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{aggregators[0].port}") as client:
            body = (
                await client.get(
                    "/api/v1/stats/national",
                    params={"year": 2020},
                    headers={"Authorization": f"Bearer {token}"},
                )
            ).json()
        want = stream.expected(2020)
        assert body["started"]["insatser"] == want["started"]["insatser"]
        assert {k: v for k, v in body["completed"]["by_nsp"].items() if v} == want["completed"]["by_nsp"]
    finally:
        services.stop_all()
    verified = await asyncio.to_thread(run_cli, "aggregates", "verify", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "clean" in verified.stdout
