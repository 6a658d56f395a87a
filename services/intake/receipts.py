"""Asking the aggregator how far a report has come, with the asking user's RUC scope.

Intake mints one bearer token per scope (a RUC, or national for admins) at first use and revokes
them all when it stops; the aggregator checks them like any other token. Unreachable → None.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.tokens import revoke_token
from shared.auth import ApiToken, Role, create_token, hash_token

log = logging.getLogger("rucnet.intake.receipts")
LABEL = "intake: receipts (automatic)"


class ReceiptClient:
    def __init__(
        self, base_url: str, sessions: async_sessionmaker[AsyncSession], timeout_s: float = 2.0
    ) -> None:
        self.base_url = base_url
        self.sessions = sessions
        self._tokens: dict[str, str] = {}
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s)
        self._period: tuple[float, dict[str, Any] | None] | None = None

    async def _token(self, ruc_id: str | None) -> str:
        scope = ruc_id or "*national*"
        if scope not in self._tokens:
            async with self.sessions() as session:
                role: Role = "ruc" if ruc_id else "admin"
                self._tokens[scope] = await create_token(session, role, ruc_id, LABEL)
        return self._tokens[scope]

    async def status(self, ruc_id: str | None, report_id: str, event_id: str) -> dict[str, Any] | None:
        """The aggregator's view of one submitted version, or None when it cannot be asked."""
        try:
            token = await self._token(ruc_id)
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
            token = await self._token(None)
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
        if not self._tokens:
            return
        from sqlmodel import col, select

        async with self.sessions.begin() as session:
            hashes = [hash_token(raw) for raw in self._tokens.values()]
            rows = (
                await session.execute(select(ApiToken).where(col(ApiToken.token_hash).in_(hashes)))
            ).scalars()
            for row in rows:
                if row.id is not None:
                    await revoke_token(session, row.id)
        self._tokens.clear()
