"""The reporting period: which year is open, which years a report may be for, and where it shows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest

from services.aggregator.app import create_app as aggregator_app
from services.aggregator.settings import AggregatorSettings
from shared.period import SWEDEN, open_year, year_span
from tests.conftest import test_settings
from tests.unit.test_intake_web import intake_app


def at(day: str, clock: str = "12:00") -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=SWEDEN)


@pytest.mark.parametrize(
    ("now", "deadlines", "year"),
    [
        (at("2026-12-07"), {}, 2026),  # 2025's deadline (31 January 2026) has passed
        (at("2026-01-31", "23:59"), {}, 2025),  # the deadline day lasts until midnight, Swedish time
        (at("2026-02-01", "00:01"), {}, 2026),
        (at("2026-02-20"), {2025: dt.date(2026, 2, 28)}, 2025),  # an admin gave 2025 more time
        (at("2031-06-01"), {}, year_span()[1]),  # never beyond the registry
    ],
)  # fmt: skip
def test_the_open_year_is_the_earliest_whose_deadline_has_not_passed(
    now: dt.datetime, deadlines: dict[int, dt.date], year: int
) -> None:
    assert open_year(now, deadlines) == year


async def test_the_api_refuses_a_year_outside_the_registry_naming_the_span(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        gu = await intake.token("ruc", "gu")
        body = {"ruc_id": "gu", "year": 2035,
                "huvudman": {"name": "Exempelkommun", "lan_kod": "14", "type": "kommunal"},
                "insatser": [{"ref": "gu-1", "title": "T", "status": "started", "school_forms": ["grundskola"]}]}  # fmt: skip
        answer = await intake.client.post("/api/v1/reports", json=body, headers=gu)
    assert answer.status_code == 422
    first, last = year_span()
    assert f"between {first} and {last}" in answer.text
    assert intake.submitted == []


async def test_the_aggregator_gives_the_years_their_deadlines_and_the_open_year(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        admin, gu = await intake.token("admin"), await intake.token("ruc", "gu")
    settings = AggregatorSettings(**test_settings("memory", sqlite_url, tmp_path))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=aggregator_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/api/v1/deadlines")).status_code == 401
        put = await client.put("/api/v1/deadlines/2024", json={"deadline": "2025-03-01"}, headers=admin)
        assert put.status_code == 200
        period = (await client.get("/api/v1/deadlines", headers=gu)).json()
    first, last = year_span()
    assert (period["first_year"], period["last_year"]) == (first, last)
    by_year = {d["year"]: d for d in period["deadlines"]}
    assert by_year[2024] == {"year": 2024, "deadline": "2025-03-01", "set_by_admin": True}
    assert by_year[2020]["deadline"] == "2021-01-31"
    assert period["open_year"] == open_year(dt.datetime.now(dt.UTC), {2024: dt.date(2025, 3, 1)})
