"""What every service's HTTP side shares: health, metrics, bearer auth, Swedish/English errors."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from aiokafka import AIOKafkaClient
from fastapi import Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.auth import Principal, hash_token, resolve_token_hash
from shared.broker import commits_sent
from shared.db import ping
from shared.deps import sessions_of, token_cache_of
from shared.guards import BodySizeLimit, RejectNul, SecurityHeaders
from shared.metrics import DEPENDENCY_UP

_bearer = HTTPBearer(auto_error=False)
log = logging.getLogger("rucnet.web")


async def _unauthorised() -> None:
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail="Saknar giltig token / missing or invalid bearer token",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def principal_for(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The token's principal, or 401."""
    if credentials is None or credentials.scheme.lower() != "bearer" or len(credentials.credentials) > 200:
        await _unauthorised()
    assert credentials is not None
    token_hash = hash_token(credentials.credentials)
    cache = token_cache_of(request.app)  # intake skips the database for recent tokens
    principal = cache.get(token_hash) if cache is not None else None
    if principal is None:
        generation = cache.generation if cache is not None else 0
        async with sessions_of(request.app)() as session:
            principal = await resolve_token_hash(session, token_hash)
        if principal is not None and cache is not None:
            cache.put(token_hash, principal, generation)
    if principal is None:
        await _unauthorised()
    assert principal is not None
    return principal


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    return await principal_for(request, credentials)


class BearerPrincipal(HTTPBearer):
    """``current_principal`` as one dependency instead of two (FastAPI pays per dependency on
    every request); the same ``HTTPBearer`` security scheme in the OpenAPI document."""

    def __init__(self) -> None:
        super().__init__(auto_error=False, scheme_name="HTTPBearer")

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        return await principal_for(request, await super().__call__(request))


async def national_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_national:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="Endast Skolverket / national (Skolverket) access only",
        )
    return principal


def settle_heap() -> None:
    """Collect the start-up garbage, then take what start-up built out of the collector's sight.

    Modules, the classifier's model, reference data and pools live as long as the process. Python
    3.11's full collections walk every tracked object, so with them in the heap each one took
    ~200 ms and ran several times a minute under load; frozen, a full collection walks only what
    was made since.
    """
    gc.collect()
    gc.freeze()


Checks = Mapping[str, Callable[[], Awaitable[bool]]]
Facts = Callable[[], Awaitable[dict[str, Any]]]


class Readiness:
    """``/readyz`` asks the broker and the database now. ``/healthz`` (the contract's health, what
    compose and ``rucnet dev`` poll) answers from the last answer while it is younger than
    ``max_age_s``: a burst of probes costs one round trip to each, not one per probe, and a slow
    database cannot make the liveness probe itself slow."""

    def __init__(
        self,
        broker: KafkaBroker,
        engine: AsyncEngine,
        extra: Checks | None = None,
        max_age_s: float = 2.0,
        facts: Facts | None = None,
        serves_without_broker: bool = False,
    ) -> None:
        self.broker = broker
        self.engine = engine
        self.extra = dict(extra or {})  # a service's own checks
        self.facts = facts  # what a service reports beside them (intake: its outbox backlog)
        self.serves_without_broker = serves_without_broker  # intake: its outbox holds what waits
        self.max_age_s = max_age_s
        self.last: tuple[float, dict[str, Any]] | None = None
        self._ping: asyncio.Future[bool] | None = None
        self.lock = asyncio.Lock()

    async def check(self) -> dict[str, Any]:
        # side by side: a slow answer from one does not add to the other's
        # Intake serves without the broker: its probe need not wait for a paused one to time out
        # (the ping runs on, and a later probe reads its answer).
        wait_s = 0.25 if self.serves_without_broker else 2.5
        broker_ok, db_ok = await asyncio.gather(self._broker_ok(wait_s=wait_s), ping(self.engine))
        result: dict[str, Any] = {"broker": broker_ok, "database": db_ok}
        DEPENDENCY_UP.labels("broker").set(int(broker_ok))
        DEPENDENCY_UP.labels("database").set(int(db_ok))
        for name, probe in self.extra.items():
            result[name] = await probe()
        if self.facts is not None:
            result |= await self.facts()
        self.last = (time.monotonic(), result)
        return result

    async def _broker_ok(self, timeout_s: float = 2.0, wait_s: float = 2.5) -> bool:
        """The broker's ping, answered within ``timeout_s`` whatever the client does.

        With the broker gone, the admin client's request can outlive the ping's own timeout (the
        cancellation does not reach it), which would hang the probe; one ping at a time runs on,
        and until it ends the broker counts as unreachable.
        """
        if self._ping is None or self._ping.done():
            self._ping = asyncio.ensure_future(self.broker.ping(timeout=timeout_s))
        done, _ = await asyncio.wait({self._ping}, timeout=wait_s)
        if not done or self._ping.cancelled() or self._ping.exception() is not None:
            return False
        return bool(self._ping.result())

    async def recent(self) -> dict[str, Any]:
        async with self.lock:  # concurrent probes wait for one check instead of each making one
            if self.last is None or time.monotonic() - self.last[0] > self.max_age_s:
                return await self.check()
            return self.last[1]

    def healthy(self, result: dict[str, Any]) -> bool:
        checks = {k: v for k, v in result.items() if isinstance(v, bool)}
        if self.serves_without_broker:
            checks.pop("broker")
        return all(checks.values())

    def answer(self, body: dict[str, Any], healthy: bool) -> JSONResponse:
        code = status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE
        return JSONResponse(body, status_code=code)

    async def healthz(self) -> JSONResponse:
        """Unauthenticated: ok or not, and which dependency is up; never a service's facts or errors."""
        result = await self.recent()
        healthy = self.healthy(result)
        checks = {k: v for k, v in result.items() if isinstance(v, bool)}
        return self.answer({"status": "ok" if healthy else "not ok", **checks}, healthy)

    async def readyz(self) -> JSONResponse:
        """The checks and the service's facts (counts only: never text that could hold a name)."""
        result = await self.check()
        healthy = self.healthy(result)
        return self.answer({"status": "ok" if healthy else "not ok", **result}, healthy)


FIRST_CONNECT_S = 3.0  # how long intake's start waits for the broker before serving without it


async def connect_when_able(broker: KafkaBroker, attempt_s: float = 20.0, most_s: float = 5.0) -> None:
    """Connect the broker, trying again (backing off to ``most_s``) until it answers.

    A broker that is down refuses the connection; a paused one accepts it and never answers, so
    each attempt is bounded by ``attempt_s``. A failed attempt is undone before the next one.
    """
    delay = 0.25
    while True:
        try:
            await asyncio.wait_for(_answers(broker), attempt_s)
            await asyncio.wait_for(broker.start(), attempt_s)
        except Exception as exc:  # unreachable, refused, timed out: all mean "not yet"
            log.warning("broker not reachable (%s); serving without it and trying again", type(exc).__name__)
            with contextlib.suppress(Exception):
                await broker.stop()
            await asyncio.sleep(delay)
            delay = min(most_s, delay * 2)
            continue
        log.info("broker connected")
        return


async def _answers(broker: KafkaBroker) -> None:
    """Raises unless the broker answers a bootstrap: a client of our own, closed whatever happens
    (a producer whose start failed would be left behind unclosed)."""
    client = AIOKafkaClient(bootstrap_servers=broker._connection_kwargs["bootstrap_servers"])
    try:
        await client.bootstrap()
    finally:
        await client.close()


def service_app(
    title: str,
    engine: AsyncEngine,
    broker: KafkaBroker,
    on_start: Callable[[], Awaitable[None]] | None = None,
    on_stop: Callable[[], Awaitable[None]] | None = None,
    readiness: Checks | None = None,
    facts: Facts | None = None,
    serves_without_broker: bool = False,
    *,
    max_body_bytes: int = 1_000_000,
    larger_bodies: Sequence[tuple[str, int]] = (),
) -> FastAPI:
    """A FastAPI app whose lifespan owns the broker and the engine, with /healthz, /readyz, /metrics,
    behind the guards (body limit, NUL in the URL, security headers) of ``shared.guards``."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        connecting: asyncio.Task[None] | None = None
        if serves_without_broker:  # intake: serve at once, connect whenever the broker answers
            connecting = asyncio.create_task(connect_when_able(broker))
            await asyncio.wait({connecting}, timeout=FIRST_CONNECT_S)  # connected first if it can be
        else:
            await broker.start()
        if on_start is not None:
            await on_start()
        settle_heap()
        try:
            yield
        finally:
            if on_stop is not None:
                await on_stop()
            if connecting is not None:
                connecting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await connecting
            await commits_sent()  # the handled batches' offsets, before the consumers stop
            await broker.stop()
            await engine.dispose()
            gc.unfreeze()  # what the service built can be collected again once it is gone

    app = FastAPI(title=title, lifespan=lifespan)

    checked = Readiness(broker, engine, readiness, facts=facts, serves_without_broker=serves_without_broker)
    app.add_api_route("/healthz", checked.healthz, methods=["GET"], tags=["ops"])
    app.add_api_route("/readyz", checked.readyz, methods=["GET"], tags=["ops"])

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(RejectNul)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes, larger=larger_bodies)
    app.add_middleware(SecurityHeaders)
    return app
