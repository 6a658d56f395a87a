"""The read API over real counts: per RUC (a RUC sees only its own), per län, skolform × NSP and
the trend; filters validated with 422; no huvudman identity in any national answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from services.aggregator.app import create_app
from services.aggregator.settings import AggregatorSettings
from shared import topics
from tests.conftest import test_settings
from tests.integration.conftest import running, token
from tests.integration.ops_support import classified, eventually, publish_all

pytestmark = pytest.mark.integration
PSEUDONYM = "hm-0123456789abcdef"  # the one every `classified` event carries


async def get(client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any) -> httpx.Response:
    return await client.get(f"/api/v1/stats{path}", params=params, headers=headers)


async def test_the_read_views_count_by_region_and_keep_each_ruc_to_its_own(
    kafka_bootstrap: str, pg_url: str, tmp_path: Path
) -> None:
    events = [
        classified(
            "gu",
            2020,
            lan="14",
            status="completed",
            school_forms=("grundskola", "komvux"),
            nsp_area="elevhalsa",
        ),
        classified("gu", 2020, lan="13", status="started", school_forms=("grundskola",), nsp_area=None),
        classified("gu", 2019, lan="14", status="completed", nsp_area="nyanlanda"),
        classified(
            "su", 2020, lan="01", status="completed", school_forms=("forskola",), nsp_area="digitalisering"
        ),
    ]
    gu, su = await token(pg_url, "ruc", "gu"), await token(pg_url, "ruc", "su")
    skolverket = await token(pg_url, "skolverket")
    settings = AggregatorSettings(**test_settings(kafka_bootstrap, pg_url, tmp_path))  # type: ignore[arg-type]
    await publish_all(
        kafka_bootstrap,
        [(topics.REPORTS_CLASSIFIED, e.ruc_id.encode(), e.model_dump_json().encode()) for e in events],
    )
    async with running(create_app(settings)) as (client,):
        trend = await eventually(
            lambda: get(client, "/trend", skolverket, from_year=2019, to_year=2021),
            lambda r: sum(p["started"] + p["completed"] for p in r.json()["years"]) == 4,
            30,
        )
        assert trend.json()["years"] == [
            {"year": 2019, "started": 0, "completed": 1},
            {"year": 2020, "started": 1, "completed": 2},
            {"year": 2021, "started": 0, "completed": 0},
        ]
        own = (await get(client, "/ruc/gu", gu, year=2020)).json()
        assert own["completed"] == {
            "insatser": 1,
            "by_school_form": {"grundskola": 1, "komvux": 1},
            "by_nsp": {"elevhalsa": 1},
        }
        assert own["started"]["insatser"] == 1
        assert own["by_lan"] == {"13": {"started": 1, "completed": 0}, "14": {"started": 0, "completed": 1}}
        assert (await get(client, "/ruc/su", gu, year=2020)).status_code == 403
        assert (await get(client, "/ruc/su", skolverket, year=2020)).json()["completed"]["by_nsp"] == {
            "digitalisering": 1
        }
        assert (await get(client, "/trend", su, from_year=2019, to_year=2020)).json()["ruc_id"] == "su"

        lan = (await get(client, "/lan/14", skolverket, year=2020)).json()
        assert lan["completed"]["insatser"] == 1
        assert (await get(client, "/lan/14", gu, year=2020)).status_code == 403

        cross = (await get(client, "/school-form-nsp", skolverket, year=2020)).json()
        assert cross["cells"] == {
            "grundskola": {"elevhalsa": 1},
            "komvux": {"elevhalsa": 1},
            "forskola": {"digitalisering": 1},
        }
        mine = (await get(client, "/school-form-nsp", su, year=2020)).json()
        assert mine["cells"] == {"forskola": {"digitalisering": 1}}

        for path, params in [
            ("/ruc/nope", {"year": 2020}),
            ("/ruc/gu", {"year": 1999}),
            ("/lan/99", {"year": 2020}),
            ("/school-form-nsp", {"year": 2020, "status": "maybe"}),
            ("/school-form-nsp", {"year": 2020, "lan_kod": "00"}),
            ("/trend", {"from_year": 2021, "to_year": 2019}),
            ("/trend", {"from_year": 2020}),
        ]:
            response = await get(client, path, skolverket, **params)
            assert response.status_code == 422, (path, params, response.text)
            assert "detail" in response.json()
        assert (await get(client, "/trend", {}, from_year=2019, to_year=2020)).status_code == 401

        answers = [
            await get(client, "/national", skolverket, year=2020),
            await get(client, "/ruc/gu", skolverket, year=2020),
            await get(client, "/lan/14", skolverket, year=2020),
            await get(client, "/school-form-nsp", skolverket, year=2020),
            await get(client, "/trend", skolverket, from_year=2019, to_year=2020),
        ]
    for answer in answers:
        assert answer.status_code == 200
        assert PSEUDONYM not in answer.text
        assert "huvudman" not in answer.text
