"""Where the CLI finds the system's data: one rule for `rucnet dev` and every command after it.

1. ``RUCNET_DATA_DIR`` when set (created if missing, as `rucnet dev` does);
2. otherwise the nearest ``.rucnet`` directory in the current directory or above it
   (so a command run from a sub-folder of the clone finds the data `make run` made);
3. otherwise: `rucnet dev` creates ``./.rucnet``; every other command stops with a message
   instead of silently creating an empty data dir that no running service reads.

``RUCNET_DATABASE_URL`` (PostgreSQL) needs no data dir for the database itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

DIR_NAME = ".rucnet"
NO_DATA = (
    "No rucnet data found: neither RUCNET_DATA_DIR is set nor is there a .rucnet directory in {cwd} "
    "or above it.\nStart the system first (`make run` or `rucnet dev` in the clone) and run this "
    "command in the same folder, or set RUCNET_DATA_DIR to the data dir `rucnet dev` printed."
)


def nearest(start: Path) -> Path | None:
    """The nearest ``.rucnet`` directory at or above ``start``."""
    for folder in (start, *start.parents):
        if (folder / DIR_NAME).is_dir():
            return folder / DIR_NAME
    return None


def locate(start: Path | None = None) -> Path | None:
    explicit = os.environ.get("RUCNET_DATA_DIR")
    if explicit:
        return Path(explicit).resolve()
    return nearest((start or Path.cwd()).resolve())


def tighten(path: Path) -> None:
    """The data dir holds names, password hashes and the pseudonym secret: its owner's only (0700).

    A new one is made so (the CLI's umask); one that already exists, made by hand or by an older
    version with 0755, is tightened at start. Someone else's directory is left alone (a warning).
    """
    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            path.chmod(0o700)
    except FileNotFoundError:
        return
    except PermissionError:
        typer.echo(f"warning: {path} is readable by others (mode {mode:o}) and not ours to change", err=True)


def use_for_dev() -> Path:
    """`rucnet dev`: the data dir by the rule, else a new ``./.rucnet``."""
    found = locate() or (Path.cwd() / DIR_NAME).resolve()
    os.environ["RUCNET_DATA_DIR"] = str(found)
    tighten(found)
    return found


def use_existing() -> Path | None:
    """Any other command: the data dir by the rule; none found is an error, not a new folder."""
    found = locate()
    if found is None:
        if os.environ.get("RUCNET_DATABASE_URL"):
            return None
        typer.echo(NO_DATA.format(cwd=Path.cwd()), err=True)
        raise typer.Exit(2)
    os.environ["RUCNET_DATA_DIR"] = str(found)
    tighten(found)
    return found
