import pytest

from services.aggregator.counting import CountKey, InsatsFacts, count_deltas, effective_area


def facts(status: str = "started", forms: tuple[str, ...] = ("grundskola",), area: str = "nyanlanda",
          year: int = 2020) -> InsatsFacts:  # fmt: skip
    return InsatsFacts("gu", year, "14", status, forms, area)


def key(table: str, status: str, dimension: str = "", year: int = 2020) -> CountKey:
    return CountKey(table, year, "gu", "14", status, dimension)  # type: ignore[arg-type]


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
    assert count_deltas(old, new) == expected


def test_deltas_of_any_chain_of_versions_sum_to_the_last_version() -> None:
    versions = [
        facts(),
        facts(forms=("forskola", "grundskola")),
        facts(status="completed"),
        facts(area="elevhalsa"),
    ]
    total: dict[CountKey, int] = {}
    previous = None
    for version in versions:
        for k, n in count_deltas(previous, version).items():
            total[k] = total.get(k, 0) + n
        previous = version
    assert {k: n for k, n in total.items() if n} == count_deltas(None, versions[-1])


@pytest.mark.parametrize(
    ("override", "declared", "classified", "expected"),
    [(None, None, "nyanlanda", "nyanlanda"), (None, "elevhalsa", "nyanlanda", "elevhalsa"),
     ("digitalisering", "elevhalsa", "nyanlanda", "digitalisering")],
)  # fmt: skip
def test_override_beats_declared_beats_classified(
    override: str | None, declared: str | None, classified: str, expected: str
) -> None:
    assert effective_area(override, declared, classified) == expected
