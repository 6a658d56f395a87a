"""Rebuild speed (insatser per minute; goal ≥ 5 000 000 at 1 M) and its peak memory, per store and size.

The events are published straight to the classified topic (reports of 10 insatser, each once: no
corrections, so no insats is replayed twice; the rebuild's search for keys appended twice runs
all the same); `rucnet aggregates rebuild` runs as a child process so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer
from common import database, figure, run
from servers import Bench, environment

from shared import topics
from shared.events import HuvudmanRef, Insats, InsatsClassification, ReportClassified


def events(n_insatser: int, per_report: int = 10) -> list[bytes]:
    out, version = [], 0
    for seq in range(n_insatser // per_report):
        version += 1
        insatser = tuple(
            Insats(
                ref=f"r{seq}-{i}",
                title="Studiehandledning på modersmålet",
                status="completed" if i % 2 else "started",
                school_forms=("grundskola", "komvux")[: 1 + i % 2],
                nsp_area="nyanlanda" if i % 3 else None,
            )
            for i in range(per_report)
        )
        event = ReportClassified(
            submission_event_id=uuid.uuid4(),
            report_id=uuid.uuid4(),
            version=version,
            ruc_id="gu",
            year=2020,
            huvudman=HuvudmanRef(pseudonym="hm-0123456789abcdef", lan_kod="14", type="kommunal"),
            insatser=insatser,
            classifications=tuple(
                InsatsClassification(ref=i.ref, nsp_area="elevhalsa", source="classifier", confidence=0.7)
                for i in insatser
            ),
            model_version="bench",
        )
        out.append(event.model_dump_json().encode())
    return out


async def publish(bench: Bench, payloads: list[bytes]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bench.bootstrap,
        acks="all",
        enable_idempotence=bench.kafka,
        linger_ms=20,
        max_batch_size=1 << 20,
    )
    await producer.start()
    for start in range(0, len(payloads), 2000):
        futures = [
            await producer.send(topics.REPORTS_CLASSIFIED, p, key=b"gu")
            for p in payloads[start : start + 2000]
        ]
        await asyncio.gather(*futures)
    await producer.stop()


# Peaks are VmHWM, not ru_maxrss: on Linux ru_maxrss keeps, across exec, the RSS of the forked copy
# of this (large) benchmark process. The whole child's peak is set by its start-up (imports,
# migrations); the rebuild's own is measured from a reset of the high-water mark as it starts.
MEASURED = r"""
import re, resource, sys
import services.aggregator.rebuild as measured_module
from rucnet.cli import main


def peak_kb():
    try:
        with open("/proc/self/status") as status:
            return int(re.search(r"VmHWM:\s+(\d+)", status.read()).group(1))
    except (OSError, AttributeError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

unmeasured = measured_module.rebuild

async def measured(*args, **kwargs):
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # the high-water mark starts again from the current RSS
    except OSError:
        pass
    try:
        return await unmeasured(*args, **kwargs)
    finally:
        print("REBUILD_MAXRSS", peak_kb(), flush=True)
        # the fold workers (PostgreSQL), joined by now: the largest one's peak, pages shared with
        # this process at the fork included
        print("WORKERS_MAXRSS", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, flush=True)
        used = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        print("CPU_SECONDS", sum(u.ru_utime + u.ru_stime for u in used), flush=True)

measured_module.rebuild = measured
sys.argv = ["rucnet", "aggregates", "rebuild"]
try:
    main()
finally:
    print("MAXRSS", peak_kb(), flush=True)
"""


def rebuild(bench: Bench, url: str) -> tuple[float, float, float, float, float]:
    env = dict(os.environ) | {
        "RUCNET_KAFKA_BOOTSTRAP": bench.bootstrap,
        "RUCNET_DATABASE_URL": url,
        "RUCNET_DATA_DIR": str(bench.work),
        "RUCNET_KAFKA_IDEMPOTENCE": str(bench.kafka).lower(),
        "COLUMNS": "300",
    }
    done = subprocess.run(
        [sys.executable, "-c", MEASURED], env=env, capture_output=True, text=True, timeout=3600
    )
    match = re.search(r"([\d,]+) insatser/min", done.stdout)
    peak = re.search(r"^MAXRSS (\d+)", done.stdout, re.MULTILINE)
    own = re.search(r"REBUILD_MAXRSS (\d+)", done.stdout)
    workers = re.search(r"WORKERS_MAXRSS (\d+)", done.stdout)
    cpu = re.search(r"CPU_SECONDS ([\d.]+)", done.stdout)
    if not match or not peak or not own or not workers or not cpu:
        raise RuntimeError(done.stdout + done.stderr)
    mb = [int(m.group(1)) / 1024 for m in (peak, own, workers)]
    return float(match.group(1).replace(",", "")), mb[0], mb[1], mb[2], float(cpu.group(1))


async def main(sizes: list[int], stores: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with environment(Path(tmp)) as bench:
            print(
                "rebuild (`rucnet aggregates rebuild`, child process; rate excludes its start-up; "
                f"{bench.name})"
            )
            for size in sizes:
                payloads = events(size)
                for store in stores:
                    await bench.fresh_topics()
                    async with database(store, bench) as url:
                        await publish(bench, payloads)
                        rate, peak, own, workers, cpu = await asyncio.to_thread(rebuild, bench, url)
                    goal = "≥ 5,000,000 at 1 M"
                    figure(f"{store:<6} {size:>9,} insatser: rate", rate, "insatser/min", goal=goal)
                    figure(f"{store:<6} {size:>9,} insatser: peak RSS", peak, "MB")
                    # the command's whole process (start-up and migrations too) and its fold workers;
                    # not the database's
                    figure(f"{store:<6} {size:>9,} insatser: CPU of the command", cpu, "s")
                    figure(f"{store:<6} {size:>9,} insatser: peak RSS in rebuild", own, "MB")
                    if store == "pg":
                        figure(f"{store:<6} {size:>9,} insatser: peak RSS of a fold worker", workers, "MB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--stores", default="pg,sqlite")
    args = parser.parse_args()
    run(main([int(s) for s in args.sizes.split(",")], args.stores.split(",")))
