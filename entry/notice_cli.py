"""``careflow notice``: the police's or procuratorate's notice of a child's suspected offence or serious misconduct,
and the joint meeting's duties (定期会商; 闽民童〔2025〕5号 measure 十一).

``careflow notice start`` records the notice as an officer of the notifying unit (:func:`careflow.misconduct.start_notice`)
and starts its flow: civil affairs and education are notified at once. ``careflow notice meetings`` opens this
period's joint-meeting duties now (the daily scheduled flow does it too). Imports inside the commands are marked
``# start-up``: the database layer and Prefect, which ``careflow --help`` does not need.
"""
from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from core.i18n import cli_text as tr
from entry.user_input import USER_ERRORS, fail, refused

notice_app = typer.Typer(help=tr("cli.notice.help"), no_args_is_help=True)


@notice_app.command("start", help=tr("cli.notice.start.help"))
def notice_start(
    unit: Annotated[str, typer.Option(help=tr("cli.notice.start.opt.unit"))],
    actor: Annotated[str, typer.Option("--as", help=tr("cli.notice.start.opt.as"))],
    resident_id: Annotated[str, typer.Option("--id", help=tr("cli.notice.start.opt.id"))],
    kind: Annotated[str, typer.Option(help=tr("cli.notice.start.opt.kind"))],
    conduct: Annotated[str, typer.Option(help=tr("cli.notice.start.opt.conduct"))],
    on: Annotated[str, typer.Option(help=tr("cli.notice.start.opt.on"))],
    school: Annotated[str, typer.Option(help=tr("cli.notice.start.opt.school"))] = "",
) -> None:
    """Record a notice and start its flow: civil affairs and education are notified at once."""
    from careflow.misconduct import start_notice  # start-up: sqlmodel
    from careflow.resume import start_pathway_flow  # start-up: Prefect
    from core.db import session_scope  # start-up: sqlmodel

    try:
        with session_scope() as session:
            started = start_notice(session, actor=actor, unit_code=unit, resident_id=resident_id, conduct_kind=kind,
                                   conduct=conduct, conduct_on=on, school_area_code=school)
            run_id, reference = started.run.id, started.case.reference
    except PermissionError as exc:
        refused(exc)
    except USER_ERRORS as exc:
        fail(exc)
    try:
        asyncio.run(start_pathway_flow(run_id))
    except Exception as exc:
        typer.echo(tr("cli.pathway.start.out.start_failed", run=run_id, error=exc))
        raise typer.Exit(1)
    typer.echo(tr("cli.notice.start.out.started", case=reference))


@notice_app.command("meetings", help=tr("cli.notice.meetings.help"))
def notice_meetings() -> None:
    """Open this period's joint-meeting duties now (idempotent)."""
    from careflow.city_list import send_duty_messages  # start-up: sqlmodel, Apprise
    from careflow.joint_meeting import open_meeting_duties  # start-up: sqlmodel
    from core.db import session_scope  # start-up: sqlmodel

    with session_scope() as session:
        result = open_meeting_duties(session)
        ids = [n.id for n in result.notifications]
    send_duty_messages(ids)
    typer.echo(tr("cli.notice.meetings.out.opened", period=result.period, due=result.due_on.isoformat(),
                  opened=len(result.opened), no_unit=len(result.no_unit)))
