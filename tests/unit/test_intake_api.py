"""The JSON API's protections: Idempotency-Key, size limit, rate limit, tokens, OpenAPI, parts."""

from __future__ import annotations

import json
from pathlib import Path

from services.intake.limits import RateLimiter
from services.intake.openapi import DOC, render
from services.intake.parts import AttendanceIn, attendance_event
from tests.unit.test_intake_web import intake_app
from tests.unit.test_schemas import insats, valid_report


async def test_a_retried_post_with_the_same_idempotency_key_answers_alike_and_publishes_once(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        gu = await intake.token("ruc", "gu")
        body = valid_report()
        first = await intake.client.post(
            "/api/v1/reports", json=body, headers=gu | {"Idempotency-Key": "k-1"}
        )
        again = await intake.client.post(
            "/api/v1/reports", json=body, headers=gu | {"Idempotency-Key": "k-1"}
        )
        assert first.status_code == again.status_code == 202
        assert first.json() == again.json()
        other = await intake.client.post(
            "/api/v1/reports", json=valid_report(year=2021), headers=gu | {"Idempotency-Key": "k-1"}
        )
        assert other.status_code == 422
        assert "Idempotency-Key" in other.json()["detail"]
        fresh = await intake.client.post(
            "/api/v1/reports", json=body, headers=gu | {"Idempotency-Key": "k-2"}
        )
        assert fresh.json()["report_id"] != first.json()["report_id"]
        plain = await intake.client.post("/api/v1/reports", json=body, headers=gu)
        assert plain.status_code == 202
        su = await intake.token("ruc", "su")  # keys are per token: another client's key is its own
        foreign = await intake.client.post(
            "/api/v1/reports", json=valid_report(ruc_id="su"), headers=su | {"Idempotency-Key": "k-1"}
        )
        assert foreign.status_code == 202
        assert foreign.json()["report_id"] != first.json()["report_id"]
    assert len(intake.submitted) == 4


async def test_a_body_above_the_limit_is_refused_with_413(sqlite_url: str, tmp_path: Path) -> None:
    async with intake_app(sqlite_url, tmp_path, max_body_bytes=5_000) as intake:
        gu = await intake.token("ruc", "gu")
        big = valid_report(insatser=[insats(description="x" * 9_000)])
        response = await intake.client.post("/api/v1/reports", json=big, headers=gu)
        assert response.status_code == 413
        assert "För stor" in response.json()["detail"]

        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(10):
                yield b"x" * 1_000

        streamed = await intake.client.post(
            "/api/v1/reports", content=chunks(), headers=gu | {"content-type": "application/json"}
        )
        assert streamed.status_code == 413
    assert intake.submitted == []


async def test_requests_above_the_rate_are_refused_per_token_with_429(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_app(sqlite_url, tmp_path, rate_limit_per_minute=3) as intake:
        gu, su = await intake.token("ruc", "gu"), await intake.token("ruc", "su")
        codes = [
            (await intake.client.post("/api/v1/reports", json=valid_report(), headers=gu)).status_code
            for _ in range(4)
        ]
        assert codes == [202, 202, 202, 429]
        limited = await intake.client.post("/api/v1/reports", json=valid_report(), headers=gu)
        assert int(limited.headers["retry-after"]) >= 1
        other = await intake.client.post("/api/v1/reports", json=valid_report(ruc_id="su"), headers=su)
        assert other.status_code == 202


def test_the_rate_limiter_window_slides() -> None:
    limiter = RateLimiter(per_minute=2)
    assert [limiter.retry_after(1, now=t) for t in (0.0, 1.0, 2.0)] == [0, 0, 58]
    assert limiter.retry_after(1, now=60.5) == 0


async def test_an_admin_lists_and_revokes_tokens_and_a_revoked_token_stops_working(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        admin, gu = await intake.token("admin"), await intake.token("ruc", "gu")
        assert (await intake.client.get("/api/v1/tokens", headers=gu)).status_code == 403
        listed = (await intake.client.get("/api/v1/tokens", headers=admin)).json()
        assert {t["role"] for t in listed} == {"admin", "ruc"}
        assert all("hash" not in json.dumps(t) for t in listed)
        gu_id = next(t["id"] for t in listed if t["role"] == "ruc")
        assert (await intake.client.delete(f"/api/v1/tokens/{gu_id}", headers=admin)).status_code == 204
        assert (await intake.client.delete("/api/v1/tokens/999", headers=admin)).status_code == 404
        assert (
            await intake.client.post("/api/v1/reports", json=valid_report(), headers=gu)
        ).status_code == 401


async def test_attendance_is_published_with_pseudonyms_and_ska_is_kept(
    sqlite_url: str, tmp_path: Path
) -> None:
    attendance = {
        "ruc_id": "gu",
        "year": 2020,
        "members": ["Alingsås kommun", "Borås stad", "Exempelskolan AB"],
        "meetings": [
            {"date": "2020-02-03", "attendees": ["Alingsås kommun", "Borås stad"]},
            {"date": "2020-09-14", "attendees": ["Borås stad"]},
        ],
    }
    async with intake_app(sqlite_url, tmp_path) as intake:
        gu = await intake.token("ruc", "gu")
        response = await intake.client.post("/api/v1/attendance", json=attendance, headers=gu)
        assert response.status_code == 202, response.text
        stranger = attendance | {"meetings": [{"date": "2020-02-03", "attendees": ["Okänd kommun"]}]}
        assert (await intake.client.post("/api/v1/attendance", json=stranger, headers=gu)).status_code == 422
        assert (
            await intake.client.post("/api/v1/attendance", json=attendance | {"ruc_id": "su"}, headers=gu)
        ).status_code == 403
        ska = {"ruc_id": "gu", "year": 2020, "narrative": "Nätverket har arbetat med kvalitetsdialoger."}
        assert (await intake.client.post("/api/v1/ska", json=ska, headers=gu)).status_code == 200
    (event,) = intake.attendance
    assert event["network_size"] == 3
    assert len(event["meetings"]) == 2
    assert all(a.startswith("hm-") for m in event["meetings"] for a in m["attendees"])
    assert "Borås" not in json.dumps(event)


def test_an_attendance_event_counts_each_member_once_per_meeting() -> None:
    part = AttendanceIn.model_validate(
        {
            "ruc_id": "gu",
            "year": 2020,
            "members": ["A", "B"],
            "meetings": [{"date": "2020-01-01", "attendees": ["A", "a"]}],
        }
    )
    event = attendance_event(part, "secret")
    assert len(event.meetings[0].attendees) == 1


def test_the_checked_in_openapi_document_is_the_apps_schema() -> None:
    from services.intake.openapi import intake_schema

    assert DOC.read_text(encoding="utf-8") == render(intake_schema()), (
        "docs/openapi-intake.json is stale: run `python -m services.intake.openapi`"
    )
