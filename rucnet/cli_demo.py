"""`rucnet demo YEAR`: fill a running `rucnet dev` with a published year's reports."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

YEARS = (2020,)


def demo(
    year: Annotated[int, typer.Argument(help="the data set's year (2020: Skolverket's PM)")],
    timeout: Annotated[float, typer.Option(help="seconds to wait for the national figures")] = 180,
    tokens_file: Annotated[
        Path | None,
        typer.Option(
            "--tokens",
            help="the tokens `rucnet demo-tokens` printed (a deployment's database is not reachable "
            "from here); without it the demo creates them in the local data dir's database",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Submit a year's data set through the running system's API as the 18 RUC would."""
    if tokens_file is None:  # the tokens are made in the data dir's database: it must exist
        from rucnet import datadir

        datadir.use_existing()
    from rucnet.dataset2020 import COMPLETED_TOTAL_2020, STARTED_TOTAL_2020
    from rucnet.demo import (
        Urls,
        create_tokens,
        national,
        progress_bar,
        running,
        submit,
        wait_counted,
        where_to_look,
    )
    from shared.reference import load_reference
    from shared.settings import RucnetSettings

    if year not in YEARS:
        raise typer.BadParameter(
            f"no data set for {year}; choose one of: {', '.join(map(str, YEARS))}", param_hint="YEAR"
        )
    urls = Urls.from_env()
    down = running(urls)
    if down:
        typer.echo(
            f"Not running: {', '.join(down)}. Start the system first (`make run` or `rucnet dev`) "
            "with the same RUCNET_*_PORT settings.",
            err=True,
        )
        raise typer.Exit(1)
    if tokens_file is not None:
        tokens, national_token = read_tokens(tokens_file)
    else:
        ruc_ids = sorted(load_reference().ruc_ids)
        tokens, national_token = asyncio.run(create_tokens(RucnetSettings().db_url, ruc_ids))
    with progress_bar() as progress:
        asyncio.run(submit(urls, tokens, progress))
        started, completed = wait_counted(urls, national_token, progress, timeout)
    where_to_look(urls, national_token, started, completed)
    if (started, completed) != (STARTED_TOTAL_2020, COMPLETED_TOTAL_2020):
        typer.echo(f"Not all counted within {timeout:.0f} s: {national(urls, national_token)}", err=True)
        raise typer.Exit(1)


def demo_tokens() -> None:
    """Print, as JSON, a token for each of the 18 RUC and one for Skolverket, for `demo --tokens`.

    Run where the database is, e.g. `docker compose run --rm --no-deps -T migrate rucnet demo-tokens`.
    """
    from rucnet.demo import create_tokens
    from shared.reference import load_reference
    from shared.settings import RucnetSettings

    ruc_ids = sorted(load_reference().ruc_ids)
    tokens, national_token = asyncio.run(create_tokens(RucnetSettings().db_url, ruc_ids))
    typer.echo(json.dumps({"ruc": tokens, "skolverket": national_token}, indent=1))


def read_tokens(path: Path) -> tuple[dict[str, str], str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data["ruc"].items()}, str(data["skolverket"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise typer.BadParameter(
            f"{path} is not what `rucnet demo-tokens` prints ({exc})", param_hint="--tokens"
        ) from exc


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("demo-tokens")(demo_tokens)
