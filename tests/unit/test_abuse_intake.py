"""Issue 14's scenarios against intake (ASGITransport, broker in memory): each gets a clear 4xx, and
the next RUC's request is still accepted."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import stat
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.intake.users import create_user
from tests.unit.test_intake_web import PASSWORD, csrf, intake_app, report_form
from tests.unit.test_schemas import insats, valid_report


def attendance(ruc_id: str, members: int, meetings: int) -> dict[str, Any]:
    names = [f"K{i:03d}" for i in range(members)]  # short names: the body stays within its limit
    days = [dt.date(2020, 1, 1) + dt.timedelta(days=3 * i) for i in range(meetings)]
    return {
        "ruc_id": ruc_id,
        "year": 2020,
        "members": names,
        "meetings": [{"date": d.isoformat(), "attendees": names} for d in days],
    }


async def test_1_an_attendance_whose_event_would_not_fit_is_a_413_and_the_next_ruc_goes_on(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        gu, su = await intake.token("ruc", "gu"), await intake.token("ruc", "su")
        huge = await intake.client.post("/api/v1/attendance", json=attendance("gu", 500, 100), headers=gu)
        assert huge.status_code == 413
        assert "Närvarorapporten blir för stor" in huge.json()["detail"]
        assert "1 048 576" in huge.json()["detail"]
        small = await intake.client.post("/api/v1/attendance", json=attendance("su", 20, 10), headers=su)
        assert small.status_code == 202
    assert [a["ruc_id"] for a in intake.attendance] == ["su"]


async def test_2_a_report_whose_classified_event_would_not_fit_is_a_413_and_the_next_ruc_goes_on(
    sqlite_url: str, tmp_path: Path
) -> None:
    many = [insats(ref=f"gu-{i}", description="d" * 1_650) for i in range(500)]
    async with intake_app(sqlite_url, tmp_path, max_body_bytes=2_000_000) as intake:
        gu, su = await intake.token("ruc", "gu"), await intake.token("ruc", "su")
        huge = await intake.client.post("/api/v1/reports", json=valid_report(insatser=many), headers=gu)
        assert huge.status_code == 413
        assert "ReportClassified" in huge.json()["detail"]
        assert "Dela upp den" in huge.json()["detail"]
        fine = [insats(ref=f"gu-{i}", description="d" * 300) for i in range(500)]  # within the budget
        assert (
            await intake.client.post("/api/v1/reports", json=valid_report(insatser=fine), headers=gu)
        ).status_code == 202
        other = await intake.client.post("/api/v1/reports", json=valid_report(ruc_id="su"), headers=su)
        assert other.status_code == 202
    assert sorted(e["ruc_id"] for e in intake.submitted) == ["gu", "su"]


async def test_3_a_report_moved_to_another_ruc_by_an_admin_is_no_longer_the_old_rucs(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        anna = await intake.user("anna@gu.se", "ruc", "gu")
        page = await anna.get("/rapporter/ny")
        sent = await anna.post("/rapporter/ny", data=report_form(csrf(page.text)))
        report = sent.headers["location"].split("?")[0]
        admin = await intake.user("admin@skolverket.se", "admin", None)
        edit = await admin.get(f"{report}/andra")
        moved = await admin.post(f"{report}/andra", data=report_form(csrf(edit.text), ruc_id="hv"))
        assert moved.status_code == 303, moved.text
        olle = await intake.user("olle@hv.se", "ruc", "hv")
        assert (await anna.get(report)).status_code == 404  # the old RUC reads it no more
        assert (await anna.get(f"{report}/andra")).status_code == 404
        assert report.rsplit("/", 1)[1] not in (await anna.get("/rapporter")).text
        assert (await olle.get(report)).status_code == 200
        assert report.rsplit("/", 1)[1] in (await olle.get("/rapporter")).text


async def _wrong_login(browser: httpx.AsyncClient, email: str) -> httpx.Response:
    page = await browser.get("/logga-in")
    return await browser.post(
        "/logga-in", data={"email": email, "password": "fel-lösen", "csrf_token": csrf(page.text)}
    )


async def test_4_parallel_wrong_logins_leave_the_event_loop_free(sqlite_url: str, tmp_path: Path) -> None:
    async with intake_app(
        sqlite_url, tmp_path, login_failures_per_client=1_000, login_hashes_per_client=1_000
    ) as intake:
        browsers = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=intake.app), base_url="http://t")
            for _ in range(16)
        ]
        lags: list[float] = []
        stop = asyncio.Event()

        async def probe() -> None:  # what /healthz would wait for: the loop's turn
            while not stop.is_set():
                before = time.perf_counter()
                await asyncio.sleep(0.005)
                lags.append(time.perf_counter() - before - 0.005)

        watcher = asyncio.create_task(probe())
        answers = await asyncio.gather(*(_wrong_login(b, f"user{i}@gu.se") for i, b in enumerate(browsers)))
        stop.set()
        await watcher
    assert [a.status_code for a in answers] == [400] * 16
    # On the loop, each of the 16 hashes would stall it for a whole hash; off it, the loop waits
    # for no hash (on a loaded machine a hash takes far longer than the 50 ms it takes idle).
    started = time.perf_counter()
    await asyncio.to_thread(_verify_once)
    one_hash = time.perf_counter() - started
    assert max(lags) < max(0.1, one_hash / 2), (sorted(lags)[-5:], one_hash)


def _verify_once() -> None:
    from argon2 import PasswordHasher
    from argon2.exceptions import VerificationError

    hasher = PasswordHasher()
    with pytest.raises(VerificationError):
        hasher.verify(hasher.hash("ett-lösenord"), "ett-annat")


async def test_4_wrong_logins_are_throttled_per_account_and_per_client_with_a_swedish_429(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_app(
        sqlite_url,
        tmp_path,
        login_failures_per_account=3,
        login_failures_per_client=5,
        login_first_delay_s=600,
    ) as intake:
        async with intake.app.state.sessions.begin() as session:
            await create_user(session, "anna@gu.se", PASSWORD, "ruc", "gu")
        browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=intake.app), base_url="http://t")
        codes = [(await _wrong_login(browser, "anna@gu.se")).status_code for _ in range(4)]
        assert codes == [400, 400, 400, 429]
        page = await browser.get("/logga-in")
        right = await browser.post(
            "/logga-in", data={"email": "anna@gu.se", "password": PASSWORD, "csrf_token": csrf(page.text)}
        )
        assert right.status_code == 429  # the right password waits too: guessing stays slow
        assert "För många inloggningsförsök" in right.text
        assert int(right.headers["retry-after"]) > 0
        others = [(await _wrong_login(browser, f"n{i}@gu.se")).status_code for i in range(3)]
        assert others == [400, 400, 429]  # five failures from this client, whatever the accounts


async def test_6_a_csv_field_over_the_csv_modules_limit_is_a_422_page(
    sqlite_url: str, tmp_path: Path
) -> None:
    from services.intake.upload import csv_template

    body = (
        csv_template()
        + ("2020;Kommun;14;kommunal;gu-1;" + "x" * 140_000 + ";;påbörjad;grundskola;;;\n").encode()
    )
    async with intake_app(sqlite_url, tmp_path) as intake:
        anna = await intake.user("anna@gu.se")
        page = await anna.get("/uppladdning")
        response = await anna.post(
            "/uppladdning", data={"csrf_token": csrf(page.text)}, files={"fil": ("x.csv", body, "text/csv")}
        )
    assert response.status_code == 422
    assert "tecken" in response.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            valid_report(insatser=[insats(status="completed", actual_effects=None)]),
            "insatser.0.actual_effects",
        ),
        (valid_report(insatser=[insats(nsp_area="lasa-skriva-rakna")]), "insatser.0.nsp_area"),
        (valid_report(huvudman={"name": "Kom\x00mun", "lan_kod": "14", "type": "kommunal"}), "huvudman.name"),
    ],
)
async def test_7_reports_outside_the_domain_are_422_with_the_field_named(
    sqlite_url: str, tmp_path: Path, body: dict[str, Any], field: str
) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        response = await intake.client.post(
            "/api/v1/reports", json=body, headers=await intake.token("ruc", "gu")
        )
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["detail"]]


async def test_7_null_is_absent_and_meetings_must_lie_in_the_year(sqlite_url: str, tmp_path: Path) -> None:
    nulls = insats(description=None, expected_effects=None, actual_effects=None, nsp_area=None)
    async with intake_app(sqlite_url, tmp_path) as intake:
        gu = await intake.token("ruc", "gu")
        accepted = await intake.client.post(
            "/api/v1/reports", json=valid_report(insatser=[nulls]), headers=gu
        )
        assert accepted.status_code == 202
        late = attendance("gu", 2, 1) | {"meetings": [{"date": "2021-01-10", "attendees": None}]}
        response = await intake.client.post("/api/v1/attendance", json=late, headers=gu)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "meetings.0.date"
    assert intake.submitted[0]["insatser"][0]["description"] == ""


async def test_7_login_csrf_with_an_empty_token_and_no_cookie_is_refused(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with intake_app(sqlite_url, tmp_path) as intake:
        async with intake.app.state.sessions.begin() as session:
            await create_user(session, "anna@gu.se", PASSWORD, "ruc", "gu")
        response = await intake.client.post(
            "/logga-in", data={"email": "anna@gu.se", "password": PASSWORD, "csrf_token": ""}
        )
    assert response.status_code == 403
    assert "rucnet_session" not in response.headers.get("set-cookie", "")


def test_7_an_empty_pseudonym_secret_is_refused_at_start(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from services.intake.settings import IntakeSettings

    with pytest.raises(ValidationError, match="RUCNET_PSEUDONYM_SECRET"):
        IntakeSettings(data_dir=tmp_path, pseudonym_secret="  ")


async def test_7_the_sqlite_file_and_the_generated_secret_are_private(tmp_path: Path) -> None:
    from services.intake.app import create_app
    from services.intake.settings import IntakeSettings

    data = tmp_path / "data"
    app = create_app(IntakeSettings(data_dir=data))
    await app.state.engine.dispose()
    for path in (data / "rucnet.db", data / "pseudonym.secret"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


async def test_7_pending_uploads_are_kept_per_user_so_one_user_cannot_evict_another(
    sqlite_url: str, tmp_path: Path
) -> None:
    from services.intake.upload import csv_template

    async with intake_app(sqlite_url, tmp_path) as intake:
        anna, olle = await intake.user("anna@gu.se"), await intake.user("olle@su.se", "ruc", "su")

        async def upload(browser: httpx.AsyncClient) -> str:
            page = await browser.get("/uppladdning")
            files = {
                "fil": (
                    "x.csv",
                    csv_template() + "2020;K;14;kommunal;r1;T;;påbörjad;grundskola;;;\n".encode(),
                    "text/csv",
                )
            }
            response = await browser.post("/uppladdning", data={"csrf_token": csrf(page.text)}, files=files)
            assert response.status_code == 200, response.text
            return response.text.split('action="/uppladdning/')[1].split("/")[0]

        olles = await upload(olle)
        annas = [await upload(anna) for _ in range(60)]
        assert (await olle.get(f"/uppladdning/{olles}")).status_code == 200
        assert (await anna.get(f"/uppladdning/{annas[-1]}")).status_code == 200
        assert (await anna.get(f"/uppladdning/{annas[0]}")).status_code == 404  # only her own oldest went


@pytest.mark.parametrize("secret", ["", "  ", "kort", "x" * 31])
def test_21_an_empty_or_short_pseudonym_secret_is_refused_however_it_is_given(
    secret: str, tmp_path: Path
) -> None:
    from pydantic import ValidationError

    from services.intake.settings import IntakeSettings

    with pytest.raises(ValidationError, match="RUCNET_PSEUDONYM_SECRET"):
        IntakeSettings(data_dir=tmp_path, pseudonym_secret=secret)
    (tmp_path / "pseudonym.secret").write_text(secret + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="pseudonym.secret"):
        IntakeSettings(data_dir=tmp_path).pseudonym_key()
