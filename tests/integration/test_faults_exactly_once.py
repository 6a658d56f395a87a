"""10 000 insatser (with corrections and overrides) streamed through a three-node Apache Kafka cluster
(RF 3, min.insync.replicas=2, idempotent producers, acks=all) while, in turn, an aggregator and a
classifier are SIGKILLed and restarted, the leader of the busiest partition is killed -9, a broker
is paused for 10 s, the whole cluster is restarted once and PostgreSQL is restarted. Afterwards
verify is clean, the national counts are exactly the final state's, and the dead letters are empty."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from rucnet.kafka_node import KafkaCluster
from shared import topics
from shared.auth import create_token
from shared.db import create_engine, session_factory
from shared.topic_reader import topic_partitions
from tests.conftest import local_postgres
from tests.integration.ops_support import (
    Services,
    eventually,
    make_stream,
    prepare_classifier_model,
    publish_all,
    records_on_topic,
    run_cli,
    service_env,
    wait_healthy,
)
from tests.integration.test_faults_scale_out import national

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
BROKER_PAUSE_S = 10.0


async def busiest_partition_leader(bootstrap: str) -> int:
    """The node that leads the submitted-reports partition holding the most messages."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, [topics.REPORTS_SUBMITTED])
        ends = await consumer.end_offsets(partitions)
        busiest = max(partitions, key=lambda tp: ends[tp])
        cluster = await consumer._client.fetch_all_metadata()
        leader = cluster.leader_for_partition(busiest)
    finally:
        await consumer.stop()
    assert leader is not None
    assert leader >= 0
    return int(leader)


async def restart_postgresql() -> None:
    cluster = local_postgres()
    if cluster is None:
        pytest.skip("RUCNET_TEST_PG_ADMIN_DSN names a server this test did not start and must not restart")
    await asyncio.to_thread(cluster.restart)


async def test_ten_thousand_insatser_are_counted_exactly_once_through_kills_pauses_and_restarts(
    kafka_cluster: KafkaCluster, pg_url: str, tmp_path: Path
) -> None:
    stream = make_stream(10_000, seed=2020)
    bootstrap = kafka_cluster.bootstrap
    env = service_env(bootstrap, pg_url, tmp_path)
    prepare_classifier_model(tmp_path)
    services = Services()
    published = 0

    def progress(n: int) -> None:
        nonlocal published
        published = n

    async def reached(fraction: float) -> None:
        await eventually(
            lambda: asyncio.sleep(0, published), lambda n: n >= fraction * len(stream.events), 120
        )

    try:
        aggregators = services.start("aggregator", env, tmp_path, 2)
        classifiers = services.start("classifier", env, tmp_path, 2)
        await asyncio.to_thread(wait_healthy, [*aggregators, *classifiers])
        publisher = asyncio.create_task(
            publish_all(bootstrap, stream.events, chunk=100, pause_s=0.6, progress=progress)
        )
        await reached(0.15)
        aggregators[0].kill(signal.SIGKILL)
        aggregators[0].start()
        await reached(0.35)
        classifiers[0].kill(signal.SIGKILL)
        classifiers[0].start()
        await reached(0.45)
        leader = kafka_cluster.node_by_id(await busiest_partition_leader(bootstrap))
        leader.kill()  # kill -9: the partitions it led move to the in-sync followers
        await reached(0.55)
        await asyncio.to_thread(leader.start)
        paused = kafka_cluster.nodes[-1]
        paused.signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(BROKER_PAUSE_S)  # the fault itself lasts this long; nothing waits on it
        finally:
            paused.signal(signal.SIGCONT)
        await reached(0.7)
        await asyncio.to_thread(kafka_cluster.stop)  # the whole cluster, once: a clean shutdown
        await asyncio.to_thread(kafka_cluster.start)
        await reached(0.8)
        await restart_postgresql()
        await asyncio.wait_for(publisher, timeout=120)

        for year in (2019, 2020):
            want = stream.expected(year)
            got = await eventually(
                lambda y=year: national(pg_url, y), lambda g, w=want: g == w, timeout_s=150
            )
            assert got == want, f"{year}: lost or double-counted"

        engine = create_engine(pg_url)
        async with session_factory(engine)() as session:
            token = await create_token(session, "skolverket", None)
        await engine.dispose()
        await asyncio.to_thread(wait_healthy, aggregators[:1])
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{aggregators[0].port}") as client:
            body = (
                await client.get(
                    "/api/v1/stats/national",
                    params={"year": 2020},
                    headers={"Authorization": f"Bearer {token}"},
                )
            ).json()
        want = stream.expected(2020)
        assert body["started"]["insatser"] == want["started"]["insatser"]
        assert {k: v for k, v in body["completed"]["by_nsp"].items() if v} == want["completed"]["by_nsp"]
    finally:
        services.stop_all()
    verified = await asyncio.to_thread(run_cli, "aggregates", "verify", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "clean" in verified.stdout
    letters = await records_on_topic(bootstrap, topics.DEAD_LETTERS)
    assert letters == [], "nothing in this stream is poison"
