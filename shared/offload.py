"""Blocking work (password hashing, spreadsheet parsing) off the event loop, a few at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

T = TypeVar("T")


class BoundedThreads:
    """Runs blocking calls in threads, at most ``limit`` at once; the rest wait their turn, so a
    burst costs latency rather than the loop's responsiveness or the process's memory."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        # one semaphore per event loop (tests run several); made on first use, not at import
        self._slots: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = WeakKeyDictionary()

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        slots = self._slots.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(self.limit))
        async with slots:
            return await asyncio.to_thread(function, *args)
