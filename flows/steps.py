"""Prefect tasks that carry a pathway's side effects.

A flow-run process imports this module before it reports Running, and every restart or resume is a new process,
so only what orchestration needs is imported here: what writes messages (templates) is imported inside the tasks
that use them. A flow never sends: it stores each message with ``send_now`` and the send loop of the runner or
worker process (:mod:`notifications.send_loop`) delivers it within a second (issue 17).

A resumed or restarted flow re-runs from the top. So that it reaches its current wait without a task run per past
step, :func:`begin_pathway` reads once what the pathway run already did (:class:`StepLedger`: its requested tasks
and stored messages) and the helpers below skip what the database already holds; only new work costs task runs.

Each task that writes is idempotent twice over: the database finds what an earlier run already
created (unique keys), and the task's result is persisted under a key made of the pathway run,
step and attempt, so a resumed or retried flow run gets the cached result without running it again.
Reads (``begin_pathway``, ``read_tasks``, ``next_suspend_number``) are plain functions, not task runs: they must see answers stored
since the last run, and a task run costs several calls to the Prefect server on every pass of a resumed flow.
Task runs carry no tags (each tag would cost a concurrency-slot request per task run); the agency and step are in
the task run's name. Starting another pathway on the same case is :mod:`flows.onward_referral`'s; the fault points
the recovery tests kill a runner at, :mod:`flows.faults`'s.
"""
from __future__ import annotations

import logging
import os
import uuid

import sqlalchemy as sa
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from core.db import session_scope
from core.outcome import Outcome
from core.processes import process_record
from core.prefect_env import share_prefect_tls_context
from careflow.recovery import close_pathway_run, record_flow_failure
from flows.faults import PENDING_FAULT_POINT, fault_point
from models.case import OPEN_PATHWAY_STATUSES, Case, PathwayRun, PathwayStatus
from models.errors import error_text
from models.notification import Notification
from models.task import AgencyTask, TaskState
from notifications.claims import send_soon
from notifications.routing import caseworker_unit


class StepLedger(BaseModel):
    """What a pathway run already did, as :func:`begin_pathway` read it from careflow's database.

    ``requested``: ``"<step>/<agency type>/<attempt>"`` → task id, for each task whose request message is stored;
    ``told``: ``"<task id>:<event>:<recipient>"`` for each stored message about the run's tasks.
    """

    requested: dict[str, str] = {}
    told: set[str] = set()

    def task_requested(self, step_key: str, agency_type: str, attempt: int) -> str | None:
        """The id of the step's task for this attempt if it was opened and its agency's message stored."""
        return self.requested.get(f"{step_key}/{agency_type}/{attempt}")

    def was_told(self, task_id: str, event: str, recipient: str) -> bool:
        """Whether a message for ``event`` on the task to ``recipient`` is stored already."""
        return f"{task_id}:{event}:{recipient}" in self.told


class PathwayContext(BaseModel):
    """What a pathway flow needs to know about its run (no personal data), and what it already did."""

    pathway_run_id: str
    pathway: str
    case_reference: str
    county_code: str
    caseworker: str
    parameters: dict
    ledger: StepLedger = StepLedger()


class TaskAnswer(BaseModel):
    """A task as the waiting flow sees it: its state and, once answered, the outcome."""

    task_id: str
    step_key: str
    agency_type: str
    attempt: int
    state: TaskState
    outcome: dict = {}
    rejection_reason: str = ""
    rejection_kind: str = ""  # a models.task.RejectionKind value, "" when not given (careflow.reroute)
    reroute_unit_code: str | None = None


share_prefect_tls_context()  # a client per task run, but one TLS context per flow-run process


def error_reason(exc: BaseException) -> str:
    """``exc`` worded in Chinese, as a pathway run stores a reason (its outcome, a linked run's "未能启动：…"); a field
    error names the field and the value (without the catalogues it would read ``problem.item_not_in_list {…}``)."""
    import core.i18n  # noqa: F401 -- start-up: the catalogues load only when a flow has an error to word
    return error_text(exc, "zh")


def cache_key(*parts) -> str:
    """A task result's cache key: the parts joined by ``:`` (e.g. ``open-task:<run>:<step>:<agency>:<attempt>``)."""
    return ":".join(str(p) for p in parts)


def begin_pathway(pathway_run_id: str, flow_run_id: str) -> PathwayContext:
    """Mark the pathway run as running under this flow run; return its context with its :class:`StepLedger`.

    A plain write and read (no task run): a failure fails the flow run, which Prefect retries and the sweeper
    restarts.

    Raises:
        LookupError: no such pathway run.
    """
    with session_scope() as session:
        run = session.get(PathwayRun, uuid.UUID(pathway_run_id))
        if run is None:
            raise LookupError(f"pathway run {pathway_run_id} does not exist")
        if run.status == PathwayStatus.starting:
            run.status = PathwayStatus.running
        if run.status in OPEN_PATHWAY_STATUSES:
            run.down_since = None  # a flow run lives again
            run.flow_process = process_record()
        run.flow_run_id = uuid.UUID(flow_run_id)
        session.add(run)
        case = session.get(Case, run.case_id)
        return PathwayContext(
            pathway_run_id=pathway_run_id, pathway=run.pathway, case_reference=case.reference,
            county_code=case.county_code, caseworker=case.caseworker, parameters=run.parameters,
            ledger=read_ledger(session, run.id),
        )


def read_ledger(session, pathway_run_id: uuid.UUID) -> StepLedger:
    """The run's :class:`StepLedger`: two indexed reads (its tasks; the messages about them)."""
    tasks = session.execute(sa.select(AgencyTask.id, AgencyTask.step_key, AgencyTask.agency_type, AgencyTask.attempt)
                            .where(AgencyTask.pathway_run_id == pathway_run_id)).all()
    if not tasks:
        return StepLedger()
    messages = session.execute(
        sa.select(Notification.task_id, Notification.event, Notification.unit_code)
        .where(Notification.task_id.in_([t.id for t in tasks]))).all()
    told = {f"{m.task_id}:{m.event}:{m.unit_code}" for m in messages}
    asked = {str(m.task_id) for m in messages if m.event == "task_requested"}
    return StepLedger(told=told, requested={f"{t.step_key}/{t.agency_type}/{t.attempt}": str(t.id)
                                            for t in tasks if str(t.id) in asked})


@task(
    name="open-agency-task", task_run_name="open-task-{step_key}-{agency_type}-{attempt}", persist_result=True,
    retries=3, retry_delay_seconds=2,
    cache_key_fn=lambda _ctx, p: cache_key("open-task", p["pathway_run_id"], p["step_key"], p["agency_type"], p["attempt"]),
)
def open_agency_task(pathway_run_id: str, step_key: str, agency_type: str, attempt: int = 1,
                     urgent: bool = False) -> str:
    """Create the step's task for one agency (once); return its id. (A step a flow waits for is opened by
    :func:`request_agency_step`; this opens a task before its wait, e.g. to tell its follower first.)"""
    task_id = open_task_row(pathway_run_id, step_key, agency_type, attempt, urgent)
    fault_point("after_task_row")
    return task_id


def open_task_row(pathway_run_id: str, step_key: str, agency_type: str, attempt: int, urgent: bool) -> str:
    """Create (once: :func:`careflow.step_tasks.open_step_task` finds an earlier one) and commit the step's task."""
    # Routing, deadlines and the answer checks (the policy's models, Babel, Jinja2), only when a task is opened: a
    # resumed run that finds this step in its ledger never loads them (start-up).
    from careflow.step_tasks import open_step_task

    with session_scope() as session:
        created = open_step_task(session, pathway_run_id=uuid.UUID(pathway_run_id), step_key=step_key,
                                 agency_type=agency_type, attempt=attempt, urgent=urgent)
        get_run_logger().info("task %s: %s → %s, due %s", created.short_ref, step_key, created.unit_code,
                              created.due_at.isoformat())
        return str(created.id)


@task(
    name="request-step", task_run_name="request-{step_key}-{agency_type}-{attempt}", persist_result=True,
    retries=3, retry_delay_seconds=2,
    cache_key_fn=lambda _ctx, p: cache_key("request", p["pathway_run_id"], p["step_key"], p["agency_type"], p["attempt"]),
)
def request_agency_step(pathway_run_id: str, step_key: str, agency_type: str, attempt: int = 1,
                        urgent: bool = False) -> str:
    """Open the step's task for one agency and store its ``task_requested`` message for the send loop (each once,
    in two transactions); return the task's id. One task run for all a new step writes."""
    task_id = open_task_row(pathway_run_id, step_key, agency_type, attempt, urgent)
    fault_point("after_task_row")
    store_message(task_id, "task_requested")
    fault_point("after_message_row")
    return task_id


@task(
    name="notify-agency", persist_result=True, retries=3, retry_delay_seconds=2,
    cache_key_fn=lambda _ctx, p: cache_key("notify", p["task_id"], p["event"], p.get("recipient") or "assignee"),
)
def queue_message(task_id: str, event: str, recipient: str | None = None, role: str = "officer",
                  outcome_summary: str = "", *, blocked: bool = False) -> str:
    """Store the message for an event on a task (once) for the send loop; return the notification id.
    ``blocked``: a ``task_rejected`` message for a step that is not re-issued."""
    notification_id = store_message(task_id, event, recipient, role, outcome_summary, blocked=blocked)
    fault_point("after_message_row")
    return notification_id


def store_message(task_id: str, event: str, recipient: str | None = None, role: str = "officer",
                  outcome_summary: str = "", *, blocked: bool = False) -> str:
    """Store (once, by its idempotency key) the message for ``event`` on the task, marked ``send_now`` for the
    send loop (:mod:`notifications.send_loop`); commits. Returns the notification id."""
    from notifications.messages import enqueue_task_message  # start-up: the templates (Jinja2), only to write one

    with session_scope() as session:
        agency_task = session.get(AgencyTask, uuid.UUID(task_id))
        notification = enqueue_task_message(session, task=agency_task, event=event, recipient_unit=recipient,
                                            role=role, outcome_summary=outcome_summary, send_now=True,
                                            blocked=blocked)
        return str(notification.id)


@task(
    name="notify-follower", persist_result=True, retries=3, retry_delay_seconds=2,
    cache_key_fn=lambda _ctx, p: cache_key("notify-follower", p["task_id"], p["event"]),
)
def notify_follower(task_id: str, event: str) -> str:
    """Tell the unit following a task handled at the registration place (``AgencyTask.follower_unit_code``,
    :mod:`careflow.registration_place`) that it was opened (``task_followed``) or answered (``task_answered``);
    once per task and event. Returns the notification id, "" when the task has no follower."""
    from notifications.messages import enqueue_task_message  # start-up: the templates (Jinja2), only to write one

    with session_scope() as session:
        agency_task = session.get(AgencyTask, uuid.UUID(task_id))
        if not agency_task.follower_unit_code:
            return ""
        return str(enqueue_task_message(session, task=agency_task, event=event, role="follower",
                                        recipient_unit=agency_task.follower_unit_code, send_now=True).id)


@task(
    name="registration-route", persist_result=True, retries=3, retry_delay_seconds=2,
    cache_key_fn=lambda _ctx, p: cache_key("registration-route", p["pathway_run_id"], p["step_key"]),
)
def registration_route(pathway_run_id: str, step_key: str) -> str:
    """``registration_place`` (省内通办) or ``cross_province`` (跨省通办) for a step handled at the child's
    registration place (:func:`careflow.registration_place.registration_route`); decided once per pathway run and
    step (a persisted result), so a resumed or restarted flow takes the same road even if the directory changed."""
    from careflow.registration_place import registration_route as route  # start-up: routing, only for such steps

    with session_scope() as session:
        return route(session, uuid.UUID(pathway_run_id), step_key)


def read_tasks(task_ids: list[str]) -> list[TaskAnswer]:
    """The current state of the given tasks, read fresh from the database; a task a manager redirected is read as
    the task that replaced it (:func:`careflow.reroute.follow_redirects`). A plain read (no task run): a failure
    fails the flow run, which the sweeper restarts."""
    # careflow.reroute loads Babel and the policy's models: loaded when the flow reads answers, after it reports
    # Running, not in a flow-run process's start-up.
    from careflow.reroute import follow_redirects

    with session_scope() as session:
        answers = []
        for task_id in follow_redirects(session, task_ids):
            t = session.get(AgencyTask, uuid.UUID(task_id))
            answers.append(TaskAnswer(task_id=task_id, step_key=t.step_key, agency_type=t.agency_type,
                                      attempt=t.attempt, state=t.state, outcome=t.outcome,
                                      rejection_reason=t.rejection_reason, rejection_kind=t.rejection_kind,
                                      reroute_unit_code=t.reroute_unit_code))
        return answers


def next_suspend_number(pathway_run_id: str) -> int:
    """A number never used before by this pathway run's suspends (a suspend key must be new). A plain write (no task
    run): a number skipped by a failed run is harmless."""
    with session_scope() as session:
        run = session.get(PathwayRun, uuid.UUID(pathway_run_id))
        run.suspend_seq += 1
        session.add(run)
        return run.suspend_seq


@task(name="close-pathway", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=2)
def close_pathway(pathway_run_id: str, outcome: Outcome | str,
                  status: PathwayStatus = PathwayStatus.completed) -> str:
    """Record how the pathway ended (its phrases, and their Chinese text; :mod:`core.outcome`); returns the recorded
    Chinese text.

    Idempotent: a closed run keeps its first outcome. The text is cut to 500 characters with "…" (a long
    rejection reason quoted in it never makes the close fail). A ``failed`` end (a step rejected
    :data:`flows.waiting.MAX_ATTEMPTS` times) tells the caseworker and the county manager
    (:func:`careflow.recovery.close_pathway_run`), in the same transaction, for the send loop.
    """
    run_id = uuid.UUID(pathway_run_id)
    with session_scope() as session:
        _closed, messages = close_pathway_run(session, run_id, outcome, status)
        send_soon(session, messages)
        fault_point("during_close")  # before the commit: the close must be redone by a restarted run
    with session_scope() as session:
        return session.get(PathwayRun, run_id).outcome


def record_failure_hook(flow, flow_run, state) -> None:
    """The ``on_failure`` and ``on_crashed`` hook of every pathway flow: record the failure on its pathway run.

    Writes ``PathwayRun.last_failure`` (the state's message, cut to 500 characters) and ``down_since`` with a
    conditional update (only an open run still linked to this flow run), so the dashboard shows it and the next
    sweep restarts it (:func:`careflow.reconcile.recover_pathway_runs`). Never raises: a hook that raised would hide
    the failure it reports.
    """
    try:
        run_id = uuid.UUID(str(flow_run.parameters["pathway_run_id"]))
        reason = f"流程运行{'崩溃' if state.is_crashed() else '失败'}（{state.name}）：{state.message or ''}"
        with session_scope() as session:
            record_flow_failure(session, run_id, flow_run.id, reason)
    except Exception as exc:  # noqa: BLE001 -- the database may be the reason the flow failed
        logging.getLogger(__name__).warning("could not record the failure of flow run %s: %s", flow_run.id, exc)


def notify_caseworker(ctx: PathwayContext, task_id: str, event: str, summary: str) -> None:
    """Tell the case's caseworker about an answer or the end of the pathway (once: a message the ledger holds
    costs no task run)."""
    recipient = caseworker_unit(ctx.caseworker)
    if not ctx.ledger.was_told(task_id, event, recipient):
        queue_message(task_id, event, recipient=recipient, role="caseworker", outcome_summary=summary)


def record_loading_process(flow_run_id: str) -> None:
    """Record this process on the open pathway run of ``flow_run_id`` as it loads, before it reports Running.

    A flow run may run for many seconds before its first task (``begin_pathway``) records its process; a runner
    killed meanwhile kills it too, and without this record the sweeper could only wait for the heartbeats to stop
    (:func:`careflow.reconcile.judge_flow_run`). Best effort: a failure is logged, and ``begin_pathway`` records it.
    """
    try:
        with session_scope() as session:
            session.execute(sa.update(PathwayRun)
                            .where(PathwayRun.flow_run_id == uuid.UUID(flow_run_id),
                                   PathwayRun.status.in_(OPEN_PATHWAY_STATUSES))
                            .values(flow_process=process_record())
                            .execution_options(synchronize_session=False))
    except Exception as exc:  # noqa: BLE001 -- never stop a flow run from loading
        logging.getLogger(__name__).warning("could not record the process of flow run %s: %s", flow_run_id, exc)


def flow_run_process_loaded(flow_run_id: str) -> None:
    """What a flow-run process does once careflow is loaded, before it reports Running: record itself on its
    pathway run (:func:`record_loading_process`) and pass the fault point of a run still Pending (tests).

    Called as this module loads in a process started for one flow run (``python -m prefect.engine`` on a work pool,
    which sets ``PREFECT__FLOW_RUN_ID``), and by :mod:`flows.fork_server` in a served flow run's process, which
    finds this module already loaded."""
    record_loading_process(flow_run_id)
    if os.environ.get("CAREFLOW_FAULT_POINT"):
        fault_point(PENDING_FAULT_POINT)


if os.environ.get("PREFECT__FLOW_RUN_ID"):
    flow_run_process_loaded(os.environ["PREFECT__FLOW_RUN_ID"])
