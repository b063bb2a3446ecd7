"""``careflow web …``: serve the web app, create a user, create and print the demo accounts.

The demo accounts of a local installation are written to ``CAREFLOW_HOME/demo-accounts.json`` with their passwords
(:mod:`web.demo_accounts`); ``careflow up`` prints them too. Imports inside a command are marked ``# start-up``:
they load the database layer (sqlmodel, about 1 s) or uvicorn, which ``careflow --help`` does not need.
"""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from core.i18n import label
from core.settings import get_settings
from entry.stack import ensure_home
from entry.user_input import USER_ERRORS, fail

web_app = typer.Typer(help="The web app (网页): serve it, create users and demo accounts.", no_args_is_help=True)


def demo_accounts() -> list:
    """Create the demo accounts that are missing; return every demo account, with its password when known."""
    from core.db import session_scope  # start-up: sqlmodel
    from web.demo_accounts import ensure_demo_accounts  # start-up: sqlmodel

    with session_scope() as session:
        return ensure_demo_accounts(session, get_settings().home / "demo-accounts.json")


def _scope_zh(account) -> str:
    """Where a demo account acts, by name: its area (城厢区龙桥街道) or 本单位 for a unit's officer, 全省 for the admin."""
    from models.areas import area_name  # start-up: pydantic and the region tables (0.18 s), not for --help

    if account.unit_code:
        return "本单位"
    return area_name(account.jurisdiction_code) if account.jurisdiction_code else "全省"


def echo_accounts(accounts) -> None:
    """The named demo accounts, one a line; the units' own officer accounts (``unit.<代码>``) as one count."""
    from web.demo_accounts import DEMO_ACCOUNTS  # start-up: sqlmodel

    named = {a.username for a in DEMO_ACCOUNTS}
    typer.echo("  演示账号（用户名 / 密码，角色，范围）：")
    for a in accounts:
        if a.username in named:
            typer.echo(f"    {a.username:<20} {a.password or '（未改动）':<14} {label(a.role.value, 'role', 'zh'):<8} "
                       f"{_scope_zh(a)}  {a.display_name}")
    others = len([a for a in accounts if a.username not in named])
    if others:
        typer.echo(f"    另有 {others} 个单位经办人账号（unit.<单位代码>），密码见 "
                   f"{get_settings().home / 'demo-accounts.json'}")


@web_app.command("serve")
def web_serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[Optional[int], typer.Option(help="port (default CAREFLOW_WEB_PORT, 8000)")] = None,
) -> None:
    """Serve the web app (pages and the JSON API under /api) with uvicorn (blocks)."""
    import uvicorn  # start-up: uvicorn (46 modules)

    uvicorn.run("web.app:create_app", factory=True, host=host, port=port or get_settings().web_port,
                log_level="info", proxy_headers=False)


@web_app.command("create-user")
def web_create_user(
    username: Annotated[str, typer.Argument(help="login name, e.g. lin.fang")],
    role: Annotated[str, typer.Option(help="caseworker | agency_officer | manager | admin")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          help="at least 10 characters (prompted when not given)")],
    jurisdiction: Annotated[str, typer.Option(help="area code of a caseworker or manager, e.g. 350302001")] = "",
    unit: Annotated[Optional[str], typer.Option(help="agency unit code of an agency officer")] = None,
    name: Annotated[str, typer.Option(help="display name")] = "",
    token: Annotated[bool, typer.Option(help="also create an API token and print it (shown once)")] = False,
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
    typer.echo(f"user {user.username} ({user.role}) created")
    if issued:
        typer.echo(f"API token (shown once): {issued.token}")


@web_app.command("demo-accounts")
def web_demo_accounts() -> None:
    """Create the demo accounts of a local installation (if missing) and print them with their passwords."""
    ensure_home()
    echo_accounts(demo_accounts())
