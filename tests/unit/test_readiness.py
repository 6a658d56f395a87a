"""/readyz asks the broker and the database every time; /healthz answers a burst of probes from
one recent check, and says 503 as soon as a fresh check fails."""

from __future__ import annotations

import asyncio
from pathlib import Path

from shared.db import create_engine
from shared.web import Readiness


class FakeBroker:
    def __init__(self) -> None:
        self.pings = 0
        self.up = True

    async def ping(self, timeout: float) -> bool:  # noqa: ASYNC109 - FastStream's signature
        self.pings += 1
        return self.up


def test_a_burst_of_health_probes_costs_one_check_and_readiness_asks_each_time(tmp_path: Path) -> None:
    async def run() -> tuple[list[int], int, int, int]:
        broker, engine = FakeBroker(), create_engine(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
        checked = Readiness(broker, engine, {"backlog": lambda: asyncio.sleep(0, result=True)})  # type: ignore[arg-type]
        burst = await asyncio.gather(*(checked.healthz() for _ in range(20)))
        after_burst = broker.pings
        ready = await checked.readyz()
        broker.up = False
        down = await checked.readyz()
        await engine.dispose()
        return [r.status_code for r in burst], after_burst, ready.status_code, down.status_code

    codes, pings, ready, down = asyncio.run(run())
    assert codes == [200] * 20
    assert pings == 1
    assert (ready, down) == (200, 503)
