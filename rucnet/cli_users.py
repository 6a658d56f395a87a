"""`rucnet user`: the people who log in to the web form and the review page (contract rev 3).

Each verb acts on the data dir / database of a running `rucnet dev`. Passwords are read from stdin
only, never from the command line (it shows in `ps` and the shell's history).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from rucnet.cli_intake import with_session

user_app = typer.Typer(help="People who log in to the web form and the review page.", no_args_is_help=True)
Email = Annotated[str, typer.Option("--email", help="the login, an e-mail address")]
PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="read the password from stdin")]


def _password(given: bool) -> str:
    if not given:
        raise typer.BadParameter(
            "give the password on stdin with --password-stdin", param_hint="--password-stdin"
        )
    return sys.stdin.readline().rstrip("\r\n")


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


def _describe(user: Any) -> str:
    scope = f"RUC {user.ruc_id}" if user.ruc_id else user.role
    state = f"disabled since {user.disabled_at:%Y-%m-%d %H:%M} UTC" if user.disabled_at else "active"
    return f"{user.email} ({scope}, {state})"


def _no_such_user(email: str) -> typer.Exit:
    return _fail(f"no user with e-mail {email!r}; `rucnet user list` shows who exists")


@user_app.command("create")
def user_create(
    email: Email,
    ruc: Annotated[str | None, typer.Option("--ruc", help="RUC id for RUC staff, e.g. gu")] = None,
    role: Annotated[str, typer.Option("--role", help="ruc, skolverket or admin")] = "ruc",
    name: Annotated[str, typer.Option("--name", help="the person's name, as pages and logs show it")] = "",
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a user. Creating one that exists changes nothing: with the same role, RUC and
    password it says so and succeeds (a set-up script may run twice); otherwise it fails and says
    which command does what was probably meant (reset-password, enable)."""
    from rucnet.cli_args import checked_role
    from services.intake.users import create_user, find_user, has_password

    role = checked_role(role, ruc)
    password = _password(password_stdin)

    async def _create(session: Any) -> tuple[str, Any]:
        existing = await find_user(session, email)
        if existing is None:
            return "created", await create_user(session, email, password, role, ruc, name)  # type: ignore[arg-type]
        same = existing.role == role and existing.ruc_id == (ruc if role == "ruc" else None)
        if same and existing.disabled_at is None and await has_password(existing, password):
            return "unchanged", existing
        return "exists", existing

    try:
        outcome, user = with_session(_create, write=True)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if outcome == "created":
        typer.echo(f"user {user.id} created: {_describe(user)}")
    elif outcome == "unchanged":
        typer.echo(f"user {user.id} already exists with this role, RUC and password: {_describe(user)}")
    else:
        hints = [f"rucnet user reset-password --email {user.email} --password-stdin  (a new password)"]
        if user.disabled_at:
            hints.insert(0, f"rucnet user enable --email {user.email}  (let them log in again)")
        raise _fail(
            f"user {user.id} already exists: {_describe(user)}; nothing was changed.\n"
            + "\n".join(f"  {h}" for h in hints)
            + "\n  (a different role or RUC needs a new e-mail address: disable this one)"
        )


@user_app.command("list")
def user_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every user: id, e-mail, role, RUC, active or disabled, created, name (never a password)."""
    from services.intake.users import all_users

    users = with_session(all_users)
    if as_json:
        keys = ("id", "email", "role", "ruc_id", "name", "created_at", "disabled_at")
        typer.echo(json.dumps([{k: getattr(u, k) for k in keys} for u in users], default=str))
        return
    for u in users:
        state = f"disabled {u.disabled_at:%Y-%m-%d %H:%M}" if u.disabled_at else "active"
        typer.echo(
            f"{u.id}\t{u.email}\t{u.role}\t{u.ruc_id or '-'}\t{state}\t"
            f"{u.created_at:%Y-%m-%d %H:%M}\t{u.name or ''}"
        )


def _toggle(email: str, disabled: bool) -> None:
    from services.intake.users import find_user, set_disabled

    async def _set(session: Any) -> Any:
        user = await find_user(session, email)
        if user is not None:
            await set_disabled(session, user, disabled)
        return user

    user = with_session(_set, write=True)
    if user is None:
        raise _no_such_user(email)
    verb = "disabled: cannot log in, sessions ended" if disabled else "enabled: can log in again"
    typer.echo(f"user {user.id} {verb}: {user.email}")


@user_app.command("disable")
def user_disable(email: Email) -> None:
    """Stop a user logging in; their open sessions end at once. The row stays (audit)."""
    _toggle(email, True)


@user_app.command("enable")
def user_enable(email: Email) -> None:
    """Let a disabled user log in again (with the password they had)."""
    _toggle(email, False)


@user_app.command("reset-password")
def user_reset_password(email: Email, password_stdin: PasswordStdin = False) -> None:
    """Give a user a new password (read from stdin); their open sessions end."""
    from services.intake.users import find_user, set_password

    password = _password(password_stdin)

    async def _reset(session: Any) -> Any:
        user = await find_user(session, email)
        if user is not None:
            await set_password(session, user, password)
        return user

    try:
        user = with_session(_reset, write=True)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--password-stdin") from exc
    if user is None:
        raise _no_such_user(email)
    note = " (the account is disabled: `rucnet user enable` lets them in)" if user.disabled_at else ""
    typer.echo(f"password of user {user.id} reset: {user.email}; their sessions ended{note}")


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
