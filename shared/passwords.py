"""Password hashing for people who log in (argon2), shared by intake's login and the review page's.

argon2 takes ~50 ms of CPU and 64 MiB per hash: callers run these in ``hashing`` (threads, off the
event loop, few at a time), so a burst of logins neither stalls a service nor runs it out of memory.
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shared.offload import BoundedThreads

hasher = PasswordHasher()
hashing = BoundedThreads(1)


@functools.cache
def _dummy_hash() -> str:
    """Verifying against it when the e-mail is unknown keeps the timing of both failures alike."""
    return hasher.hash("not-a-real-password")


def verifies(password_hash: str, password: str) -> bool:
    """In a thread; an empty hash (no such user) verifies against the dummy and fails anyway."""
    try:
        return bool(hasher.verify(password_hash or _dummy_hash(), password)) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False
