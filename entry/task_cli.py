"""``careflow task …``: an agency unit lists its open tasks and answers them — acknowledge, reject with a reason,
complete with the step's structured outcome.

A task is named by its short reference (at least 4 hex characters of its id). An outcome is typed ``name=value``;
a choice may be typed by its label (``ruling=驳回申请``), the policy's ``pathways/*.yaml`` being the source of the
choices. Someone else having answered first, differently, is refused (exit 1). Imports inside a command are marked
``# start-up``: they load the database layer (sqlmodel, about 1 s) or Prefect (3 to 6 s), which ``careflow --help``
does not need.
"""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from core.i18n import cli_language, cli_text as tr, label, value_of
from entry.user_input import USER_ERRORS, fail, parse_pairs, refused

task_app = typer.Typer(help=tr("cli.task.help"), no_args_is_help=True)


@task_app.command("list", help=tr("cli.task.list.help"))
def task_list(unit: Annotated[str, typer.Option(help=tr("cli.opt.unit"))],
              limit: Annotated[int, typer.Option(min=1, max=1000, help=tr("cli.task.list.opt.limit"))] = 200,
              after: Annotated[str, typer.Option(help=tr("cli.task.list.opt.after"))] = "",
              follow: Annotated[bool, typer.Option("--follow", help=tr("cli.task.list.opt.follow"))] = False) -> None:
    """List a unit's open tasks, soonest deadline first (overdue ones marked), a page at a time; ``--follow``: the
    tasks it follows at a child's registration place (户籍地办理, answered by that county's unit)."""
    from careflow.task_lookup import count_open_tasks, find_task, list_open_tasks  # start-up: sqlmodel
    from core.db import session_scope  # start-up: sqlmodel
    from models.agency import AgencyUnit  # start-up: sqlmodel
    from models.base import utcnow  # start-up: sqlalchemy
    from models.case import Case  # start-up: sqlmodel
    from models.deadlines import format_local  # start-up: sqlmodel
    from models.dated_duties import describe_duty  # start-up: sqlmodel

    with session_scope() as session:
        if session.get(AgencyUnit, unit) is None:
            fail(LookupError(tr("cli.task.out.no_unit", unit=unit)))
        start = None
        if after:
            try:
                start = find_task(session, after, unit_code=None if follow else unit)
            except LookupError as exc:
                fail(LookupError(tr("cli.out.field", field="after", message=exc)))
        total = count_open_tasks(session, unit, followed=follow)
        tasks = list_open_tasks(session, unit, limit=limit + 1, after=start, followed=follow)
        more, tasks = len(tasks) > limit, tasks[:limit]
        now = utcnow()
        for t in tasks:
            case = session.get(Case, t.case_id) if t.case_id else None
            subject = case.reference if case else describe_duty(t.duty_key or "", t.title).subject
            late = tr("cli.out.overdue") if t.due_at < now else ""
            provisional = tr("cli.out.provisional") if t.due_provisional else ""
            typer.echo(f"{t.short_ref}  {format_local(t.due_at)}{provisional}  "
                       f"{label(t.state, 'state', cli_language()):<5} {subject}  {t.title}{late}")
    typer.echo(tr("cli.task.list.out.followed" if follow else "cli.task.list.out.count", shown=len(tasks),
                  total=total, unit=unit))
    if more:
        typer.echo(tr("cli.task.list.out.more", command=f"careflow task list --unit {unit} --limit {limit} "
                                                        f"--after {tasks[-1].short_ref}{' --follow' if follow else ''}"))


def _answer(ref: str, state, unit: str | None, actor: str, reason: str = "", outcome: dict | None = None,
            **rejection) -> None:
    """Answer task ``ref`` as ``unit``'s ``actor`` and say whether the pathway moved on."""
    from careflow.answers import answer_task  # start-up: Prefect
    from careflow.tasks import AnswerConflict  # start-up: sqlmodel

    try:
        result = answer_task(ref, state, actor=actor, unit_code=unit, reason=reason, outcome=outcome, **rejection)
    except AnswerConflict as exc:  # someone else answered first, differently
        refused(exc)
    except USER_ERRORS as exc:
        fail(exc)
    typer.echo(tr("cli.task.out.state", ref=result.task.short_ref, state=label(result.task.state, "state",
                                                                            cli_language())))
    if result.resume == "pending":
        typer.echo(tr("cli.task.out.pending"))
    elif result.resume == "resumed":
        typer.echo(tr("cli.task.out.resumed"))


@task_app.command("ack", help=tr("cli.task.ack.help"))
def task_ack(ref: Annotated[str, typer.Argument(help=tr("cli.task.arg.ref"))],
             unit: Annotated[Optional[str], typer.Option(help=tr("cli.task.opt.unit"))] = None,
             actor: Annotated[str, typer.Option("--as", help=tr("cli.opt.as_officer"))] = "") -> None:
    """Acknowledge (accept) a task."""
    from models.task import TaskState  # start-up: sqlmodel

    _answer(ref, TaskState.acknowledged, unit, actor)


@task_app.command("reject", help=tr("cli.task.reject.help"))
def task_reject(ref: Annotated[str, typer.Argument(help=tr("cli.task.arg.ref"))],
                reason: Annotated[str, typer.Option(help=tr("cli.task.reject.opt.reason"))],
                unit: Annotated[Optional[str], typer.Option(help=tr("cli.task.opt.unit"))] = None,
                actor: Annotated[str, typer.Option("--as", help=tr("cli.opt.as_officer"))] = "",
                kind: Annotated[str, typer.Option(help=tr("cli.task.reject.opt.kind"))] = "",
                to: Annotated[str, typer.Option("--to", help=tr("cli.task.reject.opt.to"))] = "",
                ) -> None:
    """Reject a task with a reason; it goes back to the caseworker and up to the county. ``--kind`` says why and
    ``--to`` names the right unit, where the next attempt then goes (careflow.reroute)."""
    from models.task import TaskState  # start-up: sqlmodel

    _answer(ref, TaskState.rejected, unit, actor, reason=reason, rejection_kind=kind, reroute_unit=to)


@task_app.command("complete", help=tr("cli.task.complete.help"))
def task_complete(ref: Annotated[str, typer.Argument(help=tr("cli.task.arg.ref"))],
                  outcome: Annotated[Optional[list[str]], typer.Option(help=tr("cli.task.complete.opt.outcome"))
                                     ] = None,
                  unit: Annotated[Optional[str], typer.Option(help=tr("cli.task.opt.unit"))] = None,
                  actor: Annotated[str, typer.Option("--as", help=tr("cli.opt.as_officer"))] = "") -> None:
    """Complete a task with its structured outcome; the pathway moves on."""
    from models.task import TaskState  # start-up: sqlmodel

    try:
        parsed = _choices_by_label(parse_pairs(outcome, "outcome"))
    except ValueError as exc:
        fail(exc)
    _answer(ref, TaskState.completed, unit, actor, outcome=parsed)


def _choices_by_label(pairs: dict) -> dict:
    """A choice typed by its label (``ruling=驳回申请``) as its value (``petition_dismissed``): for a field that is a
    choice in the policy only, so that free text is never changed (:func:`core.i18n.value_of`)."""
    from models.policy import load_policy  # start-up: sqlmodel and the policy's YAML

    options: dict[str, list[str]] = {}
    for pathway in load_policy().pathways.values():
        for step in pathway.steps:
            for field in step.outcome:
                if field.type == "choice":
                    options.setdefault(field.name, []).extend(field.options)
    return {k: value_of(v, k, options[k]) if k in options and isinstance(v, str) else v for k, v in pairs.items()}
