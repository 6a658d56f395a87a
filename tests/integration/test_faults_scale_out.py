"""Three aggregator and three classifier replicas in their groups, over partitioned topics: a replica
leaves and another joins mid-stream, and the counts still come out exact."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from rucnet.kafka_node import KafkaNode
from services.aggregator.queries import national_counts
from shared.db import create_engine, session_factory
from tests.integration.ops_support import (
    Services,
    eventually,
    make_stream,
    prepare_classifier_model,
    publish_all,
    run_cli,
    service_env,
    wait_healthy,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


async def national(url: str, year: int) -> dict[str, Any]:
    """National counts straight from the tables, zeros left out (the expected side has none)."""
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            c = await national_counts(session, year)
    except OSError:  # PostgreSQL restarting: ask again
        return {}
    finally:
        await engine.dispose()
    return {
        "started": {
            "insatser": c.started_total,
            "by_school_form": {k: v for k, v in c.started_by_school_form.items() if v},
        },
        "completed": {
            "insatser": c.completed_total,
            "by_nsp": {k: v for k, v in c.completed_by_nsp.items() if v},
        },
    }


async def test_three_replicas_each_count_exactly_while_one_leaves_and_one_joins(
    kafka_node: KafkaNode, pg_url: str, tmp_path: Path
) -> None:
    stream = make_stream(3000, seed=11)
    env = service_env(kafka_node.bootstrap, pg_url, tmp_path)
    prepare_classifier_model(tmp_path)
    services = Services()
    try:
        aggregators = services.start("aggregator", env, tmp_path, 3)
        classifiers = services.start("classifier", env, tmp_path, 3)
        wait_healthy([*aggregators, *classifiers])
        half = len(stream.events) // 2
        await publish_all(kafka_node.bootstrap, stream.events[:half])
        aggregators[0].kill(signal.SIGTERM)  # leaves its group cleanly: a rebalance
        classifiers[0].kill(signal.SIGTERM)
        services.start("aggregator", env, tmp_path)  # and a new replica joins: another one
        services.start("classifier", env, tmp_path)
        await publish_all(kafka_node.bootstrap, stream.events[half:])
        for year in (2019, 2020):
            want = stream.expected(year)
            got = await eventually(
                lambda y=year: national(pg_url, y), lambda g, w=want: g == w, timeout_s=120
            )
            assert got == want
    finally:
        services.stop_all()
    verified = run_cli("aggregates", "verify", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "clean" in verified.stdout
