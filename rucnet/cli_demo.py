"""`rucnet demo YEAR`: fill a running `rucnet dev` with a published year's reports."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

YEARS = (2020,)


def demo(
    year: Annotated[int, typer.Argument(help="the data set's year (2020: Skolverket's PM)")],
    timeout: Annotated[float, typer.Option(help="seconds to wait for the national figures")] = 180,
) -> None:
    """Submit a year's data set through the running system's API as the 18 RUC would."""
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
    ruc_ids = sorted(load_reference().ruc_ids)
    tokens, national_token = asyncio.run(create_tokens(RucnetSettings().db_url, ruc_ids))
    with progress_bar() as progress:
        asyncio.run(submit(urls, tokens, progress))
        started, completed = wait_counted(urls, national_token, progress, timeout)
    where_to_look(urls, national_token, started, completed)
    if (started, completed) != (STARTED_TOTAL_2020, COMPLETED_TOTAL_2020):
        typer.echo(f"Not all counted within {timeout:.0f} s: {national(urls, national_token)}", err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
