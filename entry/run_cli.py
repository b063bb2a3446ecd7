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

from core.i18n import cli_language, cli_text as tr
from core.settings import get_settings
from entry.bytecode import compile_project
from entry.demos import run_demo
from entry.stack import LocalStack, prepared_home
from entry.user_input import counts_text, fail
from entry.web_cli import demo_accounts, echo_accounts
from flows.pool import deploy_to_pool, run_worker, worker_environment_summary

#: How often `careflow up` looks for a process of its stack that has died (seconds).
SUPERVISE_EVERY_S = 5

run_app = typer.Typer()


@run_app.command(help=tr("cli.init.help"))
def init() -> None:
    """Create the data directory, migrate the database, load the agency directory and default channels.

    On PostgreSQL with CAREFLOW_SETUP_DATABASE_URL (a superuser), first create the owner role migrations run as
    and the application role the app runs as (CAREFLOW_DB_OWNER_ROLE / CAREFLOW_DB_APP_ROLE), then grant the
    application role DML, and only INSERT and SELECT on the audit trail.
    """
    if get_settings().setup_database_url:
        _set_up_roles()
    typer.echo(tr("cli.init.out.home", home=prepared_home()))


def _set_up_roles() -> None:
    """``careflow init`` with CAREFLOW_SETUP_DATABASE_URL: the owner and application roles, the migrations run as
    the owner, the application role's grants; a warning when a URL logs in as another role than its own."""
    from core.db import grant_app_privileges, migrate, password_for, setup_roles  # start-up: sqlmodel

    settings = get_settings()
    setup = settings.setup_database_url
    if not setup.startswith("postgresql"):
        fail(ValueError(tr("cli.init.out.roles_postgres_only", scheme=setup.split(':')[0])))
    if not settings.owner_database_url or not settings.database_url:
        fail(ValueError(tr("cli.init.out.roles_need_urls")))
    owner, app_role = settings.db_owner_role, settings.db_app_role
    urls = (settings.owner_database_url, settings.database_url)
    setup_roles(setup, owner_role=owner, app_role=app_role, owner_password=password_for(owner, *urls),
                app_password=password_for(app_role, *urls))
    migrate()
    grant_app_privileges(setup, owner_role=owner, app_role=app_role)
    for name, url in (("owner", settings.owner_database_url), ("app", settings.database_url)):
        expected = owner if name == "owner" else app_role
        if sa_username(url) != expected:
            typer.secho(tr("cli.out.warning", message=tr(f"cli.init.out.wrong_login_{name}", user=sa_username(url),
                                                         expected=expected)), fg=typer.colors.YELLOW, err=True)
    typer.echo(tr("cli.init.out.roles", owner=owner, app_role=app_role))


def sa_username(url: str) -> str | None:
    """The user name a database URL logs in as."""
    from sqlalchemy.engine import make_url  # start-up: sqlalchemy

    return make_url(url).username


@run_app.command(help=tr("cli.serve.help"))
def serve(
    pathways_only: Annotated[bool, typer.Option("--pathways-only", help=tr("cli.serve.opt.pathways_only"))] = False,
) -> None:
    """Serve the deployments from this process (blocks); ``--pathways-only``: the pathways and the sweeper only."""
    from flows.serve import serve_deployments  # start-up: Prefect

    compile_project()  # every flow run this runner starts imports careflow again (entry.bytecode)
    serve_deployments(pathways_only=pathways_only)


@run_app.command(help=tr("cli.deploy.help"))
def deploy(
    pool: Annotated[Optional[str], typer.Option(help=tr("cli.opt.pool"))] = None,
    result_storage: Annotated[Optional[str], typer.Option(help=tr("cli.deploy.opt.result_storage"))] = None,
    pathway_limit: Annotated[Optional[int], typer.Option(help=tr("cli.deploy.opt.pathway_limit"), min=1)] = None,
) -> None:
    """Create the pathway, sweeper and survey deployments on a Prefect process work pool (created when missing)."""
    try:
        names = deploy_to_pool(pool=pool, result_storage=Path(result_storage) if result_storage else None,
                               pathway_concurrency=pathway_limit)
    except ValueError as exc:
        fail(exc)
    typer.echo(tr("cli.deploy.out.deployments", pool=pool or get_settings().work_pool, n=len(names)))
    for name in names:
        typer.echo(f"  {name}")
    typer.echo(tr("cli.deploy.out.next"))


@run_app.command(help=tr("cli.worker.help"))
def worker(
    pool: Annotated[Optional[str], typer.Option(help=tr("cli.opt.pool"))] = None,
    name: Annotated[Optional[str], typer.Option(help=tr("cli.worker.opt.name"))] = None,
    limit: Annotated[int, typer.Option(help=tr("cli.worker.opt.limit"), min=1)] = 20,
) -> None:
    """Run a Prefect process worker on the work pool with careflow's settings (blocks until SIGTERM/Ctrl-C)."""
    for key, value in worker_environment_summary().items():
        typer.echo(f"  {key}={value}")
    compile_project()  # every flow run this worker starts imports careflow again (entry.bytecode)
    run_worker(pool=pool, name=name, limit=limit)


@run_app.command(help=tr("cli.up.help"))
def up() -> None:
    """Start everything a user needs on embedded defaults and wait (Ctrl-C stops what was started)."""
    prepared_home()
    settings = get_settings()
    accounts = demo_accounts()
    try:
        stack = LocalStack(with_web=True).start()
    except (RuntimeError, TimeoutError) as exc:  # a port taken, a process that died: one line, no traceback
        typer.secho(tr("cli.out.error", message=exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(tr("cli.up.out.up", home=settings.home))
    typer.echo(tr("cli.up.out.web", url=stack.web_url))
    typer.echo(tr("cli.up.out.prefect", url=f"http://127.0.0.1:{settings.prefect_port}"))
    typer.echo(tr("cli.up.out.mailbox", folder=settings.mailbox_dir))
    echo_accounts(accounts)
    typer.echo(tr("cli.up.out.try"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(SUPERVISE_EVERY_S):
            for name, code in stack.restart_exited():
                typer.secho(tr("cli.up.out.restarted", what=tr(f"cli.stack.name.{name}"), code=code, logs=stack.logs),
                            fg=typer.colors.YELLOW, err=True)
    except KeyboardInterrupt:
        pass
    finally:
        typer.echo(tr("cli.up.out.stopping"))
        stack.stop()


@run_app.command(help=tr("cli.demo.help"))
def demo(
    pathway: Annotated[str, typer.Option(help=tr("cli.demo.opt.pathway"))] = "guardianship",
    lang: Annotated[Optional[str], typer.Option("--lang", help=tr("cli.demo.opt.lang"))] = None,
) -> None:
    """Drive a complete case on realistic data through every step, answering as each agency; print the timeline.

    Exits 0 only when the case ended as the policy says.
    """
    raise typer.Exit(run_demo(pathway, lang or cli_language()))


@run_app.command(help=tr("cli.sweep.help"))
def sweep() -> None:
    """Run one sweep now (escalate, refresh stale dashboard figures, start unstarted pathways, resume stored
    answers, send due messages)."""
    from flows.sweeper import escalate, reconcile_pathways, refresh_dashboard, retry_notifications  # start-up: Prefect

    figures = escalate.fn()
    typer.echo(tr("cli.sweep.out.escalations", fired=figures["fired"], backlog=figures["backlog"],
                  seconds=figures["duration_s"]) + (tr("cli.sweep.out.skipped") if figures["skipped"] else ""))
    dashboard = refresh_dashboard.fn()
    typer.echo(tr("cli.sweep.out.dashboard", figures=counts_text({k: v for k, v in dashboard.items() if k != "refreshed"}))
               if dashboard["refreshed"] else tr("cli.sweep.out.dashboard_fresh"))
    typer.echo(tr("cli.sweep.out.pathways", figures=counts_text(asyncio.run(reconcile_pathways.fn()), "pathway")))
    from notifications.channels import ChannelConfigError  # start-up: Apprise, as the sending below

    try:
        typer.echo(tr("cli.sweep.out.notifications", figures=counts_text(retry_notifications.fn())))
    except ChannelConfigError as exc:  # the channel file is broken: its line, not a traceback
        fail(exc)


@run_app.command(help=tr("cli.mailbox.help"))
def mailbox(limit: Annotated[int, typer.Option(help=tr("cli.mailbox.opt.limit"))] = 20) -> None:
    """Show the newest messages delivered to the local mail sink (the embedded default channel)."""
    from notifications.sink import read_mailbox  # start-up: aiosmtpd and the email parser (31 modules)

    messages = read_mailbox(get_settings().mailbox_dir)[-limit:]
    for m in messages:
        typer.echo(tr("cli.mailbox.out.message", to=m.to, subject=m.subject, body=m.body) + "\n")
    typer.echo(tr("cli.mailbox.out.count", n=len(messages), folder=get_settings().mailbox_dir))
