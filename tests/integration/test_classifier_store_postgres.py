"""The classifier store's batchings of a report's versions (``tests/unit/test_classifier_store_retract.py``)
on PostgreSQL, where a batch's two reads (its insatser by key, its reports' rows) are one statement."""

from __future__ import annotations

import pytest

from tests.unit.test_classifier_store_retract import BATCHINGS, expected, states_after


@pytest.mark.parametrize("name", BATCHINGS)
async def test_what_the_latest_version_left_out_is_retracted_however_batched_on_postgresql(
    name: str, pg_url: str
) -> None:
    assert await states_after(pg_url, name) == expected(name)
