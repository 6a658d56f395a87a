import datetime as dt

import pytest

from shared.reference import ReferenceData, load_reference


def test_the_default_registry_has_18_ruc_over_21_lan() -> None:
    reference = load_reference()
    assert len(reference.ruc) == 18
    assert len(reference.lan) == 21
    served = {lan for ruc in reference.ruc for lan in ruc.lan}
    assert served == reference.lan_codes


def test_ruc_and_lan_are_many_to_many() -> None:
    reference = load_reference()
    stockholm = sorted(r.id for r in reference.ruc if "01" in r.lan)
    assert stockholm == ["sh", "su"]
    assert reference.ruc_by_id("lnu").lan == ("07", "08", "10")


@pytest.mark.parametrize(
    ("code", "day", "name"),
    [
        ("grundsarskola", dt.date(2020, 12, 31), "Grundsärskola"),
        ("grundsarskola", dt.date(2023, 7, 2), "Anpassad grundskola"),
        ("gymnasiesarskola", dt.date(2024, 1, 1), "Anpassad gymnasieskola"),
        ("sarvux", dt.date(2020, 6, 30), "Särvux"),
        ("sarvux", dt.date(2020, 7, 1), "Komvux som särskild utbildning"),
        ("grundskola", dt.date(2030, 1, 1), "Grundskola"),
    ],
)
def test_school_form_names_follow_their_validity_dates(code: str, day: dt.date, name: str) -> None:
    form = next(s for s in load_reference().school_forms if s.code == code)
    assert form.name_on(day) == name


def test_lasa_skriva_rakna_is_not_an_area_of_2020() -> None:
    reference = load_reference()
    assert "lasa-skriva-rakna" not in reference.nsp_codes_for(2020)
    assert "lasa-skriva-rakna" in reference.nsp_codes_for(2022)
    assert len(reference.nsp_codes_for(2020)) == 8


def test_a_ruc_serving_an_unknown_lan_is_rejected_at_load() -> None:
    reference = load_reference()
    broken = reference.model_dump()
    broken["ruc"][0]["lan"] = ["99"]
    with pytest.raises(ValueError, match="unknown län"):
        ReferenceData.model_validate(broken)


def test_duplicate_codes_are_rejected_at_load() -> None:
    broken = load_reference().model_dump()
    broken["school_forms"] = [*broken["school_forms"], broken["school_forms"][0]]
    with pytest.raises(ValueError, match="duplicate school form"):
        ReferenceData.model_validate(broken)
