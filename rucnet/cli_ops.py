"""Operations commands: `rucnet dlq list|replay` and `rucnet aggregates verify|rebuild`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")
dlq_app = typer.Typer(help="Dead letters: messages that could not be handled.", no_args_is_help=True)
aggregates_app = typer.Typer(help="The aggregator's counts: verify and rebuild.", no_args_is_help=True)
console = Console()


def register(app: typer.Typer) -> None:
    app.add_typer(dlq_app, name="dlq")
    app.add_typer(aggregates_app, name="aggregates")


def _with_engine(work: Callable[[AsyncEngine, str, bool], Awaitable[T]]) -> T:
    """Run ``work(engine, bootstrap, idempotence)`` on the configured database (migrated first)."""
    from rucnet.migrate import upgrade
    from shared.db import create_engine
    from shared.settings import RucnetSettings

    settings = RucnetSettings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)

    async def run() -> T:
        engine = create_engine(settings.db_url)
        try:
            return await work(engine, settings.kafka_bootstrap, settings.kafka_idempotence)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@dlq_app.command("list")
def dlq_list(limit: Annotated[int, typer.Option(help="show at most this many, newest last")] = 200) -> None:
    """Print the dead letters: origin, reason, error and whether they were replayed."""
    from rucnet.dlq import list_letters

    letters = _with_engine(lambda engine, bootstrap, _i: list_letters(engine, bootstrap))
    table = Table(title=f"Dead letters ({len(letters)})")
    for name in ("id", "topic", "part", "offset", "key", "reason", "error", "replayed"):
        table.add_column(name, overflow="fold")
    for item in letters[-limit:]:
        letter = item.letter
        replayed = item.replayed_at.isoformat(timespec="seconds") if item.replayed_at else ""
        table.add_row(
            str(letter.event_id),
            letter.topic,
            str(letter.partition),
            str(letter.offset),
            letter.key or "",
            letter.reason or "",
            letter.error[:160],
            replayed,
        )
    console.print(table)


@dlq_app.command("replay")
def dlq_replay(
    ids: Annotated[list[str] | None, typer.Option("--id", help="a dead letter's id (repeatable)")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="every letter not replayed yet")] = False,
) -> None:
    """Re-publish original payloads to their original topics (after a fix); each letter only once."""
    from rucnet.dlq import Letter, choose, list_letters, replay

    if not ids and not replay_all:
        raise typer.BadParameter("give --id EVENT_ID (repeatable) or --all")

    async def work(engine: AsyncEngine, bootstrap: str, _idempotence: bool) -> tuple[int, list[Letter]]:
        chosen, refused = choose(await list_letters(engine, bootstrap), ids or [], replay_all)
        with _progress() as progress:
            task = progress.add_task("replaying", total=len(chosen))
            return await replay(engine, bootstrap, chosen, lambda: progress.advance(task)), refused

    replayed, refused = _with_engine(work)
    console.print(f"replayed {replayed} dead letter(s)")
    for item in refused:
        console.print(
            f"[red]not replayed[/red] {item.letter.event_id} ({item.letter.topic}[{item.letter.partition}]@"
            f"{item.letter.offset}): its payload was cut when it was parked; publish it again from its "
            "source (for a report: `rucnet outbox retry`, or the RUC resubmits)"
        )
    if refused:
        raise typer.Exit(1)


@aggregates_app.command("verify")
def aggregates_verify() -> None:
    """Recompute every count from the per-insats records; exit 1 when a stored count differs."""
    from services.aggregator.verify import verify

    report = _with_engine(lambda engine, _b, _i: verify(engine))
    if report.clean:
        console.print(f"[green]verify: clean[/green] ({report.records} records)")
        return
    table = Table(title=f"{len(report.differences)} count(s) differ")
    for name in ("table", "year", "ruc", "län", "status", "dimension", "stored", "expected"):
        table.add_column(name)
    for d in report.differences[:200]:
        k = d.key
        stored, expected = ("/".join(map(str, m)) for m in (d.stored, d.expected))
        table.add_row(
            k.table, str(k.year), k.ruc_id, k.lan_kod, k.status, "/".join(k.dimensions), stored, expected
        )
    console.print(table)
    if report.area_mismatches:
        console.print(f"{len(report.area_mismatches)} record(s) whose area ignores their override")
    raise typer.Exit(1)


@aggregates_app.command("rebuild")
def aggregates_rebuild() -> None:
    """Replay the topics from the beginning into shadow tables and swap them in atomically.

    It reads whatever the broker holds: the embedded broker of `rucnet dev` forgets everything on
    restart and holds only what intake (reports) and the classifier (overrides) re-sent since.
    """
    from services.aggregator.rebuild import RebuildResult, rate_per_minute, rebuild

    async def work(engine: AsyncEngine, bootstrap: str, _i: bool) -> RebuildResult:
        with _progress() as progress:
            task = progress.add_task("replaying events", total=None)

            def advance(events: int, insatser: int) -> None:
                progress.update(task, completed=events, description=f"replaying ({insatser} insatser)")

            return await rebuild(engine, bootstrap, advance)

    result = _with_engine(work)
    console.print(
        f"rebuilt: {result.events} events, {result.insatser} insatser, {result.records} records, "
        f"{result.skipped} skipped, {result.seconds:.1f}s, {rate_per_minute(result):,.0f} insatser/min"
    )


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
