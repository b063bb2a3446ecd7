"""``careflow case …``: open a case on a registered child; print a case's timeline across all its pathways.

A case is named by its reference (``CF-<county>-…``); reading a timeline is audited under ``--as``. Imports inside a
command are marked ``# start-up``: they load the database layer (sqlmodel, about 1 s), which ``careflow --help``
does not need.
"""
from __future__ import annotations

import uuid
from typing import Annotated

import typer

from entry.user_input import USER_ERRORS, fail

case_app = typer.Typer(help="Cases and their timelines (个案).", no_args_is_help=True)


@case_app.command("open")
def case_open(
    child_id: Annotated[str, typer.Option(help="the child's id (from child register)")],
    caseworker: Annotated[str, typer.Option(help="the caseworker's login")],
    summary: str = "",
) -> None:
    """Open a case on a registered child."""
    from careflow.cases import open_case  # start-up: sqlmodel
    from core.db import session_scope  # start-up: sqlmodel

    try:
        with session_scope() as session:
            case = open_case(session, child_id=uuid.UUID(child_id), caseworker=caseworker, summary=summary)
    except USER_ERRORS as exc:
        fail(exc)
    typer.echo(case.reference)


@case_app.command("timeline")
def case_timeline_cmd(
    reference: str,
    actor: Annotated[str, typer.Option("--as", help="who reads (audited)")] = "caseworker",
    lang: Annotated[str, typer.Option("--lang", help="zh (default) or en")] = "zh",
) -> None:
    """Print a case's timeline across all its pathways, in Chinese (``--lang en`` for English)."""
    from careflow.timeline import case_timeline, format_timeline  # start-up: sqlmodel
    from core.db import session_scope  # start-up: sqlmodel

    try:
        with session_scope() as session:
            typer.echo(format_timeline(case_timeline(session, reference, actor=actor), lang))
    except USER_ERRORS as exc:
        fail(exc)
