"""``careflow web …``: serve the web app, create a user, create and print the demo accounts.

The demo accounts of a local installation are written to ``CAREFLOW_HOME/demo-accounts.json`` with their passwords
(:mod:`web.demo_accounts`); ``careflow up`` prints them too. Imports inside a command are marked ``# start-up``:
they load the database layer (sqlmodel, about 1 s) or uvicorn, which ``careflow --help`` does not need.
"""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from core.i18n import cli_language, cli_text as tr, label
from core.settings import get_settings
from entry.stack import prepared_home
from entry.user_input import USER_ERRORS, fail

web_app = typer.Typer(help=tr("cli.web.help"), no_args_is_help=True)


def demo_accounts() -> list:
    """Create the demo accounts that are missing; return every demo account, with its password when known."""
    from core.db import session_scope  # start-up: sqlmodel
    from web.demo_accounts import ensure_demo_accounts  # start-up: sqlmodel

    with session_scope() as session:
        return ensure_demo_accounts(session, get_settings().home / "demo-accounts.json")


def _scope(account) -> str:
    """Where a demo account acts, by name: its area (城厢区龙桥街道) or 本单位 for a unit's officer, 全省 for the admin."""
    from models.areas import area_name  # start-up: pydantic and the region tables (0.18 s), not for --help

    if account.unit_code:
        return tr("cli.web.out.scope_unit")
    return area_name(account.jurisdiction_code) if account.jurisdiction_code else tr("cli.web.out.scope_province")


def echo_accounts(accounts) -> None:
    """The named demo accounts, one a line; the units' own officer accounts (``unit.<代码>``) as one count."""
    from web.demo_accounts import DEMO_ACCOUNTS  # start-up: sqlmodel

    named = {a.username for a in DEMO_ACCOUNTS}
    typer.echo(tr("cli.web.out.accounts"))
    for a in accounts:
        if a.username in named:
            typer.echo(f"    {a.username:<20} {a.password or tr('cli.web.out.unchanged'):<14} "
                       f"{label(a.role.value, 'role', cli_language()):<8} {_scope(a)}  {a.display_name}")
    others = len([a for a in accounts if a.username not in named])
    if others:
        typer.echo(tr("cli.web.out.other_accounts", n=others, file=get_settings().home / "demo-accounts.json"))


@web_app.command("serve", help=tr("cli.web.serve.help"))
def web_serve(
    host: Annotated[str, typer.Option(help=tr("cli.web.serve.opt.host"))] = "127.0.0.1",
    port: Annotated[Optional[int], typer.Option(help=tr("cli.web.serve.opt.port"))] = None,
) -> None:
    """Serve the web app (pages and the JSON API under /api) with uvicorn (blocks)."""
    import uvicorn  # start-up: uvicorn (46 modules)

    uvicorn.run("web.app:create_app", factory=True, host=host, port=port or get_settings().web_port,
                log_level="info", proxy_headers=False)


@web_app.command("create-user", help=tr("cli.web.create_user.help"))
def web_create_user(
    username: Annotated[str, typer.Argument(help=tr("cli.web.create_user.arg.username"))],
    role: Annotated[str, typer.Option(help=tr("cli.web.create_user.opt.role"))],
    password: Annotated[str, typer.Option(prompt=tr("cli.web.create_user.prompt.password"), hide_input=True,
                                          confirmation_prompt=tr("cli.web.create_user.prompt.repeat"),
                                          help=tr("cli.web.create_user.opt.password"))],
    jurisdiction: Annotated[str, typer.Option(help=tr("cli.web.create_user.opt.jurisdiction"))] = "",
    unit: Annotated[Optional[str], typer.Option(help=tr("cli.web.create_user.opt.unit"))] = None,
    name: Annotated[str, typer.Option(help=tr("cli.web.create_user.opt.name"))] = "",
    token: Annotated[bool, typer.Option(help=tr("cli.web.create_user.opt.token"))] = False,
) -> None:
    """Create a web user (the first admin, for example); passwords are stored as argon2 hashes."""
    from core.db import session_scope  # start-up: sqlmodel
    from web.users import create_api_token, create_user  # start-up: sqlmodel

    try:
        with session_scope() as session:
            user = create_user(session, username=username, password=password, role=role, actor="cli",
                               display_name=name, jurisdiction_code=jurisdiction, unit_code=unit)
            issued = create_api_token(session, user=user, name="cli") if token else None
    except USER_ERRORS as exc:
        fail(exc)
    typer.echo(tr("cli.web.create_user.out.created", username=user.username,
                  role=label(user.role, "role", cli_language())))
    if issued:
        typer.echo(tr("cli.web.create_user.out.token", token=issued.token))


@web_app.command("demo-accounts", help=tr("cli.web.demo_accounts.help"))
def web_demo_accounts() -> None:
    """Create the demo accounts of a local installation (if missing) and print them with their passwords."""
    prepared_home()
    echo_accounts(demo_accounts())
