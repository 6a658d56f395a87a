"""Checks of command-line values that name their valid choices when a value is wrong."""

from __future__ import annotations

import typer

ROLES = ("ruc", "skolverket", "admin")


def checked_role(role: str, ruc: str | None) -> str:
    """The role a --ruc/--role pair means: --ruc implies a RUC role and must name a known RUC."""
    from shared.reference import load_reference

    if ruc is not None:
        role = "ruc"
    if role not in ROLES:
        raise typer.BadParameter(
            f"{role!r} is not a role; choose one of: {', '.join(ROLES)}", param_hint="--role"
        )
    if role == "ruc":
        known = sorted(load_reference().ruc_ids)
        if ruc not in known:
            given = "missing" if ruc is None else f"{ruc!r} is not a RUC id"
            raise typer.BadParameter(f"{given}; choose one of: {', '.join(known)}", param_hint="--ruc")
    return role


def checked_year(year: int) -> int:
    """A reporting year within the registry's span, else a message naming the span."""
    from shared.period import year_span

    first, last = year_span()
    if not first <= year <= last:
        raise typer.BadParameter(
            f"{year} is outside the reporting years {first}–{last} (the RUC registry's span)",
            param_hint="--year",
        )
    return year
