"""Deadline day for a samordnare and an analyst (issue 23), in Debian's headless Chromium at 390 and
1280 px: a login that runs out loses nothing, the form opens at the open year and says its deadline,
a wrongly written year keeps what was typed, an upload written as Excel users write passes, närvaro
opens the year with saved data, and the analyst signs in with the login the admin issued through
`rucnet user`. Every state passes axe's WCAG 2.2 AA rules and every element's box fits the width.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from rucnet.embedded_broker import free_port
from services.intake.period import sv_date
from shared.period import default_deadline, open_year, year_span
from tests.e2e.browser import CHROMIUM, WIDTHS, axe_source, check_page
from tests.e2e.conftest import DevStack
from tests.e2e.test_pages import browser, run  # noqa: F401  (the browser fixture)

pytestmark = pytest.mark.e2e
PASSWORD = "ett-långt-lösenord"
NEW_PASSWORD = "ett-helt-nytt-lösenord"
ANALYST = "Anna Analytiker"
FITS = """() => {
  const width = document.documentElement.clientWidth, bad = [];
  const clipped = e => {  // inside something visually hidden (clip: rect(0 0 0 0)), or the skip link
    for (; e; e = e.parentElement) {
      const s = getComputedStyle(e);
      if ((s.clip && s.clip !== 'auto') || s.clipPath !== 'none' || e.classList.contains('skip')) return true;
    }
    return false;
  };
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1 || clipped(el)) continue;  // hidden, not cut
    const name = el.tagName + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className : '');
    if (box.left < -1 || box.right > width + 1) bad.push(`${name} ${Math.round(box.left)}–${Math.round(box.right)}`);
    const style = getComputedStyle(el);
    if (!['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName) && style.overflowX !== 'visible'
        && el.scrollWidth > el.clientWidth + 1) bad.push(`${name} scrolls ${el.scrollWidth}>${el.clientWidth}`);
  }
  return bad;
}"""


def fits(page: Any) -> None:
    """No element's box is cut by the viewport or scrolls sideways (not only the page's width)."""
    assert page.evaluate(FITS) == []


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """A running `rucnet dev` with a RUC user and an analyst, both made with `rucnet user create`."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make system-deps)")
    tmp = tmp_path_factory.mktemp("deadline")
    env = dict(os.environ) | {
        f"RUCNET_{name}_PORT": str(free_port()) for name in ("KAFKA", "INTAKE", "CLASSIFIER", "AGGREGATOR")
    }
    env |= {"RUCNET_DATA_DIR": str(tmp / "data"), "RUCNET_OUTBOX_INTERVAL_S": "0.5"}
    env.pop("RUCNET_DATABASE_URL", None)
    running = DevStack(tmp / "data", env, tmp / "dev.log")
    running.start(timeout_s=300)  # a loaded machine starts the classifier slowly
    try:
        for args in (["--ruc", "gu", "--email", "anna@gu.se"],
                     ["--role", "skolverket", "--name", ANALYST, "--email", "analytiker@skolverket.se"]):  # fmt: skip
            made = run(running, "user", "create", *args, "--password-stdin", stdin=PASSWORD + "\n")
            assert made.returncode == 0, made.stderr
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def axe() -> str:
    return axe_source()


def log_in(page: Any, url: str, email: str = "anna@gu.se", password: str = PASSWORD) -> None:
    page.fill("#f-email", email)
    page.fill("#f-password", password)
    page.get_by_role("button", name="Logga in").click()


def signed_in(browser: Any, stack: DevStack, width: int, path: str) -> Any:  # noqa: F811
    """A new browser at ``width``, logged in as the RUC user and on ``path`` (a URL without a query)."""
    page = browser.new_page(viewport={"width": width, "height": 900}, locale="sv-SE")
    page.goto(stack.url("intake") + path)
    log_in(page, stack.url("intake"))
    page.wait_for_url(re.compile(re.escape(path) + "$"))
    return page


def expire_logins(stack: DevStack) -> None:
    with sqlite3.connect(stack.data_dir / "rucnet.db") as db:
        db.execute("UPDATE web_session SET expires_at = '2000-01-01 00:00:00.000000'")


def focused(page: Any) -> str:
    return str(page.evaluate("() => document.activeElement && document.activeElement.id"))


@pytest.mark.parametrize("width", WIDTHS)
def test_a_report_typed_when_the_login_runs_out_is_kept_and_sent_after_logging_in(
    stack: DevStack,
    browser: Any,  # noqa: F811
    axe: str,
    width: int,
) -> None:
    intake = stack.url("intake")
    page = signed_in(browser, stack, width, "/rapporter/ny")
    # the open reporting year, and its deadline said on the page
    year = open_year(dt.datetime.now(dt.UTC), {})
    assert page.input_value("#f-year") == str(year)
    assert f"Sista dag för {year}: {sv_date(default_deadline(year))}" in page.inner_text("#f-year-hint")
    check_page(page, "deadline-report-form", axe)
    ref = f"gu-{width}-1"
    page.fill("#f-year", "2 020")
    page.fill("#f-huvudman-name", "Exempelkommun")
    page.select_option("#f-huvudman-lan_kod", "14")
    page.select_option("#f-huvudman-type", "kommunal")
    page.fill("#f-insatser-0-ref", ref)
    page.fill("#f-insatser-0-title", "Studiehandledning på modersmål")
    page.check('input[name="insatser.0.status"][value="started"]')
    page.check('input[name="insatser.0.school_forms"][value="grundskola"]')
    page.get_by_role("button", name="Skicka rapporten").click()
    check_page(page, "deadline-year-format", axe)
    assert page.input_value("#f-year") == "2 020"  # what was typed stays
    assert "Fel format" in page.inner_text("#error-summary")
    assert "till exempel" in page.inner_text("#error-summary")
    assert focused(page) == "error-summary"
    page.fill("#f-year", "2035")
    page.get_by_role("button", name="Skicka rapporten").click()
    first, last = year_span()
    assert f"Året måste vara mellan {first} och {last}" in page.inner_text("#error-summary")
    page.fill("#f-year", "2020")

    expire_logins(stack)  # the login ran out while the form was being filled in
    page.get_by_role("button", name="Skicka rapporten").click()
    assert "inloggningen gick ut" in page.inner_text("main")
    check_page(page, "deadline-expired-login", axe)
    log_in(page, intake)
    page.get_by_text("Det du skrev finns kvar").wait_for()
    check_page(page, "deadline-restored-form", axe)
    assert page.input_value("#f-insatser-0-ref") == ref
    assert page.input_value("#f-year") == "2020"
    assert page.is_checked('input[name="insatser.0.school_forms"][value="grundskola"]')
    page.get_by_role("button", name="Skicka rapporten").click()
    page.wait_for_url(re.compile(r"/rapporter/[0-9a-f-]{36}"))


def excel_user_upload() -> bytes:
    book = load_workbook(io.BytesIO(_template_bytes()))
    sheet = book["Insatser"]
    sheet.append([2020, "Excelkommun", 1, "Kommunal", "gu-xl-1", "Läsfrämjande", "", "Genomförd",
                  "Anpassad grundskola, Gymnasieskola", "", "Fler läser", "Styrning och ledning"])  # fmt: skip
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _template_bytes() -> bytes:
    from services.intake.upload import xlsx_template

    return xlsx_template()


LONG_ERRORS = (
    "År;Huvudman;Länskod;Huvudmannatyp;Ref;Titel;Beskrivning;Status;Skolformer;Förväntade effekter;"
    "Faktiska effekter;NSP-område\n"
    "2020;Felkommun;14;kommunal;gu-f-1;Titel;;genomförd;universitetsutbildningochmycketannat;;;\n"
    "2020;Felkommun;14;kommunal;gu-f-2;Titel;;påbörjad;grundskola;;;matlagningochhemkunskapsomnsp\n"
)


@pytest.mark.parametrize("width", WIDTHS)
def test_an_upload_as_excel_users_write_it_passes_and_its_errors_fit_a_phone(
    stack: DevStack,
    browser: Any,  # noqa: F811
    axe: str,
    width: int,
) -> None:
    page = signed_in(browser, stack, width, "/uppladdning")
    page.set_input_files(
        "#f-fil", files=[{"name": "fel.csv", "mimeType": "text/csv", "buffer": LONG_ERRORS.encode()}]
    )
    page.get_by_role("button", name="Provkör").click()
    check_page(page, "deadline-upload-errors", axe)
    fits(page)  # the "Fel" column as cards on a phone, every word inside the width
    page.set_input_files("#f-fil", files=[{"name": "excel.xlsx", "buffer": excel_user_upload(),
                                            "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}])  # fmt: skip
    page.get_by_role("button", name="Provkör").click()
    check_page(page, "deadline-upload-excel", axe)
    ok = page.inner_text("#dry-run-ok")
    assert "1 rad blir 1 rapport med 1 insats." in ok
    assert "exempelrad" in ok


@pytest.mark.parametrize("width", WIDTHS)
def test_narvaro_opens_the_year_with_saved_data_and_takes_attendees_by_an_unambiguous_match(
    stack: DevStack,
    browser: Any,  # noqa: F811
    axe: str,
    width: int,
) -> None:
    intake = stack.url("intake")
    page = signed_in(browser, stack, width, "/narvaro")
    page.goto(f"{intake}/narvaro?ar=2024")
    page.fill("#f-members", "Göteborgs stad\nMölndals stad\nPartille kommun")
    page.fill("#f-meetings-1-date", "15/3 2024")
    page.fill("#f-meetings-1-attendees", "Partille")
    page.fill("#f-meetings-0-date", "2024-03-01")
    page.fill("#f-meetings-0-attendees", "göteborgs  STAD\nMölndal\nstad")
    page.get_by_role("button", name="Spara närvaron").click()
    check_page(page, "deadline-attendance-errors", axe)
    entries = page.locator("#error-summary li").all_inner_texts()
    assert entries[0].startswith("Träff 1:")
    assert "”stad” kan vara" in entries[0]
    assert entries[1].startswith("Träff 2:")
    assert "Fel format" in entries[1]
    assert page.input_value("#f-meetings-1-date") == "15/3 2024"  # kept as typed
    assert focused(page) == "error-summary"
    page.fill("#f-meetings-0-attendees", "göteborgs  STAD\nMölndal")
    page.fill("#f-meetings-1-date", "2024-03-15")
    page.get_by_role("button", name="Spara närvaron").click()
    page.wait_for_url(re.compile(r"sparad=1"))
    page.goto(f"{intake}/narvaro")  # no year asked for: the year with saved data, said so
    check_page(page, "deadline-attendance-saved-year", axe)
    assert page.input_value("#f-year") == "2024"
    assert "Göteborgs stad" in page.input_value("#f-meetings-0-attendees")
    assert "2024 (sparad)" in page.inner_text("#q-ar")
    fits(page)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_analyst_signs_in_with_the_issued_login_and_the_log_fits(
    stack: DevStack,
    browser: Any,  # noqa: F811
    axe: str,
    width: int,
) -> None:
    review = stack.url("classifier") + "/review"
    page = browser.new_page(viewport={"width": width, "height": 900}, locale="sv-SE")
    page.goto(review + "?error=Din+session+har+g%C3%A5tt+ut.+Logga+in+p%C3%A5+http://evil.example")
    assert "evil.example" not in page.inner_text("body")
    assert "rucnet token create" not in page.inner_text("body")
    page.fill("#email", "analytiker@skolverket.se")
    page.fill("#password", "fel-lösenord-här")
    page.get_by_role("button", name="Logga in", exact=True).click()
    check_page(page, "deadline-review-login-error", axe)
    assert focused(page) == "error-summary"
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Logga in", exact=True).click()
    assert f"Inloggad som {ANALYST}" in page.inner_text("header")
    accept = page.locator("article").first.get_by_role("button", name=re.compile("^Godkänn"))
    if accept.count():  # a decision for the log (the queue holds what the other tests sent)
        accept.click()
    page.get_by_role("link", name="Ändringslogg").click()
    check_page(page, "deadline-review-audit", axe)
    fits(page)
    assert "#" not in page.inner_text("main")  # names, never "skolverket#21"


def test_the_user_commands_act_on_the_running_system_end_to_end(
    stack: DevStack,
    browser: Any,  # noqa: F811
) -> None:
    intake = stack.url("intake")
    page = browser.new_page(viewport={"width": 390, "height": 900}, locale="sv-SE")

    def can_log_in(password: str) -> bool:
        page.context.clear_cookies()
        page.goto(f"{intake}/logga-in")
        log_in(page, intake, "anna@gu.se", password)
        page.wait_for_load_state()
        return "/rapporter" in page.url

    listed = run(stack, "user", "list")
    assert "anna@gu.se\truc\tgu\tactive" in listed.stdout
    assert run(stack, "user", "disable", "--email", "anna@gu.se").returncode == 0
    assert not can_log_in(PASSWORD)
    assert run(stack, "user", "enable", "--email", "anna@gu.se").returncode == 0
    reset = run(
        stack, "user", "reset-password", "--email", "anna@gu.se", "--password-stdin", stdin=NEW_PASSWORD
    )
    assert reset.returncode == 0, reset.stderr
    assert not can_log_in(PASSWORD)
    assert can_log_in(NEW_PASSWORD)
    again = run(
        stack, "user", "create", "--email", "anna@gu.se", "--ruc", "gu", "--password-stdin", stdin=PASSWORD
    )
    assert again.returncode == 1
    assert "reset-password" in again.stderr
