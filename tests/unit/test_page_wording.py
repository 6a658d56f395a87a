"""The words and formats the pages show: Swedish numbers, times and plurals, messages that name
their field, what the review page shows of an insats, and the upload template's codes."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from services.classifier.page_text import body_without_title, shown_reasons
from services.intake.forms import (
    FieldError,
    attendance_problems,
    in_page_order,
    resolve_attendees,
    with_problems,
)
from services.intake.upload import xlsx_template
from shared.pages import plural, sv_number, sv_time


@pytest.mark.parametrize(("value", "shown"), [(0.98, "0,98"), (0.2088, "0,21"), (1.0, "1,00")])
def test_scores_have_a_decimal_comma(value: float, shown: str) -> None:
    assert sv_number(value) == shown


@pytest.mark.parametrize(
    ("utc", "shown"),
    [
        (dt.datetime(2026, 12, 3, 6, 4, 5, tzinfo=dt.UTC), "3 december 2026 kl. 07:04"),  # CET
        (dt.datetime(2026, 6, 30, 22, 30, tzinfo=dt.UTC), "1 juli 2026 kl. 00:30"),  # CEST, next day
        ("2021-01-31T23:15:00+00:00", "1 februari 2021 kl. 00:15"),
    ],
)
def test_times_are_swedish_time_with_the_date(utc: dt.datetime | str, shown: str) -> None:
    assert sv_time(utc) == shown


def test_plurals_follow_the_count() -> None:
    assert [plural(n, "rapport", "rapporter") for n in (0, 1, 2)] == [
        "0 rapporter",
        "1 rapport",
        "2 rapporter",
    ]


@pytest.mark.parametrize(
    ("error", "summary"),
    [
        (FieldError("insatser.1.title", "Fyll i aktiviteten (rubrik)."), "Insats 2: Fyll i aktiviteten (rubrik)."),
        (FieldError("insatser.0.ref", "Texten är för lång: högst 64 tecken."),
         "Insats 1: Er beteckning (ref): Texten är för lång: högst 64 tecken."),
        (FieldError("year", "Värdet måste vara minst 2015."), "Rapporteringsår: Värdet måste vara minst 2015."),
        (FieldError("huvudman.lan_kod", "Välj län."), "Välj län."),
    ],
)  # fmt: skip
def test_each_summary_entry_names_its_insats_and_field(error: FieldError, summary: str) -> None:
    assert error.summary == summary


def test_attendance_names_the_stranger_and_the_meeting_and_flags_a_date_outside_the_year() -> None:
    values = {
        "year": "2020",
        "members": ["Exempelkommun"],
        "meetings": [
            {"date": "2020-03-01", "attendees": ["Exempelkommun"]},
            {"date": "2019-11-20", "attendees": ["exempelkommun", "Okänd kommun"]},
        ],
    }
    problems = attendance_problems(values)
    assert [(p.field, p.summary) for p in problems] == [
        ("meetings.1.date",
         "Träff 2: Träffen är daterad 2019-11-20, utanför rapporteringsåret 2020. Rätta datumet eller året."),
        ("meetings.1.attendees",
         "Träff 2: ”Okänd kommun” finns inte bland nätverkets huvudmän. Lägg till huvudmannen i listan "
         "ovan eller rätta stavningen."),
    ]  # fmt: skip
    model_says = [FieldError("members", "Deltagare som inte finns bland nätverkets medlemmar.")]
    assert with_problems(model_says, problems) == problems


def test_the_review_page_shows_the_text_once_and_only_whole_meaningful_words() -> None:
    title = "Studie- och yrkesvägledning för nyanlända på introduktionsprogram"
    text = f"{title}\n{title}. Insatsen genomförs med RUC.\nFler elever går vidare till gymnasiet."
    assert (
        body_without_title(title, text)
        == "Insatsen genomförs med RUC.\nFler elever går vidare till gymnasiet."
    )
    reasons = ["introduktionsprogram", "på", "studie", "nyanlända", "vägledning", "går vidare"]
    assert shown_reasons(reasons, text) == ["introduktionsprogram", "nyanlända", "går vidare"]
    flagged = ["texten ser inte ut att vara svenska / text does not look Swedish"]
    assert shown_reasons(flagged, "hello world") == ["Texten ser inte ut att vara svenska"]


def test_the_templates_codes_sheet_lists_every_column_with_fixed_values() -> None:
    codes = load_workbook(io.BytesIO(xlsx_template()))["Koder"]
    lists = {(row[0], row[1]) for row in codes.iter_rows(min_row=2, values_only=True)}
    for kind in ("kommunal", "region", "enskild", "statlig"):
        assert ("Huvudmannatyp", kind) in lists
    assert ("Status", "påbörjad") in lists
    assert ("Status", "genomförd") in lists
    assert ("Skolform", "grundskola") in lists
    assert ("Län", "14") in lists


def test_attendees_are_taken_by_an_unambiguous_match_and_errors_come_in_page_order() -> None:
    members = ["Göteborgs stad", "Mölndals stad", "Partille kommun", "Lerums kommun"]
    values = {
        "year": "2020",
        "members": members,
        "meetings": [
            {"date": "2020-03-01", "attendees": ["  göteborgs   STAD ", "Mölndal", "kommun"]},
            {"date": "2019-11-20", "attendees": ["Partille", "Alingsås"]},
        ],
    }
    resolved, _ = resolve_attendees(values)
    assert resolved["meetings"][0]["attendees"] == ["Göteborgs stad", "Mölndals stad", "kommun"]
    assert resolved["meetings"][1]["attendees"] == ["Partille kommun", "Alingsås"]
    problems = attendance_problems(values)
    assert [p.field for p in problems] == ["meetings.0.attendees", "meetings.1.date", "meetings.1.attendees"]
    assert "”kommun” kan vara ”Partille kommun” eller ”Lerums kommun”" in problems[0].message
    assert "”Alingsås” finns inte" in problems[2].message
    model_says = [
        FieldError("meetings.1.date", "X"),
        FieldError("year", "Y"),
        FieldError("meetings.0.date", "Z"),
    ]
    assert [e.field for e in in_page_order(model_says)] == ["year", "meetings.0.date", "meetings.1.date"]
