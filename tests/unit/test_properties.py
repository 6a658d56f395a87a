"""Properties of the inbound models, the upload reader and the size budget, over generated input:
bad input is always a validation error (never another exception), and the budget's bounds hold."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.classifier.review import ReviewDecision
from services.classifier.rules import classify_by_lexicon
from services.intake.parts import AttendanceIn, SkaIn
from services.intake.sheets import HEADERS, UnreadableFile, read_rows
from services.intake.store import to_event
from services.intake.upload import dry_run
from shared.budget import classified_bytes_bound, classified_bytes_quick_bound
from shared.inbound import ReportIn
from shared.reference import load_reference

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Text as hostile clients send it: control characters, NUL, astral characters, JSON's escapes.
hostile_text = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["", " ", "\x00", '"\\', "🙂" * 5]
)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | hostile_text
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=20,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy | json_values


reference = load_reference()
insatser = st.fixed_dictionaries(
    {
        "ref": maybe(st.from_regex(r"[\w.\-/]{1,64}", fullmatch=True)),
        "title": maybe(hostile_text),
        "status": maybe(st.sampled_from(["started", "completed"])),
        "school_forms": maybe(
            st.lists(st.sampled_from(sorted(reference.school_form_codes)), min_size=1, max_size=3)
        ),
    },
    optional={
        "description": maybe(hostile_text),
        "expected_effects": maybe(hostile_text),
        "actual_effects": maybe(hostile_text),
        "nsp_area": maybe(st.sampled_from(sorted(reference.nsp_codes))),
    },
)
reports = st.fixed_dictionaries(
    {
        "ruc_id": maybe(st.sampled_from(sorted(reference.ruc_ids))),
        "year": maybe(st.integers(min_value=2010, max_value=2030)),
        "huvudman": maybe(
            st.fixed_dictionaries(
                {
                    "name": maybe(hostile_text),
                    "lan_kod": maybe(st.sampled_from(sorted(reference.lan_codes))),
                    "type": maybe(st.just("kommunal")),
                }
            )
        ),
        "insatser": maybe(st.lists(insatser, max_size=4)),
    }
)


def validates_or_refuses(model: Any, data: Any) -> None:
    try:
        model.model_validate(data)
    except ValidationError:
        pass


@SETTINGS
@given(reports)
def test_any_report_body_is_a_report_or_a_validation_error(data: dict[str, Any]) -> None:
    validates_or_refuses(ReportIn, data)


@SETTINGS
@given(json_values)
def test_any_json_is_a_model_or_a_validation_error_for_every_inbound_model(data: Any) -> None:
    for model in (ReportIn, AttendanceIn, SkaIn, ReviewDecision):
        validates_or_refuses(model, data)


@SETTINGS
@given(
    st.fixed_dictionaries(
        {
            "ruc_id": st.just("gu"),
            "year": maybe(st.integers(2019, 2021)),
            "members": maybe(st.lists(hostile_text, max_size=5)),
        },
        optional={
            "meetings": maybe(
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "date": maybe(st.dates().map(str)),
                            "attendees": maybe(st.lists(hostile_text, max_size=3)),
                        }
                    ),
                    max_size=3,
                )
            )
        },
    )
)
def test_any_attendance_body_is_attendance_or_a_validation_error(data: dict[str, Any]) -> None:
    validates_or_refuses(AttendanceIn, data)


@SETTINGS
@given(st.binary(max_size=2_000), st.sampled_from(["x.csv", "x.xlsx", "x.txt"]))
def test_any_bytes_upload_is_rows_or_an_unreadable_file(content: bytes, filename: str) -> None:
    try:
        read_rows(filename, content)
    except UnreadableFile:
        pass


@SETTINGS
@given(st.lists(st.lists(hostile_text.filter(lambda t: "\r" not in t), min_size=12, max_size=14), max_size=6))
def test_any_csv_of_the_templates_columns_is_rows_and_row_errors(cells: list[list[str]]) -> None:
    lines = [";".join(HEADERS)] + [";".join('"' + c.replace('"', '""') + '"' for c in row) for row in cells]
    try:
        rows = read_rows("x.csv", "\n".join(lines).encode())
    except UnreadableFile:
        return
    result = dry_run(rows, "gu")
    assert all(e.row >= 2 and e.message for e in result.errors)


valid_insatser = st.lists(
    st.builds(
        dict,
        ref=st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True),
        title=st.text(min_size=1, max_size=300).filter(lambda t: t.strip() and "\x00" not in t),
        description=st.text(max_size=2_000).filter(lambda t: "\x00" not in t),
        status=st.just("completed"),
        school_forms=st.just(sorted(reference.school_form_codes)),
        actual_effects=st.text(min_size=1, max_size=500).filter(lambda t: t.strip() and "\x00" not in t),
    ),
    min_size=1,
    max_size=20,
    unique_by=lambda i: i["ref"],
)


@SETTINGS
@given(valid_insatser)
def test_the_budgets_bounds_hold_for_the_classified_event_the_classifier_makes(
    insatser: list[dict[str, Any]],
) -> None:
    report = ReportIn.model_validate(
        {
            "ruc_id": "gu",
            "year": 2020,
            "huvudman": {"name": "K", "lan_kod": "14", "type": "kommunal"},
            "insatser": insatser,
        }
    )
    submitted = to_event(report, "hm-0123456789abcdef", 2**40, uuid.uuid4())
    submitted_bytes = len(submitted.model_dump_json().encode())
    classified = len(classify_by_lexicon(submitted, 0.5).model_dump_json().encode())
    assert (
        classified
        <= classified_bytes_bound(submitted, submitted_bytes)
        <= classified_bytes_quick_bound(report.insatser)
    )
