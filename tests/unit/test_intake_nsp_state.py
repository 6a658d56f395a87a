"""An insats's NSP state as its RUC sees it: the pure rule, parametrised."""

from __future__ import annotations

from typing import Any

import pytest

from services.intake.nsp_view import (
    Classified,
    NspState,
    awaiting_completed,
    certainty_sv,
    nsp_state,
    plausible_alternatives,
)
from services.intake.report_view import UnknownInsats, with_area

SURE = Classified(3, "styrning-och-ledning", "classifier", (("styrning-och-ledning", 0.97), ("nyanlanda", 0.02)), False)
UNSURE = Classified(3, "nyanlanda", "classifier", (("nyanlanda", 0.5), ("styrning-och-ledning", 0.3)), True)


@pytest.mark.parametrize(
    ("declared", "version", "classified", "decided", "expected"),
    [
        (None, 3, None, None, NspState(None, None, (), False)),
        (None, 4, SURE, None, NspState(None, None, (), False)),  # the classifier has not seen version 4
        (None, 3, SURE, None, NspState("styrning-och-ledning", "unreviewed",
                                       ("styrning-och-ledning", "nyanlanda"), False, SURE.candidates, True)),
        (None, 3, UNSURE, None, NspState("nyanlanda", "unreviewed", ("nyanlanda", "styrning-och-ledning"),
                                         True, UNSURE.candidates, True)),
        ("elevhalsa", 4, SURE, None, NspState("elevhalsa", "declared", (), False)),  # declared at once
        ("elevhalsa", 3, SURE, None, NspState("elevhalsa", "declared", ("styrning-och-ledning", "nyanlanda"),
                                              False, SURE.candidates, True)),
        ("elevhalsa", 3, SURE, "digitalisering", NspState("digitalisering", "confirmed",
                                                          ("styrning-och-ledning", "nyanlanda"), False,
                                                          SURE.candidates, True)),
        (None, 2, Classified(5, "elevhalsa", "declared", (), False), None,
         NspState("elevhalsa", "declared", (), False, (), True)),  # a later version of the ref declared it
        (None, 9, None, "nyanlanda", NspState("nyanlanda", "confirmed", (), False)),  # decisions hold on
    ],
)  # fmt: skip
def test_an_insats_area_rests_on_the_analyst_then_the_ruc_then_the_classifier(
    declared: str | None, version: int, classified: Classified | None, decided: str | None, expected: NspState
) -> None:
    assert nsp_state(declared, version, classified, decided) == expected


def test_the_api_shape_is_the_contracts() -> None:
    state = nsp_state(None, 3, SURE, None)
    assert state.as_json() == {
        "area": "styrning-och-ledning",
        "basis": "unreviewed",
        "suggested": ["styrning-och-ledning", "nyanlanda"],
        "needs_review": False,
    }


def test_an_unlikely_alternative_is_offered_only_when_the_classifier_is_unsure() -> None:
    sure, unsure = nsp_state(None, 3, SURE, None), nsp_state(None, 3, UNSURE, None)
    assert plausible_alternatives(sure) == []
    assert plausible_alternatives(unsure) == ["styrning-och-ledning"]
    assert certainty_sv(unsure).startswith("Osäkert")
    assert certainty_sv(sure).startswith("Troligt")
    assert "0," not in certainty_sv(sure)
    assert "%" not in certainty_sv(sure)


def test_only_completed_insatser_without_any_area_await_one() -> None:
    insatser: list[dict[str, Any]] = [
        {"ref": "a", "status": "completed", "nsp_area": None},
        {"ref": "b", "status": "completed", "nsp_area": "elevhalsa"},
        {"ref": "c", "status": "started", "nsp_area": None},
        {"ref": "d", "status": "completed", "nsp_area": None},
    ]
    assert awaiting_completed(insatser, decided_refs={"d"}) == 1


def test_setting_an_area_changes_that_insats_only_and_an_unknown_ref_is_refused() -> None:
    values: dict[str, Any] = {"year": 2020, "insatser": [{"ref": "a", "nsp_area": None}, {"ref": "b", "nsp_area": None}]}
    changed = with_area(values, "b", "elevhalsa")
    assert [i["nsp_area"] for i in changed["insatser"]] == [None, "elevhalsa"]
    assert values["insatser"][1]["nsp_area"] is None  # the stored values are left alone
    with pytest.raises(UnknownInsats):
        with_area(values, "x", "elevhalsa")
