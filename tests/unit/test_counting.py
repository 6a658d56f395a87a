import random

import pytest

from services.aggregator.counting import (
    CountKey,
    InsatsFacts,
    add_into,
    count_deltas,
    count_records,
    effective_area,
    net_deltas,
    nonzero,
)


def facts(status: str = "started", forms: tuple[str, ...] = ("grundskola",), area: str = "nyanlanda",
          year: int = 2020, source: str = "classifier") -> InsatsFacts:  # fmt: skip
    return InsatsFacts("gu", year, "14", status, forms, area, source)


def key(table: str, status: str, dimension: str = "", year: int = 2020) -> CountKey:
    return CountKey(table, year, "gu", "14", status, (dimension,) if dimension else ())  # type: ignore[arg-type]


def national(deltas: dict[CountKey, tuple[int, ...]]) -> dict[CountKey, int]:
    """The national tables' counts (the skolform × NSP and NSP × basis cells have tests of their own)."""
    return {k: n[0] for k, n in deltas.items() if k.table in ("insats", "school_form", "nsp")}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            None,
            facts(forms=("grundskola", "gymnasieskola")),
            {key("insats", "started"): 1, key("nsp", "started", "nyanlanda"): 1,
             key("school_form", "started", "grundskola"): 1, key("school_form", "started", "gymnasieskola"): 1},
            id="a new insats adds one to each of its school forms",
        ),
        pytest.param(
            facts(forms=("forskola",)),
            facts(forms=("grundskola",)),
            {key("school_form", "started", "forskola"): -1, key("school_form", "started", "grundskola"): 1},
            id="a correction moves the counts, never adds",
        ),
        pytest.param(
            facts(status="started"),
            facts(status="completed", area="styrning-och-ledning"),
            {key("insats", "started"): -1, key("insats", "completed"): 1,
             key("nsp", "started", "nyanlanda"): -1, key("nsp", "completed", "styrning-och-ledning"): 1,
             key("school_form", "started", "grundskola"): -1, key("school_form", "completed", "grundskola"): 1},
            id="started to completed",
        ),
        pytest.param(facts(), facts(), {}, id="a duplicate changes nothing"),
        pytest.param(
            facts(status="completed"),
            facts(status="completed", area="elevhalsa"),
            {key("nsp", "completed", "nyanlanda"): -1, key("nsp", "completed", "elevhalsa"): 1},
            id="an override moves one NSP count",
        ),
    ],
)  # fmt: skip
def test_count_deltas(old: InsatsFacts | None, new: InsatsFacts, expected: dict[CountKey, int]) -> None:
    assert national(count_deltas(old, new)) == expected


def test_an_insats_counts_once_in_each_cell_of_its_school_forms_and_its_area() -> None:
    cells = count_deltas(None, facts(forms=("grundskola", "komvux", "grundskola"), area="elevhalsa"))
    crossed = {k.dimensions: n for k, n in cells.items() if k.table == "school_form_nsp"}
    assert crossed == {("grundskola", "elevhalsa"): (1,), ("komvux", "elevhalsa"): (1,)}


@pytest.mark.parametrize(
    ("source", "basis"), [("classifier", "unreviewed"), ("declared", "declared"), ("override", "confirmed")]
)
def test_an_insats_counts_in_its_area_under_what_the_area_rests_on(source: str, basis: str) -> None:
    cells = count_deltas(None, facts(status="completed", source=source))
    assert {k.dimensions: n for k, n in cells.items() if k.table == "nsp_basis"} == {
        ("nyanlanda", basis): (1,)
    }


def test_an_analysts_accept_moves_the_insats_to_confirmed_and_leaves_the_area_counts() -> None:
    tagged, accepted = facts(status="completed"), facts(status="completed", source="override")
    moved = count_deltas(tagged, accepted)
    assert {k.dimensions[2] for k in moved if k.table == "classification"} == {"classifier", "override"}
    assert {k: v for k, v in moved.items() if k.table != "classification"} == {
        key("nsp_basis", "completed")._replace(dimensions=("nyanlanda", "unreviewed")): (-1,),
        key("nsp_basis", "completed")._replace(dimensions=("nyanlanda", "confirmed")): (1,),
    }


def test_a_retracted_insats_takes_back_everything_it_added() -> None:
    added = count_deltas(None, facts(forms=("grundskola", "komvux")))
    retracted = count_deltas(facts(forms=("grundskola", "komvux")), None)
    assert retracted == {k: tuple(-n for n in v) for k, v in added.items()}


def test_a_group_of_alike_records_counts_what_each_counts() -> None:
    one = facts(forms=("grundskola", "komvux"))
    assert count_records([(one, 3)]) == count_records([(one, 1)] * 3)


def test_deltas_of_any_chain_of_versions_sum_to_the_last_version() -> None:
    versions = [
        facts(),
        facts(forms=("forskola", "grundskola")),
        facts(status="completed"),
        facts(area="elevhalsa"),
    ]
    total: dict[CountKey, tuple[int, ...]] = {}
    previous = None
    for version in versions:
        add_into(total, count_deltas(previous, version).items())
        previous = version
    assert nonzero(total) == count_deltas(None, versions[-1])


@pytest.mark.parametrize(
    ("override", "declared", "classified", "expected"),
    [(None, None, "nyanlanda", "nyanlanda"), (None, "elevhalsa", "nyanlanda", "elevhalsa"),
     ("digitalisering", "elevhalsa", "nyanlanda", "digitalisering")],
)  # fmt: skip
def test_override_beats_declared_beats_classified(
    override: str | None, declared: str | None, classified: str, expected: str
) -> None:
    assert effective_area(override, declared, classified) == expected


def test_a_classification_cell_sums_its_confidences_in_thousandths() -> None:
    sure, unsure = facts()._replace(confidence_milli=930), facts()._replace(confidence_milli=410)
    cells = count_records([(sure, 1), (unsure, 1)], ["classification"])
    assert list(cells.values()) == [(2, 1340)]


def test_a_batch_of_changes_counted_together_is_the_sum_of_each_counted_alone() -> None:
    rng = random.Random(26)
    pool = [
        facts(status, forms, area, source=source)._replace(
            confidence_milli=rng.choice((0, 350, 999)), participants=rng.choice((0, 7, 25))
        )
        for status in ("started", "completed")
        for forms in (("grundskola",), ("forskola", "grundskola"))
        for area in ("nyanlanda", "elevhalsa")
        for source in ("classifier", "override")
    ]
    for _ in range(50):
        changes = [(rng.choice([None, *pool]), rng.choice([None, *pool])) for _ in range(rng.randint(0, 30))]
        alone: dict[CountKey, tuple[int, ...]] = {}
        for old, new in changes:
            add_into(alone, count_deltas(old, new).items())
        assert net_deltas(changes) == nonzero(alone)
