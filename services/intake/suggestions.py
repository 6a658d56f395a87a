"""Asking the classifier which NSP area insatser not yet sent would get (the upload's dry run).

The classifier's ``POST /api/v1/suggestions`` scores texts without storing them. A classifier that
is down or slow costs the dry run only its suggestions: ``None``, and the page says so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from services.intake.peer_tokens import PeerTokens
from shared.inbound import InsatsIn

log = logging.getLogger("rucnet.intake.suggestions")
CHUNK = 200  # insatser per request: well inside the classifier's body limit with long texts
TEXT_CHARS = 2_000  # what the classifier reads of each field is enough to suggest an area
TEXTS = ("description", "expected_effects", "actual_effects")


@dataclass(frozen=True)
class Suggested:
    areas: tuple[str, ...]  # best first
    needs_review: bool


def _body(year: int | None, insatser: Sequence[InsatsIn]) -> dict[str, object]:
    return {
        "year": year,
        "insatser": [
            {"title": i.title, "status": i.status} | {k: getattr(i, k)[:TEXT_CHARS] for k in TEXTS}
            for i in insatser
        ],
    }


class SuggestionClient:
    def __init__(self, base_url: str, tokens: PeerTokens, timeout_s: float = 10.0) -> None:
        self.tokens = tokens
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s)

    async def suggest(
        self, ruc_id: str | None, year: int | None, insatser: Sequence[InsatsIn]
    ) -> list[Suggested] | None:
        """One suggestion per insats, in order; None when the classifier cannot be asked."""
        found: list[Suggested] = []
        try:
            headers = {"Authorization": f"Bearer {await self.tokens.token(ruc_id)}"}
            for start in range(0, len(insatser), CHUNK):
                chunk = insatser[start : start + CHUNK]
                response = await self._http.post(
                    "/api/v1/suggestions", json=_body(year, chunk), headers=headers
                )
                if response.status_code != 200:
                    log.info("classifier answered %s for suggestions", response.status_code)
                    return None
                found += [
                    Suggested(tuple(a["code"] for a in item["areas"]), bool(item["needs_review"]))
                    for item in response.json()["items"]
                ]
        except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
            log.info("classifier unreachable for suggestions: %r", exc)
            return None
        return found if len(found) == len(insatser) else None

    async def close(self) -> None:
        await self._http.aclose()
