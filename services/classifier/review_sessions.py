"""The review page's sign-ins, held by the classifier: the cookie carries a random id, never the
bearer token. A session keeps the token's hash, so revoking the token ends its sessions too; they
live in memory (one classifier process), so a restart asks the analysts to sign in again."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ReviewSession:
    token_hash: str
    csrf_token: str
    expires: float


class ReviewSessions:
    def __init__(self, ttl_s: float = 8 * 3600, max_sessions: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_sessions = max_sessions
        self._by_id: dict[str, ReviewSession] = {}

    @staticmethod
    def _key(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    def open(self, token_hash: str, now: float | None = None) -> str:
        """A new session for a verified token; returns the cookie value."""
        now = time.monotonic() if now is None else now
        for key in [k for k, s in self._by_id.items() if s.expires <= now]:
            del self._by_id[key]
        while len(self._by_id) >= self.max_sessions:
            del self._by_id[next(iter(self._by_id))]
        raw = secrets.token_urlsafe(32)
        self._by_id[self._key(raw)] = ReviewSession(token_hash, secrets.token_hex(16), now + self.ttl_s)
        return raw

    def get(self, raw: str | None, now: float | None = None) -> ReviewSession | None:
        if not raw or len(raw) > 100:
            return None
        found = self._by_id.get(self._key(raw))
        if found is None or found.expires <= (time.monotonic() if now is None else now):
            return None
        return found

    def close(self, raw: str | None) -> None:
        if raw:
            self._by_id.pop(self._key(raw), None)
