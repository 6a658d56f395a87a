"""Classifier figures on one core: texts/s, p99 latency per text, model load time, memory.

Run: .venv/bin/python bench/bench_classifier.py [--texts 3000]
The lexicon scorer (rules.py) is measured in the same run as the baseline. Prints figures only;
nothing here asserts a timing.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one core, before numpy loads

import argparse  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.classifier.examples import load_corpus  # noqa: E402
from services.classifier.registry import load, save, train_default  # noqa: E402
from services.classifier.rules import score_text  # noqa: E402
from shared.reference import load_reference  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def latencies(fn: Callable[[str], object], texts: list[str]) -> list[float]:
    out = []
    for text in texts:
        start = time.perf_counter()
        fn(text)
        out.append(time.perf_counter() - start)
    return out


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=3000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    reference = load_reference()
    allowed = frozenset(reference.nsp_codes_for(2020))
    corpus = [e.text for e in load_corpus()]
    # an insats's worth of text: the corpus's effects are one to three sentences, an insats carries
    # expected and actual effects (and, when it has none, a title and description): three texts each
    n = len(corpus)
    texts = [
        "\n".join((corpus[i % n], corpus[(7 * i + 3) % n], corpus[(13 * i + 5) % n])) + f" ({i})"
        for i in range(args.texts)
    ]
    rss_start = rss_mb()

    start = time.perf_counter()
    model = train_default(reference)
    train_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        path = save(model, Path(tmp), [], {"accepted": True})
        size_kb = sum(f.stat().st_size for f in path.iterdir()) / 1024
        del model
        start = time.perf_counter()
        model = load(path)
        load_s = time.perf_counter() - start
    start = time.perf_counter()
    model.score_batch([(t, allowed) for t in corpus])  # every corpus word once: the word cache is cold
    cold_rate = len(corpus) / (time.perf_counter() - start)

    start = time.perf_counter()
    for i in range(0, len(texts), 256):
        model.score_many(texts[i : i + 256], allowed)
    bulk_rate = len(texts) / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(0, len(texts), 200):
        model.score_batch([(t, allowed) for t in texts[i : i + 200]])
    batch_rate = len(texts) / (time.perf_counter() - start)
    sample = texts[:1000]
    model_lat = latencies(lambda t: model.score(t, allowed), sample)
    lexicon_lat = latencies(lambda t: score_text(t, reference, 2020), sample)
    rss_end = rss_mb()
    avg = statistics.mean(map(len, texts))
    print(f"classifier benchmark, one core, {len(texts)} insatser (3 corpus texts each, avg {avg:.0f} chars)")
    print(f"model {model.version}: trained in {train_s:.2f} s, artifact {size_kb:.0f} kB")
    print(f"model load time: {load_s * 1000:.0f} ms")
    print(f"{'scorer':<44} {'texts/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'model, bulk (rucnet classify, batches of 256)':<44} {bulk_rate:>9.0f}")
    print(f"{'model, batches of 200 with reasons (handler)':<44} {batch_rate:>9.0f}")
    print(f"{'  the same, first sight of every word':<44} {cold_rate:>9.0f}")
    for name, lat in (
        ("model, one at a time with reasons", model_lat),
        ("lexicon baseline (rules.score_text)", lexicon_lat),
    ):
        rate = len(lat) / sum(lat)
        print(f"{name:<44} {rate:>9.0f} {p(lat, 0.5):>8.2f} {p(lat, 0.99):>8.2f}")
    print(f"memory: RSS {rss_start:.0f} MB with the libraries loaded, {rss_end:.0f} MB after training,")
    print("        loading and scoring (the model itself is the difference)")
    print(
        f"budget (issue 15): bulk {bulk_rate:.0f}/s (>= 500), p99 {p(model_lat, 0.99):.1f} ms (<= 50), "
        f"load {load_s:.2f} s (<= 2), RSS {rss_end:.0f} MB (<= 400)"
    )


if __name__ == "__main__":
    main()
