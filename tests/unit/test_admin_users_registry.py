"""An admin manages users and which RUC are active in a year; nobody else may."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from services.aggregator.app import create_app as aggregator_app
from services.aggregator.ruc_activation import merge_active
from services.aggregator.settings import AggregatorSettings
from shared.reference import load_reference
from tests.conftest import test_settings
from tests.unit.test_intake_web import PASSWORD, csrf, intake_app


def test_an_admin_decision_wins_over_the_registry_file() -> None:
    registry = load_reference().ruc
    assert len(merge_active(registry, 2020, {})) == 18
    changed = merge_active(registry, 2020, {"gu": False, "hv": True})
    assert [r.id for r in changed if r.id in ("gu", "hv")] == ["hv"]
    assert merge_active(registry, 2014, {"gu": True})[0].id == "gu"


async def test_an_admin_creates_lists_and_disables_users(sqlite_url: str, tmp_path: Path) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        admin, gu = await intake.token("admin"), await intake.token("ruc", "gu")
        new_user = {"email": "anna@ruc.example.se", "password": PASSWORD, "role": "ruc", "ruc_id": "gu"}
        assert (await intake.client.post("/api/v1/users", json=new_user, headers=gu)).status_code == 403
        assert (await intake.client.post("/api/v1/users", json=new_user)).status_code == 401
        created = await intake.client.post("/api/v1/users", json=new_user, headers=admin)
        assert created.status_code == 201, created.text
        assert "password" not in created.text
        assert (await intake.client.post("/api/v1/users", json=new_user, headers=admin)).status_code == 409
        bad = new_user | {"email": "b@x.se", "ruc_id": "nowhere"}
        assert (await intake.client.post("/api/v1/users", json=bad, headers=admin)).status_code == 422

        browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=intake.app), base_url="http://t")
        page = await browser.get("/logga-in")
        login = {"email": new_user["email"], "password": PASSWORD, "csrf_token": csrf(page.text)}
        assert (await browser.post("/logga-in", data=login)).status_code == 303
        assert (await browser.get("/rapporter")).status_code == 200

        listed = (await intake.client.get("/api/v1/users", headers=admin)).json()
        user_id = next(u["id"] for u in listed if u["email"] == new_user["email"])
        assert (await intake.client.delete(f"/api/v1/users/{user_id}", headers=admin)).status_code == 204
        assert (await browser.get("/rapporter")).status_code in (303, 401)
        listed = (await intake.client.get("/api/v1/users", headers=admin)).json()
        assert next(u for u in listed if u["id"] == user_id)["disabled_at"] is not None
        await browser.aclose()


async def test_an_admin_sets_which_ruc_are_active_and_completeness_follows(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        admin, skolverket, gu = (
            await intake.token("admin"), await intake.token("skolverket"), await intake.token("ruc", "gu"),
        )  # fmt: skip
    settings = AggregatorSettings(**test_settings("memory", sqlite_url, tmp_path))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=aggregator_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

        async def active(year: int) -> set[str]:
            body: list[dict[str, Any]] = (
                await client.get("/api/v1/registry", params={"year": year}, headers=skolverket)
            ).json()
            return {r["ruc_id"] for r in body if r["active"]}

        assert len(await active(2020)) == 18
        off = {"active": False}
        assert (await client.put("/api/v1/registry/2020/gu", json=off, headers=gu)).status_code == 403
        assert (await client.put("/api/v1/registry/2020/xx", json=off, headers=admin)).status_code == 404
        assert (
            await client.put("/api/v1/registry/2020/gu", json={"active": "ja"}, headers=admin)
        ).status_code == 422
        assert (await client.put("/api/v1/registry/2020/gu", json=off, headers=admin)).status_code == 200
        assert "gu" not in await active(2020)
        assert "gu" in await active(2021)
        completeness = (
            await client.get("/api/v1/stats/completeness", params={"year": 2020}, headers=skolverket)
        ).json()
        assert completeness["active"] == 17
        assert "gu" not in {r["ruc_id"] for r in completeness["ruc"]}
