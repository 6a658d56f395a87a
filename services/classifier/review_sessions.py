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
    token_hash: str  # for a person signed in with e-mail and password: their credential's digest
    csrf_token: str
    expires: float
    user_id: int | None = None


class ReviewSessions:
    def __init__(self, ttl_s: float = 8 * 3600, max_sessions: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_sessions = max_sessions
        self._by_id: dict[str, ReviewSession] = {}
        self._flash: dict[str, tuple[str, str]] = {}  # the next page's message: (kind, text)

    @staticmethod
    def _key(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    def open(self, token_hash: str, now: float | None = None, user_id: int | None = None) -> str:
        """A new session for a verified token or person; returns the cookie value."""
        now = time.monotonic() if now is None else now
        for key in [k for k, s in self._by_id.items() if s.expires <= now]:
            del self._by_id[key]
            self._flash.pop(key, None)
        while len(self._by_id) >= self.max_sessions:
            self._flash.pop(oldest := next(iter(self._by_id)), None)
            del self._by_id[oldest]
        raw = secrets.token_urlsafe(32)
        self._by_id[self._key(raw)] = ReviewSession(
            token_hash, secrets.token_hex(16), now + self.ttl_s, user_id
        )
        return raw

    def flash(self, raw: str | None, kind: str, text: str) -> None:
        """A message for the session's next page: the server's words, never the address's."""
        if raw and self._key(raw) in self._by_id:
            self._flash[self._key(raw)] = (kind, text[:300])

    def take_flash(self, raw: str | None) -> tuple[str, str] | None:
        return self._flash.pop(self._key(raw), None) if raw else None

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
            self._flash.pop(self._key(raw), None)
