"""``careflow survey …``: the monitoring survey from the command line (方案 一): import a county's survey file, see
what changed since the previous round, record contacts and home visits, list duties, share lists with departments.

Errors in what a user typed exit with code 2 and a message naming the field and the value (ID numbers masked).
Imports inside a command are marked ``# start-up``: they load the database layer (sqlmodel, about 1 s) or Prefect
(3 to 6 s), which ``careflow --help`` does not need.
"""
from __future__ import annotations

import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from core.i18n import cli_language, cli_text as tr, label
from core.prefect_env import configure_prefect_env
from entry.user_input import USER_ERRORS as _TYPING_ERRORS, counts_text, fail, not_a_date
from models.resident_id import mask_resident_id

survey_app = typer.Typer(help=tr("cli.survey.help"), no_args_is_help=True)

#: A survey command also names a file: one that is missing is the user's mistake too (exit 2).
USER_ERRORS = (*_TYPING_ERRORS, FileNotFoundError)


@survey_app.command("import", help=tr("cli.survey.import.help"))
def import_cmd(
    file: Annotated[Path, typer.Argument(help=tr("cli.survey.import.arg.file"))],
    county: Annotated[str, typer.Option(help=tr("cli.survey.import.opt.county"))],
    round_label: Annotated[str, typer.Option("--round", help=tr("cli.survey.import.opt.round"))],
    actor: Annotated[str, typer.Option("--as", help=tr("cli.opt.as_importer"))] = "survey-import",
    submit: Annotated[bool, typer.Option(help=tr("cli.survey.import.opt.submit"))] = False,
    show: Annotated[int, typer.Option(help=tr("cli.survey.import.opt.show"))] = 50,
) -> None:
    """Import a survey file into a round: every rejected row is listed with its line, field and value."""
    if submit:
        configure_prefect_env()  # before Prefect is imported (a no-op under `careflow`, which did it first)
        from prefect.deployments import run_deployment  # start-up: Prefect

        try:
            run = run_deployment("survey-import/survey-import", timeout=0, parameters={
                "path": str(file.resolve()), "county": county, "round_label": round_label, "actor": actor})
        except Exception as exc:  # noqa: BLE001 - server down or deployment not served
            typer.echo(tr("cli.survey.import.out.submit_failed", error=exc))
            raise typer.Exit(1)
        typer.echo(tr("cli.survey.import.out.submitted", run=run.id))
        return
    from careflow.survey.importer import import_survey  # start-up: sqlmodel

    try:
        report = import_survey(file, county=county, round_label=round_label, actor=actor)
    except USER_ERRORS as exc:
        fail(exc)
    _print_report(report, show)
    if report.counts["read"] and report.counts["invalid"] == report.counts["read"]:
        typer.echo(tr("cli.out.error", message=tr("cli.survey.import.out.none_valid", file=file, county=county,
                                                  round=round_label, import_id=report.import_id)))
        raise typer.Exit(1)


def _print_report(report, show: int) -> None:
    """What an import did: its figures, the first ``show`` notes and rejected rows, the children who moved in."""
    typer.echo(tr("cli.survey.import.out.summary", county=report.county_code, round=report.round_label,
                  file=report.file_name, **report.counts)
               + (tr("cli.survey.import.out.found_later", n=report.counts["found_later"])
                  if report.counts.get("found_later") else ""))
    for note in report.notes[:show]:
        typer.echo(tr("cli.survey.import.out.note", line=note.line, field=note.column or note.field,
                      message=note.message))
    for error in report.errors[:show]:
        value = mask_resident_id(error.value) if error.field == "resident_id" else error.value
        typer.echo(tr("cli.survey.import.out.row_error", line=error.line, field=error.column or error.field,
                      value=value, message=error.message))
    if report.errors_total > show:
        typer.echo(tr("cli.survey.import.out.more_errors", n=report.errors_total - show, import_id=report.import_id))
    for moved in report.relocations:
        if moved.county_changed:
            typer.echo(tr("cli.survey.import.out.moved_in", county=moved.from_county,
                          cases=", ".join(moved.cases) or "-", n=len(moved.rerouted),
                          notified=", ".join(moved.notified) or "-"))
    typer.echo(tr("cli.survey.import.out.files", files=counts_text(report.files), duties=counts_text(report.duties))
               + (tr("cli.survey.import.out.unrouted", areas=counts_text(report.unrouted)) if report.unrouted else ""))


@survey_app.command("changes", help=tr("cli.survey.changes.help"))
def changes_cmd(
    county: Annotated[str, typer.Option(help=tr("cli.opt.county"))],
    round_label: Annotated[str, typer.Option("--round", help=tr("cli.survey.changes.opt.round"))],
    limit: Annotated[int, typer.Option(help=tr("cli.survey.changes.opt.limit"))] = 20,
    actor: Annotated[str, typer.Option("--as", help=tr("cli.opt.as_reader"))] = "caseworker",
) -> None:
    """What changed since the county's previous round: arrivals, moves, age-outs, children no longer found."""
    from core.db import session_scope  # start-up: sqlmodel
    from careflow.survey.changes import RoundChanges, round_changes  # start-up: sqlmodel

    try:
        with session_scope() as session:
            changes = round_changes(session, county, round_label, limit=limit, actor=actor)
    except USER_ERRORS as exc:
        fail(exc)
    typer.echo(tr("cli.survey.changes.out.title", county=changes.county_code, round=changes.round_label,
                  previous=changes.previous_label or tr("cli.survey.changes.out.no_previous")))
    for kind in RoundChanges.KINDS:
        typer.echo(tr("cli.survey.changes.out.kind", kind=tr(f"cli.survey.changes.kind.{kind}"),
                      n=changes.counts[kind]))
        for item in changes.lists[kind]:
            detail = tr("cli.survey.changes.out.aged_16", date=item.aged_16_from) if item.aged_16_from else item.detail
            typer.echo(f"  {item.resident_id}  {item.name}  {detail}")


@survey_app.command("record-contact", help=tr("cli.survey.record_contact.help"))
def record_contact_cmd(
    child: Annotated[str, typer.Argument(help=tr("cli.survey.record_contact.arg.child"))],
    kind: Annotated[str, typer.Option(help=tr("cli.survey.record_contact.opt.kind"))],
    on: Annotated[Optional[str], typer.Option(help=tr("cli.survey.record_contact.opt.on"))] = None,
    actor: Annotated[str, typer.Option("--as", help=tr("cli.survey.record_contact.opt.as"))] = "",
    note: Annotated[str, typer.Option(help=tr("cli.survey.record_contact.opt.note"))] = "",
) -> None:
    """Record a contact or home visit: the duty is completed and the next one scheduled."""
    from core.db import session_scope  # start-up: sqlmodel
    from careflow.survey.care_files import record_contact  # start-up: sqlmodel
    from models.deadlines import format_local  # start-up: sqlmodel
    from models.task import AgencyTask  # start-up: sqlmodel

    day = None
    if on:
        try:
            day = datetime.date.fromisoformat(on)
        except ValueError:
            fail(not_a_date("on", on))
    try:
        with session_scope() as session:
            result = record_contact(session, child, kind, actor=actor, on=day, note=note)
            completed = [(t.short_ref, t.title, t.outcome.get("late")) for t in result.completed]
            opened = [(session.get(AgencyTask, task_id)) for task_id, _ in result.opened]
            opened = [(t.short_ref, t.title, format_local(t.due_at)) for t in opened]
            reference = result.file.reference
    except USER_ERRORS as exc:
        fail(exc)
    typer.echo(tr("cli.survey.record_contact.out.recorded", reference=reference,
                  kind=label(kind, "contact", cli_language())))
    for ref, title, late in completed:
        typer.echo(tr("cli.survey.record_contact.out.completed", ref=ref, title=title)
                   + (tr("cli.survey.record_contact.out.late") if late else ""))
    for ref, title, due in opened:
        typer.echo(tr("cli.survey.record_contact.out.next", ref=ref, title=title, due=due))


@survey_app.command("duties", help=tr("cli.survey.duties.help"))
def duties_cmd(
    unit: Annotated[Optional[str], typer.Option(help=tr("cli.survey.duties.opt.unit"))] = None,
    days: Annotated[int, typer.Option(help=tr("cli.survey.duties.opt.days"))] = 7,
) -> None:
    """List open contact and visit duties due soon, soonest first; an unknown ``--unit`` is refused (exit 2)."""
    from core.db import session_scope  # start-up: sqlmodel
    from models.agency import AgencyUnit  # start-up: sqlmodel
    from careflow.survey.duties import duties_due  # start-up: sqlmodel
    from careflow.survey.duty_calendar import end_of_day, today_local  # start-up: sqlmodel
    from models.base import utcnow  # start-up: sqlalchemy
    from models.deadlines import format_local  # start-up: sqlmodel
    from models.key_care_files import file_reference  # start-up: sqlmodel

    with session_scope() as session:
        if unit is not None and session.get(AgencyUnit, unit) is None:
            fail(LookupError(tr("cli.task.out.no_unit", unit=unit)))
        now = utcnow()
        items = duties_due(session, until=end_of_day(today_local(now) + datetime.timedelta(days=days - 1)),
                           unit_code=unit)
        for task, duty in items:
            late = tr("cli.out.overdue") if task.due_at < now else ""
            typer.echo(f"{task.short_ref}  {format_local(task.due_at)}  {task.unit_code:<32} "
                       f"{file_reference(duty.file_id)}  {label(duty.kind, 'contact', cli_language())}{late}")
    typer.echo(tr("cli.survey.duties.out.count", n=len(items)))


@survey_app.command("export", help=tr("cli.survey.export.help"))
def export_cmd(
    department: Annotated[str, typer.Option(help=tr("cli.survey.export.opt.department"))],
    county: Annotated[str, typer.Option(help=tr("cli.opt.county"))],
    out: Annotated[Path, typer.Option(help=tr("cli.survey.export.opt.out"))],
    actor: Annotated[str, typer.Option("--as", help=tr("cli.survey.export.opt.as"))] = "civil_affairs",
) -> None:
    """Export the key care list a department needs, with only the fields it needs (方案 一（三）)."""
    from core.db import session_scope  # start-up: sqlmodel
    from careflow.survey.sharing import export_for_department  # start-up: sqlmodel

    try:
        with session_scope() as session:
            result = export_for_department(session, department, county, out, actor=actor)
    except USER_ERRORS as exc:
        fail(exc)
    typer.echo(tr("cli.survey.export.out.written", n=result.rows, path=result.path, columns="、".join(result.columns)))


@survey_app.command("import-answers", help=tr("cli.survey.import_answers.help"))
def import_answers_cmd(
    file: Annotated[Path, typer.Argument(help=tr("cli.survey.import_answers.arg.file"))],
    department: Annotated[str, typer.Option(help=tr("cli.survey.import_answers.opt.department"))],
    actor: Annotated[str, typer.Option("--as", help=tr("cli.opt.as_importer"))] = "civil_affairs",
) -> None:
    """Put a department's answers (school, insurance, rehabilitation…) onto the children's records; gaps propose
    referrals (careflow.exchange)."""
    from core.db import session_scope  # start-up: sqlmodel
    from careflow.exchange.answers import import_department_answers  # start-up: sqlmodel

    try:
        with session_scope() as session:
            report = import_department_answers(session, department, file, actor=actor)
    except USER_ERRORS as exc:
        fail(exc)
    if report.already_imported:
        typer.echo(tr("cli.survey.import_answers.out.already", file=report.file_name))
        return
    typer.echo(tr("cli.survey.import_answers.out.counts", updated=report.updated, unchanged=report.unchanged,
                  problems=len(report.errors), proposed=report.proposed))
    for line, field, value, message in report.errors:
        typer.echo(tr("cli.survey.import_answers.out.problem", line=line, field=field, value=value, message=message))


@survey_app.command("remind", help=tr("cli.survey.remind.help"))
def remind_cmd(round_label: Annotated[Optional[str], typer.Option("--round", help=tr("cli.survey.remind.opt.round"))
                                      ] = None) -> None:
    """Send every county the reminder of a round now (what the scheduled flow does)."""
    from core.db import session_scope  # start-up: sqlmodel
    from careflow.survey.scheduled import send_round_reminders  # start-up: sqlmodel

    try:
        with session_scope() as session:
            result = send_round_reminders(session, label=round_label)
    except USER_ERRORS as exc:
        fail(exc)
    typer.echo(tr("cli.survey.remind.out.done", round=result.label, deadline=result.deadline,
                  counties=len(result.reminded), duties=len(result.duties)))


@survey_app.command("age-out-check", help=tr("cli.survey.age_out_check.help"))
def age_out_cmd() -> None:
    """Close the cases and files of children who are 16 today (what the daily flow does)."""
    from core.db import session_scope  # start-up: sqlmodel
    from careflow.survey.scheduled import age_out_check  # start-up: sqlmodel

    with session_scope() as session:
        result = age_out_check(session)
    typer.echo(tr("cli.survey.age_out_check.out.done", n=result.children, cases=", ".join(result.cases_closed) or "-",
                  files=", ".join(result.files_closed) or "-"))


@survey_app.command("weekly", help=tr("cli.survey.weekly.help"))
def weekly_cmd() -> None:
    """Send each unit its contacts and visits due this week (what the weekly flow does)."""
    from core.db import session_scope  # start-up: sqlmodel
    from careflow.survey.scheduled import weekly_duty_lists  # start-up: sqlmodel

    with session_scope() as session:
        result = weekly_duty_lists(session)
    typer.echo(tr("cli.survey.weekly.out.done", duties=result.duties_created, units=len(result.units)))
