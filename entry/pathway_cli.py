"""``careflow pathway start``: start a pathway on a case; the first agency is notified at once.

The pathway run is recorded first, then its flow run is started on the Prefect server; when that fails the run
stays recorded and the sweeper starts it (exit 1). A pathway already open on the case is refused (exit 1).
Imports inside the command are marked ``# start-up``: they load the database layer and Prefect (3 to 6 s), which
``careflow --help`` does not need.
"""
from __future__ import annotations

import asyncio
from typing import Annotated, Optional

import typer

from core.i18n import cli_text as tr
from entry.user_input import USER_ERRORS, fail, parse_pairs, refused

pathway_app = typer.Typer(help=tr("cli.pathway.help"), no_args_is_help=True)


@pathway_app.command("start", help=tr("cli.pathway.start.help"))
def pathway_start(
    case: Annotated[str, typer.Option(help=tr("cli.pathway.start.opt.case"))],
    pathway: Annotated[str, typer.Option(help=tr("cli.pathway.start.opt.pathway"))],
    param: Annotated[Optional[list[str]], typer.Option(help=tr("cli.pathway.start.opt.param"))] = None,
    actor: Annotated[str, typer.Option("--as", help=tr("cli.pathway.start.opt.as"))] = "caseworker",
) -> None:
    """Start a pathway on a case: the first agency is notified at once."""
    from sqlmodel import select  # start-up: sqlmodel

    from careflow.cases import PathwayAlreadyRunning, PathwayNotRoutable, create_pathway_run  # start-up: sqlmodel
    from careflow.resume import start_pathway_flow  # start-up: Prefect
    from core.db import session_scope  # start-up: sqlmodel
    from models.case import Case, case_reference  # start-up: sqlmodel

    try:
        parameters = parse_pairs(param, "param")
        with session_scope() as session:
            found = session.exec(select(Case).where(Case.reference == case_reference(case))).first()
            if found is None:
                raise LookupError(tr("cli.pathway.start.out.no_case", case=case))
            run = create_pathway_run(session, case_id=found.id, pathway=pathway, actor=actor, parameters=parameters)
    except (PathwayAlreadyRunning, PathwayNotRoutable) as exc:  # well formed, refused by the case or the directory
        refused(exc)
    except USER_ERRORS as exc:
        fail(exc)
    try:
        flow_run_id = asyncio.run(start_pathway_flow(run.id))
    except Exception as exc:
        typer.echo(tr("cli.pathway.start.out.start_failed", run=run.id, error=exc))
        raise typer.Exit(1)
    typer.echo(tr("cli.pathway.start.out.started", run=run.id, flow_run=flow_run_id))
