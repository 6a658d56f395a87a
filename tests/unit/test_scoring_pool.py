"""Scoring in a worker process gives the model's own scores, and survives a worker that dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from services.classifier.registry import shipped_default
from services.classifier.rules import CANDIDATES
from services.classifier.scoring import ScoringPool

ITEMS = [
    ("Rutiner för hur studiehandledning organiseras och fördelas av huvudmannen", None),
    (
        "Kollegialt lärande i matematik med fokus på problemlösning",
        frozenset({"digitalisering", "elevhalsa"}),
    ),
    ("🙂🙂🙂", None),
    ("Teaching staff coached in formative assessment across the municipality", None),
]


@pytest.mark.parametrize("workers", [0, 1])
async def test_a_pool_scores_as_the_model_does_with_the_best_areas_kept(workers: int) -> None:
    model = shipped_default()
    pool = ScoringPool(model, workers, inline=0)
    await pool.start()
    try:
        scored = await pool.score_batch(ITEMS, areas=CANDIDATES)
    finally:
        await pool.close()
    expected = model.score_batch(ITEMS)
    assert [s.areas for s in scored] == [e.areas[:CANDIDATES] for e in expected]
    assert [(s.reasons, s.readable, s.foreign) for s in scored] == [
        (e.reasons, e.readable, e.foreign) for e in expected
    ]
    assert len(scored[0].areas) == CANDIDATES
    assert scored[2].readable is False
    assert scored[3].foreign is True


async def test_a_killed_worker_fails_one_batch_and_the_next_is_scored_by_a_new_one() -> None:
    model = shipped_default()
    pool = ScoringPool(model, 1, inline=0)
    await pool.start()
    try:
        assert pool._pool is not None
        [worker] = pool._pool._processes.values()  # type: ignore[attr-defined]
        os.kill(worker.pid, signal.SIGKILL)
        worker.join(10)
        with pytest.raises(BrokenProcessPool):
            await pool.score_batch(ITEMS)
        again = await pool.score_batch(ITEMS)
    finally:
        await pool.close()
    assert [s.areas for s in again] == [e.areas for e in model.score_batch(ITEMS)]


def test_a_worker_exits_when_its_service_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "service.py"
    script.write_text(
        "import asyncio, os, time\n"
        "from services.classifier.registry import shipped_default\n"
        "from services.classifier.scoring import ScoringPool\n"
        "async def main():\n"
        "    pool = ScoringPool(shipped_default(), 1)\n"
        "    await pool.start()\n"
        "    print(*[p.pid for p in pool._pool._processes.values()], flush=True)\n"
        "    time.sleep(60)\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n"
    )
    service = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2]
    )
    try:
        assert service.stdout is not None
        worker = int(service.stdout.readline())
        service.kill()
        service.wait(10)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{worker}").exists() and _state(worker) != "Z" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{worker}").exists() or _state(worker) == "Z", (
            "the worker outlived its service"
        )
    finally:
        service.kill()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


async def test_a_small_batch_is_scored_on_the_loop_as_a_worker_would() -> None:
    model = shipped_default()
    pool = ScoringPool(model, 1, inline=len(ITEMS))
    await pool.start()
    try:
        inline = await pool.score_batch(ITEMS, areas=CANDIDATES)
        pool.inline = 0
        in_worker = await pool.score_batch(ITEMS, areas=CANDIDATES)
    finally:
        await pool.close()
    assert inline == in_worker
