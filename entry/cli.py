"""The ``careflow`` command line: run the local stack, register children, start pathways, answer tasks.

Errors in what a user typed exit with code 2 and a message naming the field and the value.
"""
from __future__ import annotations

from core.prefect_env import configure_prefect_env

configure_prefect_env()  # before anything imports prefect

import asyncio  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from datetime import date  # noqa: E402
from typing import Annotated, Optional  # noqa: E402

import typer  # noqa: E402

from core.i18n import label  # noqa: E402
from core.settings import get_settings  # noqa: E402

app = typer.Typer(help="careflow: referral pathways for migrant children's care and protection (流动儿童关爱保护).",
                  no_args_is_help=True, pretty_exceptions_enable=False)
child_app = typer.Typer(help="Register children (儿童登记).", no_args_is_help=True)
case_app = typer.Typer(help="Cases and their timelines (个案).", no_args_is_help=True)
pathway_app = typer.Typer(help="Start pathways on a case (转介路径).", no_args_is_help=True)
task_app = typer.Typer(help="Answer tasks as an agency (承办单位答复).", no_args_is_help=True)
web_app = typer.Typer(help="The web app (网页): serve it, create users and demo accounts.", no_args_is_help=True)
app.add_typer(child_app, name="child")
app.add_typer(case_app, name="case")
app.add_typer(pathway_app, name="pathway")
app.add_typer(task_app, name="task")
app.add_typer(web_app, name="web")

USER_ERRORS = (ValueError, LookupError)


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _refused(exc: Exception) -> None:
    """Exit 1 with the message: the request was well formed but the state refused it (someone else answered
    the task first, the pathway is already open on the case) — not a typing mistake (exit 2)."""
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


@app.command()
def init() -> None:
    """Create the data directory, migrate the database, load the agency directory and default channels.

    On PostgreSQL with CAREFLOW_SETUP_DATABASE_URL (a superuser), first create the owner role migrations run as
    and the application role the app runs as (CAREFLOW_DB_OWNER_ROLE / CAREFLOW_DB_APP_ROLE), then grant the
    application role DML, and only INSERT and SELECT on the audit trail.
    """
    from entry.stack import ensure_home

    settings = get_settings()
    setup = settings.setup_database_url
    if setup:
        from core.db import grant_app_privileges, migrate, password_for, setup_roles

        if not setup.startswith("postgresql"):
            _fail(ValueError(f"CAREFLOW_SETUP_DATABASE_URL: roles exist only on PostgreSQL, not {setup.split(':')[0]}"))
        if not settings.owner_database_url or not settings.database_url:
            _fail(ValueError("CAREFLOW_OWNER_DATABASE_URL and CAREFLOW_DATABASE_URL: both are needed with "
                             "CAREFLOW_SETUP_DATABASE_URL (migrations run as the owner, the app as the application role)"))
        owner, app_role = settings.db_owner_role, settings.db_app_role
        urls = (settings.owner_database_url, settings.database_url)
        setup_roles(setup, owner_role=owner, app_role=app_role, owner_password=password_for(owner, *urls),
                    app_password=password_for(app_role, *urls))
        migrate()
        grant_app_privileges(setup, owner_role=owner, app_role=app_role)
        for name, url in (("owner", settings.owner_database_url), ("app", settings.database_url)):
            expected = owner if name == "owner" else app_role
            if sa_username(url) != expected:
                typer.secho(f"warning: the {name} URL logs in as {sa_username(url)!r}, not {expected!r}",
                            fg=typer.colors.YELLOW, err=True)
        typer.echo(f"roles: {owner} owns the schema (migrations), {app_role} runs the app")
    home = ensure_home()
    typer.echo(f"careflow home: {home}")


def sa_username(url: str) -> str | None:
    """The user name a database URL logs in as."""
    from sqlalchemy.engine import make_url

    return make_url(url).username


@app.command()
def serve() -> None:
    """Serve the pathway deployments and the sweeper from this process (blocks)."""
    from flows.serve import serve_deployments

    serve_deployments()


@app.command()
def deploy(
    pool: Annotated[Optional[str], typer.Option(help="work pool (default CAREFLOW_WORK_POOL, careflow)")] = None,
    result_storage: Annotated[Optional[str], typer.Option(
        help="folder every worker reaches (default CAREFLOW_RESULT_STORAGE)")] = None,
    pathway_limit: Annotated[Optional[int], typer.Option(
        help="flow runs of one pathway at once (default CAREFLOW_PATHWAY_CONCURRENCY, 20)", min=1)] = None,
) -> None:
    """Create the pathway, sweeper and survey deployments on a Prefect process work pool (created when missing)."""
    from pathlib import Path

    from flows.pool import deploy_to_pool

    try:
        names = deploy_to_pool(pool=pool, result_storage=Path(result_storage) if result_storage else None,
                               pathway_concurrency=pathway_limit)
    except ValueError as exc:
        _fail(exc)
    typer.echo(f"work pool {pool or get_settings().work_pool}: {len(names)} deployments")
    for name in names:
        typer.echo(f"  {name}")
    typer.echo("start workers with: careflow worker")


@app.command()
def worker(
    pool: Annotated[Optional[str], typer.Option(help="work pool (default CAREFLOW_WORK_POOL, careflow)")] = None,
    name: Annotated[Optional[str], typer.Option(help="worker name (default: a new one each start)")] = None,
    limit: Annotated[int, typer.Option(help="flow runs at once on this worker", min=1)] = 20,
) -> None:
    """Run a Prefect process worker on the work pool with careflow's settings (blocks until SIGTERM/Ctrl-C)."""
    from flows.pool import run_worker, worker_environment_summary

    for key, value in worker_environment_summary().items():
        typer.echo(f"  {key}={value}")
    run_worker(pool=pool, name=name, limit=limit)


@app.command()
def up() -> None:
    """Start everything a user needs on embedded defaults and wait (Ctrl-C stops what was started)."""
    from entry.stack import LocalStack, ensure_home

    ensure_home()
    settings = get_settings()
    accounts = _demo_accounts()
    stack = LocalStack(with_web=True).start()
    typer.echo(f"careflow is up. Data directory: {settings.home}")
    typer.echo(f"  web app:            {stack.web_url}")
    typer.echo(f"  Prefect UI:         http://127.0.0.1:{settings.prefect_port}")
    typer.echo(f"  delivered messages: {settings.mailbox_dir} (careflow mailbox)")
    _echo_accounts(accounts)
    typer.echo("  try: ./run demo   (in another terminal, same CAREFLOW_HOME)")
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
    pathway: Annotated[str, typer.Option(help="which pathway to drive (see entry.demos.DEMOS)")] = "guardianship",
    lang: Annotated[str, typer.Option("--lang", help="language of the printed timeline: zh (default) or en")] = "zh",
) -> None:
    """Drive a complete case on realistic data through every step, answering as each agency; print the timeline.

    Exits 0 only when the case ended as the policy says.
    """
    from entry.demos import run_demo

    raise typer.Exit(run_demo(pathway, lang))


@app.command()
def sweep() -> None:
    """Run one sweep now (escalate, refresh stale dashboard figures, start unstarted pathways, resume stored
    answers, send due messages)."""
    from flows.sweeper import escalate, reconcile_pathways, refresh_dashboard, retry_notifications

    figures = escalate.fn()
    typer.echo(f"escalations fired: {figures['fired']} (backlog {figures['backlog']}, {figures['duration_s']} s"
               + (", another sweep was running" if figures["skipped"] else "") + ")")
    typer.echo(f"dashboard figures: {refresh_dashboard.fn()}")
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
    from careflow.registration import register_child
    from core.db import session_scope
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
    from core.db import session_scope

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
    lang: Annotated[str, typer.Option("--lang", help="zh (default) or en")] = "zh",
) -> None:
    """Print a case's timeline across all its pathways, in Chinese (``--lang en`` for English)."""
    from core.db import session_scope
    from careflow.timeline import case_timeline, format_timeline

    try:
        with session_scope() as session:
            typer.echo(format_timeline(case_timeline(session, reference, actor=actor), lang))
    except USER_ERRORS as exc:
        _fail(exc)


@pathway_app.command("start")
def pathway_start(
    case: Annotated[str, typer.Option(help="case reference")],
    pathway: Annotated[str, typer.Option(help="pathway key, e.g. guardianship")],
    param: Annotated[Optional[list[str]], typer.Option(
        help="start parameter name=value (repeatable), e.g. screening_result=high_risk or item=18")] = None,
    actor: Annotated[str, typer.Option("--as", help="who starts it")] = "caseworker",
) -> None:
    """Start a pathway on a case: the first agency is notified at once."""
    from sqlmodel import select

    from careflow.cases import PathwayAlreadyRunning, create_pathway_run
    from core.db import session_scope
    from careflow.resume import start_pathway_flow
    from models.case import Case

    try:
        parameters = _parse_pairs(param, "param")
        with session_scope() as session:
            found = session.exec(select(Case).where(Case.reference == case)).first()
            if found is None:
                raise LookupError(f"field 'case': no case {case!r}")
            run = create_pathway_run(session, case_id=found.id, pathway=pathway, actor=actor, parameters=parameters)
    except PathwayAlreadyRunning as exc:
        _refused(exc)
    except USER_ERRORS as exc:
        _fail(exc)
    try:
        flow_run_id = asyncio.run(start_pathway_flow(run.id))
    except Exception as exc:
        typer.echo(f"pathway run {run.id} recorded; starting its flow failed ({exc}); the sweeper will start it")
        raise typer.Exit(1)
    typer.echo(f"pathway run {run.id} started as flow run {flow_run_id}")


def _parse_pairs(pairs: list[str] | None, field: str) -> dict:
    """``["a=1", "b=x"]`` → ``{"a": "1", "b": "x"}``; ValueError naming ``field`` and the bad pair."""
    parsed = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"field {field!r}: {pair!r} is not name=value")
        name, value = pair.split("=", 1)
        parsed[name.strip()] = value.strip()
    return parsed


@task_app.command("list")
def task_list(unit: Annotated[str, typer.Option(help="agency unit code, e.g. police-350302")],
              limit: Annotated[int, typer.Option(min=1, max=1000, help="tasks per page")] = 200,
              after: Annotated[str, typer.Option(help="continue after this task (short reference)")] = "") -> None:
    """List a unit's open tasks, soonest deadline first (overdue ones marked), a page at a time."""
    from core.db import session_scope
    from careflow.task_lookup import count_open_tasks, find_task, list_open_tasks
    from models.base import utcnow
    from models.case import Case
    from models.deadlines import format_local
    from models.agency import AgencyUnit
    from models.service_list import describe_duty

    with session_scope() as session:
        if session.get(AgencyUnit, unit) is None:
            _fail(LookupError(f"field 'unit': no agency unit {unit!r} (the directory: policy/agency_units.yaml)"))
        start = None
        if after:
            try:
                start = find_task(session, after, unit_code=unit)
            except LookupError as exc:
                _fail(LookupError(f"field 'after': {exc}"))
        total = count_open_tasks(session, unit)
        tasks = list_open_tasks(session, unit, limit=limit + 1, after=start)
        more, tasks = len(tasks) > limit, tasks[:limit]
        now = utcnow()
        for t in tasks:
            case = session.get(Case, t.case_id) if t.case_id else None
            subject = case.reference if case else describe_duty(t.duty_key or "", t.title).subject
            late = "  逾期 OVERDUE" if t.due_at < now else ""
            provisional = "（暂定）" if t.due_provisional else ""
            typer.echo(f"{t.short_ref}  {format_local(t.due_at)}{provisional}  {label(t.state, 'state'):<5} {subject}  "
                       f"{t.title}{late}")
    typer.echo(f"{len(tasks)} of {total} open task(s) for {unit} (共 {total} 条，本页 {len(tasks)} 条)")
    if more:
        typer.echo(f"more: careflow task list --unit {unit} --limit {limit} --after {tasks[-1].short_ref}")


def _answer(ref: str, state, unit: str | None, actor: str, reason: str = "", outcome: dict | None = None,
            **rejection) -> None:
    from careflow.answers import answer_task
    from careflow.tasks import AnswerConflict

    try:
        result = answer_task(ref, state, actor=actor, unit_code=unit, reason=reason, outcome=outcome, **rejection)
    except AnswerConflict as exc:  # someone else answered first, differently
        _refused(exc)
    except USER_ERRORS as exc:
        _fail(exc)
    typer.echo(f"任务 {result.task.short_ref}：{label(result.task.state, 'state')}")
    if result.resume == "pending":
        typer.echo("答复已保存，路径暂未能继续，巡检时自动继续"
                   "（answer stored; the pathway could not be resumed now and will be resumed by the sweeper）")
    elif result.resume == "resumed":
        typer.echo("路径已继续")


@task_app.command("ack")
def task_ack(ref: str, unit: Annotated[Optional[str], typer.Option()] = None,
             actor: Annotated[str, typer.Option("--as", help="officer name")] = "") -> None:
    """Acknowledge (accept) a task."""
    from models.task import TaskState

    _answer(ref, TaskState.acknowledged, unit, actor)


@task_app.command("reject")
def task_reject(ref: str, reason: Annotated[str, typer.Option(help="why (required)")],
                unit: Annotated[Optional[str], typer.Option()] = None,
                actor: Annotated[str, typer.Option("--as", help="officer name")] = "",
                kind: Annotated[str, typer.Option(help="not_ours | wrong_area | need_more_information | other")] = "",
                to: Annotated[str, typer.Option("--to", help="not_ours/wrong_area: the unit code it belongs to")] = "",
                ) -> None:
    """Reject a task with a reason; it goes back to the caseworker and up to the county. ``--kind`` says why and
    ``--to`` names the right unit, where the next attempt then goes (careflow.reroute)."""
    from models.task import TaskState

    _answer(ref, TaskState.rejected, unit, actor, reason=reason, rejection_kind=kind, reroute_unit=to)


@task_app.command("complete")
def task_complete(ref: str,
                  outcome: Annotated[Optional[list[str]], typer.Option(help="name=value (repeatable)")] = None,
                  unit: Annotated[Optional[str], typer.Option()] = None,
                  actor: Annotated[str, typer.Option("--as", help="officer name")] = "") -> None:
    """Complete a task with its structured outcome; the pathway moves on."""
    from models.task import TaskState

    try:
        parsed = _choices_by_label(_parse_pairs(outcome, "outcome"))
    except ValueError as exc:
        _fail(exc)
    _answer(ref, TaskState.completed, unit, actor, outcome=parsed)


def _choices_by_label(pairs: dict) -> dict:
    """A choice typed by its label (``ruling=驳回申请``) as its value (``petition_dismissed``): for a field that is a
    choice in the policy only, so that free text is never changed (:func:`core.i18n.value_of`)."""
    from core.i18n import value_of
    from models.policy import load_policy

    options: dict[str, list[str]] = {}
    for pathway in load_policy().pathways.values():
        for step in pathway.steps:
            for field in step.outcome:
                if field.type == "choice":
                    options.setdefault(field.name, []).extend(field.options)
    return {k: value_of(v, k, options[k]) if k in options and isinstance(v, str) else v for k, v in pairs.items()}


policy_app = typer.Typer(help="The policy as data: city service lists (市级关爱服务清单).", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


def _print_differences(differences) -> None:
    for difference in differences:
        typer.echo(f"  {difference}")


@policy_app.command("check-city-list")
def policy_check_city_list(file: Annotated[str, typer.Argument(help="the city's list: YAML of "
                                                                   "policy/service_list.yaml's shape plus "
                                                                   "city_code and published_on")]) -> None:
    """Check a city's service list against the provincial list (方案 四: never narrower).

    Prints every difference (NARROWER or info). Exits 0 when the list is accepted (additions are fine),
    1 when an item is missing or narrower, 2 when the file is malformed.
    """
    from models.service_list import check_city_list, read_city_list

    try:
        city_list = read_city_list(file)
    except (ValueError, OSError) as exc:
        _fail(exc)
    differences = check_city_list(city_list.items)
    typer.echo(f"{city_list.city_name} ({city_list.city_code}) service list published {city_list.published_on}: "
               f"{len(city_list.items)} item(s), {len(differences)} difference(s) from the provincial list")
    _print_differences(differences)
    narrower = [d for d in differences if d.narrower]
    if narrower:
        typer.secho(f"NOT accepted: narrower than the provincial list in {len(narrower)} way(s) "
                    "(覆盖范围和实现程度不得低于省级关爱服务清单)", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo("accepted: covers every item of the provincial list")


@policy_app.command("load-city-list")
def policy_load_city_list(
    file: Annotated[str, typer.Argument(help="the city's list (see check-city-list)")],
    force: Annotated[bool, typer.Option("--force", help="load a narrower list anyway (the differences are "
                                                        "recorded in the audit trail)")] = False,
    actor: Annotated[str, typer.Option("--as", help="who loads it (audited)")] = "manager",
) -> None:
    """Load a city's service list: check it, then create its dated duties for the city's civil affairs bureau
    (file with the provincial civil affairs department within 10 days; republish in two years) and notify it.

    A narrower list is refused (exit 1) unless --force. Loading the same list again creates nothing new.
    """
    from careflow.city_list import NarrowerCityList, load_city_list_file
    from models.deadlines import format_local

    try:
        result = load_city_list_file(file, actor=actor, force=force)
    except NarrowerCityList as exc:
        typer.secho(f"refused: {exc}\n(use --force to load it anyway; the differences are then recorded)",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    except (ValueError, LookupError, OSError) as exc:
        _fail(exc)
    city_list = result.city_list
    typer.echo(f"{city_list.city_name} ({city_list.city_code}) service list published {city_list.published_on} "
               f"loaded{' with --force' if result.forced else ''}")
    if result.forced:
        _print_differences([d for d in result.differences if d.narrower])
    for task in result.duties:
        provisional = "（暂定 provisional）" if task.due_provisional else ""
        typer.echo(f"  duty {task.short_ref} {task.duty_key}: {task.unit_code} due "
                   f"{format_local(task.due_at, get_settings().timezone)}{provisional}  {task.title}")
    typer.echo(f"{result.created} duty task(s) created, {len(result.duties) - result.created} already there")


notify_app = typer.Typer(help="Notification channels, test messages, referral letters (通知).", no_args_is_help=True)
app.add_typer(notify_app, name="notify")


def _channel_config():
    from notifications.channels import load_channels, write_default_channels

    settings = get_settings()
    write_default_channels(settings.resolved_channels_file, settings.smtp_port)
    return load_channels(settings.resolved_channels_file)


@notify_app.command("channels")
def notify_channels(
    key: Annotated[str, typer.Argument(help="channel key: unit code, <unit>.<role> or caseworker.<login>")],
    event: Annotated[Optional[str], typer.Option(help="event type, to include its event routing")] = None,
) -> None:
    """Show where a message to KEY goes (URLs redacted) and each URL's rate limit."""
    from notifications.channels import ChannelConfigError, redact_url
    from notifications.deliver import limit_for

    try:
        config = _channel_config()
    except ChannelConfigError as exc:
        _fail(exc)
    urls = config.urls_for(key, event)
    for url in urls:
        limit = limit_for(url, config.limits)
        typer.echo(f"{redact_url(url)}  rate limit: {limit or 'none'}")
    typer.echo(f"{len(urls)} channel URL(s) for {key}" + (f" ({event})" if event else "") + f", from {config.path}")


@notify_app.command("test")
def notify_test(
    key: Annotated[str, typer.Argument(help="channel key: unit code, <unit>.<role> or caseworker.<login>")],
    event: Annotated[Optional[str], typer.Option(help="route as this event type")] = None,
) -> None:
    """Send a test message (no case data) to every channel of KEY now; exit 1 if any channel failed.

    Chat platforms' answers are verified (an error code in an HTTP 200 answer is a failure). Nothing is
    stored in the outbox.
    """
    from notifications.channels import ChannelConfigError
    from notifications.deliver import deliver

    try:
        config = _channel_config()
    except ChannelConfigError as exc:
        _fail(exc)
    subject = f"【测试】careflow 通知通道测试 {key}"
    body = (f"这是一条来自 careflow 的测试消息，用于确认 {key} 的通知通道可以收到消息，无需答复。\n"
            "This is a careflow test message confirming that this channel receives messages; no answer needed.\n")
    try:
        result = deliver(config.urls_for(key, event), subject, body, endpoints=config.endpoints,
                         limits=config.limits, max_wait=60.0)
    except ValueError as exc:
        _fail(exc)
    for item in result.per_url:
        status = "ok" if item.ok else "FAILED"
        note = "" if item.verified else " (sent; the platform's answer could not be checked)"
        typer.echo(f"{status:<6} {item.url_redacted}{note}{': ' + item.error if item.error else ''}")
    raise typer.Exit(0 if result.ok else 1)


@notify_app.command("letter")
def notify_letter(
    task: Annotated[str, typer.Argument(help="task reference (at least 4 hex characters of the task id)")],
    out: Annotated[Optional[str], typer.Option(help="file to write (default CAREFLOW_HOME/letters/…html)")] = None,
    lang: Annotated[str, typer.Option(help="zh or en")] = "zh",
) -> None:
    """Write the printable referral letter (转介单) of a task as an HTML file; prints its path."""
    from pathlib import Path

    from core.db import session_scope
    from careflow.task_lookup import find_task
    from notifications.letters import referral_letter

    try:
        with session_scope() as session:
            found = find_task(session, task)
            page = referral_letter(session, found, lang=lang)
            name = f"referral-{found.short_ref}.{lang}.html"
    except USER_ERRORS as exc:
        _fail(exc)
    path = Path(out) if out else get_settings().home / "letters" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    typer.echo(str(path))


@notify_app.command("dispatch")
def notify_dispatch() -> None:
    """Send every due message now (digests, rate limits, parallel per recipient); print the counts."""
    from notifications.channels import ChannelConfigError
    from notifications.dispatcher import dispatch_due

    try:
        typer.echo(f"notifications: {dispatch_due()}")
    except ChannelConfigError as exc:
        _fail(exc)


def _demo_accounts():
    from core.db import session_scope
    from web.demo_accounts import ensure_demo_accounts

    with session_scope() as session:
        return ensure_demo_accounts(session, get_settings().home / "demo-accounts.json")


def _echo_accounts(accounts) -> None:
    """The named demo accounts, one a line; the units' own officer accounts (``unit.<代码>``) as one count."""
    from core.i18n import label
    from web.demo_accounts import DEMO_ACCOUNTS

    named = {a.username for a in DEMO_ACCOUNTS}
    typer.echo("  演示账号（用户名 / 密码，角色，范围）：")
    for a in accounts:
        if a.username in named:
            typer.echo(f"    {a.username:<20} {a.password or '（未改动）':<14} {label(a.role.value, 'role', 'zh'):<8} "
                       f"{a.scope}  {a.display_name}")
    others = len([a for a in accounts if a.username not in named])
    if others:
        typer.echo(f"    另有 {others} 个单位经办人账号（unit.<单位代码>），密码见 "
                   f"{get_settings().home / 'demo-accounts.json'}")


@web_app.command("serve")
def web_serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[Optional[int], typer.Option(help="port (default CAREFLOW_WEB_PORT, 8000)")] = None,
) -> None:
    """Serve the web app (pages and the JSON API under /api) with uvicorn (blocks)."""
    import uvicorn

    uvicorn.run("web.app:create_app", factory=True, host=host, port=port or get_settings().web_port,
                log_level="info", proxy_headers=False)


@web_app.command("create-user")
def web_create_user(
    username: Annotated[str, typer.Argument(help="login name, e.g. lin.fang")],
    role: Annotated[str, typer.Option(help="caseworker | agency_officer | manager | admin")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          help="at least 10 characters (prompted when not given)")],
    jurisdiction: Annotated[str, typer.Option(help="area code of a caseworker or manager, e.g. 350302001")] = "",
    unit: Annotated[Optional[str], typer.Option(help="agency unit code of an agency officer")] = None,
    name: Annotated[str, typer.Option(help="display name")] = "",
    token: Annotated[bool, typer.Option(help="also create an API token and print it (shown once)")] = False,
) -> None:
    """Create a web user (the first admin, for example); passwords are stored as argon2 hashes."""
    from core.db import session_scope
    from web.users import create_api_token, create_user

    try:
        with session_scope() as session:
            user = create_user(session, username=username, password=password, role=role, actor="cli",
                               display_name=name, jurisdiction_code=jurisdiction, unit_code=unit)
            issued = create_api_token(session, user=user, name="cli") if token else None
    except USER_ERRORS as exc:
        _fail(exc)
    typer.echo(f"user {user.username} ({user.role}) created")
    if issued:
        typer.echo(f"API token (shown once): {issued.token}")


@web_app.command("demo-accounts")
def web_demo_accounts() -> None:
    """Create the demo accounts of a local installation (if missing) and print them with their passwords."""
    from entry.stack import ensure_home

    ensure_home()
    _echo_accounts(_demo_accounts())


from careflow.survey.cli import survey_app  # noqa: E402  (the monitoring survey, 方案 一)

app.add_typer(survey_app, name="survey")
from entry.holidays_cli import calendar_app  # noqa: E402  (holiday arrangements, DOMAIN.md §6)

app.add_typer(calendar_app, name="calendar")


def main() -> None:
    """The ``careflow`` command. A database that was never set up gets one clear line instead of a traceback."""
    import sqlalchemy as sa

    try:
        app()
    except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
        if not _not_set_up(exc):
            raise
        from core.settings import get_settings

        url = sa.engine.make_url(get_settings().database_url).render_as_string(hide_password=True)
        typer.secho(f"error: the database {url} is not set up (no table {_missing_table(exc)!r}): "
                    "run `careflow init` (or `./run up`) first", fg=typer.colors.RED, err=True)
        sys.exit(2)


def _not_set_up(exc: Exception) -> bool:
    """A missing table: SQLite's ``no such table``, PostgreSQL's undefined_table (42P01)."""
    return getattr(exc.orig, "sqlstate", None) == "42P01" or "no such table" in str(exc.orig)


def _missing_table(exc: Exception) -> str:
    text = str(exc.orig)
    found = re.search(r'no such table: (\w+)|relation "([^"]+)" does not exist', text)
    return (found.group(1) or found.group(2)) if found else "?"


if __name__ == "__main__":
    main()
