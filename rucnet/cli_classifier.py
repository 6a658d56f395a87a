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
    from services.classifier.suggest import suggestion
    from shared.reference import load_reference

    reference = load_reference()
    settings = ClassifierSettings()
    model = load_or_train(settings.data_dir, reference)
    allowed = frozenset(reference.nsp_codes_for(year)) if year is not None else None
    out = sys.stdout
    number = failed = 0
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
                failed += 1
        scored = iter(model.score_many(texts, allowed))
        for answer in answers:
            if answer is None:
                answer = suggestion(next(scored), top, settings.review_threshold)
            out.write(json.dumps(answer, ensure_ascii=False) + "\n")
        out.flush()
    if failed:  # every line still has its answer line; the exit status says some were not texts
        typer.echo(f"{failed} of {number} lines could not be classified", err=True)
        raise typer.Exit(1)


def classifier_train(
    examples: Annotated[
        Path | None,
        typer.Option(
            "--examples", help='labelled real texts, JSON lines {"text": ..., "area": "<nsp code>"}'
        ),
    ] = None,
) -> None:
    """Train a new model version on the corpus, the analysts' reviews and any supplied examples;
    use it only if it does not do worse on real examples it did not train on."""
    from rucnet.migrate import upgrade
    from services.classifier.examples import ExampleFileError, read_examples_file
    from services.classifier.registry import retrain
    from services.classifier.settings import ClassifierSettings
    from services.classifier.store import reviewed_examples
    from shared.db import create_engine, session_factory
    from shared.reference import load_reference

    reference = load_reference()
    try:
        supplied = read_examples_file(examples, [a.code for a in reference.nsp_areas]) if examples else []
    except (OSError, ExampleFileError) as exc:
        typer.echo(f"Kan inte läsa exemplen: {exc}", err=True)
        raise typer.Exit(2) from exc
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

    reviewed = asyncio.run(_reviewed())
    result = retrain(settings.data_dir, reference, reviewed, supplied)
    verdict = "i bruk / in use" if result.accepted else "förkastad, ingen vinst / rejected, no gain"
    typer.echo(f"model {result.version}: {verdict}")
    typer.echo(
        f"  learned from {result.learned} real examples ({len(reviewed)} reviewed, {len(supplied)} supplied);"
        f" previous {result.previous_version}"
    )
    c = result.candidate
    judged = f"judged on held-out {c.judged_on} examples (n={c.n}; lost {c.lost}, gained {c.gained})"
    typer.echo(f"  candidate top-1 {result.candidate.top1:.3f} top-2 {result.candidate.top2:.3f}, {judged}")
    typer.echo(f"  previous  top-1 {result.previous.top1:.3f} top-2 {result.previous.top2:.3f}")
    if not result.accepted:
        typer.echo(
            f"  in use: {result.in_use}, what the previous version learned, its doubt recalibrated on the"
            " new examples (not learned)"
        )
    typer.echo("  restart the classifier service to load it")


def classifier_eval(
    out: Annotated[Path, typer.Option("--out", help="where to write the report")] = Path(
        "docs/classifier-evaluation.md"
    ),
) -> None:
    """Judge the classifier on the separate evaluation set, with a learning curve; write the report."""
    from services.classifier.evaluation_report import gather_figures, render_evaluation
    from shared.reference import load_reference

    reference = load_reference()
    figures = gather_figures(reference)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_evaluation(figures, reference), encoding="utf-8")
    flagged, unflagged = figures.chosen.review()
    typer.echo(f"wrote {out} ({len(figures.eval_set)} evaluation texts, never trained on)")
    for name, held in (
        ("shared real texts, 5-fold, shipped recipe", figures.real_cv.unlearned),
        ("shared real texts, 5-fold, learning the other folds", figures.real_cv.learned),
        ("own real-style held-out set", figures.holdout),
    ):
        share, right = held.review()
        typer.echo(
            f"  {name}: top-1 {held.top_k(1):.3f}  top-2 {held.top_k(2):.3f}  flagged {share:.1%}"
            f"  unflagged right {right:.3f}  right after review {held.after_review():.1%}"
        )
    typer.echo(f"  evaluation set: top-1 {figures.chosen.top_k(1):.3f}  top-2 {figures.chosen.top_k(2):.3f}")
    typer.echo(f"  flagged {flagged:.1%}, top-1 among the unflagged {unflagged:.3f}")
    curve = "  ".join(f"{k}: {v:.3f}" for k, v in figures.curve.items())
    typer.echo(f"  learning curve (reviewed examples: top-1 on held-out ones)  {curve}")


def register(app: typer.Typer) -> None:
    app.command("classifier-train")(classifier_train)
    app.command("classifier-eval")(classifier_eval)
