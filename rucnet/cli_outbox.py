"""`rucnet outbox list [--failed]` and `rucnet outbox retry`: intake's accepted rows that wait or failed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

T = TypeVar("T")
outbox_app = typer.Typer(
    help="Intake's outbox: accepted reports and attendance parts on their way to the broker.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(outbox_app, name="outbox")


def _in_transaction(work: Callable[[Any], Awaitable[T]]) -> T:
    from rucnet.migrate import upgrade
    from shared.db import create_engine
    from shared.settings import RucnetSettings

    settings = RucnetSettings()
    upgrade(settings.db_url)

    async def run() -> T:
        engine = create_engine(settings.db_url)
        try:
            async with engine.begin() as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@outbox_app.command("list")
def outbox_list(
    failed: Annotated[
        bool, typer.Option("--failed", help="the rows marked failed (else: those waiting)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the rows still waiting for the broker, or with --failed those that could not be sent."""
    from services.intake.outbox import outbox_entries

    entries = _in_transaction(lambda conn: outbox_entries(conn, failed))
    if as_json:
        typer.echo(json.dumps([vars(e) for e in entries], default=str))
        return
    what = "failed" if failed else "waiting"
    typer.echo(
        f"{len(entries)} {what}" + (": `rucnet outbox retry` sends them again" if failed and entries else "")
    )
    for e in entries:
        when = f"{(e.failed_at or e.stored_at):%Y-%m-%d %H:%M:%S}"
        report = f" report {e.report_id}" if e.report_id else ""
        typer.echo(f"{e.kind}\t{e.ident}\t{e.ruc_id} {e.year}{report}\t{when}\t{(e.error or '')[:300]}")


@outbox_app.command("retry")
def outbox_retry(
    idents: Annotated[
        list[str] | None,
        typer.Argument(
            help="a report's seq or an attendance part RUC:YEAR, as listed; none: every failed row"
        ),
    ] = None,
) -> None:
    """Send failed rows again (after fixing the cause): the running intake's relay picks them up."""
    from services.intake.outbox import retry_failed

    try:
        retried = _in_transaction(lambda conn: retry_failed(conn, idents or ()))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(
        f"{retried} row(s) queued again; a row that still cannot be sent is marked failed again "
        "(`rucnet outbox list --failed`)"
    )
