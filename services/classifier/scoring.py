"""Scoring off the event loop: the model's maths in worker processes, so it has its own cores.

Scoring is pure CPU (Python n-gram lookups and numpy), about half of what a report costs between
submission and counting. In a thread it still holds the GIL against the consumer, the producer and
the HTTP API; in a worker process it runs beside them. Each worker gets a copy of the model once,
at start (spawned, not forked: the parent has threads and open sockets), and then only texts go
over and scores come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from services.classifier.batch_scoring import area_score
from services.classifier.protocol import Items, NspScorer
from services.classifier.rules import Scored

_worker_model: NspScorer | None = None
INLINE_TEXTS = 24  # texts scored on the event loop itself (≈ 1–2 ms with the n-gram model)


def _load(model: NspScorer) -> None:
    global _worker_model
    _worker_model = model
    threading.Thread(target=_exit_with_parent, name="exit-with-parent", daemon=True).start()


def _exit_with_parent() -> None:
    """A worker outlives a service killed with SIGKILL (nobody shuts the pool down): it goes too."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)


# Scores cross the process boundary as plain tuples: pickled and unpickled in C, where pydantic
# models would be rebuilt one by one by Python code holding the GIL the event loop needs.
Plain = tuple[tuple[tuple[str, float], ...], tuple[str, ...], bool, bool, bool, tuple[str, ...]]


def _score(items: Items, areas: int | None) -> list[Plain]:
    assert _worker_model is not None, "the worker was started without a model"
    return [
        (
            tuple((a.code, a.score) for a in s.areas[:areas]),
            s.reasons,
            s.readable,
            s.foreign,
            s.uncertain,
            s.plausible,
        )
        for s in _worker_model.score_batch(items)
    ]


def _scored(plain: Plain) -> Scored:
    areas, reasons, readable, foreign, uncertain, plausible = plain
    ranked = tuple(area_score(c, v) for c, v in areas)  # shared instances, built once per value
    return Scored(ranked, reasons, readable, foreign, uncertain, plausible)


@contextlib.contextmanager
def _ctrl_c_ignored() -> Iterator[None]:
    """Processes spawned inside ignore SIGINT (an ignored signal stays ignored in a new process):
    Ctrl-C in a terminal reaches the whole process group, and a worker still importing printed a
    KeyboardInterrupt traceback; the service stops its workers itself."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class ScoringPool:
    """``score_batch`` of ``model`` in ``workers`` processes (0: a thread of this process); a batch
    of at most ``inline`` texts right on the event loop."""

    def __init__(self, model: NspScorer, workers: int, inline: int = INLINE_TEXTS) -> None:
        self.model = model
        self.workers = workers
        self.inline = inline
        self._pool: Executor | None = None

    async def start(self) -> None:
        """Spawn the workers and wait for their first answer, so no batch waits for a start."""
        if self.workers and self._pool is None:
            pool = self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_load,
                initargs=(self.model,),
            )
            with _ctrl_c_ignored():  # the workers are spawned by these first calls
                first = [pool.submit(_score, [("", None)], None) for _ in range(self.workers)]
            await asyncio.gather(*(asyncio.wrap_future(f) for f in first))

    async def score_batch(self, items: Items, areas: int | None = None) -> list[Scored]:
        """The model's ``score_batch``, each text's ranked areas cut to the best ``areas``.

        A few texts are scored right here: ≈ 1 ms with the n-gram model, less than handing them
        to a worker and back costs (a lone report's latency); more go to the workers."""
        if self._pool is not None and len(items) > self.inline:
            return await self._in_worker(items, areas)
        if len(items) <= self.inline:
            scores = self.model.score_batch(items)
        else:
            scores = await asyncio.to_thread(self.model.score_batch, items)
        return [dataclasses.replace(s, areas=s.areas[:areas]) for s in scores]

    async def _in_worker(self, items: Items, areas: int | None) -> list[Scored]:
        assert self._pool is not None
        try:
            plain = await asyncio.get_running_loop().run_in_executor(self._pool, _score, items, areas)
        except BrokenProcessPool:  # a worker died (OOM killer, signal): new ones, and raise
            await self.close()
            await self.start()
            raise
        return [_scored(p) for p in plain]

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
