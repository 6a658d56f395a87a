"""The in-memory fold, alone and fast, against the same oracle on many more streams than the
database tests can afford: every arrival order gives the oracle's records."""

from __future__ import annotations

import json
import uuid

import pytest

from services.aggregator.counting import BASIS_OF_SOURCE, count_records
from services.aggregator.facts import facts_of
from services.aggregator.folding import State, fold
from shared.events import HuvudmanRef, Insats, InsatsClassification, ReportClassified, utcnow
from tests.unit.test_batch_apply import by_measure, oracle, stream


def empty() -> State:
    return State(records={}, retractions={}, overrides={}, reports={})


@pytest.mark.parametrize("seed", range(300))
def test_any_arrival_order_folds_to_the_oracles_records_and_counts(seed: int) -> None:
    events = stream(seed)
    want, want_counts = oracle(events)
    state = empty()
    fold(state, list({e.event_id: e for e in events}.values()), utcnow())  # the dedupe drops redeliveries
    got = {
        k: (
            r.version,
            r.status,
            r.nsp_area,
            BASIS_OF_SOURCE[r.area_source],
            tuple(json.loads(r.school_forms)),
        )
        for k, r in state.records.items()
    }
    assert got == want
    counts = count_records((facts_of(r), 1) for r in state.records.values())
    assert by_measure(counts) == want_counts


def corrected(version: int, year: int, ruc_id: str = "gu", ref: str = "gu-1") -> ReportClassified:
    """Version ``version`` of one report, with one insats."""
    return ReportClassified(
        submission_event_id=uuid.uuid4(),
        report_id=uuid.UUID(int=7),
        version=version,
        ruc_id=ruc_id,
        year=year,
        huvudman=HuvudmanRef(pseudonym="hm-0123456789abcdef", lan_kod="14", type="kommunal"),
        insatser=(Insats(ref=ref, title="t", status="started", school_forms=("grundskola",)),),
        classifications=(
            InsatsClassification(ref=ref, nsp_area="nyanlanda", source="classifier", confidence=1),
        ),
        model_version="test",
    )


@pytest.mark.parametrize("newest_first", [False, True])
@pytest.mark.parametrize(
    ("first", "second"),
    [
        (corrected(1, 2020), corrected(2, 2021)),
        (corrected(1, 2020), corrected(2, 2020, ref="gu-2")),
        (corrected(1, 2020), corrected(2, 2020, ruc_id="kau")),
    ],
    ids=["year", "ref", "ruc"],
)
def test_a_correction_that_moves_an_insats_counts_it_once_under_the_new_key(
    first: ReportClassified, second: ReportClassified, newest_first: bool
) -> None:
    state = empty()
    fold(state, [second, first] if newest_first else [first, second], utcnow())
    assert list(state.records) == [(second.ruc_id, second.year, second.insatser[0].ref)]
    assert list(state.retractions) == [(first.ruc_id, first.year, first.insatser[0].ref)]
