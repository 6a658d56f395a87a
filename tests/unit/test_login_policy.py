"""The login policy: a parallel burst from one client is refused before any hash while another
client logs in; failures delay only the account-and-client pair that made them, progressively;
an admin unlocks an account; X-Forwarded-For is believed from no one by default."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from services.intake.settings import IntakeSettings
from services.intake.throttle import LoginThrottle
from services.intake.users import create_user
from shared.auth import create_token
from tests.unit.test_intake_web import PASSWORD, csrf, intake_app


def browser(app: object, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    page = await client.get("/logga-in")
    assert page.status_code == 200, (page.status_code, page.headers)
    return await client.post(
        "/logga-in", data={"email": email, "password": password, "csrf_token": csrf(page.text)}
    )


async def test_a_parallel_burst_of_wrong_logins_gets_429_while_another_client_logs_in(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        async with intake.app.state.sessions.begin() as session:
            await create_user(session, "anna@gu.se", PASSWORD, "ruc", "gu")
            await create_user(session, "bo@su.se", PASSWORD, "ruc", "su")
        attacker, other = browser(intake.app, "203.0.113.7"), browser(intake.app, "198.51.100.2")
        burst = [login(attacker, "anna@gu.se", f"gissning-{i}") for i in range(100)]
        *answers, right = await asyncio.gather(*burst, login(other, "bo@su.se", PASSWORD))
    codes = [a.status_code for a in answers]
    assert codes.count(429) >= 90, codes  # only the client's two hashing slots were used
    assert set(codes) <= {400, 429}
    assert right.status_code == 303
    assert "rucnet_session" in right.headers.get("set-cookie", "") or right.cookies


async def test_wrong_passwords_from_one_address_do_not_delay_the_owner_at_another_and_an_admin_unlocks(
    sqlite_url: str, tmp_path: Path
) -> None:
    # a first delay longer than any test run: the delay must not run out on a slow machine
    async with intake_app(
        sqlite_url, tmp_path, login_failures_per_account=3, login_first_delay_s=600
    ) as intake:
        async with intake.app.state.sessions.begin() as session:
            await create_user(session, "anna@gu.se", PASSWORD, "ruc", "gu")
        attacker, anna = browser(intake.app, "203.0.113.7"), browser(intake.app, "198.51.100.2")
        wrong = [(await login(attacker, "anna@gu.se", "fel-lösenord")).status_code for _ in range(4)]
        own = await login(anna, "anna@gu.se", PASSWORD)
        still = await login(attacker, "anna@gu.se", PASSWORD)
        async with intake.app.state.sessions() as session:
            token = await create_token(session, "admin", None)
        users = (
            await intake.client.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
        ).json()
        anna_id = next(u["id"] for u in users if u["email"] == "anna@gu.se")
        unlocked = await intake.client.post(
            f"/api/v1/users/{anna_id}/unlock", headers={"Authorization": f"Bearer {token}"}
        )
        after = await login(attacker, "anna@gu.se", PASSWORD)
    assert wrong == [400, 400, 400, 429]
    assert own.status_code == 303  # the owner, from her own address, is not held up
    assert still.status_code == 429  # the guesser's delay holds even for the right password
    assert "minuter" in still.text
    assert unlocked.status_code == 200
    assert unlocked.json() == {"email": "anna@gu.se", "cleared": 1}
    assert after.status_code == 303


def test_the_delay_doubles_per_further_failure_up_to_its_ceiling_and_belongs_to_the_pair() -> None:
    throttle = LoginThrottle(free=2, per_client=1_000, window_s=3_600, first_delay_s=5, max_delay_s=60)
    waits = []
    now = 0.0
    for _ in range(7):
        assert throttle.begin("anna", "a", now)
        throttle.end("anna", "a", succeeded=False)
        waits.append(throttle.wait("anna", "a", now))
        now += waits[-1]
    assert waits == [0, 5, 10, 20, 40, 60, 60]
    assert throttle.wait("anna", "b", now) == 0  # another client
    assert throttle.wait("bo", "a", now) == 0  # another account


def test_a_success_takes_its_own_attempt_back_and_slots_are_per_client() -> None:
    throttle = LoginThrottle(free=1, per_client=2, window_s=60, hashes_per_client=1)
    assert throttle.begin("anna", "a", 0)
    assert not throttle.begin("bo", "a", 0)  # one password of this client is being checked
    assert throttle.begin("bo", "b", 0)
    throttle.end("anna", "a", succeeded=True)
    assert throttle.wait("anna", "a", 0) == 0
    assert throttle.clients.recent("a", 0) == ()


def test_no_proxy_is_trusted_by_default(tmp_path: Path) -> None:
    assert IntakeSettings(data_dir=tmp_path).trusted_proxies == ""
