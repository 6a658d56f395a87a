"""Sliding windows in memory (one intake process per deployment): API rate and login failures."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Hashable


class SlidingWindow:
    """Events per key within the last ``window_s`` seconds, for at most ``max_keys`` keys (the
    oldest keys are forgotten first, so a flood of new keys cannot grow the process)."""

    def __init__(self, limit: int, window_s: float, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._events: dict[Hashable, deque[float]] = {}

    def _recent(self, key: Hashable, now: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            while len(self._events) >= self.max_keys:
                del self._events[next(iter(self._events))]
            events = self._events[key] = deque()
        while events and events[0] <= now - self.window_s:
            events.popleft()
        return events

    def wait(self, key: Hashable, now: float | None = None) -> int:
        """0 while the key is under its limit, else the seconds until it is again."""
        now = time.monotonic() if now is None else now
        events = self._recent(key, now)
        if len(events) < self.limit:
            return 0
        return max(1, math.ceil(events[-self.limit] + self.window_s - now))

    def add(self, key: Hashable, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._recent(key, now).append(now)

    def forget(self, key: Hashable) -> None:
        self._events.pop(key, None)


class LoginThrottle:
    """Failed logins per account and per client: beyond either limit a login is refused before
    its password is checked, so guessing costs the attacker time and the service no argon2."""

    def __init__(self, per_account: int, per_client: int, window_s: float) -> None:
        self.accounts = SlidingWindow(per_account, window_s)
        self.clients = SlidingWindow(per_client, window_s)

    def wait(self, account: str, client: str, now: float | None = None) -> int:
        return max(self.accounts.wait(account, now), self.clients.wait(client, now))

    def failed(self, account: str, client: str, now: float | None = None) -> None:
        self.accounts.add(account, now)
        self.clients.add(client, now)

    def succeeded(self, account: str) -> None:
        self.accounts.forget(account)
