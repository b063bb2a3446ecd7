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

from core.prefect_env import configure_prefect_env
from entry.user_input import USER_ERRORS as _TYPING_ERRORS, fail
from models.resident_id import mask_resident_id

survey_app = typer.Typer(help="Monitoring survey, key care files and duties (监测摸排、一人一档、联系走访).",
                         no_args_is_help=True)

#: A survey command also names a file: one that is missing is the user's mistake too (exit 2).
USER_ERRORS = (*_TYPING_ERRORS, FileNotFoundError)


@survey_app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="the county's survey file (.csv or .xlsx)")],
    county: Annotated[str, typer.Option(help="county code or name, e.g. 350302")],
    round_label: Annotated[str, typer.Option("--round", help="survey round, e.g. 2026-10 (April or October)")],
    actor: Annotated[str, typer.Option("--as", help="who imports (audited)")] = "survey-import",
    submit: Annotated[bool, typer.Option(help="submit the survey-import flow to the running Prefect server "
                                              "instead of importing here")] = False,
    show: Annotated[int, typer.Option(help="rejected rows to print")] = 50,
) -> None:
    """Import a survey file into a round: every rejected row is listed with its line, field and value."""
    if submit:
        configure_prefect_env()  # before Prefect is imported (a no-op under `careflow`, which did it first)
        from prefect.deployments import run_deployment  # start-up: Prefect

        try:
            run = run_deployment("survey-import/survey-import", timeout=0, parameters={
                "path": str(file.resolve()), "county": county, "round_label": round_label, "actor": actor})
        except Exception as exc:  # noqa: BLE001 - server down or deployment not served
            typer.echo(f"could not submit the flow ({exc}); run without --submit to import here")
            raise typer.Exit(1)
        typer.echo(f"submitted as flow run {run.id}; follow its progress artifact in the Prefect UI")
        return
    from careflow.survey.importer import import_survey  # start-up: sqlmodel

    try:
        report = import_survey(file, county=county, round_label=round_label, actor=actor)
    except USER_ERRORS as exc:
        fail(exc)
    typer.echo(report.summary())
    for note in report.notes[:show]:
        typer.echo(f"  note  line {note.line}: {note.column or note.field}: {note.message}")
    for error in report.errors[:show]:
        value = mask_resident_id(error.value) if error.field == "resident_id" else error.value
        typer.echo(f"  error line {error.line}: {error.column or error.field} = {value!r}: {error.message}")
    if report.errors_total > show:
        typer.echo(f"  … {report.errors_total - show} more (all in survey_row_error, import {report.import_id})")
    for moved in report.relocations:
        if moved.county_changed:
            typer.echo(f"  moved in from {moved.from_county}: cases {', '.join(moved.cases) or '-'}; "
                       f"{len(moved.rerouted)} task(s) rerouted; notified {', '.join(moved.notified)}")
    typer.echo(f"key care files: {report.files}; duties: {report.duties}"
               + (f"; no unit covers {report.unrouted}" if report.unrouted else ""))
    if report.counts["read"] and report.counts["invalid"] == report.counts["read"]:
        typer.echo(f"error: no row of {file} is valid for {county} round {round_label}: no child was imported and "
                   f"the round is not done (check the county and the file; the rejected rows are import "
                   f"{report.import_id}'s)")
        raise typer.Exit(1)


@survey_app.command("changes")
def changes_cmd(
    county: Annotated[str, typer.Option(help="county code or name")],
    round_label: Annotated[str, typer.Option("--round", help="e.g. 2026-10")],
    limit: Annotated[int, typer.Option(help="children listed per kind of change")] = 20,
    actor: Annotated[str, typer.Option("--as", help="who reads (audited)")] = "caseworker",
) -> None:
    """What changed since the county's previous round: arrivals, moves, age-outs, children no longer found."""
    from core.db import session_scope  # start-up: sqlmodel
    from careflow.survey.changes import RoundChanges, round_changes  # start-up: sqlmodel

    titles = {"new_arrivals": "新增 new arrivals", "moved_in": "迁入 moved in", "moved_out": "迁出 moved out",
              "aged_out": "年满十六周岁 aged out", "no_longer_found": "未再找到 no longer found",
              "key_care_started": "新增重点关爱 key care started", "key_care_ended": "不再重点关爱 key care ended"}
    try:
        with session_scope() as session:
            changes = round_changes(session, county, round_label, limit=limit, actor=actor)
    except USER_ERRORS as exc:
        fail(exc)
    typer.echo(f"{changes.county_code} {changes.round_label} since "
               f"{changes.previous_label or '(no earlier round)'}")
    for kind in RoundChanges.KINDS:
        typer.echo(f"{titles[kind]}: {changes.counts[kind]}")
        for item in changes.lists[kind]:
            typer.echo(f"  {item.resident_id}  {item.name}  {item.detail}")


@survey_app.command("record-contact")
def record_contact_cmd(
    child: Annotated[str, typer.Argument(help="file reference (KF-…), child id or ID number")],
    kind: Annotated[str, typer.Option(help="contact (monthly) or visit (home visit, every 3 months)")],
    on: Annotated[Optional[str], typer.Option(help="the day, YYYY-MM-DD (default today)")] = None,
    actor: Annotated[str, typer.Option("--as", help="the child director who made it")] = "",
    note: Annotated[str, typer.Option(help="what was found (kept in the file, never sent)")] = "",
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
            fail(ValueError(f"field 'on': {on!r} is not a date (YYYY-MM-DD)"))
    try:
        with session_scope() as session:
            result = record_contact(session, child, kind, actor=actor, on=day, note=note)
            completed = [(t.short_ref, t.title, t.outcome.get("late")) for t in result.completed]
            opened = [(session.get(AgencyTask, task_id)) for task_id, _ in result.opened]
            opened = [(t.short_ref, t.title, format_local(t.due_at)) for t in opened]
            reference = result.file.reference
    except USER_ERRORS as exc:
        fail(exc)
    typer.echo(f"{reference}: {kind} recorded")
    for ref, title, late in completed:
        typer.echo(f"  completed {ref} {title}{' (late)' if late else ''}")
    for ref, title, due in opened:
        typer.echo(f"  next      {ref} {title} due {due}")


@survey_app.command("duties")
def duties_cmd(
    unit: Annotated[Optional[str], typer.Option(help="unit code, e.g. village_committee-350302001001")] = None,
    days: Annotated[int, typer.Option(help="due within this many days (overdue ones always shown)")] = 7,
) -> None:
    """List open contact and visit duties due soon, soonest first."""
    from core.db import session_scope  # start-up: sqlmodel
    from careflow.survey.duties import duties_due  # start-up: sqlmodel
    from careflow.survey.duty_calendar import end_of_day, today_local  # start-up: sqlmodel
    from models.base import utcnow  # start-up: sqlalchemy
    from models.deadlines import format_local  # start-up: sqlmodel
    from models.key_care_files import file_reference  # start-up: sqlmodel

    with session_scope() as session:
        now = utcnow()
        items = duties_due(session, until=end_of_day(today_local(now) + datetime.timedelta(days=days - 1)),
                           unit_code=unit)
        for task, duty in items:
            late = "  逾期 OVERDUE" if task.due_at < now else ""
            typer.echo(f"{task.short_ref}  {format_local(task.due_at)}  {task.unit_code:<32} "
                       f"{file_reference(duty.file_id)}  {duty.kind}{late}")
    typer.echo(f"{len(items)} duty(ies)")


@survey_app.command("export")
def export_cmd(
    department: Annotated[str, typer.Option(help="police | education | health | medical_insurance | "
                                                 "disabled_federation")],
    county: Annotated[str, typer.Option(help="county code or name")],
    out: Annotated[Path, typer.Option(help="file to write (.csv or .xlsx)")],
    actor: Annotated[str, typer.Option("--as", help="who exports (audited)")] = "civil_affairs",
) -> None:
    """Export the key care list a department needs, with only the fields it needs (方案 一（三）)."""
    from core.db import session_scope  # start-up: sqlmodel
    from careflow.survey.sharing import export_for_department  # start-up: sqlmodel

    try:
        with session_scope() as session:
            result = export_for_department(session, department, county, out, actor=actor)
    except USER_ERRORS as exc:
        fail(exc)
    typer.echo(f"{result.rows} children written to {result.path} ({'、'.join(result.columns)})")


@survey_app.command("import-answers")
def import_answers_cmd(
    file: Annotated[Path, typer.Argument(help="the department's answers (.csv or .xlsx)")],
    department: Annotated[str, typer.Option(help="which department answered")],
    actor: Annotated[str, typer.Option("--as", help="who imports (audited)")] = "civil_affairs",
) -> None:
    """Put a department's answers (school, insurance, rehabilitation…) onto the children's files."""
    from core.db import session_scope  # start-up: sqlmodel
    from careflow.survey.sharing import import_department_answers  # start-up: sqlmodel

    try:
        with session_scope() as session:
            report = import_department_answers(session, department, file, actor=actor)
    except USER_ERRORS as exc:
        fail(exc)
    typer.echo(f"{report.updated} file(s) updated, {report.unchanged} unchanged, {len(report.errors)} problem(s)")
    for line, field, value, message in report.errors:
        typer.echo(f"  line {line}: {field} = {value!r}: {message}")


@survey_app.command("remind")
def remind_cmd(round_label: Annotated[Optional[str], typer.Option("--round", help="default: the coming round")] = None
               ) -> None:
    """Send every county the reminder of a round now (what the scheduled flow does)."""
    from core.db import session_scope  # start-up: sqlmodel
    from careflow.survey.scheduled import send_round_reminders  # start-up: sqlmodel

    try:
        with session_scope() as session:
            result = send_round_reminders(session, label=round_label)
    except USER_ERRORS as exc:
        fail(exc)
    typer.echo(f"round {result.label} (deadline {result.deadline}): {len(result.reminded)} counties reminded, "
               f"{len(result.duties)} round duties opened")


@survey_app.command("age-out-check")
def age_out_cmd() -> None:
    """Close the cases and files of children who are 16 today (what the daily flow does)."""
    from core.db import session_scope  # start-up: sqlmodel
    from careflow.survey.scheduled import age_out_check  # start-up: sqlmodel

    with session_scope() as session:
        result = age_out_check(session)
    typer.echo(f"{result.children} child(ren) aged out; cases closed: {', '.join(result.cases_closed) or '-'}; "
               f"files closed: {', '.join(result.files_closed) or '-'}")


@survey_app.command("weekly")
def weekly_cmd() -> None:
    """Send each unit its contacts and visits due this week (what the weekly flow does)."""
    from core.db import session_scope  # start-up: sqlmodel
    from careflow.survey.scheduled import weekly_duty_lists  # start-up: sqlmodel

    with session_scope() as session:
        result = weekly_duty_lists(session)
    typer.echo(f"{result.duties_created} duties created; lists for {len(result.units)} unit(s)")
