"""Run every benchmark (`make bench`) and print their figures. Sizes: BENCH_SIZES, e.g. 10000,100000.

Each script starts its own broker (Apache Kafka when Java is present, else the embedded Tansu; see
servers.py) and PostgreSQL (a throwaway cluster unless RUCNET_BENCH_PG_ADMIN_DSN is set).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = os.environ.get("BENCH_SIZES", "10000,100000")


def main() -> int:
    largest = SIZES.split(",")[-1]
    runs = [
        ["bench_intake.py", "--reports", "1000", "--rounds", "3"],
        ["bench_pipeline.py", "--insatser", "10000", "--latency-seconds", "10"],
        # each consumer stage alone at the largest size: the aggregator's goal is set at 100 k
        ["bench_pipeline.py", "--insatser", largest, "--stages-only"],
        ["bench_rebuild.py", "--sizes", SIZES],
    ]
    if os.environ.get("BENCH_PIPELINE_LARGE"):
        runs.append(["bench_pipeline.py", "--insatser", largest, "--latency-seconds", "5"])
    failed = 0
    for script, *args in runs:
        print(f"\n== {script} {' '.join(args)}", flush=True)
        done = subprocess.run(
            [sys.executable, str(HERE / script), *args], cwd=HERE, stdout=subprocess.PIPE, text=True
        )
        print(
            "\n".join(
                line
                for line in done.stdout.splitlines()
                if line.startswith(("  ", "pipeline", "intake", "rebuild"))
            )
        )
        failed += done.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
