"""A diagnostic: where each consumer hop's waiting goes, record by record, in a latency run.

Runs ``bench_pipeline.py`` (the services in this process) with the consumers traced: every
``get_msg`` of FastStream's batch subscriber, every ``getmany`` inside it and every fetch request
aiokafka's fetcher sends. For each latency report's record (one insats a report) the time from its
record's timestamp (its producer, at send) until the consumer's poll returned it is split into:

- busy: the handler was working on the batch before (a poll's return until the next poll);
- slept: FastStream's pause after a poll that found nothing (``batch_timeout_ms`` again);
- fetch: inside a poll, the record not yet fetched; of that, ``behind`` is the part during which a
  fetch that did not bring it was in flight (aiokafka sends no second fetch to a node meanwhile).

    ../.venv/bin/python trace_hops.py --insatser 2000 --latency-seconds 10 [--append-time] [--profile]

(and any other ``bench_pipeline.py`` option). ``--append-time``: the topics stamp records at the
broker (``append_time_topics``). ``--profile``: the latency run's CPU by function (cProfile).

Prints p50/p99 of each part per consumer group; figures are wall time, like the benchmark's.
"""

from __future__ import annotations

import cProfile
import functools
import json
import pstats
import sys
import time
from collections import defaultdict
from typing import Any

import timed
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.consumer.fetcher import Fetcher
from common import percentile
from faststream.kafka.subscriber.usecase import BatchSubscriber

from services.aggregator import handlers as aggregator_handlers
from services.classifier import handlers as classifier_handlers
from shared import broker

Span = tuple[float, float]
POLLS: list[tuple[str, float, float, float, list[tuple[str, int, int, float, Any]]]] = []
GETMANY: dict[int, list[Span]] = defaultdict(list)  # fetcher id → getmany spans
FETCHES: dict[int, list[tuple[float, float, bool]]] = defaultdict(list)  # fetcher id → fetch spans
GROUP_OF: dict[int, str] = {}  # fetcher id → group
COMMITS: dict[int, list[float]] = defaultdict(list)  # fetcher id → seconds per offset commit
HANDLED: dict[str, list[float]] = defaultdict(list)  # handler → seconds per batch


def _is_probe(value: bytes | None) -> bool:
    try:
        return len(json.loads(value or b"{}").get("insatser", ())) == 1
    except ValueError:
        return False


def append_time_topics() -> None:
    """rucnet's topics stamp each record when the broker appends it (``LogAppendTime``), so that a
    record's time here and in ``latency_parts.py`` is when a consumer could first have fetched it,
    not when its producer made it (a record can wait in the producer for the request before it)."""
    create = AIOKafkaAdminClient.create_topics

    @functools.wraps(create)
    async def creating(self: Any, new_topics: list[NewTopic], *a: Any, **kw: Any) -> Any:
        for topic in new_topics:
            topic.topic_configs = {**(topic.topic_configs or {}), "message.timestamp.type": "LogAppendTime"}
        return await create(self, new_topics, *a, **kw)

    AIOKafkaAdminClient.create_topics = creating  # type: ignore[method-assign]


CPU: list[tuple[float, float]] = []  # (wall, this process's CPU) as the latency run starts and ends


PROFILE: list[cProfile.Profile] = []  # --profile: the latency run under cProfile


def _cpu_mark(fn: Any) -> Any:
    @functools.wraps(fn)
    def marked(*a: Any, **kw: Any) -> Any:
        CPU.append((time.monotonic(), time.process_time()))
        if PROFILE:
            (PROFILE[0].disable if len(CPU) % 2 == 0 else PROFILE[0].enable)()
        return fn(*a, **kw)

    return marked


def install() -> None:
    timed.reset, timed.per_call = _cpu_mark(timed.reset), _cpu_mark(timed.per_call)  # the run's ends
    get_msg, getmany, fetch = BatchSubscriber.get_msg, AIOKafkaConsumer.getmany, Fetcher._proc_fetch_request
    commit = AIOKafkaConsumer.commit

    @functools.wraps(commit)
    async def traced_commit(self: Any, *a: Any, **kw: Any) -> Any:
        started = time.time()
        try:
            return await commit(self, *a, **kw)
        finally:
            COMMITS[id(self._fetcher)].append(time.time() - started)

    def traced(get_msg: Any) -> Any:
        @functools.wraps(get_msg)
        async def traced_get_msg(self: Any, consumer: Any) -> Any:
            return await _traced_poll(get_msg, self, consumer)

        return traced_get_msg

    async def _traced_poll(get_msg: Any, self: Any, consumer: Any) -> Any:
        called = time.time()
        GROUP_OF[id(consumer._fetcher)] = str(self.group_id)
        before = len(GETMANY[id(consumer._fetcher)])
        out = await get_msg(self, consumer)
        spans = GETMANY[id(consumer._fetcher)][before:]
        got = spans[-1][1] if spans else time.time()
        records = [
            (r.topic, r.partition, r.offset, r.timestamp / 1000, r.value) for r in out
        ]  # parsed afterwards
        POLLS.append((str(self.group_id), called, got, time.time(), records))
        return out

    @functools.wraps(getmany)
    async def traced_getmany(self: Any, *a: Any, **kw: Any) -> Any:
        called = time.time()
        out = await getmany(self, *a, **kw)
        GETMANY[id(self._fetcher)].append((called, time.time()))
        return out

    @functools.wraps(fetch)
    async def traced_fetch(self: Any, *a: Any, **kw: Any) -> Any:
        started = time.time()
        out = await fetch(self, *a, **kw)
        FETCHES[id(self)].append((started, time.time(), bool(out)))
        return out

    for module, name in ((classifier_handlers, "classify_batch"), (aggregator_handlers, "aggregate_batch")):
        setattr(module, name, _timed_handler(name, getattr(module, name)))
    BatchSubscriber.get_msg = traced(get_msg)  # type: ignore[method-assign]
    broker._poll_without_pause = traced(broker._poll_without_pause)  # the services' own poll
    AIOKafkaConsumer.getmany = traced_getmany  # type: ignore[method-assign]
    Fetcher._proc_fetch_request = traced_fetch  # type: ignore[method-assign]
    AIOKafkaConsumer.commit = traced_commit  # type: ignore[method-assign]


def _timed_handler(name: str, fn: Any) -> Any:
    @functools.wraps(fn)
    async def timed(*a: Any, **kw: Any) -> Any:
        started = time.time()
        try:
            return await fn(*a, **kw)
        finally:
            HANDLED[name].append(time.time() - started)

    return timed


def overlap(lo: float, hi: float, spans: list[Span]) -> float:
    return sum(max(0.0, min(hi, b) - max(lo, a)) for a, b in spans)


def ms(rows: list[dict[str, float]], key: str) -> str:
    values = [r[key] for r in rows]
    return f"{percentile(values, 50) * 1000:.1f}/{percentile(values, 99) * 1000:.1f}"


def report() -> None:
    if PROFILE:
        pstats.Stats(PROFILE[0]).sort_stats("cumulative").print_stats(45)
        pstats.Stats(PROFILE[0]).sort_stats("tottime").print_stats(25)
    if len(CPU) >= 2:
        (w0, c0), (w1, c1) = CPU[-2], CPU[-1]
        print(f"latency run: this process used {(c1 - c0) / (w1 - w0):.0%} of a core ({c1 - c0:.1f} s CPU)")
    by_group: dict[str, list[dict[str, float]]] = defaultdict(list)
    fetcher_of = {g: f for f, g in GROUP_OF.items()}
    busy_of: dict[str, list[Span]] = {}
    for group in sorted({p[0] for p in POLLS}):
        polls = [p for p in POLLS if p[0] == group]
        busy = [(polls[i][3], polls[i + 1][1]) for i in range(len(polls) - 1) if polls[i][4]]
        busy_of[group] = busy
        slept = [(p[2], p[3]) for p in polls if not p[4]]
        fetches = FETCHES[fetcher_of[group]]
        for _, _called, _got, returned, records in polls:
            for _topic, _partition, _offset, ts, value in records:
                if not _is_probe(value):
                    continue
                total = returned - ts
                b, s = overlap(ts, returned, busy), overlap(ts, returned, slept)
                missed = [(a, e) for a, e, _ in fetches if a < ts < e]  # in flight at arrival, without it
                behind = overlap(ts, returned, missed)
                by_group[group].append(
                    {"total": total, "busy": b, "slept": s, "fetch": total - b - s, "behind": behind}
                )
    for name, seconds in HANDLED.items():
        print(f"{name}: {len(seconds)} batches, p50/p99 {ms([{'s': s} for s in seconds], 's')} ms a batch")
    for group, rows in by_group.items():
        parts = ", ".join(f"{k} {ms(rows, k)}" for k in ("total", "busy", "slept", "fetch", "behind"))
        n = len(FETCHES[fetcher_of[group]])
        polls = [p for p in POLLS if p[0] == group]
        empty = sum(1 for p in polls if not p[4])
        print(f"{group}: {len(rows)} probe records; record→poll returned p50/p99 ms: {parts}")
        cycles = [{"s": b - a} for a, b in busy_of[group]] or [{"s": 0.0}]
        print(f"  poll returned → next poll: p50/p99 {ms(cycles, 's')} ms")
        commits = [{"s": s} for s in COMMITS[fetcher_of[group]] or [0.0]]
        print(
            f"  {len(polls)} polls ({empty} empty), {n} fetch requests, {len(commits)} offset commits "
            f"(p50/p99 {ms(commits, 's')} ms) in the whole run"
        )


if __name__ == "__main__":
    import bench_pipeline

    install()
    if "--profile" in sys.argv:
        sys.argv.remove("--profile")
        PROFILE.append(cProfile.Profile())
    if "--append-time" in sys.argv:
        sys.argv.remove("--append-time")
        append_time_topics()
    sys.argv[0] = "bench_pipeline.py"
    try:
        exec(
            compile(open(bench_pipeline.__file__).read(), bench_pipeline.__file__, "exec"),
            {"__name__": "__main__"},
        )
    finally:
        report()
