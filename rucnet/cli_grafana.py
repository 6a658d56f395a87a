"""`rucnet grafana …` (dashboards as code, push, the read model's role) and `rucnet report`."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer

grafana_app = typer.Typer(help="Grafana: dashboards as code, provisioning and push.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(grafana_app, name="grafana")
    app.command("report")(report)


@grafana_app.command("generate")
def generate(
    out: Annotated[Path, typer.Option("--out", help="the deploy/grafana directory")] = Path("deploy/grafana"),
) -> None:
    """Write the dashboards' JSON and the provisioning files from the Python definitions."""
    from rucnet.grafana.provisioning import write_files

    for path in write_files(out):
        typer.echo(str(path))


@grafana_app.command("push")
def push(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only look and print what would change")] = False,
) -> None:
    """Create or update the datasources, folder and dashboards in the Grafana at GRAFANA_URL."""
    from rucnet.grafana.push import MissingEnvironment, connect
    from rucnet.grafana.push import push as run_push

    url, token = os.environ.get("GRAFANA_URL"), os.environ.get("GRAFANA_TOKEN")
    if not url or not token:
        typer.echo(
            "set GRAFANA_URL and GRAFANA_TOKEN (a service-account token with Editor or Admin)", err=True
        )
        raise typer.Exit(2)
    try:
        actions = run_push(connect(url, token), dry_run=dry_run)
    except MissingEnvironment as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    for action in actions:
        typer.echo(action.describe(dry_run))


@grafana_app.command("refresh-reference")
def refresh_reference() -> None:
    """Re-fill the read model's label tables from shared/data after an edit (PostgreSQL only)."""
    from rucnet.grafana.readmodel import refresh_reference as refresh
    from shared.db import create_engine
    from shared.reference import load_reference
    from shared.settings import RucnetSettings

    url = RucnetSettings().db_url
    if not url.startswith("postgresql"):
        typer.echo("the reporting schema exists on PostgreSQL only; nothing to do", err=True)
        return

    async def _run() -> dict[str, int]:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                return await refresh(conn, load_reference())
        finally:
            await engine.dispose()

    for table, n in asyncio.run(_run()).items():
        typer.echo(f"{table}: {n}")


@grafana_app.command("enable-login")
def enable_login() -> None:
    """Let the read-only role log in, with the password in RUCNET_GRAFANA_DB_PASSWORD."""
    from sqlalchemy import text

    from rucnet.grafana.readmodel import ROLE
    from shared.db import create_engine
    from shared.settings import RucnetSettings

    password = os.environ.get("RUCNET_GRAFANA_DB_PASSWORD")
    url = RucnetSettings().db_url
    if not password or not url.startswith("postgresql"):
        typer.echo("needs RUCNET_GRAFANA_DB_PASSWORD and a PostgreSQL RUCNET_DATABASE_URL", err=True)
        raise typer.Exit(2)

    async def _run() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                quoted = (await conn.execute(text("SELECT quote_literal(:p)"), {"p": password})).scalar_one()
                await conn.execute(text(f"ALTER ROLE {ROLE} LOGIN PASSWORD {quoted}"))
        finally:
            await engine.dispose()

    asyncio.run(_run())
    typer.echo(f"{ROLE} can log in")


def report(
    year: Annotated[int, typer.Option("--year", help="the reporting year, e.g. 2020")],
    out: Annotated[Path, typer.Option("--out", help="directory for the CSV, XLSX, PNG and SVG files")],
) -> None:
    """The national tables (CSV, XLSX) and the PM's two charts (PNG, SVG) for one year."""
    from rucnet.cli_args import checked_year
    from rucnet.national_report import write_report
    from shared.settings import RucnetSettings

    for path in asyncio.run(write_report(RucnetSettings().db_url, checked_year(year), out)):
        typer.echo(str(path))
