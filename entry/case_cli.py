"""``careflow case …``: open a case on a registered child; print a case's timeline across all its pathways.

A case is named by its reference (``CF-<county>-…``); reading a timeline is audited under ``--as``. Imports inside a
command are marked ``# start-up``: they load the database layer (sqlmodel, about 1 s), which ``careflow --help``
does not need.
"""
from __future__ import annotations

import uuid
from typing import Annotated, Optional

import typer

from core.i18n import cli_language, cli_text as tr
from entry.user_input import USER_ERRORS, fail
from models.errors import FieldValueError

case_app = typer.Typer(help=tr("cli.case.help"), no_args_is_help=True)


@case_app.command("open", help=tr("cli.case.open.help"))
def case_open(
    child_id: Annotated[str, typer.Option(help=tr("cli.case.open.opt.child_id"))],
    caseworker: Annotated[str, typer.Option(help=tr("cli.case.open.opt.caseworker"))],
    summary: Annotated[str, typer.Option(help=tr("cli.case.open.opt.summary"))] = "",
) -> None:
    """Open a case on a registered child."""
    from careflow.cases import open_case  # start-up: sqlmodel
    from core.db import session_scope  # start-up: sqlmodel

    try:
        try:
            child = uuid.UUID(child_id.strip())
        except ValueError:
            raise FieldValueError("child_id", "problem.not_a_child_id", value=child_id) from None
        with session_scope() as session:
            case = open_case(session, child_id=child, caseworker=caseworker, summary=summary)
    except USER_ERRORS as exc:
        fail(exc)
    typer.echo(case.reference)


@case_app.command("timeline", help=tr("cli.case.timeline.help"))
def case_timeline_cmd(
    reference: Annotated[str, typer.Argument(help=tr("cli.case.timeline.arg.reference"))],
    actor: Annotated[str, typer.Option("--as", help=tr("cli.opt.as_reader"))] = "caseworker",
    lang: Annotated[Optional[str], typer.Option("--lang", help=tr("cli.case.timeline.opt.lang"))] = None,
) -> None:
    """Print a case's timeline across all its pathways, in Chinese (``--lang en`` for English)."""
    from careflow.timeline import case_timeline, format_timeline  # start-up: sqlmodel
    from core.db import session_scope  # start-up: sqlmodel

    try:
        with session_scope() as session:
            typer.echo(format_timeline(case_timeline(session, reference, actor=actor), lang or cli_language()))
    except USER_ERRORS as exc:
        fail(exc)
