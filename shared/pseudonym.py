"""Stable pseudonyms for huvudmän: a keyed hash, so nothing national can be turned back into a name."""

import functools
import hashlib
import hmac
import unicodedata


@functools.lru_cache(maxsize=4096)  # pure, and a RUC submits for the same few huvudmän again and again
def pseudonymise(secret: str, name: str) -> str:
    normalised = unicodedata.normalize("NFC", " ".join(name.split())).casefold()
    digest = hmac.new(secret.encode(), normalised.encode(), hashlib.sha256)
    return "hm-" + digest.hexdigest()[:16]
