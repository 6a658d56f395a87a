"""`rucnet docs generate`: the OpenAPI and AsyncAPI documents in docs/, from the code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

docs_app = typer.Typer(
    help="API documents (OpenAPI, AsyncAPI) generated from the code.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(docs_app, name="docs")


@docs_app.command("generate")
def generate(
    out: Annotated[Path, typer.Option("--out", help="the docs directory")] = Path("docs"),
) -> None:
    """Write docs/openapi-<service>.json and docs/asyncapi-<service>.yaml for the three services."""
    from rucnet.apidocs import write_documents

    for path in write_documents(out):
        typer.echo(str(path))
