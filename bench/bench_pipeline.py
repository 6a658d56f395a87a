"""End-to-end: insatser/s through intake → classifier → aggregator, and submit→counted latency at a
steady 50 reports/s, each next to a raw aiokafka baseline on the same broker in the same run."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from common import (
    BROKER_NAME,
    bearer,
    broker,
    database,
    figure,
    percentile,
    run,
    running,
    settings_kw,
    wait_for,
)
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.aggregator.app import create_app as aggregator_app
from services.aggregator.settings import AggregatorSettings
from services.aggregator.tables import COUNT_TABLES, RECORDS
from services.classifier.app import create_app as classifier_app
from services.classifier.settings import ClassifierSettings
from services.intake.app import create_app as intake_app
from services.intake.settings import IntakeSettings
from shared.db import create_engine

FORMS = ["grundskola", "gymnasieskola", "forskoleklass", "komvux"]


def report(n_insatser: int, seq: int) -> dict[str, Any]:
    return {
        "ruc_id": "gu",
        "year": 2020,
        "huvudman": {"name": f"Kommun {seq % 40}", "lan_kod": "14", "type": "kommunal"},
        "insatser": [
            {
                "ref": f"b-{seq}-{i}",
                "title": "Språkutvecklande arbetssätt och studiehandledning på modersmålet",
                "description": "Kompetensutveckling för lärare i nyanländas lärande",
                "status": "completed" if i % 2 else "started",
                "school_forms": FORMS[: 1 + i % 3],
                "expected_effects": "Ökad måluppfyllelse",
                "actual_effects": "Bättre rutiner för mottagande" if i % 2 else "",
                "nsp_area": None,
            }
            for i in range(n_insatser)
        ],
    }


def counter(engine: AsyncEngine) -> Callable[[], Awaitable[int]]:
    """Insatser counted so far (the probe polls it: one pooled connection, not one per poll)."""

    async def counted() -> int:
        async with engine.connect() as conn:
            value = await conn.scalar(select(func.coalesce(func.sum(COUNT_TABLES["insats"].c.n), 0)))
        return int(value or 0)

    return counted


async def raw_topics(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(n, num_partitions=3, replication_factor=1) for n in names])
    await admin.close()


def consumer(bootstrap: str, topic: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
        enable_auto_commit=False,
    )


async def raw_chain(bootstrap: str, payloads: list[bytes]) -> float:
    """Seconds for produce → consume+produce → consume of every payload (the baseline)."""
    a, b = f"raw-a-{uuid.uuid4().hex[:6]}", f"raw-b-{uuid.uuid4().hex[:6]}"
    await raw_topics(bootstrap, a, b)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=5
    )
    middle, sink = consumer(bootstrap, a), consumer(bootstrap, b)
    for part in (producer, middle, sink):
        await part.start()
    done = asyncio.Event()
    received = 0

    async def relay() -> None:
        async for message in middle:
            await producer.send_and_wait(b, message.value, key=message.key)
            await middle.commit()

    async def drain() -> None:
        nonlocal received
        async for _message in sink:
            received += 1
            await sink.commit()
            if received == len(payloads):
                done.set()

    tasks = [asyncio.create_task(relay()), asyncio.create_task(drain())]
    started = time.monotonic()
    for i, payload in enumerate(payloads):
        await producer.send(a, payload, key=str(i % 18).encode())
    await asyncio.wait_for(done.wait(), timeout=600)
    elapsed = time.monotonic() - started
    for task in tasks:
        task.cancel()
    for part in (middle, sink, producer):
        await part.stop()
    return elapsed


async def raw_round_trip(bootstrap: str, rate: float, seconds: float) -> list[float]:
    topic = f"raw-rt-{uuid.uuid4().hex[:6]}"
    await raw_topics(bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    sink = consumer(bootstrap, topic)
    await producer.start()
    await sink.start()
    latencies: list[float] = []
    total = int(rate * seconds)

    async def drain() -> None:
        async for message in sink:
            latencies.append(time.time() - float(message.value or b"0"))
            if len(latencies) == total:
                return

    task = asyncio.create_task(drain())
    await asyncio.sleep(1)  # the group settles before the clock starts
    for i in range(total):
        await producer.send(topic, str(time.time()).encode(), key=str(i % 18).encode())
        await asyncio.sleep(1 / rate)
    await asyncio.wait_for(task, timeout=120)
    await producer.stop()
    await sink.stop()
    return latencies


async def main(insatser: int, per_report: int, latency_s: float, linger_ms: int, fetch_wait_ms: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        async with broker(work) as bootstrap, database("pg", work) as url:
            kw = settings_kw(bootstrap, url, work, kafka_fetch_max_wait_ms=fetch_wait_ms)
            apps = (
                intake_app(IntakeSettings(**kw, rate_limit_per_minute=10**9, report_linger_ms=linger_ms)),
                classifier_app(ClassifierSettings(**kw)),
                aggregator_app(AggregatorSettings(**kw)),
            )
            gu = await bearer(url, "ruc", "gu")
            probe_engine = create_engine(url)
            counted = counter(probe_engine)
            n_reports = insatser // per_report
            bodies = [report(per_report, s) for s in range(n_reports)]
            async with running(*apps) as (intake, _classifier, _aggregator):
                started = time.monotonic()
                queue = list(enumerate(bodies))

                async def submitter() -> None:
                    while queue:
                        _, body = queue.pop()
                        response = await intake.post("/api/v1/reports", json=body, headers=gu)
                        assert response.status_code == 202, response.text

                await asyncio.gather(*(submitter() for _ in range(8)))
                submitted_s = time.monotonic() - started
                await wait_for(counted, n_reports * per_report, timeout_s=3600)
                pipeline = n_reports * per_report / (time.monotonic() - started)
                submitted_s = submitted_s or 1e-9

                # latency: one insats per report at a steady rate; counted = its record's commit time
                rate, sent = 50.0, {}
                for i in range(int(rate * latency_s)):
                    body = report(1, 10_000_000 + i)
                    sent[body["insatser"][0]["ref"]] = dt.datetime.now(dt.UTC)
                    asyncio.get_running_loop().create_task(
                        intake.post("/api/v1/reports", json=body, headers=gu)
                    )
                    await asyncio.sleep(1 / rate)
                await wait_for(counted, n_reports * per_report + len(sent), timeout_s=300)
            async with probe_engine.connect() as conn:
                rows = await conn.execute(
                    select(RECORDS.c.ref, RECORDS.c.updated_at).where(RECORDS.c.ref.in_(list(sent)))
                )
                latencies = [(at - sent[ref]).total_seconds() for ref, at in rows]
            await probe_engine.dispose()
            print(  # before the baselines, so that a run they fail still leaves its figures
                f"  measured, baselines next: {pipeline:,.1f} insatser/s end to end, intake "
                f"{n_reports * per_report / submitted_s:,.1f} insatser/s, p50/p99 "
                f"{percentile(latencies, 50) * 1000:,.1f}/{percentile(latencies, 99) * 1000:,.1f} ms",
                flush=True,
            )

            sample = json.dumps(bodies[0]).encode()
            raw = n_reports * per_report / await raw_chain(bootstrap, [sample] * n_reports)
            raw_latencies = await raw_round_trip(bootstrap, rate, latency_s)
    print(
        f"pipeline, {n_reports * per_report:,} insatser in reports of {per_report} "
        f"(PostgreSQL, {BROKER_NAME}, the three services in this one process"
        f"{f', report events lingering {linger_ms} ms' if linger_ms else ''}, fetch wait {fetch_wait_ms} ms)"
    )
    figure("end-to-end intake→classifier→aggregator", pipeline, "insatser/s", raw, "≥ 50 %")
    figure("  of which: intake accepting them all", n_reports * per_report / submitted_s, "insatser/s")
    figure(
        "p50 submit→counted at 50 reports/s",
        percentile(latencies, 50) * 1000,
        "ms",
        percentile(raw_latencies, 50) * 1000,
    )
    figure(
        "p99 submit→counted at 50 reports/s",
        percentile(latencies, 99) * 1000,
        "ms",
        percentile(raw_latencies, 99) * 1000,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--insatser", type=int, default=10_000)
    parser.add_argument("--per-report", type=int, default=10)
    parser.add_argument("--latency-seconds", type=float, default=10)
    parser.add_argument(
        "--linger-ms",
        type=int,
        default=0,
        help="intake's RUCNET_REPORT_LINGER_MS: fewer, larger produce requests (the embedded broker "
        "lists every stored batch of a partition on each fetch, so a long run needs fewer of them)",
    )
    parser.add_argument(
        "--fetch-wait-ms",
        type=int,
        default=20,
        help="the services' RUCNET_KAFKA_FETCH_MAX_WAIT_MS (production's default: 500); fewer fetches "
        "of the embedded broker, each answered after about half of it",
    )
    args = parser.parse_args()
    run(main(args.insatser, args.per_report, args.latency_seconds, args.linger_ms, args.fetch_wait_ms))
