"""A samordnare confirms the classifier's NSP suggestion, through `rucnet dev` as a user runs it:
over the API (GET /api/v1/reports/{id}, contract rev 3) and on the receipt page in Chromium at
390 and 1280 px, where every element's box must fit and axe must find no WCAG 2.2 AA violation."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    WIDTHS,
    assert_boxes_fit,
    axe_source,
    check_page,
    wait_until_settled,
)
from tests.e2e.conftest import RUCNET, DevStack, page_stack

pytestmark = pytest.mark.e2e
PASSWORD = "ett-långt-lösenord"
EFFECTS = (
    "Rutiner för hur studiehandledning fördelas är beslutade i rektorsgruppen.",
    "Lärarna arbetar språk- och kunskapsutvecklande med stöttning i klassrummet.",
)


def report(ref_prefix: str, declared: list[str | None]) -> dict[str, Any]:
    return {
        "ruc_id": "gu", "year": 2020,
        "huvudman": {"name": "Exempelkommun", "lan_kod": "14", "type": "kommunal"},
        "insatser": [
            {"ref": f"{ref_prefix}-{n}", "title": f"Insats {n} om nyanländas lärande", "status": "completed",
             "school_forms": ["grundskola"], "actual_effects": EFFECTS[n % 2], "nsp_area": area}
            for n, area in enumerate(declared)
        ],
    }  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    tmp = tmp_path_factory.mktemp("nsp")
    dev = page_stack(tmp)
    dev.start(timeout_s=240)  # a loaded machine (2 cores shared) loads the model slowly
    try:
        yield dev
    finally:
        dev.stop()


def wait_until(probe: Callable[[], Any], what: str, timeout_s: float = 60) -> Any:
    """Poll ``probe`` (about once a second: the API's rate limit is per token) until it is truthy."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1.0)


class Ruc:
    def __init__(self, stack: DevStack) -> None:
        self.intake = stack.url("intake")
        self.headers = {"Authorization": f"Bearer {stack.cli('token', 'create', '--ruc', 'gu').strip()}"}

    def submit(self, body: dict[str, Any]) -> str:
        response = httpx.post(f"{self.intake}/api/v1/reports", json=body, headers=self.headers, timeout=10)
        assert response.status_code == 202, response.text
        report_id: str = response.json()["report_id"]
        return report_id

    def report(self, report_id: str) -> dict[str, Any]:
        response = httpx.get(f"{self.intake}/api/v1/reports/{report_id}", headers=self.headers, timeout=10)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def classified(self, report_id: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            body = self.report(report_id)
            return body if all(i["nsp"]["basis"] for i in body["insatser"]) else None

        found: dict[str, Any] = wait_until(probe, f"report {report_id} classified")
        return found


def test_a_suggestion_confirmed_by_resubmitting_is_declared_in_the_report_and_the_national_figures(
    stack: DevStack,
) -> None:
    ruc = Ruc(stack)
    skolverket = {"Authorization": f"Bearer {stack.cli('token', 'create', '--role', 'skolverket').strip()}"}

    def basis(area: str) -> dict[str, int]:
        national = httpx.get(f"{stack.url('aggregator')}/api/v1/stats/national", params={"year": 2020},
                             headers=skolverket, timeout=10).json()  # fmt: skip
        counts: dict[str, int] = national["completed"]["by_nsp_basis"][area]
        return counts

    body = report("gu-api", [None])
    first = ruc.classified(ruc.submit(body))
    [insats] = first["insatser"]
    assert insats["nsp"]["basis"] == "unreviewed"
    assert insats["nsp"]["suggested"]
    area = insats["nsp"]["suggested"][0]
    assert insats["nsp"]["area"] == area
    before = wait_until(lambda: (b := basis(area))["unreviewed"] == 1 and b, "the unreviewed count")

    body["insatser"][0]["nsp_area"] = area  # confirming: the same ref again, with the suggestion
    again = ruc.classified(ruc.submit(body))
    after = wait_until(lambda: (b := basis(area))["declared"] == before["declared"] + 1 and b, "the declared count")
    assert again["insatser"][0]["nsp"] == {"area": area, "basis": "declared", "suggested": again["insatser"][0]
                                           ["nsp"]["suggested"], "needs_review": False}  # fmt: skip
    assert after["unreviewed"] == before["unreviewed"] - 1
    assert after["confirmed"] == before["confirmed"]
    other = httpx.get(f"{stack.url('intake')}/api/v1/reports/{first['report_id']}", timeout=10,
                      headers={"Authorization": f"Bearer {stack.cli('token', 'create', '--ruc', 'lnu').strip()}"})  # fmt: skip
    assert other.status_code == 404


@pytest.fixture(scope="module")
def anna(stack: DevStack) -> str:
    created = subprocess.run(
        [RUCNET, "user", "create", "--ruc", "gu", "--email", "anna@gu.se", "--password-stdin"],
        env=stack.env, input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    return "anna@gu.se"


@pytest.fixture
def page_at(request: pytest.FixtureRequest) -> Iterator[Callable[[int], Any]]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make system-deps)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield lambda width: chromium.new_page(viewport={"width": width, "height": 900}, locale="sv-SE")
        finally:
            chromium.close()


def _checked(page: Any, name: str, axe: str) -> None:
    check_page(page, name, axe)
    assert_boxes_fit(page, name)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_samordnare_confirms_one_area_and_changes_another_on_the_receipt(
    stack: DevStack, anna: str, page_at: Callable[[int], Any], width: int
) -> None:
    axe = axe_source()
    ruc = Ruc(stack)
    report_id = ruc.submit(report(f"gu-web-{width}", [None, None, "elevhalsa"]))
    suggested = [i["nsp"]["area"] for i in ruc.classified(report_id)["insatser"]]
    page = page_at(width)
    page.goto(f"{stack.url('intake')}/logga-in")
    page.fill("#f-email", anna)
    page.fill("#f-password", PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    page.wait_for_url(re.compile(r"/rapporter$"))
    _checked(page, "nsp-reports", axe)
    assert "2 av 3 genomförda väntar på område" in page.inner_text("main")

    page.goto(f"{stack.url('intake')}/rapporter/{report_id}")
    wait_until_settled(page)
    _checked(page, "nsp-receipt", axe)
    first = page.locator("#insats-0")
    assert "Hur säkert:" in first.inner_text()
    assert page.locator("#insats-2 .suggestion").count() == 0  # declared: nothing to confirm
    first.get_by_role("button", name=re.compile("^Bekräfta")).click()
    page.wait_for_url(re.compile(r"omrade=bekraftat"))
    wait_until_settled(page)
    _checked(page, "nsp-receipt-confirmed", axe)
    assert "Området är bekräftat." in page.inner_text("#omrade-sparat")
    assert "(angivet av er)" in page.locator("#insats-0 .nsp").inner_text()

    other = "digitalisering" if suggested[1] != "digitalisering" else "elevhalsa"
    page.locator("#insats-1 select").select_option(other)
    page.locator("#insats-1").get_by_role("button", name=re.compile("^Spara området")).click()
    page.wait_for_url(re.compile(r"omrade=valt"))
    wait_until_settled(page)
    _checked(page, "nsp-receipt-changed", axe)
    assert page.locator(".suggestion").count() == 0
    stored = ruc.report(report_id)["insatser"]
    assert [i["nsp_area"] for i in stored] == [suggested[0], other, "elevhalsa"]
    assert {i["nsp"]["basis"] for i in stored} == {"declared"}
