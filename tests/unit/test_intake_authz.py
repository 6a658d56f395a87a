"""Who may do what: anonymous, RUC A, RUC B, Skolverket and admin × every endpoint and page.

Also the national side of issue 3: receipts, attendance counts and completeness in the aggregator,
and that no event and no national response carries a huvudman's name.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
from faststream.kafka import TestKafkaBroker

from services.aggregator.app import create_app as aggregator_app
from services.aggregator.completeness import default_deadline, timeliness
from services.aggregator.handlers import register_handlers
from services.aggregator.settings import AggregatorSettings
from services.classifier.rules import classify_by_lexicon
from shared import topics
from shared.broker import create_broker
from shared.db import create_engine, session_factory
from shared.events import ReportSubmitted
from tests.conftest import test_settings
from tests.unit.test_intake_web import intake_app, report_form
from tests.unit.test_schemas import valid_report

WHO = ("anonymous", "gu", "su", "skolverket", "admin")
NAMES = ("Exempelkommun", "Hemliga skolan AB", "Borås stad")
ATTENDANCE = {
    "ruc_id": "gu",
    "year": 2020,
    "members": ["Exempelkommun", "Borås stad"],
    "meetings": [{"date": "2020-02-03", "attendees": ["Exempelkommun", "Borås stad"]},
                 {"date": "2020-10-01", "attendees": ["Borås stad"]}],
}  # fmt: skip


async def test_the_authorisation_matrix_and_no_name_in_events_or_national_views(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = AggregatorSettings(**test_settings("memory", sqlite_url, tmp_path))  # type: ignore[arg-type]
    aggregator = aggregator_app(settings)
    consumer = create_broker(settings)
    register_handlers(consumer, settings, session_factory(create_engine(sqlite_url)))
    async with intake_app(sqlite_url, tmp_path) as intake, TestKafkaBroker(consumer) as agg_broker:
        tokens = {
            "anonymous": {},
            "gu": await intake.token("ruc", "gu"),
            "su": await intake.token("ruc", "su"),
            "skolverket": await intake.token("skolverket"),
            "admin": await intake.token("admin"),
        }
        browsers = {"anonymous": intake.browser()}
        for who, role, ruc in (("gu", "ruc", "gu"), ("su", "ruc", "su"), ("skolverket", "skolverket", None),
                               ("admin", "admin", None)):  # fmt: skip
            browsers[who] = await intake.user(f"{who}@example.se", role, ruc)
        gu_report = await intake.client.post(
            "/api/v1/reports",
            json=valid_report(huvudman={"name": "Hemliga skolan AB", "lan_kod": "14", "type": "enskild"}),
            headers=tokens["gu"],
        )
        report_id = gu_report.json()["report_id"]
        await intake.token("ruc", "hv")  # a spare, for the revocation row
        spare = (await intake.client.get("/api/v1/tokens", headers=tokens["admin"])).json()[-1]["id"]

        async def api(who: str, method: str, url: str, body: Any = None) -> int:
            response = await intake.client.request(method, url, json=body, headers=tokens[who])
            return response.status_code

        expected_api = {
            ("POST", "/api/v1/reports", json.dumps(valid_report())): (401, 202, 403, 403, 202),
            ("POST", "/api/v1/attendance", json.dumps(ATTENDANCE)): (401, 202, 403, 403, 202),
            ("POST", "/api/v1/ska", json.dumps({"ruc_id": "gu", "year": 2020, "narrative": "SKA"})): (
                401,
                200,
                403,
                403,
                200,
            ),  # fmt: skip
            ("GET", "/api/v1/tokens", "null"): (401, 403, 403, 403, 200),
            ("GET", "/api/v1/users", "null"): (401, 403, 403, 403, 200),
            ("DELETE", f"/api/v1/tokens/{spare}", "null"): (401, 403, 403, 403, 204),
        }
        for (method, url, body), codes in expected_api.items():
            got = tuple([await api(who, method, url, json.loads(body)) for who in WHO])
            assert got == codes, (method, url, got)

        pages = {
            "/rapporter": (303, 200, 200, 403, 200),
            "/rapporter/ny": (303, 200, 200, 403, 200),
            f"/rapporter/{report_id}": (303, 200, 404, 403, 200),
            f"/rapporter/{report_id}/andra": (303, 200, 404, 403, 200),
            "/narvaro": (303, 200, 200, 403, 200),
            "/ska": (303, 200, 200, 403, 200),
            "/uppladdning": (303, 200, 200, 403, 200),
            "/uppladdning/mall.xlsx": (303, 200, 200, 403, 200),
            "/uppladdning/mall.csv": (303, 200, 200, 403, 200),
            "/uppladdning/nosuchjob": (303, 404, 404, 403, 404),
        }
        for url, codes in pages.items():
            got = tuple([(await browsers[who].get(url)).status_code for who in WHO])
            assert got == codes, (url, got)
        su_list = await browsers["su"].get("/rapporter")
        assert "Hemliga skolan AB" not in su_list.text
        # a form sent without a login is kept in the login page (never accepted, never lost)
        anonymous_post = await browsers["anonymous"].post("/rapporter/ny", data=report_form("x"))
        assert anonymous_post.status_code == 200
        assert 'action="/logga-in"' in anonymous_post.text
        assert 'name="carried"' in anonymous_post.text
        assert not intake.submitted or all(e["ruc_id"] != "x" for e in intake.submitted)

        # The national side: feed the aggregator what intake published, as the pipeline would.
        for event in intake.submitted:
            submitted = ReportSubmitted.model_validate(event)
            await agg_broker.publish(submitted, topics.REPORTS_SUBMITTED)
            await agg_broker.publish(classify_by_lexicon(submitted, 0.5), topics.REPORTS_CLASSIFIED)
        for event in intake.attendance:
            await agg_broker.publish(event, topics.ATTENDANCE_REPORTED)
        first_event = ReportSubmitted.model_validate(intake.submitted[0]).event_id

        agg = httpx.AsyncClient(transport=httpx.ASGITransport(app=aggregator), base_url="http://a")
        national: dict[str, Any] = {}

        async def agg_get(who: str, method: str, url: str) -> int:
            body = {"active": True} if "registry" in url else {"deadline": "2021-02-15"}
            body = body if method == "PUT" else None
            response = await agg.request(method, url, headers=tokens[who], json=body)
            if response.status_code == 200 and who == "skolverket":
                national[url] = response.json()
            return response.status_code

        expected_agg = {
            ("GET", "/api/v1/stats/national?year=2020"): (401, 403, 403, 200, 200),
            ("GET", "/api/v1/stats/completeness?year=2020"): (401, 403, 403, 200, 200),
            ("GET", "/api/v1/stats/attendance?year=2020"): (401, 200, 200, 200, 200),
            ("GET", f"/api/v1/reports/{report_id}/status?event_id={first_event}"): (401, 200, 200, 200, 200),
            ("PUT", "/api/v1/deadlines/2020"): (401, 403, 403, 403, 200),
            ("GET", "/api/v1/registry?year=2020"): (401, 403, 403, 200, 200),
            ("PUT", "/api/v1/registry/2020/hv"): (401, 403, 403, 403, 200),
        }
        for (method, url), codes in expected_agg.items():
            got = tuple([await agg_get(who, method, url) for who in WHO])
            assert got == codes, (url, got)

        first = await agg.get(
            f"/api/v1/reports/{report_id}/status?event_id={first_event}", headers=tokens["gu"]
        )
        assert first.json()["counted"]
        assert first.json()["insatser"] == []
        latest = ReportSubmitted.model_validate(intake.submitted[-1])
        status = f"/api/v1/reports/{latest.report_id}/status?event_id={latest.event_id}"
        mine = (await agg.get(status, headers=tokens["gu"])).json()
        theirs = (await agg.get(status, headers=tokens["su"])).json()
        assert mine["counted"]
        assert [i["ref"] for i in mine["insatser"]] == ["gu-2020-001"]
        assert theirs["insatser"] == []
        su_attendance = (await agg.get("/api/v1/stats/attendance?year=2020", headers=tokens["su"])).json()
        assert su_attendance["ruc"] == []

    completeness = (await agg.get("/api/v1/stats/completeness?year=2020", headers=tokens["admin"])).json()
    assert completeness["deadline"] == "2021-02-15"
    rows = {r["ruc_id"]: r for r in completeness["ruc"]}
    assert completeness["active"] == 18
    assert completeness["reported"] == 1
    assert rows["gu"]["reported"]
    assert rows["gu"]["timeliness"] == "late"
    assert rows["gu"]["attendance_reported"]
    assert rows["su"]["timeliness"] == "missing"
    attendance = national["/api/v1/stats/attendance?year=2020"]["ruc"]
    assert attendance == [
        {"ruc_id": "gu", "meetings": 2, "network_size": 2, "attendances": 3, "attendance_rate": 0.75}
    ]

    everything_national = json.dumps(national) + json.dumps(intake.submitted) + json.dumps(intake.attendance)
    for name in NAMES:
        assert name not in everything_national


def test_a_first_report_is_on_time_until_midnight_swedish_time_on_the_deadline() -> None:
    deadline = default_deadline(2020)
    assert deadline == dt.date(2021, 1, 31)
    just_before = dt.datetime(2021, 1, 31, 22, 59, tzinfo=dt.UTC)  # 23:59 in Stockholm (CET)
    just_after = dt.datetime(2021, 1, 31, 23, 0, tzinfo=dt.UTC)
    assert timeliness(just_before, deadline) == "on_time"
    assert timeliness(just_after, deadline) == "late"
    assert timeliness(None, deadline) == "missing"
