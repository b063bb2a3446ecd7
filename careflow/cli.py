"""The ``careflow`` command line: run the local stack, register children, start pathways, answer tasks.

Errors in what a user typed exit with code 2 and a message naming the field and the value.
"""
from __future__ import annotations

from careflow.prefect_env import configure_prefect_env

configure_prefect_env()  # before anything imports prefect

import asyncio  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from datetime import date  # noqa: E402
from typing import Annotated, Optional  # noqa: E402

import typer  # noqa: E402

from careflow.settings import get_settings  # noqa: E402

app = typer.Typer(help="careflow: referral pathways for migrant children's care and protection (流动儿童关爱保护).",
                  no_args_is_help=True, pretty_exceptions_enable=False)
child_app = typer.Typer(help="Register children (儿童登记).", no_args_is_help=True)
case_app = typer.Typer(help="Cases and their timelines (个案).", no_args_is_help=True)
pathway_app = typer.Typer(help="Start pathways on a case (转介路径).", no_args_is_help=True)
task_app = typer.Typer(help="Answer tasks as an agency (承办单位答复).", no_args_is_help=True)
app.add_typer(child_app, name="child")
app.add_typer(case_app, name="case")
app.add_typer(pathway_app, name="pathway")
app.add_typer(task_app, name="task")

USER_ERRORS = (ValueError, LookupError)


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@app.command()
def init() -> None:
    """Create the data directory, migrate the database, load the agency directory and default channels."""
    from careflow.stack import ensure_home

    home = ensure_home()
    typer.echo(f"careflow home: {home}")


@app.command()
def serve() -> None:
    """Serve the pathway deployments and the sweeper from this process (blocks)."""
    from flows.serve import serve_deployments

    serve_deployments()


@app.command()
def up() -> None:
    """Start everything a user needs on embedded defaults and wait (Ctrl-C stops what was started)."""
    from careflow.stack import LocalStack, ensure_home

    ensure_home()
    settings = get_settings()
    stack = LocalStack().start()
    typer.echo(f"careflow is up. Data directory: {settings.home}")
    typer.echo(f"  Prefect UI:         http://127.0.0.1:{settings.prefect_port}")
    typer.echo(f"  delivered messages: {settings.mailbox_dir} (careflow mailbox)")
    typer.echo("  try: careflow demo   (in another terminal, same CAREFLOW_HOME)")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        typer.echo("stopping ...")
        stack.stop()


@app.command()
def demo(
    pathway: Annotated[str, typer.Option(help="which pathway to drive (see careflow.demos.DEMOS)")] = "guardianship",
) -> None:
    """Drive a complete case on realistic data through every step, answering as each agency; print the timeline.

    Exits 0 only when the case ended as the policy says.
    """
    from careflow.demos import run_demo

    raise typer.Exit(run_demo(pathway))


@app.command()
def sweep() -> None:
    """Run one sweep now (escalate, start unstarted pathways, resume stored answers, send due messages)."""
    from flows.sweeper import escalate, reconcile_pathways, retry_notifications

    typer.echo(f"escalations fired: {escalate.fn()}")
    typer.echo(f"pathways: {asyncio.run(reconcile_pathways.fn())}")
    typer.echo(f"notifications: {retry_notifications.fn()}")


@app.command()
def mailbox(limit: int = 20) -> None:
    """Show the newest messages delivered to the local mail sink (the embedded default channel)."""
    from notifications.sink import read_mailbox

    messages = read_mailbox(get_settings().mailbox_dir)[-limit:]
    for m in messages:
        typer.echo(f"--- to {m.to}\nSubject: {m.subject}\n{m.body}\n")
    typer.echo(f"{len(messages)} message(s) in {get_settings().mailbox_dir}")


@child_app.command("register")
def child_register(
    resident_id: Annotated[str, typer.Option(help="18-character resident ID (GB 11643)")],
    name: Annotated[str, typer.Option(help="full name")],
    hukou: Annotated[str, typer.Option(help="household-registration county (户籍地): code or name")],
    residence: Annotated[str, typer.Option(help="residence county (居住地): code or name")],
    arrived: Annotated[str, typer.Option(help="date the child arrived, YYYY-MM-DD")],
    area: Annotated[str, typer.Option(help="township (9) or village/community (12 digit) code")] = "",
    key_care: Annotated[Optional[list[str]], typer.Option(help="key care criterion (repeatable)")] = None,
    actor: Annotated[str, typer.Option("--as", help="who registers")] = "caseworker",
) -> None:
    """Register a child and show the migrant-child test with its reasons."""
    from careflow.cases import register_child
    from careflow.db import session_scope
    from models.eligibility import KeyCareCriterion
    from models.resident_id import mask_resident_id

    try:
        arrival = date.fromisoformat(arrived)
    except ValueError:
        _fail(ValueError(f"field 'arrived': {arrived!r} is not a date (YYYY-MM-DD)"))
    try:
        criteria = {KeyCareCriterion(c) for c in key_care or []}
    except ValueError as exc:
        _fail(ValueError(f"field 'key_care': {exc}"))
    try:
        with session_scope() as session:
            reg = register_child(session, resident_id=resident_id, full_name=name, hukou_county=hukou,
                                 residence_county=residence, arrival_date=arrival, residence_area_code=area,
                                 key_care_criteria=criteria, actor=actor)
    except USER_ERRORS as exc:
        _fail(exc)
    typer.echo(f"child {reg.child.id} ({mask_resident_id(reg.child.resident_id)}) registered")
    typer.echo(f"migrant child (流动儿童): {'yes' if reg.assessment.is_migrant else 'no'}")
    for reason in reg.assessment.reasons:
        typer.echo(f"  {'✓' if reason.passed else '✗'} {reason.text_zh} / {reason.text_en}")


@case_app.command("open")
def case_open(
    child_id: Annotated[str, typer.Option(help="the child's id (from child register)")],
    caseworker: Annotated[str, typer.Option(help="the caseworker's login")],
    summary: str = "",
) -> None:
    """Open a case on a registered child."""
    import uuid

    from careflow.cases import open_case
    from careflow.db import session_scope

    try:
        with session_scope() as session:
            case = open_case(session, child_id=uuid.UUID(child_id), caseworker=caseworker, summary=summary)
    except USER_ERRORS as exc:
        _fail(exc)
    typer.echo(case.reference)


@case_app.command("timeline")
def case_timeline_cmd(
    reference: str,
    actor: Annotated[str, typer.Option("--as", help="who reads (audited)")] = "caseworker",
) -> None:
    """Print a case's timeline across all its pathways."""
    from careflow.db import session_scope
    from careflow.timeline import case_timeline, format_timeline

    try:
        with session_scope() as session:
            typer.echo(format_timeline(case_timeline(session, reference, actor=actor)))
    except USER_ERRORS as exc:
        _fail(exc)


@pathway_app.command("start")
def pathway_start(
    case: Annotated[str, typer.Option(help="case reference")],
    pathway: Annotated[str, typer.Option(help="pathway key, e.g. guardianship")],
    actor: Annotated[str, typer.Option("--as", help="who starts it")] = "caseworker",
) -> None:
    """Start a pathway on a case: the first agency is notified at once."""
    from sqlmodel import select

    from careflow.cases import create_pathway_run
    from careflow.db import session_scope
    from careflow.resume import start_pathway_flow
    from models.case import Case

    try:
        with session_scope() as session:
            found = session.exec(select(Case).where(Case.reference == case)).first()
            if found is None:
                raise LookupError(f"field 'case': no case {case!r}")
            run = create_pathway_run(session, case_id=found.id, pathway=pathway, actor=actor)
    except USER_ERRORS as exc:
        _fail(exc)
    try:
        flow_run_id = asyncio.run(start_pathway_flow(run.id))
    except Exception as exc:
        typer.echo(f"pathway run {run.id} recorded; starting its flow failed ({exc}); the sweeper will start it")
        raise typer.Exit(1)
    typer.echo(f"pathway run {run.id} started as flow run {flow_run_id}")


def _parse_outcome(pairs: list[str] | None) -> dict:
    outcome = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"field 'outcome': {pair!r} is not name=value")
        name, value = pair.split("=", 1)
        outcome[name.strip()] = value.strip()
    return outcome


@task_app.command("list")
def task_list(unit: Annotated[str, typer.Option(help="agency unit code, e.g. police-350302")]) -> None:
    """List a unit's open tasks, soonest deadline first (overdue ones marked)."""
    from careflow.db import session_scope
    from careflow.tasks import list_open_tasks
    from models.base import utcnow
    from models.case import Case
    from models.deadlines import format_local

    with session_scope() as session:
        tasks = list_open_tasks(session, unit)
        now = utcnow()
        for t in tasks:
            case = session.get(Case, t.case_id)
            late = "  逾期 OVERDUE" if t.due_at < now else ""
            provisional = "（暂定）" if t.due_provisional else ""
            typer.echo(f"{t.short_ref}  {format_local(t.due_at)}{provisional}  {t.state:<12} {case.reference}  "
                       f"{t.title}{late}")
    typer.echo(f"{len(tasks)} open task(s) for {unit}")


def _answer(ref: str, state, unit: str | None, actor: str, reason: str = "", outcome: dict | None = None) -> None:
    from careflow.answers import answer_task

    try:
        result = answer_task(ref, state, actor=actor, unit_code=unit, reason=reason, outcome=outcome)
    except USER_ERRORS as exc:
        _fail(exc)
    typer.echo(f"task {result.task.short_ref}: {result.task.state}")
    if result.resume == "pending":
        typer.echo("answer stored; the pathway could not be resumed now and will be resumed by the sweeper")
    elif result.resume == "resumed":
        typer.echo("pathway resumed")


@task_app.command("ack")
def task_ack(ref: str, unit: Annotated[Optional[str], typer.Option()] = None,
             actor: Annotated[str, typer.Option("--as", help="officer name")] = "") -> None:
    """Acknowledge (accept) a task."""
    from models.task import TaskState

    _answer(ref, TaskState.acknowledged, unit, actor)


@task_app.command("reject")
def task_reject(ref: str, reason: Annotated[str, typer.Option(help="why (required)")],
                unit: Annotated[Optional[str], typer.Option()] = None,
                actor: Annotated[str, typer.Option("--as", help="officer name")] = "") -> None:
    """Reject a task with a reason; it goes back to the caseworker and up to the county."""
    from models.task import TaskState

    _answer(ref, TaskState.rejected, unit, actor, reason=reason)


@task_app.command("complete")
def task_complete(ref: str,
                  outcome: Annotated[Optional[list[str]], typer.Option(help="name=value (repeatable)")] = None,
                  unit: Annotated[Optional[str], typer.Option()] = None,
                  actor: Annotated[str, typer.Option("--as", help="officer name")] = "") -> None:
    """Complete a task with its structured outcome; the pathway moves on."""
    from models.task import TaskState

    try:
        parsed = _parse_outcome(outcome)
    except ValueError as exc:
        _fail(exc)
    _answer(ref, TaskState.completed, unit, actor, outcome=parsed)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":
    sys.exit(app())
