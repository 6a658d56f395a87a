"""`rucnet dev`: the broker, the schema and the three services as child processes, supervised.

The broker is the embedded Tansu (memory only: after it restarts, intake sends everything again) or,
with ``--broker kafka``, an Apache Kafka 4.1.1 node whose data lives in the data dir and survives a
restart: then a broker that died is restarted alone and the services carry on.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from rucnet.datadir import tighten
from rucnet.embedded_broker import EmbeddedBroker
from rucnet.kafka_node import KafkaNode
from rucnet.migrate import upgrade
from shared.broker import ensure_topics
from shared.settings import RucnetSettings

SERVICES = ("intake", "classifier", "aggregator")
BrokerKind = Literal["tansu", "kafka"]


class Broker(Protocol):
    def start(self, timeout_s: float = ...) -> None: ...
    def alive(self) -> bool: ...
    def stop(self) -> None: ...


class DevSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RUCNET_", extra="ignore")

    data_dir: Path = Path(".rucnet")
    kafka_port: int = 9092
    intake_port: int = 8000
    classifier_port: int = 8001
    aggregator_port: int = 8002
    fetch_max_wait_ms: int = Field(default=20, alias="RUCNET_KAFKA_FETCH_MAX_WAIT_MS")


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0

    def start(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "rucnet", self.name], env=env)
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)


def _stop_all(children: list[Child], timeout_s: float = 15.0) -> None:
    for child in children:
        child.stop()
    deadline = time.monotonic() + timeout_s
    for child in children:
        if child.process is None:
            continue
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()


def _broker(kind: BrokerKind, port: int, data_dir: Path) -> Broker:
    if kind == "kafka":
        return KafkaNode(data_dir / "kafka", port=port)
    return EmbeddedBroker(port, data_dir / "broker.log")


def run_dev(kind: BrokerKind = "tansu") -> int:
    dev = DevSettings()
    data_dir = dev.data_dir.resolve()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    tighten(data_dir)
    durable = kind == "kafka"  # keeps what it was sent across its own restarts
    base_env = dict(os.environ) | {
        "RUCNET_DATA_DIR": str(data_dir),
        "RUCNET_KAFKA_BOOTSTRAP": f"127.0.0.1:{dev.kafka_port}",
        "RUCNET_KAFKA_IDEMPOTENCE": str(durable).lower(),  # Tansu has no idempotent producer
        "RUCNET_KAFKA_FETCH_MAX_WAIT_MS": str(dev.fetch_max_wait_ms),
        "RUCNET_INTAKE_PORT": str(dev.intake_port),
        "RUCNET_CLASSIFIER_PORT": str(dev.classifier_port),
        "RUCNET_AGGREGATOR_PORT": str(dev.aggregator_port),
    }
    os.environ.update(base_env)
    settings = RucnetSettings()
    settings.pseudonym_key()  # created once, before three processes could race for it
    upgrade(settings.db_url)

    broker = _broker(kind, dev.kafka_port, data_dir)
    children = [Child(name) for name in SERVICES]
    stopping = False

    def _on_signal(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    def start_broker() -> None:
        broker.start()
        asyncio.run(ensure_topics(settings))

    def start_child(child: Child, fresh_broker: bool) -> None:
        # After the broker lost its memory, intake re-sends what it stored: nothing accepted is lost.
        env = base_env | {"RUCNET_REPUBLISH_ON_START": str(fresh_broker and not durable).lower()}
        child.start(env)

    try:
        start_broker()
        for child in children:
            start_child(child, fresh_broker=True)
        print(f"rucnet dev: data in {data_dir}", flush=True)
        print(
            f"  broker      127.0.0.1:{dev.kafka_port} ({'Apache Kafka' if durable else 'Tansu'})", flush=True
        )
        for child, port in zip(
            children, (dev.intake_port, dev.classifier_port, dev.aggregator_port), strict=True
        ):
            print(f"  {child.name:<11} http://127.0.0.1:{port}", flush=True)
        while not stopping:
            time.sleep(0.3)
            if not broker.alive() and durable:
                print("rucnet dev: broker died, restarting it (the services reconnect)", flush=True)
                broker.stop()
                start_broker()
                continue
            if not broker.alive():
                print("rucnet dev: broker died, restarting it and the services", flush=True)
                _stop_all(children)
                broker.stop()
                start_broker()
                for child in children:
                    start_child(child, fresh_broker=True)
                continue
            for child in children:
                if child.alive() or stopping:
                    continue
                quick = time.monotonic() - child.started_at < 10
                child.failures = child.failures + 1 if quick else 0
                time.sleep(min(10.0, 0.5 * 2 ** min(child.failures, 5)) if quick else 0)
                print(f"rucnet dev: {child.name} exited, restarting", flush=True)
                start_child(child, fresh_broker=False)
    finally:
        _stop_all(children)
        broker.stop()
    return 0
