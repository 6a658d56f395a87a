import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from shared.events import ReportSubmitted
from shared.inbound import ReportIn
from shared.pseudonym import pseudonymise


def valid_report(**changes: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "ruc_id": "gu",
        "year": 2020,
        "huvudman": {"name": "Exempelkommun", "lan_kod": "14", "type": "kommunal"},
        "insatser": [
            {
                "ref": "gu-2020-001",
                "title": "Studiehandledning på modersmål",
                "status": "started",
                "school_forms": ["grundskola", "gymnasieskola"],
            }
        ],
    }
    report.update(changes)
    return report


def insats(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = valid_report()["insatser"][0] | changes
    if body["status"] == "completed":  # a completed insats is followed up: it has actual effects
        body.setdefault("actual_effects", "Rutinerna används i alla skolor.")
    return body


def test_a_valid_report_parses_and_normalises_school_forms() -> None:
    report = ReportIn.model_validate(valid_report(insatser=[insats(school_forms=["grundskola"] * 2)]))
    assert report.insatser[0].school_forms == ["grundskola"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ruc_id": "xx"}, "ruc_id"),
        ({"year": 2014}, "year"),
        ({"year": 2101}, "year"),
        ({"insatser": []}, "insatser"),
        ({"huvudman": {"name": "X", "lan_kod": "99", "type": "kommunal"}}, "huvudman.lan_kod"),
        ({"huvudman": {"name": "X", "lan_kod": "14", "type": "kyrka"}}, "huvudman.type"),
        ({"insatser": [insats(school_forms=["hogskola"])]}, "insatser.0.school_forms"),
        ({"insatser": [insats(school_forms=[])]}, "insatser.0.school_forms"),
        ({"insatser": [insats(nsp_area="matlagning")]}, "insatser.0.nsp_area"),
        ({"insatser": [insats(status="planned")]}, "insatser.0.status"),
        ({"insatser": [insats(title="x" * 301)]}, "insatser.0.title"),
        ({"insatser": [insats(description="x" * 10_001)]}, "insatser.0.description"),
        ({"insatser": [insats(ref="has space")]}, "insatser.0.ref"),
        ({"insatser": [insats(status="completed", actual_effects=None)]}, "insatser.0.actual_effects"),
        ({"insatser": [insats(nsp_area="lasa-skriva-rakna")]}, "insatser.0.nsp_area"),  # from 2021
        ({"huvudman": {"name": "Kom\x00mun", "lan_kod": "14", "type": "kommunal"}}, "huvudman.name"),
        ({"insatser": [insats(), insats()]}, ""),  # duplicate refs: a report-level error
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_reports_are_rejected_with_the_field_named(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ReportIn.model_validate(valid_report(**changes))
    locations = {".".join(str(p) for p in e["loc"]) for e in caught.value.errors()}
    assert any(loc == field or loc.startswith(field + ".") for loc in locations), locations


def event_json(**changes: Any) -> dict[str, Any]:
    return {
        "report_id": str(uuid.uuid4()),
        "version": 1,
        "ruc_id": "gu",
        "year": 2020,
        "huvudman": {"pseudonym": "hm-0123456789abcdef", "lan_kod": "14", "type": "kommunal"},
        "insatser": [insats()],
    } | changes


def test_events_are_frozen_and_carry_id_time_and_schema_version() -> None:
    event = ReportSubmitted.model_validate(event_json())
    assert event.schema_version == 1
    assert event.occurred_at.tzinfo is not None
    with pytest.raises(ValidationError):
        event.year = 2021  # type: ignore[misc]


def test_consumers_ignore_fields_they_do_not_know() -> None:
    event = ReportSubmitted.model_validate(event_json(added_in_a_later_version="x"))
    assert not hasattr(event, "added_in_a_later_version")


def test_an_unknown_schema_version_does_not_parse() -> None:
    with pytest.raises(ValidationError):
        ReportSubmitted.model_validate(event_json(schema_version=2))


def test_pseudonyms_are_stable_keyed_and_reveal_no_name() -> None:
    first = pseudonymise("secret", "Exempelkommun")
    assert first == pseudonymise("secret", "  exempelkommun ")
    assert first != pseudonymise("other secret", "Exempelkommun")
    assert "exempel" not in first.lower()
