"""Asking the aggregator how far a report has come, with the asking user's RUC scope (a token from
``PeerTokens``). Unreachable → None.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx

from services.intake.peer_tokens import PeerTokens

log = logging.getLogger("rucnet.intake.receipts")


class ReceiptClient:
    def __init__(self, base_url: str, tokens: PeerTokens, timeout_s: float = 2.0) -> None:
        self.base_url = base_url
        self.tokens = tokens
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s)
        self._period: tuple[float, dict[str, Any] | None] | None = None

    async def status(self, ruc_id: str | None, report_id: str, event_id: str) -> dict[str, Any] | None:
        """The aggregator's view of one submitted version, or None when it cannot be asked."""
        try:
            token = await self.tokens.token(ruc_id)
            response = await self._http.get(
                f"/api/v1/reports/{report_id}/status",
                params={"event_id": event_id},
                headers={"Authorization": f"Bearer {token}"},
            )
        except (httpx.HTTPError, OSError) as exc:
            log.info("aggregator unreachable for a receipt: %s", exc)
            return None
        if response.status_code != 200:
            log.info("aggregator answered %s for a receipt", response.status_code)
            return None
        body: dict[str, Any] = response.json()
        return body

    async def period(self, max_age_s: float = 30.0) -> dict[str, Any] | None:
        """The aggregator's reporting period (years, deadlines, the open year), kept ``max_age_s``;
        None when it cannot be asked (the pages then use the default deadlines)."""
        if self._period is not None and time.monotonic() - self._period[0] < max_age_s:
            return self._period[1]
        self._period = (time.monotonic() - max_age_s + 5.0, None)  # an absent aggregator: ask again in 5 s
        try:
            token = await self.tokens.token(None)
            response = await self._http.get("/api/v1/deadlines", headers={"Authorization": f"Bearer {token}"})
        except (httpx.HTTPError, OSError) as exc:
            log.info("aggregator unreachable for the reporting period: %s", exc)
            return None
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        self._period = (time.monotonic(), body)
        return body

    async def close(self) -> None:
        await self._http.aclose()
        await self.tokens.revoke_all()
