"""The review page over HTTP: the analyst's name, a Swedish message for a missing motivation that
keeps the queue's filter, filters and paging."""

from __future__ import annotations

import re

from tests.unit.test_classifier_review_api import Review, review  # noqa: F401  (the fixture)


async def _signed_in(review: Review) -> str:  # noqa: F811
    login = await review.client.get("/review")  # the login form, with its CSRF token and cookie
    login_csrf = re.search(r'name="csrf_token" value="([0-9a-f]{32})"', login.text)
    assert login_csrf is not None
    await review.client.post(
        "/review/login", data={"token": review.raw_token, "csrf_token": login_csrf.group(1)}
    )
    page = await review.client.get("/review")
    token = re.search(r'name="csrf_token" value="([0-9a-f]{32})"', page.text)
    assert token is not None
    return token.group(1)


async def test_the_page_names_the_analyst_and_says_in_swedish_that_a_motivation_is_missing(
    review: Review,  # noqa: F811
) -> None:
    csrf = await _signed_in(review)
    page = await review.client.get("/review?ruc=gu&year=2020")
    assert "Inloggad som Anna på Skolverket" in page.text
    assert " required" not in page.text.split("<main")[1]  # no English browser bubble
    form = {"ruc_id": "gu", "year": "2020", "ref": "mid", "action": "override", "csrf_token": csrf,
            "nsp_area": "styrning-och-ledning", "reason": "  ", "back": "ruc=gu&year=2020&next=//evil"}  # fmt: skip
    refused = await review.client.post("/review/decide", data=form)
    assert refused.status_code == 303
    location = refused.headers["location"]
    assert location.startswith("/review?ruc=gu&year=2020&error=")  # the filter is kept, nothing else
    shown = await review.client.get(location)
    assert "Göteborgs universitet / 2020 / mid: Skriv en motivering för att ändra området." in shown.text
    assert review.overridden == []


async def test_the_queue_filters_by_ruc_year_and_area_and_pages(review: Review) -> None:  # noqa: F811
    await _signed_in(review)
    everything = await review.client.get("/review")
    assert "3 insatser väntar på granskning" in everything.text
    assert "Visar 1–3." in everything.text
    other_ruc = await review.client.get("/review?ruc=su")
    assert "Inga insatser väntar på granskning med det här urvalet." in other_ruc.text
    areas = re.findall(r'<option value="([a-z-]+)" selected>', everything.text)
    only = await review.client.get(f"/review?area={areas[0]}")
    assert only.text.count('<article class="card"') == areas.count(areas[0])
    assert (await review.client.get("/review?page=2")).text.count('<article class="card"') == 0
    assert re.search(r"säkerhet <span[^>]*>\d,\d\d", everything.text)
