"""CLI commands for issue 3: token listing and revoking, reporting deadlines (users: cli_users)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

T = TypeVar("T")
deadline_app = typer.Typer(help="Reporting deadlines per year.", no_args_is_help=True)


def with_session(work: Callable[[Any], Awaitable[T]], write: bool = False) -> T:
    from rucnet.migrate import upgrade
    from shared.db import create_engine, session_factory
    from shared.settings import RucnetSettings

    settings = RucnetSettings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)

    async def _run() -> T:
        engine = create_engine(settings.db_url)
        try:
            sessions = session_factory(engine)
            if write:
                async with sessions.begin() as session:
                    return await work(session)
            async with sessions() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(_run())


def token_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List API tokens (never the tokens themselves): id, role, RUC, label, created, revoked."""
    from services.intake.tokens import list_tokens

    tokens = with_session(list_tokens)
    if as_json:
        typer.echo(json.dumps([t.model_dump(mode="json") for t in tokens]))
        return
    for t in tokens:
        revoked = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
        typer.echo(
            f"{t.id}\t{t.role}\t{t.ruc_id or '-'}\t{t.created_at:%Y-%m-%d %H:%M}\t{revoked}\t{t.label}"
        )


def token_revoke(
    token_id: Annotated[int, typer.Argument(help="the id shown by `rucnet token list`")],
) -> None:
    """Revoke an API token: running intake processes refuse it within RUCNET_TOKEN_CACHE_TTL_S (5 s)."""
    from shared.auth import revoke_token

    async def _revoke(session: Any) -> bool:
        return await revoke_token(session, token_id)

    if not with_session(_revoke, write=True):
        typer.echo(f"no token {token_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"token {token_id} revoked")


@deadline_app.command("set")
def deadline_set(
    year: Annotated[int, typer.Option("--year")],
    date: Annotated[
        str, typer.Option("--date", help="YYYY-MM-DD; the day lasts until midnight, Swedish time")
    ],
) -> None:
    """Set the reporting deadline of a year (default without one: 31 January of the next year)."""
    from rucnet.cli_args import checked_year
    from services.aggregator.completeness import set_deadline

    checked_year(year)
    try:
        day = dt.date.fromisoformat(date)
    except ValueError as exc:
        raise typer.BadParameter("use YYYY-MM-DD", param_hint="--date") from exc

    async def _set(session: Any) -> None:
        await set_deadline(session, year, day)

    with_session(_set, write=True)
    typer.echo(f"deadline for {year}: {day.isoformat()}")


def register(app: typer.Typer) -> None:
    app.add_typer(deadline_app, name="deadline")
    token_group = next(g.typer_instance for g in app.registered_groups if g.name == "token")
    assert token_group is not None
    token_group.command("list")(token_list)
    token_group.command("revoke")(token_revoke)
