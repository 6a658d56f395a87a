"""Support for the fault, dead-letter, rebuild and read-API tests: a synthetic stream whose final
state is known (so the expected counts are a pure function of what was sent), service processes
started and killed by the test, and bounded waiting."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from rucnet.embedded_broker import free_port
from services.aggregator.counting import effective_area
from shared import topics
from shared.events import (
    ClassificationOverridden,
    HuvudmanRef,
    Insats,
    InsatsClassification,
    ReportClassified,
    ReportSubmitted,
    classified_report,
)
from shared.reference import load_reference
from tests.conftest import TANSU_BOOTSTRAPS

T = TypeVar("T")
YEARS = (2019, 2020)
TITLES = (
    "Språkutvecklande undervisning och studiehandledning på modersmålet",
    "Rutiner för mottagande och kartläggning av nyanlända elever",
    "Formativ bedömning och sambedömning i ämneslag",
    "Elevhälsoteamets arbete med traumamedvetet förhållningssätt",
    "Digitala verktyg för fjärrundervisning",
    "Uppföljning och resultatanalys i kvalitetsdialoger",
)


@dataclass
class Stream:
    """Events in publishing order and the final state they add up to."""

    events: list[tuple[str, bytes, bytes]] = field(default_factory=list)  # topic, key, value
    final: dict[tuple[str, int, str], tuple[int, str, Insats, str]] = field(default_factory=dict)
    overrides: dict[tuple[str, int, str], ClassificationOverridden] = field(default_factory=dict)
    insatser_sent: int = 0

    def expected(self, year: int) -> dict[str, Any]:
        """National counts of the final state: latest version, the last override over the declared area."""
        started: Counter[str] = Counter()
        completed: Counter[str] = Counter()
        totals: Counter[str] = Counter()
        for key, (_version, _lan, insats, _pseudonym) in self.final.items():
            if key[1] != year:
                continue
            totals[insats.status] += 1
            if insats.status == "started":
                started.update(insats.school_forms)
            else:
                override = self.overrides.get(key)
                assert insats.nsp_area is not None, "completed insatser declare an area: expected stays pure"
                completed[effective_area(override.nsp_area if override else None, insats.nsp_area, "")] += 1
        return {
            "started": {"insatser": totals["started"], "by_school_form": dict(started)},
            "completed": {"insatser": totals["completed"], "by_nsp": dict(completed)},
        }


def _insats(rng: random.Random, ref: str, year: int, areas: tuple[str, ...], forms: list[str]) -> Insats:
    status = rng.choice(("started", "completed"))
    declared = rng.choice(areas) if status == "completed" or rng.random() < 0.5 else None
    return Insats(
        ref=ref,
        title=rng.choice(TITLES),
        status=status,  # type: ignore[arg-type]
        school_forms=tuple(sorted(rng.sample(forms, rng.randint(1, 3)))),
        expected_effects="Ökad måluppfyllelse",
        actual_effects="Bättre rutiner" if status == "completed" else "",
        nsp_area=declared,
    )


def make_stream(
    n_insatser: int, seed: int = 7, correction_rate: float = 0.15, override_rate: float = 0.06
) -> Stream:
    """Reports of 1–20 insatser across every RUC and two years; corrections resubmit earlier refs
    with a higher version; analyst overrides (some before their report) are published directly."""
    rng = random.Random(seed)
    reference = load_reference()
    forms = sorted(reference.school_form_codes)
    stream, version, made = Stream(), 0, 0
    refs: list[tuple[str, int, str, str, str]] = []
    base = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
    while made < n_insatser:
        ruc = rng.choice(reference.ruc)
        year = rng.choice(YEARS)
        lan = rng.choice(ruc.lan)
        pseudonym = f"hm-{rng.getrandbits(64):016x}"
        areas = reference.nsp_codes_for(year)
        insatser = []
        for _ in range(min(rng.randint(1, 20), n_insatser - made)):
            made += 1
            ref = f"{ruc.id}-{year}-{made:06d}"
            insatser.append(_insats(rng, ref, year, areas, forms))
            refs.append((ruc.id, year, ref, lan, pseudonym))
        earlier = refs[: -len(insatser)]
        wanted = sum(rng.random() < correction_rate for _ in insatser)
        corrections = rng.sample(earlier, k=min(wanted, len(earlier)))
        for ruc_id, c_year, ref, c_lan, c_pseudo in corrections:  # resubmitted in a report of their own
            version += 1
            fixed = _insats(rng, ref, c_year, reference.nsp_codes_for(c_year), forms)
            _submit(stream, version, ruc_id, c_year, c_lan, c_pseudo, [fixed])
        version += 1
        _submit(stream, version, ruc.id, year, lan, pseudonym, insatser)
        for ruc_id, o_year, ref, _lan, _p in rng.sample(
            refs, k=sum(rng.random() < override_rate for _ in insatser)
        ):
            at = base + dt.timedelta(seconds=rng.randint(0, 10_000_000))
            _override(stream, ruc_id, o_year, ref, rng.choice(reference.nsp_codes_for(o_year)), at)
        if rng.random() < override_rate:  # an override that arrives before the report it is about
            ahead = f"{ruc.id}-{year}-{made + 1:06d}"
            _override(stream, ruc.id, year, ahead, rng.choice(areas), base)
    return stream


def _submit(
    stream: Stream, version: int, ruc: str, year: int, lan: str, pseudo: str, insatser: list[Insats]
) -> None:
    event = ReportSubmitted(
        report_id=uuid.uuid4(),
        version=version,
        ruc_id=ruc,
        year=year,
        huvudman=HuvudmanRef(pseudonym=pseudo, lan_kod=lan, type="kommunal"),
        insatser=tuple(insatser),
    )
    stream.events.append((topics.REPORTS_SUBMITTED, ruc.encode(), event.model_dump_json().encode()))
    stream.insatser_sent += len(insatser)
    for insats in insatser:
        key = (ruc, year, insats.ref)
        if key not in stream.final or stream.final[key][0] < version:
            stream.final[key] = (version, lan, insats, pseudo)


def _override(stream: Stream, ruc: str, year: int, ref: str, area: str, at: dt.datetime) -> None:
    event = ClassificationOverridden(
        ruc_id=ruc, year=year, ref=ref, nsp_area=area, reason="granskning", analyst="test", occurred_at=at
    )
    key = (ruc, year, ref)
    current = stream.overrides.get(key)
    if current is None or (at, str(event.event_id)) >= (current.occurred_at, str(current.event_id)):
        stream.overrides[key] = event
    stream.events.append((topics.CLASSIFICATIONS_OVERRIDDEN, ruc.encode(), event.model_dump_json().encode()))


async def publish_all(
    bootstrap: str,
    events: list[tuple[str, bytes, bytes]],
    chunk: int = 200,
    pause_s: float = 0.0,
    progress: Callable[[int], None] | None = None,
) -> None:
    """At-least-once publishing that rides out a paused or restarted broker: a failed chunk is sent
    again, by a new producer (an idempotent one can be left unusable, OutOfOrderSequenceNumber,
    after its partition's leader was killed)."""

    def new_producer() -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=bootstrap not in TANSU_BOOTSTRAPS,
            linger_ms=5,
            request_timeout_ms=8000,
        )

    producer = new_producer()
    await producer.start()
    try:
        for start in range(0, len(events), chunk):
            part = events[start : start + chunk]
            while True:
                try:
                    futures = [await producer.send(t, v, key=k) for t, k, v in part]
                    await asyncio.gather(*futures)
                    break
                except KafkaError:
                    with contextlib.suppress(KafkaError):
                        await producer.stop()
                    await asyncio.sleep(0.5)
                    producer = new_producer()
                    while True:
                        try:
                            await producer.start()
                            break
                        except KafkaError:
                            with contextlib.suppress(KafkaError):
                                await producer.stop()
                            await asyncio.sleep(0.5)
            if progress:
                progress(start + len(part))
            if pause_s:
                await asyncio.sleep(pause_s)
    finally:
        await producer.stop()


def service_env(bootstrap: str, database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return dict(os.environ) | {
        "RUCNET_KAFKA_BOOTSTRAP": bootstrap,
        "RUCNET_DATABASE_URL": database_url,
        "RUCNET_DATA_DIR": str(data_dir),
        "RUCNET_KAFKA_IDEMPOTENCE": str(bootstrap not in TANSU_BOOTSTRAPS).lower(),
        "RUCNET_KAFKA_FETCH_MAX_WAIT_MS": "20",
        "RUCNET_PSEUDONYM_SECRET": "test-secret-of-at-least-32-characters",
        "RUCNET_RETRY_BACKOFF_S": "0.3",
        "RUCNET_LOG_LEVEL": "WARNING",
        **extra,
    }


@dataclass
class Service:
    """One `rucnet aggregator|classifier` process on its own port, restartable."""

    name: str
    env: dict[str, str]
    log_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> Service:
        self.port = free_port()
        env = self.env | {f"RUCNET_{self.name.upper()}_PORT": str(self.port)}
        self.starts += 1
        log = open(self.log_dir / f"{self.name}-{self.port}-{self.starts}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rucnet", self.name], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.1)


async def eventually(probe: Callable[[], Awaitable[T]], until: Callable[[T], bool], timeout_s: float) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = await probe()
        if until(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)


@dataclass
class Services:
    items: list[Service] = field(default_factory=list)

    def start(self, name: str, env: dict[str, str], log_dir: Path, count: int = 1) -> list[Service]:
        started = [Service(name, env, log_dir).start() for _ in range(count)]
        self.items += started
        return started

    def stop_all(self) -> None:
        for service in self.items:
            service.kill(signal.SIGTERM)

    def __iter__(self) -> Iterator[Service]:
        return iter(self.items)


def run_cli(*args: str, env: dict[str, str], timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rucnet", *args], env=env, capture_output=True, text=True, timeout=timeout_s
    )


def prepare_classifier_model(data_dir: Path) -> None:
    """Train the classifier's model once into the shared data dir, so replicas load instead of
    each training it at start (several trainings at once would swamp a small machine)."""
    try:
        from services.classifier.registry import load_or_train
    except ImportError:  # a classifier without a trained model: nothing to prepare
        return
    load_or_train(data_dir, load_reference())


def wait_healthy(services: list[Service], timeout_s: float = 180) -> None:
    wait_until(lambda: all(s.healthy() for s in services), timeout_s, "healthy services")


def classified(
    ruc: str = "gu", year: int = 2020, version: int = 1, lan: str = "14", **insats: Any
) -> ReportClassified:
    """A classified report of one insats, as the classifier would publish it (area: declared)."""
    fields: dict[str, Any] = {
        "ref": f"{ruc}-{year}-{uuid.uuid4().hex[:8]}",
        "title": "Studiehandledning på modersmålet",
        "status": "completed",
        "school_forms": ("grundskola",),
        "nsp_area": "nyanlanda",
    } | insats
    item = Insats.model_validate(fields)
    area = item.nsp_area or "nyanlanda"
    return ReportClassified(
        submission_event_id=uuid.uuid4(),
        report_id=uuid.uuid4(),
        version=version,
        ruc_id=ruc,
        year=year,
        huvudman=HuvudmanRef(pseudonym="hm-0123456789abcdef", lan_kod=lan, type="kommunal"),
        insatser=(item,),
        classifications=(
            InsatsClassification(ref=item.ref, nsp_area=area, source="declared", confidence=1.0),
        ),
        model_version="test",
    )


def classified_events(stream: Stream) -> list[tuple[str, bytes, bytes]]:
    """The stream as the classifier would have turned it into: every area declared or classified
    by a stand-in (started insatser without a declared area get nyanlanda), overrides unchanged."""
    out = []
    for topic, key, value in stream.events:
        if topic != topics.REPORTS_SUBMITTED:
            out.append((topic, key, value))
            continue
        s = ReportSubmitted.model_validate_json(value)
        event = classified_report(
            s,
            tuple(
                InsatsClassification(
                    ref=i.ref,
                    nsp_area=i.nsp_area or "nyanlanda",
                    source="declared" if i.nsp_area else "classifier",
                    confidence=1.0 if i.nsp_area else 0.6,
                )
                for i in s.insatser
            ),
            "stand-in",
        )
        out.append((topics.REPORTS_CLASSIFIED, key, event.model_dump_json().encode()))
    return out


async def records_on_topic(bootstrap: str, topic: str) -> list[Any]:
    """Everything ``topic`` holds now: read from its start up to the end offsets taken first."""
    from aiokafka import AIOKafkaConsumer

    from shared.topic_reader import topic_partitions

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, [topic])
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen: list[Any] = []

        async def behind() -> bool:
            positions = [await consumer.position(tp) for tp in partitions]
            return any(position < ends[tp] for position, tp in zip(positions, partitions, strict=True))

        while await behind():
            batches = await consumer.getmany(timeout_ms=500)
            seen.extend(r for batch in batches.values() for r in batch)
    finally:
        await consumer.stop()
    return seen
