"""The parts that make intake fast keep its promises: token cache, group commit, marks, batches."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import select

from services.intake.batching import GroupCommit
from services.intake.store import ReportSubmission
from shared.auth import ApiToken, Principal, TokenCache
from shared.db import create_engine, session_factory
from shared.events import utcnow
from tests.unit.test_intake_web import intake_app
from tests.unit.test_schemas import insats, valid_report

GU = Principal(role="ruc", ruc_id="gu", token_id=7)


def test_a_cached_token_expires_after_its_ttl() -> None:
    cache = TokenCache(ttl_s=5)
    cache.put("h", GU, cache.generation, now=100.0)
    assert cache.get("h", now=104.9) == GU
    assert cache.get("h", now=105.0) is None


def test_forgetting_a_token_drops_it_and_a_lookup_that_raced_the_revocation_is_not_kept() -> None:
    cache = TokenCache(ttl_s=5)
    cache.put("h", GU, cache.generation)
    cache.put("other", Principal(role="ruc", ruc_id="su", token_id=8), cache.generation)
    started = cache.generation  # a lookup reads the database before the revocation...
    cache.forget(7)
    assert cache.get("h") is None
    assert cache.get("other") is not None
    cache.put("h", GU, started)  # ...and would cache what it read after it
    assert cache.get("h") is None


def test_a_zero_ttl_caches_nothing() -> None:
    cache = TokenCache(ttl_s=0)
    cache.put("h", GU, cache.generation)
    assert cache.get("h") is None


async def test_a_token_revoked_through_the_api_stops_working_at_once(sqlite_url: str, tmp_path: Path) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        admin, gu = await intake.token("admin"), await intake.token("ruc", "gu")
        assert (
            await intake.client.post("/api/v1/reports", json=valid_report(), headers=gu)
        ).status_code == 202
        listed = (await intake.client.get("/api/v1/tokens", headers=admin)).json()
        gu_id = next(t["id"] for t in listed if t["role"] == "ruc")
        assert (await intake.client.delete(f"/api/v1/tokens/{gu_id}", headers=admin)).status_code == 204
        response = await intake.client.post("/api/v1/reports", json=valid_report(), headers=gu)
        assert response.status_code == 401


async def test_a_token_revoked_by_another_process_stops_working_when_the_cache_expires(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_app(sqlite_url, tmp_path, token_cache_ttl_s=60) as intake:
        gu = await intake.token("ruc", "gu")
        assert (
            await intake.client.post("/api/v1/reports", json=valid_report(), headers=gu)
        ).status_code == 202
        async with intake.app.state.sessions.begin() as session:  # what `rucnet token revoke` does
            await session.execute(update(ApiToken).values(revoked_at=utcnow()))
        cached = await intake.client.post("/api/v1/reports", json=valid_report(), headers=gu)
        assert cached.status_code == 202  # within the TTL: the documented revocation delay
        intake.app.state.token_cache.forget()  # the TTL passing, without waiting for it
        assert (
            await intake.client.post("/api/v1/reports", json=valid_report(), headers=gu)
        ).status_code == 401


async def test_submissions_that_arrive_during_a_batch_share_the_next_one_in_order() -> None:
    batches: list[list[int]] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def handle(items: list[int]) -> list[int]:
        batches.append(items)
        if items == [0]:
            started.set()
            await release.wait()
        return [i * 10 for i in items]

    group: GroupCommit[int, int] = GroupCommit(handle)
    first = asyncio.create_task(group.submit(0))
    await started.wait()
    rest = [asyncio.create_task(group.submit(i)) for i in range(1, 5)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(first, *rest) == [0, 10, 20, 30, 40]
    assert batches == [[0], [1, 2, 3, 4]]


async def test_one_bad_item_fails_alone_and_the_rest_of_its_batch_is_stored() -> None:
    async def handle(items: list[int]) -> list[int]:
        if 3 in items:
            raise ValueError("no threes")
        return items

    group: GroupCommit[int, int] = GroupCommit(handle)
    results = await asyncio.gather(*(group.submit(i) for i in range(5)), return_exceptions=True)
    assert [r for r in results if not isinstance(r, Exception)] == [0, 1, 2, 4]
    assert isinstance(results[3], ValueError)


async def _submission_rows(url: str) -> dict[str, tuple[str, Any]]:
    """event_id → (report_id, published_at)."""
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        rows = (await session.execute(select(ReportSubmission))).scalars().all()
    await engine.dispose()
    return {r.event_id: (r.report_id, r.published_at) for r in rows}


async def test_a_report_is_accepted_and_kept_in_the_outbox_while_the_broker_does_not_acknowledge(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        gu = await intake.token("ruc", "gu")

        async def down(*_args: Any, **_kwargs: Any) -> None:
            raise ConnectionError("broker down")

        publish, intake.app.state.broker.publish = intake.app.state.broker.publish, down
        unrelayed = httpx.AsyncClient(transport=httpx.ASGITransport(app=intake.app), base_url="http://t")
        async with unrelayed:
            response = await unrelayed.post("/api/v1/reports", json=valid_report(), headers=gu)
        assert response.status_code == 202  # durably stored: the contract's 202 (rev 2)
        [(_, published)] = (await _submission_rows(sqlite_url)).values()
        assert published is None
        assert intake.submitted == []
        with pytest.raises(ConnectionError):
            await intake.app.state.relay.pass_once()
        intake.app.state.broker.publish = publish  # the broker is back: the relay sends it
        assert await intake.app.state.relay.pass_once() == 1
        [(_, published)] = (await _submission_rows(sqlite_url)).values()
        assert published is not None
        assert len(intake.submitted) == 1


@pytest.mark.parametrize(
    ("body", "content_type", "authorised"),
    [
        (valid_report(year=2101), None, True),
        (valid_report(insatser=[insats(school_forms=["universitet"])]), None, True),
        (valid_report(), "text/plain", True),
        ("{broken", "application/json", False),  # FastAPI answers malformed JSON before authorising
    ],
)
async def test_an_invalid_report_gets_fastapis_own_answer_and_is_rate_counted_once(
    sqlite_url: str, tmp_path: Path, body: Any, content_type: str | None, authorised: bool
) -> None:
    async with intake_app(sqlite_url, tmp_path, rate_limit_per_minute=1) as intake:
        gu = await intake.token("ruc", "gu")
        if content_type is None:
            response = await intake.client.post("/api/v1/reports", json=body, headers=gu)
        else:
            content = body if isinstance(body, str) else json.dumps(body)
            headers = gu | {"content-type": content_type}
            response = await intake.client.post("/api/v1/reports", content=content, headers=headers)
        assert response.status_code == 422, response.text
        assert isinstance(response.json()["detail"], list)
        again = await intake.client.post("/api/v1/reports", json=valid_report(), headers=gu)
        assert again.status_code == (429 if authorised else 202)
    assert len(intake.submitted) == (0 if authorised else 1)


async def test_without_a_token_an_invalid_report_is_401_as_before(sqlite_url: str, tmp_path: Path) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        valid = await intake.client.post("/api/v1/reports", json=valid_report())
        invalid = await intake.client.post("/api/v1/reports", json=valid_report(year=2101))
        assert valid.status_code == invalid.status_code == 401
        assert valid.headers["www-authenticate"] == "Bearer"


async def test_a_receipt_page_shows_a_report_as_sent_once_acknowledged(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        browser = await intake.user("anna@gu.se")
        gu = await intake.token("ruc", "gu")
        response = await intake.client.post("/api/v1/reports", json=valid_report(), headers=gu)
        page = await browser.get(f"/rapporter/{response.json()['report_id']}")
        assert 'class="done" id="steg-skickad"' in page.text  # before the mark is written
        await browser.aclose()


async def test_published_at_is_written_at_stop(sqlite_url: str, tmp_path: Path) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        gu = await intake.token("ruc", "gu")
        assert (
            await intake.client.post("/api/v1/reports", json=valid_report(), headers=gu)
        ).status_code == 202
    rows = await _submission_rows(sqlite_url)  # the fixture stops the app like the lifespan does
    assert rows
    assert all(published is not None for _, published in rows.values())
