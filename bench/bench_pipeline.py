"""End-to-end insatser/s through intake → relay → classifier → aggregator, against the broker's
ceiling (a batched raw aiokafka chain) and each stage's ceiling alone, all in the same run on the
same broker; then p50/p99 submit→counted at a steady 50 reports/s against the raw produce→consume
round trip. The three services run in this one process, as in the earlier figures."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from common import (
    bearer,
    consumers_joined,
    database,
    fetch_wait_ms,
    figure,
    percentile,
    run,
    running,
    settings_kw,
    started_brokers,
    tokens_by_ruc,
    wait_for,
)
from latency_parts import latency_parts
from raw_kafka import raw_chain, raw_round_trip
from replicas import replicas
from servers import Bench, environment
from sqlalchemy import select
from stages import AGGREGATOR_PARTS, CLASSIFIER_PARTS, StageRates, stage_rates
from timed import Spent, per_call, reset, timed
from workload import RUCS, Probe, counted, report, submit_all

from services.aggregator.app import create_app as aggregator_app
from services.aggregator.settings import AggregatorSettings
from services.aggregator.tables import RECORDS
from services.classifier.app import create_app as classifier_app
from services.classifier.registry import load_or_train
from services.classifier.settings import ClassifierSettings
from services.intake.app import create_app as intake_app
from services.intake.settings import IntakeSettings
from shared.db import create_engine
from shared.reference import load_reference

RATE = 50.0  # reports per second in the latency run


def trend(samples: list[tuple[float, int]], parts: int = 4) -> list[float]:
    """Insatser/s counted in each of ``parts`` equal stretches of the run's time."""
    end = samples[-1][0]
    rates = []
    for k in range(parts):
        lo, hi = end * k / parts, end * (k + 1) / parts
        inside = [(t, n) for t, n in samples if lo <= t <= hi]
        if len(inside) >= 2:
            rates.append((inside[-1][1] - inside[0][1]) / max(inside[-1][0] - inside[0][0], 1e-9))
    return rates


@dataclass(frozen=True)
class Run:
    pipeline: float  # insatser/s end to end
    accepted: float  # intake's accept rate in that run
    quarters: list[float]  # insatser/s counted per quarter of the run
    latencies: list[float]  # submit→counted, seconds
    parts: dict[str, tuple[float, float]]  # latency per step, (p50, p99) ms
    lags: list[float]  # the event loop's lag during the latency run, ms
    calls: str  # wall time per call of the consumers' parts during the latency run
    work: dict[str, float]  # ms per call of each part during the latency run


async def throughput_then_latency(
    url: str,
    intake: httpx.AsyncClient,
    gu: dict[str, str],
    bodies: list[dict[str, Any]],
    probe: Probe,
    wait_s: float,
    spent: Spent,
) -> tuple[float, float, list[float], dict[str, dt.datetime], list[float], str, dict[str, float]]:
    """Every body submitted until all are counted; then one insats per report at a steady rate.
    Returns (insatser/s end to end, intake's accept rate, per-quarter rates, submit time by ref)."""
    insatser = sum(len(b["insatser"]) for b in bodies)
    samples, started = [(0.0, 0)], time.monotonic()

    async def sampled() -> int:
        value = await probe()
        if time.monotonic() - started - samples[-1][0] >= 0.5:
            samples.append((time.monotonic() - started, value))
        return value

    by_ruc = await tokens_by_ruc(url, bodies)
    submitting = asyncio.create_task(submit_all(intake, gu, bodies, by_ruc=by_ruc))
    await wait_for(sampled, insatser, timeout_s=max(3600, insatser / 100))  # 1 M: up to 2 h 47 min
    pipeline = insatser / (time.monotonic() - started)
    samples.append((time.monotonic() - started, insatser))
    accepted = insatser / await submitting

    sent: dict[str, dt.datetime] = {}  # counted = its record's commit time
    posts = []
    lags: list[float] = []
    watching = asyncio.create_task(loop_lag(lags))
    reset(spent)
    for i in range(int(RATE * wait_s)):
        body = report(1, 10_000_000 + i)
        sent[body["insatser"][0]["ref"]] = dt.datetime.now(dt.UTC)
        posts.append(asyncio.create_task(intake.post("/api/v1/reports", json=body, headers=gu)))
        await asyncio.sleep(1 / RATE)
    await asyncio.gather(*posts)
    await wait_for(probe, insatser + len(sent), timeout_s=300)
    watching.cancel()
    work = {k: v / max(spent.calls[k], 1) * 1000 for k, v in spent.items()}
    return pipeline, accepted, trend(samples), sent, lags, per_call(spent), work


async def loop_lag(lags: list[float], every_s: float = 0.01) -> None:
    """How late a 10 ms sleep wakes up (ms): the event loop's queue, which every hop waits in."""
    while True:
        started = time.monotonic()
        await asyncio.sleep(every_s)
        lags.append((time.monotonic() - started - every_s) * 1000)


async def end_to_end(
    bench: Bench, bodies: list[dict[str, Any]], latency_s: float, processes: int, **settings: Any
) -> Run:
    """``processes``: 0 runs the classifier and the aggregator in this process; else that many
    replicas of each in processes of their own."""
    await bench.fresh_topics()
    async with database("pg", bench) as url:
        kw = settings_kw(bench, url, **settings)
        apps = [intake_app(IntakeSettings(**kw, rate_limit_per_minute=10**9))]
        if not processes:
            apps += [classifier_app(ClassifierSettings(**kw)), aggregator_app(AggregatorSettings(**kw))]
        else:  # trained once here, so that the replicas load it instead of each training it
            await asyncio.to_thread(load_or_train, ClassifierSettings(**kw).data_dir, load_reference())
        gu = await bearer(url, "ruc", "gu")
        probe_engine = create_engine(url)
        with started_brokers() as brokers, timed(CLASSIFIER_PARTS | AGGREGATOR_PARTS) as spent:
            async with AsyncExitStack() as stack:
                if processes:
                    await stack.enter_async_context(replicas(kw, processes, bench.work))
                clients = await stack.enter_async_context(running(*apps))
                await consumers_joined(brokers)  # their first group join is start-up, not throughput
                pipeline, accepted, quarters, sent, lags, calls, work = await throughput_then_latency(
                    url, clients[0], gu, bodies, counted(probe_engine), latency_s, spent
                )
        async with probe_engine.connect() as conn:
            rows = await conn.execute(
                select(RECORDS.c.ref, RECORDS.c.updated_at).where(RECORDS.c.ref.in_(list(sent)))
            )
            latencies = [(at - sent[ref]).total_seconds() for ref, at in rows]
        parts = await latency_parts(probe_engine, bench.bootstrap, bench.partitions, sent)
        await probe_engine.dispose()
    return Run(pipeline, accepted, quarters, latencies, parts, lags, calls, work)


def print_figures(
    bench: Bench,
    n: int,
    per_report: int,
    fetch_wait_ms: int,
    figures: Run,
    raw: float,
    stages: StageRates | None,
    raw_latencies: list[float],
    processes: int,
    rucs: int = 1,
) -> None:
    pipeline, latencies = figures.pipeline, figures.latencies
    where = (
        f"intake in this process, {processes} classifier and {processes} aggregator processes"
        if processes
        else "the three services in this one process"
    )
    print(
        f"pipeline, {n:,} insatser in reports of {per_report} from {rucs} RUC (PostgreSQL, {bench.name}, "
        f"{where}, {bench.partitions} partitions, fetch wait {fetch_wait_ms} ms)"
    )
    figure("end-to-end intake→classifier→aggregator", pipeline, "insatser/s", raw, "")
    figure("  of which: intake accepting them all", figures.accepted, "insatser/s")
    print(f"  counted per quarter of the run: {', '.join(f'{r:,.0f}' for r in figures.quarters)} insatser/s")
    figure("broker ceiling: batched raw aiokafka chain", raw, "insatser/s")
    if stages is not None:
        slowest = stage_figures(stages)
        bound = next(k for k, v in stages.named().items() if v == slowest)
        figure(f"end to end against the slowest stage ({bound})", pipeline, "insatser/s", slowest, "≥ 50 %")
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    raw50, raw99 = percentile(raw_latencies, 50) * 1000, percentile(raw_latencies, 99) * 1000
    figure(f"p50 submit→counted at {RATE:.0f} reports/s", p50, "ms", raw50)
    figure(f"p99 submit→counted at {RATE:.0f} reports/s", p99, "ms", raw99, "≤ 10× raw p99")
    steps = ", ".join(f"{step} {p50:,.1f}/{p99:,.1f}" for step, (p50, p99) in figures.parts.items())
    print(f"  p50/p99 ms since the step before: {steps}")
    lag50, lag99 = percentile(figures.lags, 50), percentile(figures.lags, 99)
    print(f"  event loop lag meanwhile (a 10 ms sleep's overshoot), p50/p99: {lag50:.1f}/{lag99:.1f} ms")
    if any(figures.work.values()):  # timed in this process only (not with --replicas)
        print(f"  per call meanwhile: {figures.calls}")
        print(f"  p50 per hop, its work and its waiting: {waiting(figures)}")


def stage_figures(stages: StageRates) -> float:
    """Print each stage's ceiling alone; the slowest's rate."""
    for name, rate in stages.named().items():
        figure(f"stage alone: {name}", rate, "insatser/s")
    figure(
        "classifier alone, per second of its own CPU", stages.classifier_cpu, "insatser/s", None, "≥ 5 000"
    )
    figure(
        "aggregator alone, per second of its own CPU", stages.aggregator_cpu, "insatser/s", None, "≥ 10 000"
    )
    print(f"    classifier alone, wall time in: {stages.classifier_parts}")
    print(f"    aggregator alone, wall time in: {stages.aggregator_parts}")
    return min((r for r in stages.named().values() if not math.isnan(r)), default=math.nan)


def print_stages(stages: StageRates, n: int, bench: Bench) -> None:
    print(f"pipeline stages alone, {n:,} insatser (PostgreSQL, {bench.name}, {bench.partitions} partitions)")
    stage_figures(stages)


# The handler work inside each consumer hop's clock (latency_parts.py): a report is "classified"
# when its row is built, after its batch was scored and decided; "counted" when its record is
# folded, part-way through the aggregator's apply (so its work here is an upper bound).
HOP_WORK = {
    "classified": ("score (worker)", "decide"),
    "counted": ("apply (before commit)",),
}


def waiting(figures: Run) -> str:
    """Each consumer hop's p50 against the handler work inside it per batch: the rest is waiting
    (for the fetch, for the batch before it, for the commit, for the event loop)."""
    out = []
    for hop, parts in HOP_WORK.items():
        if hop in figures.parts and all(p in figures.work for p in parts):
            total, work = figures.parts[hop][0], sum(figures.work[p] for p in parts)
            out.append(f"{hop} {total:,.1f} = work {work:,.1f} + waiting {max(total - work, 0):,.1f} ms")
    return "; ".join(out)


async def main(
    insatser: int,
    per_report: int,
    latency_s: float,
    with_stages: bool,
    processes: int,
    rucs: int,
    settings: dict[str, Any],
    stages_only: bool = False,
) -> None:
    n_reports = insatser // per_report
    bodies = [report(per_report, s, RUCS[s % rucs]) for s in range(n_reports)]
    with tempfile.TemporaryDirectory() as tmp:
        async with environment(Path(tmp)) as bench:
            if stages_only:
                print_stages(await stage_rates(bench, bodies, **settings), insatser, bench)
                return
            fetch_wait = settings.get("kafka_fetch_max_wait_ms") or fetch_wait_ms(bench)
            figures = await end_to_end(bench, bodies, latency_s, processes, **settings)
            pipeline, accepted, latencies = figures.pipeline, figures.accepted, figures.latencies
            print(  # before the baselines, so that a run they fail still leaves its figures
                f"  measured, baselines next: {pipeline:,.1f} insatser/s end to end, intake "
                f"{accepted:,.1f} insatser/s, p50/p99 {percentile(latencies, 50) * 1000:,.1f}/"
                f"{percentile(latencies, 99) * 1000:,.1f} ms",
                flush=True,
            )
            raw_args = (bench.kafka, fetch_wait)
            sample = json.dumps(bodies[0]).encode()
            raw_s = await raw_chain(bench.bootstrap, [sample] * n_reports, b"gu", *raw_args)
            raw = n_reports * per_report / raw_s
            raw_latencies = await raw_round_trip(bench.bootstrap, RATE, latency_s, b"gu", *raw_args)
            stages = await stage_rates(bench, bodies, **settings) if with_stages else None
    print_figures(
        bench,
        n_reports * per_report,
        per_report,
        fetch_wait,
        figures,
        raw,
        stages,
        raw_latencies,
        processes,
        rucs,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--insatser", type=int, default=10_000)
    parser.add_argument("--per-report", type=int, default=10)
    parser.add_argument("--latency-seconds", type=float, default=10)
    parser.add_argument("--no-stages", action="store_true", help="skip each stage's ceiling alone")
    parser.add_argument(
        "--rucs",
        type=int,
        default=1,
        choices=range(1, len(RUCS) + 1),
        help="reports from this many RUC (each its own key, so its own partition's order)",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=0,
        help="run the classifier and the aggregator as this many processes each (`rucnet classifier`, "
        "`rucnet aggregator`) instead of in this process",
    )
    parser.add_argument(
        "--fetch-wait-ms",
        type=int,
        help="the services' RUCNET_KAFKA_FETCH_MAX_WAIT_MS (default: 100 on Kafka, which answers a "
        "fetch as soon as data arrives; 20 on Tansu, which answers only at the timeout)",
    )
    parser.add_argument(
        "--batch-wait-ms", type=int, help="the services' RUCNET_KAFKA_BATCH_WAIT_MS (default 100)"
    )
    parser.add_argument(
        "--batch-max-records", type=int, help="the services' RUCNET_KAFKA_BATCH_MAX_RECORDS (default 200)"
    )
    parser.add_argument(
        "--stages-only",
        action="store_true",
        help="only each stage's ceiling alone (no end to end, no baselines)",
    )
    args = parser.parse_args()
    overrides = {
        "kafka_fetch_max_wait_ms": args.fetch_wait_ms,
        "kafka_batch_wait_ms": args.batch_wait_ms,
        "kafka_batch_max_records": args.batch_max_records,
    }
    chosen = {k: v for k, v in overrides.items() if v is not None}
    run(
        main(
            args.insatser,
            args.per_report,
            args.latency_seconds,
            not args.no_stages,
            args.replicas,
            args.rucs,
            chosen,
            args.stages_only,
        )
    )
