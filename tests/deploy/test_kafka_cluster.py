"""Profile `kafka-cluster`: three KRaft brokers as .env.example describes them, and the 2020 demo
counted through them (a fresh deployment: the quorum is chosen before the first start)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.deploy.deployment import Deployment, timed
from tests.deploy.pipeline import create_demo_tokens, national, run_demo

CLUSTER_ENV = {  # the block of .env.example, uncommented
    "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093",
    "KAFKA_REPLICATION_FACTOR": "3",
    "KAFKA_MIN_INSYNC_REPLICAS": "2",
    "RUCNET_KAFKA_BOOTSTRAP": "kafka:9092,kafka-2:9092,kafka-3:9092",
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = Deployment(tmp_path_factory.mktemp("cluster"), profiles=("kafka-cluster",), extra_env=CLUSTER_ENV)
    d.down(volumes=True)
    timed("up -d (kafka-cluster)")(d.up)
    timed("until every service is healthy (kafka-cluster)")(d.wait_healthy)
    yield d
    timed("down -v (kafka-cluster)")(lambda: d.down(volumes=True))


def test_three_brokers_are_healthy_and_every_topic_has_three_replicas(cluster: Deployment) -> None:
    for broker in ("kafka", "kafka-2", "kafka-3"):
        assert cluster.health(broker) == "healthy"
    described = cluster.compose(
        "exec", "-T", "kafka", "/opt/kafka/bin/kafka-topics.sh", "--bootstrap-server", "kafka:9092",
        "--describe", "--topic", "rucnet.reports.submitted.v1",
    ).stdout  # fmt: skip
    assert "ReplicationFactor: 3" in described, described
    assert "min.insync.replicas=2" in described, described


def test_the_2020_demo_counts_through_the_three_brokers(
    cluster: Deployment, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("cluster-tokens") / "demo-tokens.json"
    created = create_demo_tokens(cluster, path)
    result = timed("rucnet demo 2020 (kafka-cluster)")(lambda: run_demo(cluster, path))
    assert result.returncode == 0, result.stderr + result.stdout
    assert national(cluster, created["skolverket"], 2020) == (172, 141)
