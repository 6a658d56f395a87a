"""Apache Kafka 4.1.1 from Maven Central, run as KRaft nodes with `java -cp`: no Docker, no tarball.

``deploy/kafka/pom.xml`` pins the broker (the compose image's version) and a log4j2 SLF4J binding;
``ensure_kafka_lib`` copies them and their runtime dependencies into a cache once, with Maven.
``KafkaNode`` is one combined broker+controller; ``KafkaCluster`` is three of them (RF 3,
``min.insync.replicas=2``), as compose's ``kafka-cluster`` profile runs. Used by the tests, the
benchmarks and ``rucnet dev --broker kafka``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from rucnet.embedded_broker import free_port, port_open

KAFKA_VERSION = "4.1.1"
REPO_ROOT = Path(__file__).resolve().parents[1]
POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
MAVEN_COPY = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"

# Log to a file only, at INFO for the broker's own state changes: enough to see why a node stopped.
LOG4J2 = """\
Configuration:
  name: rucnet-kafka
  Appenders:
    File:
      name: file
      fileName: "${sys:kafka.logs.dir}/server.log"
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: file
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: org.apache.kafka.controller
        level: WARN
      - name: state.change.logger
        level: WARN
"""


def cache_dir() -> Path:
    """Where the jars live: RUCNET_KAFKA_CACHE, else the repository's ignored ``.cache``."""
    configured = os.environ.get("RUCNET_KAFKA_CACHE")
    return Path(configured) if configured else REPO_ROOT / ".cache" / "kafka" / KAFKA_VERSION


def java_available() -> bool:
    return shutil.which("java") is not None and (
        cache_dir().joinpath("lib").is_dir() or bool(shutil.which("mvn"))
    )


def ensure_kafka_lib() -> Path:
    """The broker's classpath directory, filled from Maven Central the first time."""
    lib = cache_dir() / "lib"
    if (lib / f"kafka_2.13-{KAFKA_VERSION}.jar").exists():
        return lib
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise RuntimeError(
            "Apache Kafka needs Java 17+ and Maven (apt-get install openjdk-17-jre-headless maven)"
        )
    partial = lib.with_name("lib.partial")
    shutil.rmtree(partial, ignore_errors=True)
    subprocess.run(
        [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(POM),
            MAVEN_COPY,
            "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ],
        check=True,
    )
    shutil.rmtree(lib, ignore_errors=True)
    partial.rename(lib)
    return lib


def _java(lib: Path, home: Path, *args: str, heap_mb: int = 512) -> list[str]:
    return [
        "java",
        f"-Xms{min(heap_mb, 256)}m",
        f"-Xmx{heap_mb}m",
        "-XX:+UseG1GC",
        "-XX:TieredStopAtLevel=1" if heap_mb <= 256 else "-XX:+UseStringDeduplication",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={home / 'log4j2.yaml'}",
        f"-Dkafka.logs.dir={home / 'logs'}",
        "-cp",
        f"{lib}/*",
        *args,
    ]


@dataclass
class KafkaNode:
    """One KRaft node (broker and controller in one process) whose files live under ``home``.

    The ports and the cluster id are written to ``home/server.properties`` on the first start and
    reused afterwards, so a restarted node finds its data and its quorum where it left them.
    """

    home: Path
    port: int = 0
    controller_port: int = 0
    node_id: int = 1
    voters: str = ""  # "1@127.0.0.1:p1,2@…" for a cluster; empty: this node alone
    replication: int = 1
    heap_mb: int = 512
    extra: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.home = self.home.resolve()
        saved = self._saved_properties()
        if saved:  # a node that ran before keeps its quorum's address (and its port, unless given)
            listeners = [address.rsplit(":", 1)[1] for address in saved["listeners"].split(",")]
            self.port = self.port or int(listeners[0])
            self.controller_port = self.controller_port or int(listeners[1])
        self.port = self.port or free_port()
        self.controller_port = self.controller_port or free_port()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def voter(self) -> str:
        return f"{self.node_id}@127.0.0.1:{self.controller_port}"

    @property
    def properties_path(self) -> Path:
        return self.home / "server.properties"

    def _saved_properties(self) -> dict[str, str]:
        path = self.home / "server.properties"
        if not path.exists():
            return {}
        pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        return {k.strip(): v.strip() for k, v in pairs}

    def properties(self) -> dict[str, str]:
        rf = str(self.replication)
        min_isr = "2" if self.replication >= 3 else "1"
        return {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": self.voters or self.voter,
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.home / "data"),
            # Production's durability where a cluster has the nodes for it (compose's settings).
            "default.replication.factor": rf,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": rf,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": min_isr,
            "auto.create.topics.enable": "false",
            "unclean.leader.election.enable": "false",
            # Test speed: one partition per internal topic, no join delay, a small cleaner buffer.
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.num.partitions": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.cleaner.dedupe.buffer.size": "2097152",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "background.threads": "2",
            "log.segment.bytes": str(64 * 1024 * 1024),
            **self.extra,
        }

    def _write_config(self, cluster_id: str) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(exist_ok=True)
        (self.home / "log4j2.yaml").write_text(LOG4J2)
        lines = [f"{k}={v}" for k, v in self.properties().items()]
        self.properties_path.write_text("\n".join(lines) + "\n")
        if (self.home / "data" / "meta.properties").exists():
            return  # formatted before: its data and cluster id stay
        lib = ensure_kafka_lib()
        subprocess.run(
            _java(lib, self.home, "kafka.tools.StorageTool", "format", "-t", cluster_id,
                  "-c", str(self.properties_path), "--ignore-formatted", heap_mb=256),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip

    def launch(self, cluster_id: str | None = None) -> None:
        """Format if new, then start the process; does not wait (see ``wait_ready``)."""
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is taken: set RUCNET_KAFKA_PORT to a free port")
        self._write_config(cluster_id or new_cluster_id())
        lib = ensure_kafka_lib()
        out = open(self.home / "logs" / "stdout.log", "ab")  # noqa: SIM115 - the child holds it
        self.process = subprocess.Popen(
            _java(lib, self.home, "kafka.Kafka", str(self.properties_path), heap_mb=self.heap_mb),
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        out.close()

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        """Until the broker's listener accepts connections and its log says it started."""
        deadline = time.monotonic() + timeout_s
        log = self.home / "logs" / "server.log"
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"Kafka node {self.node_id} exited: {self.log_tail()}")
            if (
                port_open(self.port)
                and log.exists()
                and "Kafka Server started" in log.read_text(errors="replace")
            ):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"Kafka node {self.node_id} not ready in {timeout_s:.0f} s: {self.log_tail()}"
                )
            time.sleep(0.1)

    def start(self, timeout_s: float = 90.0) -> None:
        self._truncate_log()
        self.launch()
        try:
            self.wait_ready(timeout_s)
        except BaseException:
            self.kill()  # never leave a half-started broker behind
            raise

    def _truncate_log(self) -> None:
        log = self.home / "logs" / "server.log"
        if log.exists():  # "started" must come from this run
            log.rename(log.with_suffix(f".{int(time.time() * 1000)}.log"))

    def log_tail(self, chars: int = 3000) -> str:
        for name in ("server.log", "stdout.log"):
            path = self.home / "logs" / name
            if path.exists():
                return path.read_text(errors="replace")[-chars:]
        return "(no log)"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM runs the broker's shutdown hook (a clean shutdown); SIGKILL after the timeout."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a paused node cannot shut down
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (StorageTool random-uuid)."""
    import base64

    while True:  # StorageTool's argument parser takes an id starting with "-" for an option
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


@dataclass
class KafkaCluster:
    """Three KRaft nodes, each broker and controller, with static voters: production's replication."""

    home: Path
    size: int = 3
    heap_mb: int = 384
    nodes: list[KafkaNode] = field(default_factory=list)

    def __post_init__(self) -> None:
        ports = [(free_port(), free_port()) for _ in range(self.size)]
        voters = ",".join(f"{i + 1}@127.0.0.1:{c}" for i, (_, c) in enumerate(ports))
        self.nodes = [
            KafkaNode(self.home / f"node-{i + 1}", port=p, controller_port=c, node_id=i + 1, voters=voters,
                      replication=self.size, heap_mb=self.heap_mb)
            for i, (p, c) in enumerate(ports)
        ]  # fmt: skip

    @property
    def bootstrap(self) -> str:
        return ",".join(n.bootstrap for n in self.nodes)

    def start(self, timeout_s: float = 120.0) -> None:
        cluster_id = new_cluster_id()
        for node in self.nodes:
            node._truncate_log()
            node.launch(cluster_id)
        for node in self.nodes:
            node.wait_ready(timeout_s)

    def node_by_id(self, node_id: int) -> KafkaNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    def stop(self) -> None:
        for node in self.nodes:
            node.signal(signal.SIGCONT)
            node.signal(signal.SIGTERM)
        for node in self.nodes:
            node.stop()
