"""Issue 14's scenarios against the classifier and the aggregator (ASGITransport, broker in memory):
bodies are limited before authentication, bad paths are 4xx, pages are not frameable."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from faststream.kafka import TestKafkaBroker

from services.aggregator.app import create_app as aggregator_app
from services.aggregator.settings import AggregatorSettings
from services.classifier.app import create_app as classifier_app
from services.classifier.registry import shipped_default
from services.classifier.settings import ClassifierSettings
from tests.conftest import test_settings
from tests.unit.test_classifier_review_api import _token

CHUNK = 64 * 1024


@asynccontextmanager
async def serving(app: FastAPI, base_url: str = "http://t") -> AsyncIterator[httpx.AsyncClient]:
    broker = getattr(app.state, "broker", None)  # the aggregator keeps its broker to itself
    async with TestKafkaBroker(broker) if broker is not None else contextlib.nullcontext():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as client:
            yield client


def services(sqlite_url: str, tmp_path: Path) -> list[FastAPI]:
    kw = test_settings("memory", sqlite_url, tmp_path)
    return [
        classifier_app(ClassifierSettings(**kw), shipped_default()),  # type: ignore[arg-type]
        aggregator_app(AggregatorSettings(**kw)),  # type: ignore[arg-type]
    ]


@pytest.mark.parametrize("which", [0, 1], ids=["classifier", "aggregator"])
async def test_5_an_unauthenticated_huge_body_is_refused_after_one_limit_not_read_whole(
    sqlite_url: str, tmp_path: Path, which: int
) -> None:
    app = services(sqlite_url, tmp_path)[which]
    sent = 0

    async def body() -> AsyncIterator[bytes]:  # 200 MB if it were all read
        nonlocal sent
        for _ in range(200 * 1024 * 1024 // CHUNK):
            sent += CHUNK
            yield b" " * CHUNK

    path = "/api/v1/review/gu/2020/x" if which == 0 else "/api/v1/registry/2020/gu"
    async with serving(app) as client:
        streamed = await client.request(
            "PUT" if which else "POST", path, content=body(), headers={"content-type": "application/json"}
        )
        declared = await client.put(path, content=b"{}", headers={"content-length": str(200 * 1024 * 1024)})
    assert streamed.status_code == 413
    assert sent <= 262_144 + 2 * CHUNK  # stopped at the limit, before authentication looked
    assert declared.status_code == 413
    assert "För stor förfrågan" in declared.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/classifications/gu/99999999999999999999/ref-1",
        "/api/v1/classifications/gu/2020/" + "r" * 65,
        "/api/v1/classifications/GU%00/2020/ref-1",
        "/api/v1/review/queue?ruc_id=gu%00",
    ],
)
async def test_6_a_huge_year_or_a_nul_on_the_classifiers_routes_is_a_4xx(
    sqlite_url: str, tmp_path: Path, path: str
) -> None:
    app = services(sqlite_url, tmp_path)[0]
    analyst = {"Authorization": f"Bearer {await _token(sqlite_url, 'skolverket')}"}
    async with serving(app) as client:
        got = await client.get(path, headers=analyst)
        posted = await client.post(
            path.replace("classifications", "review"), json={"action": "accept"}, headers=analyst
        )
    assert got.status_code in (400, 404, 422), got.text
    assert 400 <= posted.status_code < 500, posted.text


async def test_7_classifier_pages_forbid_framing_and_foreign_scripts(sqlite_url: str, tmp_path: Path) -> None:
    app = services(sqlite_url, tmp_path)[0]
    async with serving(app) as client:
        page = await client.get("/review")
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_7_the_review_login_needs_its_csrf_token_and_sets_a_secure_session_over_https(
    sqlite_url: str, tmp_path: Path
) -> None:
    app = services(sqlite_url, tmp_path)[0]
    raw = await _token(sqlite_url, "skolverket")
    async with serving(app, "https://t") as client:
        forged = await client.post("/review/login", data={"token": raw})
        assert forged.status_code == 403
        page = await client.get("/review")
        token = re.search(r'name="csrf_token" value="([0-9a-f]{32})"', page.text)
        assert token is not None
        login = await client.post("/review/login", data={"token": raw, "csrf_token": token.group(1)})
    assert login.status_code == 303
    cookie = login.headers["set-cookie"]
    assert "rucnet_review_session=" in cookie
    assert "Secure" in cookie
    assert raw not in cookie
