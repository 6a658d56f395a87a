"""Wall time spent inside named functions while a stage runs: where a stage's time goes.

The functions are replaced by timing wrappers on their owner (a module whose handler looks them
up at call time, or a class) and put back afterwards. Awaited time counts, so a part that waits
for another process (the scoring worker, PostgreSQL, the broker) is charged with that wait.
"""

from __future__ import annotations

import functools
import inspect
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Spent(dict[str, float]):
    """label → seconds spent inside; ``calls``: label → how many calls."""

    def __init__(self, labels: Any) -> None:
        super().__init__(dict.fromkeys(labels, 0.0))
        self.calls = dict.fromkeys(labels, 0)

    def add(self, label: str, seconds: float) -> None:
        self[label] += seconds
        self.calls[label] += 1


def _timing(name: str, fn: Any, spent: Spent) -> Any:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                spent.add(name, time.perf_counter() - started)

        return timed_async

    @functools.wraps(fn)
    def timed_sync(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent.add(name, time.perf_counter() - started)

    return timed_sync


@contextmanager
def timed(parts: dict[str, tuple[Any, str]]) -> Iterator[Spent]:
    """``parts``: label → (owner, attribute). Yields label → seconds spent so far."""
    spent = Spent(parts)
    originals = {label: getattr(owner, attr) for label, (owner, attr) in parts.items()}
    for label, (owner, attr) in parts.items():
        setattr(owner, attr, _timing(label, originals[label], spent))
    try:
        yield spent
    finally:
        for label, (owner, attr) in parts.items():
            setattr(owner, attr, originals[label])


def reset(spent: Spent) -> Spent:
    """The same counters at zero (the start-up's calls, such as the scoring pool's warm-up, out)."""
    spent.update(dict.fromkeys(spent, 0.0))
    spent.calls.update(dict.fromkeys(spent.calls, 0))
    return spent


def per_call(spent: Spent) -> str:
    """label: ms per call × calls."""
    return ", ".join(
        f"{k.strip()} {s / max(spent.calls[k], 1) * 1000:.1f} ms ×{spent.calls[k]}" for k, s in spent.items()
    )


def shares(spent: Spent, total_s: float) -> str:
    inside = sum(spent.values())
    listed = [f"{label} {s:.1f} s" for label, s in spent.items()]
    return f"{', '.join(listed)}, the rest {max(total_s - inside, 0):.1f} s of {total_s:.1f} s"


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its Python children (a scoring worker, a
    replica), not of the broker or the database: a stage's own work, whatever else loads the machine."""
    me = os.getpid()
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat, open(f"/proc/{pid}/cmdline", "rb") as cmd:
                fields, command = stat.read().rsplit(")", 1)[1].split(), cmd.read()
        except OSError:  # gone meanwhile
            continue
        if int(pid) == me or (int(fields[1]) == me and b"python" in command.split(b"\0")[0]):
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")
