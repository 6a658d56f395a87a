"""A parallel burst of wrong logins from one client against a real intake (`rucnet intake`, uvicorn,
SQLite), and meanwhile a correct login from another client: issue 21's login check.

    .venv/bin/python bench/bench_logins.py [--burst 100]

Prints, never asserts. Goals: the burst done within 10 s, most of it answered 429; the other
client's correct login within 2 s. The two clients are two loopback addresses (127.0.0.1 and
127.0.0.2): with no trusted proxy the TCP peer is the client. Intake runs without a broker (it
starts and serves without one; logins do not need it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from common import figure, healthy, run

from rucnet.embedded_broker import free_port
from rucnet.migrate import upgrade
from services.intake.users import create_user
from shared.db import create_engine, session_factory

PASSWORD = "ett-långt-lösenord"


PAGE_S: list[float] = []


async def attempt(url: str, email: str, password: str, address: str) -> tuple[int, float]:
    """One login as a browser makes it (the page, then the post); its status and the post's seconds."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(base_url=url, timeout=120, transport=transport) as client:
        before = time.perf_counter()
        page = await client.get("/logga-in")
        PAGE_S.append(time.perf_counter() - before)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found is not None
        started = time.perf_counter()
        response = await client.post(
            "/logga-in", data={"email": email, "password": password, "csrf_token": found.group(1)}
        )
        return response.status_code, time.perf_counter() - started


async def main(burst: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = f"sqlite+aiosqlite:///{work / 'rucnet.db'}"
        await asyncio.to_thread(upgrade, db)  # alembic runs its own event loop
        engine = create_engine(db)
        async with session_factory(engine).begin() as session:
            await create_user(session, "anna@gu.se", PASSWORD, "ruc", "gu")
            await create_user(session, "bo@su.se", PASSWORD, "ruc", "su")
        await engine.dispose()
        port = free_port()
        env = dict(os.environ) | {
            "RUCNET_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}", "RUCNET_DATABASE_URL": db,
            "RUCNET_DATA_DIR": str(work), "RUCNET_INTAKE_PORT": str(port),
            "RUCNET_KAFKA_IDEMPOTENCE": "false", "RUCNET_AGGREGATOR_URL": "http://127.0.0.1:9",
        }  # fmt: skip
        process = subprocess.Popen([sys.executable, "-m", "rucnet", "intake"], env=env)  # noqa: ASYNC220
        url = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=url, timeout=10) as health:
                await healthy(health)
            quiet = [(await attempt(url, "bo@su.se", PASSWORD, "127.0.0.2"))[1] for _ in range(3)]
            started = time.perf_counter()
            wrong = asyncio.gather(
                *(attempt(url, "anna@gu.se", f"gissning-{i}", "127.0.0.1") for i in range(burst))
            )
            await asyncio.sleep(0.2)  # the burst is in full flow
            right_code, right_s = await attempt(url, "bo@su.se", PASSWORD, "127.0.0.2")
            answers = await wrong
            elapsed = time.perf_counter() - started
        finally:
            process.terminate()
            process.wait(timeout=30)
    codes = Counter(code for code, _ in answers)
    print(f"burst of {burst} wrong logins from 127.0.0.1: {dict(sorted(codes.items()))}")
    figure("burst: all answered", elapsed, "s", goal="< 10 s")
    figure("burst: answered 429", codes[429] / burst * 100, "%", goal="most")
    figure("burst: slowest answer (post)", max(s for _, s in answers), "s")
    figure("correct login, quiet (post, median of 3)", sorted(quiet)[1], "s")
    figure("login page (get), median over the burst", sorted(PAGE_S)[len(PAGE_S) // 2], "s")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    figure(f"correct login from 127.0.0.2 during the burst ({right_code})", right_s, "s", goal="< 2 s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--burst", type=int, default=100)
    args = parser.parse_args()
    run(main(args.burst))
