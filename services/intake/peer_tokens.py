"""Bearer tokens intake uses to ask the other services (the aggregator for receipts, the classifier
for suggestions), with the asking user's RUC scope.

One token per scope (a RUC, or national for admins), minted at first use and revoked when intake
stops; the other services check them like any other token.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from shared.auth import ApiToken, Role, create_token, hash_token, revoke_token

LABEL = "intake: receipts (automatic)"


class PeerTokens:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self._tokens: dict[str, str] = {}

    async def token(self, ruc_id: str | None) -> str:
        scope = ruc_id or "*national*"
        if scope not in self._tokens:
            async with self.sessions() as session:
                role: Role = "ruc" if ruc_id else "admin"
                self._tokens[scope] = await create_token(session, role, ruc_id, LABEL)
        return self._tokens[scope]

    async def revoke_all(self) -> None:
        if not self._tokens:
            return
        async with self.sessions.begin() as session:
            hashes = [hash_token(raw) for raw in self._tokens.values()]
            rows = (
                await session.execute(select(ApiToken).where(col(ApiToken.token_hash).in_(hashes)))
            ).scalars()
            for row in rows:
                if row.id is not None:
                    await revoke_token(session, row.id)
        self._tokens.clear()
