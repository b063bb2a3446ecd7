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

from entry.user_input import USER_ERRORS, fail, parse_pairs, refused

pathway_app = typer.Typer(help="Start pathways on a case (转介路径).", no_args_is_help=True)


@pathway_app.command("start")
def pathway_start(
    case: Annotated[str, typer.Option(help="case reference")],
    pathway: Annotated[str, typer.Option(help="pathway key, e.g. guardianship")],
    param: Annotated[Optional[list[str]], typer.Option(
        help="start parameter name=value (repeatable), e.g. screening_result=high_risk or item=18")] = None,
    actor: Annotated[str, typer.Option("--as", help="who starts it")] = "caseworker",
) -> None:
    """Start a pathway on a case: the first agency is notified at once."""
    from sqlmodel import select  # start-up: sqlmodel

    from careflow.cases import PathwayAlreadyRunning, create_pathway_run  # start-up: sqlmodel
    from careflow.resume import start_pathway_flow  # start-up: Prefect
    from core.db import session_scope  # start-up: sqlmodel
    from models.case import Case  # start-up: sqlmodel

    try:
        parameters = parse_pairs(param, "param")
        with session_scope() as session:
            found = session.exec(select(Case).where(Case.reference == case)).first()
            if found is None:
                raise LookupError(f"field 'case': no case {case!r}")
            run = create_pathway_run(session, case_id=found.id, pathway=pathway, actor=actor, parameters=parameters)
    except PathwayAlreadyRunning as exc:
        refused(exc)
    except USER_ERRORS as exc:
        fail(exc)
    try:
        flow_run_id = asyncio.run(start_pathway_flow(run.id))
    except Exception as exc:
        typer.echo(f"pathway run {run.id} recorded; starting its flow failed ({exc}); the sweeper will start it")
        raise typer.Exit(1)
    typer.echo(f"pathway run {run.id} started as flow run {flow_run_id}")
