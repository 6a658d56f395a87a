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

    def recent(self, key: Hashable, now: float | None = None) -> tuple[float, ...]:
        """The key's events still in the window, oldest first."""
        return tuple(self._recent(key, time.monotonic() if now is None else now))

    def take_back(self, key: Hashable) -> None:
        """Remove the key's newest event (one that turned out not to count)."""
        events = self._events.get(key)
        if events:
            events.pop()

    def keys(self) -> list[Hashable]:
        return list(self._events)


class LoginThrottle:
    """The login policy (docs/operations.md, *Logins*), decided before any password is checked.

    - Per account *and* client: ``free`` failures within the window cost nothing; after them each
      attempt waits a delay that doubles from ``first_delay_s`` up to ``max_delay_s``. Nobody can
      lock the real user out from another address: the delay is the guesser's own.
    - Per client, whatever the accounts: ``per_client`` failures within the window, then 429 until
      the oldest of them leaves it (spraying many accounts from one address).
    - Per client, at most ``hashes_per_client`` passwords being checked or waiting to be: a
      parallel burst gets 429 at once instead of a queue in front of everyone else's logins.
    - An attempt counts as failed before its hash, so parallel attempts see each other; a success
      takes its own back. An admin clears an account's delays (``POST /api/v1/users/{id}/unlock``).
    """

    def __init__(
        self,
        free: int,
        per_client: int,
        window_s: float,
        hashes_per_client: int = 2,
        first_delay_s: float = 5.0,
        max_delay_s: float = 900.0,
    ) -> None:
        self.free = free
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.pairs = SlidingWindow(free, window_s)
        self.clients = SlidingWindow(per_client, window_s)
        self.hashes_per_client = hashes_per_client
        self._hashing: dict[str, int] = {}

    def wait(self, account: str, client: str, now: float | None = None) -> int:
        """0 when a login may be tried now, else the seconds until it may."""
        now = time.monotonic() if now is None else now
        failures = self.pairs.recent((account, client), now)
        delay = 0.0
        if len(failures) >= self.free:
            delay = min(self.max_delay_s, self.first_delay_s * 2 ** (len(failures) - self.free))
            delay = failures[-1] + delay - now
        return max(math.ceil(delay), self.clients.wait(client, now))

    def begin(self, account: str, client: str, now: float | None = None) -> bool:
        """Take a hashing slot and count the attempt as failed; False: the client has no slot free."""
        if self._hashing.get(client, 0) >= self.hashes_per_client:
            return False
        self._hashing[client] = self._hashing.get(client, 0) + 1
        self.pairs.add((account, client), now)
        self.clients.add(client, now)
        return True

    def end(self, account: str, client: str, succeeded: bool) -> None:
        """Give the slot back; a success forgets the pair's failures and takes its own count back."""
        left = self._hashing.get(client, 1) - 1
        if left:
            self._hashing[client] = left
        else:
            self._hashing.pop(client, None)
        if succeeded:
            self.pairs.forget((account, client))
            self.clients.take_back(client)

    def unlock(self, account: str) -> int:
        """An admin's unlock: every client's delays on the account end; returns how many there were."""
        pairs = [k for k in self.pairs.keys() if isinstance(k, tuple) and k[0] == account]
        for key in pairs:
            self.pairs.forget(key)
        return len(pairs)
