"""`rucnet classify`, `rucnet classifier-train` and `rucnet classifier-eval`."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer


def _line_batches(stream: BinaryIO) -> Iterator[list[bytes]]:
    """Lines in batches of whatever has arrived: bulk input is scored many at a time, while an
    interactive writer still gets each answer as soon as its line is complete."""
    try:
        fd = stream.fileno()
    except (io.UnsupportedOperation, AttributeError):
        lines = stream.read().split(b"\n")
        for start in range(0, len(lines), 512):
            yield lines[start : start + 512]
        return
    pending = b""
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            if pending:
                yield [pending]
            return
        pending += chunk
        *complete, pending = pending.split(b"\n")
        if complete:
            yield complete


def _parse(line: bytes) -> str:
    text = json.loads(line)["text"]
    if not isinstance(text, str):
        raise TypeError("text must be a string")
    return text


def run_classify(top: int, year: int | None) -> None:
    from services.classifier.registry import load_or_train
    from services.classifier.settings import ClassifierSettings
    from shared.reference import load_reference

    reference = load_reference()
    model = load_or_train(ClassifierSettings().data_dir, reference)
    allowed = frozenset(reference.nsp_codes_for(year)) if year is not None else None
    out = sys.stdout
    number = 0
    for batch in _line_batches(sys.stdin.buffer):
        answers: list[dict[str, Any] | None] = []
        texts: list[str] = []
        for line in batch:
            if not line.strip():
                continue
            number += 1
            try:
                texts.append(_parse(line))
                answers.append(None)
            except (ValueError, KeyError, TypeError) as exc:
                typer.echo(f'line {number}: expected {{"text": "..."}}: {exc}', err=True)
                answers.append({"error": f"line {number}: {exc}"})
        scored = iter(model.score_many(texts, allowed))
        for answer in answers:
            if answer is None:
                areas = [{"code": a.code, "score": a.score} for a in next(scored).areas[:top]]
                answer = {"areas": areas}
            out.write(json.dumps(answer, ensure_ascii=False) + "\n")
        out.flush()


def classifier_train() -> None:
    """Train a new model version on the corpus and the analysts' reviews; use it only if not worse."""
    from rucnet.migrate import upgrade
    from services.classifier.registry import retrain
    from services.classifier.settings import ClassifierSettings
    from services.classifier.store import reviewed_examples
    from shared.db import create_engine, session_factory
    from shared.reference import load_reference

    settings = ClassifierSettings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)

    async def _reviewed() -> list[Any]:
        engine = create_engine(settings.db_url)
        try:
            async with session_factory(engine)() as session:
                return await reviewed_examples(session)
        finally:
            await engine.dispose()

    result = retrain(settings.data_dir, load_reference(), asyncio.run(_reviewed()))
    verdict = "i bruk / in use" if result.accepted else "förkastad, sämre / rejected, worse"
    typer.echo(f"model {result.version}: {verdict}")
    typer.echo(f"  learned from {result.learned} reviewed insatser; previous {result.previous_version}")
    typer.echo(f"  candidate top-1 {result.candidate.top1:.3f} top-2 {result.candidate.top2:.3f}")
    typer.echo(f"  previous  top-1 {result.previous.top1:.3f} top-2 {result.previous.top2:.3f}")
    typer.echo("  restart the classifier service to load it" if result.accepted else "  kept the previous")


def classifier_eval(
    out: Annotated[Path, typer.Option("--out", help="where to write the report")] = Path(
        "docs/classifier-evaluation.md"
    ),
) -> None:
    """Cross-validate on the corpus and write the evaluation report (Markdown)."""
    from services.classifier.evaluation import cross_validate, rank_with
    from services.classifier.examples import load_corpus, vocabulary_examples
    from services.classifier.report import Measured, render_evaluation
    from services.classifier.rules import score_text
    from services.classifier.settings import ClassifierSettings
    from shared.reference import load_reference

    reference = load_reference()
    corpus = load_corpus()
    lexicon = rank_with(lambda t: [a.code for a in score_text(t, reference).areas], corpus)
    without = cross_validate(corpus, [])
    chosen = cross_validate(corpus, vocabulary_examples(reference))
    hard = list(chosen.hard)
    methods = [
        Measured(
            "tecken-n-gram TF-IDF + LR, bara korpusen",
            without.top_k(1),
            without.top_k(2),
            without.top_k(1, hard),
        ),
        Measured(
            "**tecken-n-gram TF-IDF + LR + referensordlistan (vald)**",
            chosen.top_k(1),
            chosen.top_k(2),
            chosen.top_k(1, hard),
        ),
    ]
    threshold = ClassifierSettings().review_threshold
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        render_evaluation(corpus, chosen, methods, lexicon, threshold, reference), encoding="utf-8"
    )
    typer.echo(f"wrote {out}: top-1 {chosen.top_k(1):.3f}, top-2 {chosen.top_k(2):.3f} ({len(corpus)} texts)")


def register(app: typer.Typer) -> None:
    app.command("classifier-train")(classifier_train)
    app.command("classifier-eval")(classifier_eval)
