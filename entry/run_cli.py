"""The top-level commands that set up and run an installation: ``careflow init``, ``up``, ``demo``, ``serve``,
``deploy``, ``worker``, ``sweep`` and ``mailbox``.

``init`` and ``up`` work on ``CAREFLOW_HOME`` (:func:`entry.stack.ensure_home`); ``serve``, ``deploy`` and ``worker``
run the flows (served runners, or a Prefect process work pool); ``sweep`` runs the sweeper's work once.
Imports inside a command are marked ``# start-up``: they load the database layer (sqlmodel, about 1 s) or Prefect
(3 to 6 s), which ``careflow --help`` and the other commands do not need.
"""
from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer

from core.settings import get_settings
from entry.demos import run_demo
from entry.stack import LocalStack, ensure_home
from entry.user_input import fail
from entry.web_cli import demo_accounts, echo_accounts
from flows.pool import deploy_to_pool, run_worker, worker_environment_summary

run_app = typer.Typer()


@run_app.command()
def init() -> None:
    """Create the data directory, migrate the database, load the agency directory and default channels.

    On PostgreSQL with CAREFLOW_SETUP_DATABASE_URL (a superuser), first create the owner role migrations run as
    and the application role the app runs as (CAREFLOW_DB_OWNER_ROLE / CAREFLOW_DB_APP_ROLE), then grant the
    application role DML, and only INSERT and SELECT on the audit trail.
    """
    if get_settings().setup_database_url:
        _set_up_roles()
    home = ensure_home()
    typer.echo(f"careflow home: {home}")


def _set_up_roles() -> None:
    """``careflow init`` with CAREFLOW_SETUP_DATABASE_URL: the owner and application roles, the migrations run as
    the owner, the application role's grants; a warning when a URL logs in as another role than its own."""
    from core.db import grant_app_privileges, migrate, password_for, setup_roles  # start-up: sqlmodel

    settings = get_settings()
    setup = settings.setup_database_url
    if not setup.startswith("postgresql"):
        fail(ValueError(f"CAREFLOW_SETUP_DATABASE_URL: roles exist only on PostgreSQL, not {setup.split(':')[0]}"))
    if not settings.owner_database_url or not settings.database_url:
        fail(ValueError("CAREFLOW_OWNER_DATABASE_URL and CAREFLOW_DATABASE_URL: both are needed with "
                        "CAREFLOW_SETUP_DATABASE_URL (migrations run as the owner, the app as the application role)"))
    owner, app_role = settings.db_owner_role, settings.db_app_role
    urls = (settings.owner_database_url, settings.database_url)
    setup_roles(setup, owner_role=owner, app_role=app_role, owner_password=password_for(owner, *urls),
                app_password=password_for(app_role, *urls))
    migrate()
    grant_app_privileges(setup, owner_role=owner, app_role=app_role)
    for name, url in (("owner", settings.owner_database_url), ("app", settings.database_url)):
        expected = owner if name == "owner" else app_role
        if sa_username(url) != expected:
            typer.secho(f"warning: the {name} URL logs in as {sa_username(url)!r}, not {expected!r}",
                        fg=typer.colors.YELLOW, err=True)
    typer.echo(f"roles: {owner} owns the schema (migrations), {app_role} runs the app")


def sa_username(url: str) -> str | None:
    """The user name a database URL logs in as."""
    from sqlalchemy.engine import make_url  # start-up: sqlalchemy

    return make_url(url).username


@run_app.command()
def serve() -> None:
    """Serve the pathway deployments and the sweeper from this process (blocks)."""
    from flows.serve import serve_deployments  # start-up: Prefect

    serve_deployments()


@run_app.command()
def deploy(
    pool: Annotated[Optional[str], typer.Option(help="work pool (default CAREFLOW_WORK_POOL, careflow)")] = None,
    result_storage: Annotated[Optional[str], typer.Option(
        help="folder every worker reaches (default CAREFLOW_RESULT_STORAGE)")] = None,
    pathway_limit: Annotated[Optional[int], typer.Option(
        help="flow runs of one pathway at once (default CAREFLOW_PATHWAY_CONCURRENCY, 20)", min=1)] = None,
) -> None:
    """Create the pathway, sweeper and survey deployments on a Prefect process work pool (created when missing)."""
    try:
        names = deploy_to_pool(pool=pool, result_storage=Path(result_storage) if result_storage else None,
                               pathway_concurrency=pathway_limit)
    except ValueError as exc:
        fail(exc)
    typer.echo(f"work pool {pool or get_settings().work_pool}: {len(names)} deployments")
    for name in names:
        typer.echo(f"  {name}")
    typer.echo("start workers with: careflow worker")


@run_app.command()
def worker(
    pool: Annotated[Optional[str], typer.Option(help="work pool (default CAREFLOW_WORK_POOL, careflow)")] = None,
    name: Annotated[Optional[str], typer.Option(help="worker name (default: a new one each start)")] = None,
    limit: Annotated[int, typer.Option(help="flow runs at once on this worker", min=1)] = 20,
) -> None:
    """Run a Prefect process worker on the work pool with careflow's settings (blocks until SIGTERM/Ctrl-C)."""
    for key, value in worker_environment_summary().items():
        typer.echo(f"  {key}={value}")
    run_worker(pool=pool, name=name, limit=limit)


@run_app.command()
def up() -> None:
    """Start everything a user needs on embedded defaults and wait (Ctrl-C stops what was started)."""
    ensure_home()
    settings = get_settings()
    accounts = demo_accounts()
    stack = LocalStack(with_web=True).start()
    typer.echo(f"careflow is up. Data directory: {settings.home}")
    typer.echo(f"  web app:            {stack.web_url}")
    typer.echo(f"  Prefect UI:         http://127.0.0.1:{settings.prefect_port}")
    typer.echo(f"  delivered messages: {settings.mailbox_dir} (careflow mailbox)")
    echo_accounts(accounts)
    typer.echo("  try: ./run demo   (in another terminal, same CAREFLOW_HOME)")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        typer.echo("stopping ...")
        stack.stop()


@run_app.command()
def demo(
    pathway: Annotated[str, typer.Option(help="which pathway to drive (see entry.demos.DEMOS)")] = "guardianship",
    lang: Annotated[str, typer.Option("--lang", help="language of the printed timeline: zh (default) or en")] = "zh",
) -> None:
    """Drive a complete case on realistic data through every step, answering as each agency; print the timeline.

    Exits 0 only when the case ended as the policy says.
    """
    raise typer.Exit(run_demo(pathway, lang))


@run_app.command()
def sweep() -> None:
    """Run one sweep now (escalate, refresh stale dashboard figures, start unstarted pathways, resume stored
    answers, send due messages)."""
    from flows.sweeper import escalate, reconcile_pathways, refresh_dashboard, retry_notifications  # start-up: Prefect

    figures = escalate.fn()
    typer.echo(f"escalations fired: {figures['fired']} (backlog {figures['backlog']}, {figures['duration_s']} s"
               + (", another sweep was running" if figures["skipped"] else "") + ")")
    typer.echo(f"dashboard figures: {refresh_dashboard.fn()}")
    typer.echo(f"pathways: {asyncio.run(reconcile_pathways.fn())}")
    typer.echo(f"notifications: {retry_notifications.fn()}")


@run_app.command()
def mailbox(limit: int = 20) -> None:
    """Show the newest messages delivered to the local mail sink (the embedded default channel)."""
    from notifications.sink import read_mailbox  # start-up: aiosmtpd and the email parser (31 modules)

    messages = read_mailbox(get_settings().mailbox_dir)[-limit:]
    for m in messages:
        typer.echo(f"--- to {m.to}\nSubject: {m.subject}\n{m.body}\n")
    typer.echo(f"{len(messages)} message(s) in {get_settings().mailbox_dir}")
