"""Analysts sign in to the review page with the login an admin issued (e-mail and password, no shell
command), and the change log names them as people read names."""

from __future__ import annotations

import re
from pathlib import Path

from services.classifier.page_text import actor_label
from services.intake.users import create_user, find_user, set_disabled, set_password
from shared.db import create_engine, session_factory
from tests.unit.test_classifier_review_api import Review, review  # noqa: F401  (the fixture)

PASSWORD = "ett-långt-lösenord"


async def _people(sqlite_url: str, *, disable: str = "", reset: str = "") -> None:
    engine = create_engine(sqlite_url)
    async with session_factory(engine).begin() as session:
        if reset:
            user = await find_user(session, reset)
            assert user is not None
            await set_password(session, user, "ett-nytt-långt-lösenord")
        elif disable:
            user = await find_user(session, disable)
            assert user is not None
            await set_disabled(session, user, True)
        else:
            await create_user(session, "anna@skolverket.se", PASSWORD, "skolverket", None, "Anna Analytiker")
            await create_user(session, "bo@gu.se", PASSWORD, "ruc", "gu")
    await engine.dispose()


async def _log_in(review: Review, email: str, password: str) -> int:  # noqa: F811
    page = await review.client.get("/review")
    assert "rucnet token create" not in page.text  # no shell command for the analyst
    login_csrf = re.search(r'name="csrf_token" value="([0-9a-f]{32})"', page.text)
    assert login_csrf is not None
    data = {"email": email, "password": password, "csrf_token": login_csrf.group(1)}
    return (await review.client.post("/review/login", data=data)).status_code


async def test_an_analyst_signs_in_with_e_mail_and_password_and_is_named_in_the_log(
    review: Review,  # noqa: F811
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'rucnet.db'}"
    await _people(url)
    assert await _log_in(review, "bo@gu.se", PASSWORD) == 401  # RUC staff do not review
    wrong = await _log_in(review, "anna@skolverket.se", "fel-lösenord-här")
    assert wrong == 401
    assert await _log_in(review, "Anna@Skolverket.se", PASSWORD) == 303
    page = await review.client.get("/review")
    assert "Inloggad som Anna Analytiker" in page.text
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]{32})"', page.text)
    assert csrf is not None
    form = {"ruc_id": "gu", "year": "2020", "ref": "mid", "action": "override", "csrf_token": csrf.group(1),
            "nsp_area": "styrning-och-ledning", "reason": "Organisation av studiehandledning"}  # fmt: skip
    assert (await review.client.post("/review/decide", data=form)).status_code == 303
    audit = (await review.client.get("/review/audit")).text
    assert "Anna Analytiker" in audit
    assert "#user" not in audit
    await _people(url, reset="anna@skolverket.se")
    assert "Logga in för granskning" in (await review.client.get("/review")).text  # a new password signs out
    assert await _log_in(review, "anna@skolverket.se", "ett-nytt-långt-lösenord") == 303
    await _people(url, disable="anna@skolverket.se")
    assert "Logga in för granskning" in (await review.client.get("/review")).text  # signed out at once


def test_a_stored_analyst_is_shown_by_name() -> None:
    assert actor_label("skolverket#21 (Anna Analytiker)") == "Anna Analytiker (Skolverket)"
    assert actor_label("skolverket#user3 (anna@skolverket.se)") == "anna@skolverket.se (Skolverket)"
    assert actor_label("skolverket#user3") == "Skolverket, användare 3"
