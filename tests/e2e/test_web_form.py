"""The whole stack as a user runs it (`rucnet dev`), the web form driven in Debian's headless Chromium."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from rucnet.embedded_broker import free_port

pytestmark = pytest.mark.e2e
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "ett-långt-lösenord"


@dataclass
class Stack:
    intake: str
    aggregator: str
    skolverket: dict[str, str]
    log: Path


def _cli(env: dict[str, str], *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-m", "rucnet", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never became healthy:\n{log.read_text()[-3000:]}")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    ports = {name: str(free_port()) for name in ("KAFKA", "INTAKE", "CLASSIFIER", "AGGREGATOR")}
    env = dict(os.environ) | {f"RUCNET_{k}_PORT": v for k, v in ports.items()}
    env |= {"RUCNET_DATA_DIR": str(tmp_path / "data"), "RUCNET_OUTBOX_INTERVAL_S": "0.5"}
    _cli(
        env,
        "user",
        "create",
        "--ruc",
        "gu",
        "--email",
        "anna@gu.se",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    skolverket = {"Authorization": f"Bearer {_cli(env, 'token', 'create', '--role', 'skolverket')}"}
    log = tmp_path / "rucnet-dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "rucnet", "dev"], env=env, stdout=out, stderr=out)
    try:
        found = Stack(
            f"http://127.0.0.1:{ports['INTAKE']}", f"http://127.0.0.1:{ports['AGGREGATOR']}", skolverket, log
        )
        _wait_healthy(found.intake, process, log)
        _wait_healthy(found.aggregator, process, log)
        _wait_healthy(f"http://127.0.0.1:{ports['CLASSIFIER']}", process, log)
        yield found
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _national(stack: Stack) -> dict[str, object]:
    response = httpx.get(
        f"{stack.aggregator}/api/v1/stats/national?year=2020", headers=stack.skolverket, timeout=5
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_a_ruc_user_reports_two_insatser_in_the_browser_and_the_counts_move(stack: Stack) -> None:
    from playwright.async_api import async_playwright, expect

    before = _national(stack)
    assert before["started"] == {**before["started"], "insatser": 0}  # type: ignore[dict-item]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{stack.intake}/rapporter/ny")
            await expect(page.get_by_role("heading", name="Logga in")).to_be_visible()
            await page.get_by_label("E-postadress").fill("anna@gu.se")
            await page.get_by_label("Lösenord").fill(PASSWORD)
            await page.get_by_role("button", name="Logga in").click()
            await expect(page.get_by_role("heading", name="Ny rapport: effekter av insatser")).to_be_visible()

            await page.get_by_label("Rapporteringsår").fill("2020")
            await page.get_by_label("Huvudmannens namn").fill("Exempelkommun")
            await page.get_by_label("Län").select_option("14")
            await page.get_by_label("Typ av huvudman").select_option("kommunal")
            await page.fill("#f-insatser-0-ref", "gu-2020-001")
            await page.fill("#f-insatser-0-title", "Studiehandledning på modersmål")
            await page.check('input[name="insatser.0.status"][value="started"]')
            await page.check('input[name="insatser.0.school_forms"][value="grundskola"]')
            await page.check('input[name="insatser.0.school_forms"][value="gymnasieskola"]')
            await page.fill("#f-insatser-0-expected_effects", "Fler elever når målen")
            await page.get_by_role("button", name="Lägg till insats").click()

            await expect(page.locator("#insats-1")).to_be_visible()
            await expect(page.locator("#f-insatser-0-title")).to_have_value("Studiehandledning på modersmål")
            await page.fill("#f-insatser-1-ref", "gu-2020-002")
            await page.check('input[name="insatser.1.status"][value="completed"]')
            await page.check('input[name="insatser.1.school_forms"][value="grundskola"]')
            await page.fill("#f-insatser-1-actual_effects", "Rutiner för mottagande finns")
            await page.select_option("#f-insatser-1-nsp_area", "nyanlanda")
            await page.get_by_role("button", name="Skicka rapporten").click()  # the title is missing

            summary = page.get_by_role("alert")
            await expect(summary).to_contain_text("Det finns 1 fel att rätta")
            await expect(page.locator("#f-insatser-1-title-error")).to_contain_text(
                "Fyll i aktiviteten (rubrik)."
            )
            await summary.get_by_role("link").click()
            await expect(page.locator("#f-insatser-1-title")).to_be_focused()
            await page.keyboard.type("Kartläggning av nyanlända elevers kunskaper")
            await page.get_by_role("button", name="Skicka rapporten").click()

            await expect(page.get_by_role("heading", name="Kvitto: Exempelkommun, 2020")).to_be_visible()
            await expect(page.get_by_role("status").first).to_contain_text("Rapporten är mottagen")
            await expect(page.locator("#steg-mottagen")).to_contain_text("Mottagen")
            # the receipt reloads itself until the report is counted
            await expect(page.locator("#steg-raknad")).to_contain_text("Räknad: ja", timeout=30_000)
            await expect(page.locator("#insats-1 .nsp")).to_contain_text("Nyanlända och flerspråkiga")

            await page.get_by_role("link", name="Alla rapporter").click()
            await expect(page.locator("table")).to_contain_text("Exempelkommun")
        finally:
            await browser.close()
    after = _national(stack)
    assert after["started"]["insatser"] == 1  # type: ignore[index]
    assert after["started"]["by_school_form"]["gymnasieskola"] == 1  # type: ignore[index]
    assert after["completed"]["insatser"] == 1  # type: ignore[index]
    assert after["completed"]["by_nsp"]["nyanlanda"] == 1  # type: ignore[index]
    assert "Exempelkommun" not in str(after)
