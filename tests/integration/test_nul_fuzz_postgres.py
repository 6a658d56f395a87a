"""NUL (and an e-mail that grows when casefolded) against the review API, the review page's decide
form and user administration, on PostgreSQL (whose text cannot hold NUL): a 4xx or a page that
says so, never a 500. The broker is in memory here: what is fuzzed is the database boundary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.test_classifier_review_api import Review, review  # noqa: F401  (the fixture)
from tests.unit.test_intake_web import intake_app
from tests.unit.test_review_page import _signed_in

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture
def sqlite_url(pg_url: str) -> str:
    """The unit fixtures' database, here PostgreSQL."""
    return pg_url


def with_nul(value: str) -> Iterator[str]:
    """NUL alone, and at the start, in the middle and at the end of ``value``."""
    yield "\x00"
    yield "\x00" + value
    yield value[: len(value) // 2] + "\x00" + value[len(value) // 2 :]
    yield value + "\x00"


DECISIONS = [
    {"action": "accept", "reason": "ser rätt ut"},
    {"action": "override", "nsp_area": "styrning-och-ledning", "reason": "rutiner, inte undervisning"},
]


async def test_nul_in_any_field_of_a_review_decision_is_a_422_on_postgresql(review: Review) -> None:  # noqa: F811
    statuses = []
    for decision in DECISIONS:
        for field, value in decision.items():
            for bad in with_nul(value):
                response = await review.client.post(
                    "/api/v1/review/gu/2020/mid", json=decision | {field: bad}, headers=review.analyst
                )
                statuses.append((field, response.status_code))
    assert all(code == 422 for _field, code in statuses), statuses
    still = await review.client.post("/api/v1/review/gu/2020/mid", json=DECISIONS[1], headers=review.analyst)
    assert still.status_code == 200  # nothing half-stored stands in the way


async def test_nul_in_any_field_of_the_decide_form_is_a_message_on_postgresql(review: Review) -> None:  # noqa: F811
    csrf = await _signed_in(review)
    form = {"ruc_id": "gu", "year": "2020", "ref": "mid", "action": "override", "nsp_area": "styrning-och-ledning",
            "reason": "rutiner", "csrf_token": csrf, "back": "year=2020&ruc=gu"}  # fmt: skip
    answers = []
    for field, value in form.items():
        if field == "year":
            continue
        for bad in with_nul(value):
            response = await review.client.post("/review/decide", data=form | {field: bad})
            answers.append((field, response.status_code))
    assert all(code < 500 for _field, code in answers), answers


async def test_nul_and_overgrown_e_mails_in_user_administration_are_422_on_postgresql(
    pg_url: str, tmp_path: Path
) -> None:
    user = {"email": "ny@gu.se", "password": "ett-långt-lösenord", "role": "ruc", "ruc_id": "gu"}
    async with intake_app(pg_url, tmp_path) as intake:
        admin = await intake.token("admin")
        statuses = []
        for field, value in user.items():
            for bad in with_nul(value):
                response = await intake.client.post("/api/v1/users", json=user | {field: bad}, headers=admin)
                statuses.append((field, repr(bad), response.status_code))
        for email in (
            "ß" * 125 + "@gu.se",
            "ﬃ" * 100 + "@gu.se",
        ):  # 131 and 106 characters; casefolded 256 and 306
            response = await intake.client.post("/api/v1/users", json=user | {"email": email}, headers=admin)
            statuses.append(("email", email[:5], response.status_code))
        created = await intake.client.post("/api/v1/users", json=user, headers=admin)
    assert [s for s in statuses if s[2] != 422] == [], statuses
    assert created.status_code == 201
