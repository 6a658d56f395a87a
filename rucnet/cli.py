"""The `rucnet` command: the services, the one-machine stack, tokens and the classifier."""

from __future__ import annotations

import asyncio
import os
import sys
from enum import StrEnum
from typing import Annotated

import typer

from rucnet.cli_args import checked_role

app = typer.Typer(
    help="rucnet: reporting for Sweden's school-development network (RUC).", no_args_is_help=True
)
# Commands that act on a running system's data: they find it by the data-dir rule or stop.
# (`rucnet demo` too, unless it is given --tokens: it then only talks to the services' APIs.)
USES_EXISTING_DATA = {"token", "user", "deadline", "dlq", "aggregates", "report", "demo-tokens", "outbox"}
token_app = typer.Typer(help="API tokens for RUC staff and Skolverket.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@app.callback()
def _data_dir(ctx: typer.Context) -> None:
    """rucnet: reporting for Sweden's school-development network (RUC).

    Data dir: RUCNET_DATA_DIR, else the nearest .rucnet in this folder or above (docs: README).
    """
    from rucnet import datadir

    if _only_help(ctx):
        return  # `rucnet user --help`, or a group named alone, reads no data
    if ctx.invoked_subcommand == "dev":
        datadir.use_for_dev()
    elif ctx.invoked_subcommand in USES_EXISTING_DATA:
        datadir.use_existing()


def _only_help(ctx: typer.Context) -> bool:
    words = sys.argv[1:]
    if "--help" in words or "-h" in words:
        return True
    name = ctx.invoked_subcommand
    if name is None or not words or words[-1] != name:
        return False
    command = ctx.command.get_command(ctx, name)  # type: ignore[attr-defined]
    return hasattr(command, "list_commands")  # a group named alone shows its help


def _serve(create_app: object, settings: object, port: int) -> None:
    import uvicorn

    from shared.logging import configure_logging
    from shared.settings import RucnetSettings

    assert isinstance(settings, RucnetSettings)
    from rucnet.datadir import tighten

    tighten(settings.data_dir)  # a service started alone (compose, `rucnet dev`'s children) too
    configure_logging(settings.log_level)  # RUCNET_LOG_FORMAT: json in containers, text by default
    asgi = create_app(settings)  # type: ignore[operator]
    trusted = settings.trusted_proxies.strip()  # none by default: X-Forwarded-For is ignored
    uvicorn.run(
        asgi,
        host=settings.host,
        port=port,
        log_level="warning",
        log_config=None,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
    )


@app.command()
def intake() -> None:
    """Run the intake service (web form and JSON API)."""
    from services.intake.app import create_app
    from services.intake.settings import IntakeSettings

    settings = IntakeSettings()
    _serve(create_app, settings, settings.intake_port)


@app.command()
def classifier() -> None:
    """Run the classifier service."""
    from services.classifier.app import create_app
    from services.classifier.settings import ClassifierSettings

    settings = ClassifierSettings()
    _serve(create_app, settings, settings.classifier_port)


@app.command()
def aggregator() -> None:
    """Run the aggregator service."""
    from services.aggregator.app import create_app
    from services.aggregator.settings import AggregatorSettings

    settings = AggregatorSettings()
    _serve(create_app, settings, settings.aggregator_port)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (Alembic)."""
    from rucnet.migrate import upgrade
    from shared.settings import RucnetSettings

    settings = RucnetSettings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)
    if os.environ.get("RUCNET_GRAFANA_DB_PASSWORD") and settings.db_url.startswith("postgresql"):
        from rucnet.cli_grafana import enable_login

        enable_login()  # the read-only role Grafana uses gets its password with the schema


class BrokerChoice(StrEnum):
    tansu = "tansu"
    kafka = "kafka"


@app.command()
def dev(
    broker: Annotated[
        BrokerChoice,
        typer.Option(
            "--broker",
            help="tansu: the embedded broker (memory only, no Java); kafka: Apache Kafka 4.1.1 "
            "(Java 17+ and Maven; its data in the data dir, kept across restarts)",
        ),
    ] = BrokerChoice.tansu,
) -> None:
    """Run the whole system on this machine: broker, embedded store and the three services."""
    from rucnet.dev import run_dev

    raise typer.Exit(run_dev("kafka" if broker is BrokerChoice.kafka else "tansu"))


@token_app.command("create")
def token_create(
    ruc: Annotated[str | None, typer.Option("--ruc", help="RUC id, e.g. gu")] = None,
    role: Annotated[str, typer.Option("--role", help="ruc, skolverket or admin")] = "ruc",
    label: Annotated[str, typer.Option(help="a note on who holds it")] = "",
) -> None:
    """Print a new bearer token (only the token); it is stored hashed."""
    from rucnet.migrate import upgrade
    from shared.auth import create_token
    from shared.db import create_engine, session_factory
    from shared.settings import RucnetSettings

    role = checked_role(role, ruc)
    settings = RucnetSettings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.db_url)

    async def _create() -> str:
        engine = create_engine(settings.db_url)
        try:
            async with session_factory(engine)() as session:
                return await create_token(session, role, ruc if role == "ruc" else None, label)  # type: ignore[arg-type]
        finally:
            await engine.dispose()

    typer.echo(asyncio.run(_create()))


@app.command()
def classify(
    top: Annotated[int, typer.Option("--top", min=1, max=20)] = 3,
    year: Annotated[int | None, typer.Option("--year", help="only areas valid that year")] = None,
) -> None:
    """Read JSON lines {"text": ...} on stdin; write {"areas": [{"code", "score"}...]} per line."""
    from rucnet.cli_classifier import run_classify

    run_classify(top, year)


# The other command groups register themselves once the core commands above exist.
from rucnet import (  # noqa: E402
    cli_classifier,
    cli_demo,
    cli_docs,
    cli_grafana,
    cli_intake,
    cli_ops,
    cli_outbox,
    cli_users,
)

for _module in (cli_ops, cli_outbox, cli_grafana, cli_intake, cli_users, cli_classifier, cli_docs, cli_demo):
    _module.register(app)


def main() -> None:
    # Everything rucnet writes (the SQLite file with names and password hashes, the pseudonym
    # secret, models, logs, the broker's data) is for its own user only: files 0600, dirs 0700.
    os.umask(0o077)
    app()
