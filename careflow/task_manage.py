"""A county manager acts on an open task (issue 12, "Work surfaces"): redirect it to another unit, extend its
deadline with a reason, or comment on it. Each is audited and notified through the outbox in the caller's
transaction; permissions (role manager, the task's county) are checked by the web layer (``web.manage``).

* :func:`redirect_task`: the task ends as ``redirected`` (已转办, through :func:`careflow.tasks.transition_task`, a
  conditional ``UPDATE``) and a new task for the chosen unit takes its place: same step, agency type, deadline rule
  (the urgent one if the task had it) counted from the redirect, next attempt number; ``redirected_to_id`` links
  them, so the waiting flow waits for the new task (:func:`careflow.reroute.follow_redirects`). The new unit gets
  ``task_requested``. The same redirect again returns the task it opened (a double submit).
* :func:`extend_deadline`: a later ``due_at`` (conditional on the old one; never past the step's ``deadline_max``,
  :func:`latest_deadline`: 低保's 45 working days), ``next_rung_at`` recomputed with
  :func:`careflow.ladder.next_rung_time` (rungs already fired stay fired), audit ``task.deadline_extended``,
  ``deadline_changed`` to the unit and the caseworker, keyed by the new deadline.
* :func:`comment_task`: audit ``task.commented``; the unit gets a ``task_escalated`` message (督办) quoting it.

Texts are checked like answers (:func:`careflow.answer_text.check_answer_text`: no child's name or ID number).
Errors are :class:`~models.errors.FieldValueError` (a ``ValueError``) worded in the reader's language from the
catalogues (``problem.*``), naming the field (``reroute_unit``, ``redirect_reason``, ``due_at``, ``extend_reason``,
``comment``) or none (field ``""``: a closed task, a change made meanwhile).
"""
from __future__ import annotations

import uuid
from datetime import datetime

import pendulum
import sqlalchemy as sa
from sqlmodel import Session, select

from careflow.answer_text import check_answer_text
from core.audit import record_audit
from core.i18n import deadline_text
from careflow.ladder import initial_next_rung_at, load_ladder, next_rung_time, task_county
from careflow.reroute import check_reroute_unit
from careflow.step_tasks import step_of
from careflow.tasks import transition_task
from models.audit import AuditEvent
from models.base import utcnow
from models.case import Case, PathwayRun
from models.deadlines import compute_deadline, format_local
from models.errors import FieldProblem, FieldValueError, Labels
from models.task import OPEN_STATES, AgencyTask, Escalation, TaskState
from notifications.messages import enqueue_task_message
from notifications.routing import caseworker_unit

TEXT_MAX_CHARS = 500
#: The audit actions shown as a task's history on its page and in the case timeline.
HISTORY_ACTIONS = ("task.redirected", "task.deadline_extended", "task.commented", "task.reroute_named",
                   "task.reroute_chosen")


def _text(session: Session, task: AgencyTask, value: str, field: str) -> str:
    """``value`` stripped, checked as an answer's text is (:func:`check_answer_text`); a
    :class:`models.errors.FieldValueError` of ``field`` (``redirect_reason``, ``extend_reason``, ``comment``)
    when it is empty, too long or holds a control character or the child's name or ID number."""
    text = (value or "").strip()
    if not text:
        raise FieldValueError(field, "problem.required")
    if len(text) > TEXT_MAX_CHARS:
        raise FieldValueError(field, "problem.too_long", n=TEXT_MAX_CHARS, have=len(text))
    try:
        check_answer_text(session, task, reason=text, outcome=None)
    except FieldProblem as exc:  # said of this form's field, not of a rejection's reason
        raise FieldValueError(field, exc.key, **exc.values) from None
    return text


def _check_open(task: AgencyTask, what: str) -> None:
    """Refuse acting on a task no longer open: ``problem.task_closed_<what>`` (``redirect``, ``extend``), the
    task's state by its label (「该任务已办结，不能再转办」)."""
    if TaskState(task.state) not in OPEN_STATES:
        raise FieldValueError("", f"problem.task_closed_{what}", state=Labels([task.state], "state"))


class RuleWords:
    """A deadline rule (:class:`models.deadlines.DeadlineRule`) worded in the reader's language when a problem
    is shown: ``45个工作日`` / ``45 working days``."""

    def __init__(self, rule) -> None:
        self.rule = rule

    def text(self, lang: str) -> str:
        return deadline_text(str(self.rule), lang)


def redirect_task(session: Session, task: AgencyTask, *, actor: str, unit_code: str, reason: str,
                  now: datetime | None = None) -> AgencyTask:
    """Send the open ``task`` to the unit ``unit_code`` instead; returns the new task (see the module).

    Raises:
        ValueError: a closed task, an invalid unit (:func:`careflow.reroute.check_reroute_unit`), no reason.
        careflow.tasks.AnswerConflict: the unit answered meanwhile.
    """
    if TaskState(task.state) == TaskState.redirected and task.redirected_to_id is not None:
        successor = session.get(AgencyTask, task.redirected_to_id)
        if successor is not None and successor.unit_code == (unit_code or "").strip():
            return successor  # the same redirect submitted twice
    _check_open(task, "redirect")
    if task.pathway_run_id is None:
        raise FieldValueError("", "problem.duty_not_redirected")
    unit = check_reroute_unit(session, task, unit_code)
    reason = _text(session, task, reason, "redirect_reason")
    now = now or utcnow()
    start = pendulum.instance(now)
    run = session.get(PathwayRun, task.pathway_run_id)
    step = step_of(run.pathway, task.step_key)
    rule = step.urgent_deadline if step.urgent_deadline and task.deadline_text == str(step.urgent_deadline) \
        else step.deadline
    deadline = compute_deadline(pendulum.instance(run.started_at) if step.deadline_from == "pathway_start"
                                else start, rule)
    last = session.exec(select(sa.func.max(AgencyTask.attempt)).where(
        AgencyTask.pathway_run_id == task.pathway_run_id, AgencyTask.step_key == task.step_key,
        AgencyTask.agency_type == task.agency_type)).one()
    new = AgencyTask(
        case_id=task.case_id, pathway_run_id=task.pathway_run_id, step_key=task.step_key,
        attempt=(last or task.attempt) + 1, agency_type=task.agency_type, unit_code=unit.code,
        jurisdiction_code=unit.jurisdiction_code, title=task.title, requested_at=start,
        ack_due_at=compute_deadline(start, step.ack_deadline).due_at if step.ack_deadline else None,
        due_at=deadline.due_at, due_provisional=deadline.provisional, deadline_text=str(rule),
        follower_unit_code=task.follower_unit_code,
    )
    case = session.get(Case, task.case_id) if task.case_id else None
    new.next_rung_at = initial_next_rung_at(new, case.county_code if case else None, start)
    # conditional; its audit event task.redirected holds the reason
    transition_task(session, task, TaskState.redirected, actor=actor, reason=reason, now=now)
    session.add(new)
    session.flush()
    changed = session.execute(
        sa.update(AgencyTask).where(AgencyTask.id == task.id, AgencyTask.redirected_to_id.is_(None))
        .values(redirected_to_id=new.id).execution_options(synchronize_session=False)).rowcount
    if changed != 1:  # pragma: no cover - the conditional transition above lets one redirect through
        raise FieldValueError("", "problem.task_redirected_meanwhile")
    session.refresh(task)
    record_audit(session, actor=actor, action="task.requested", entity_type="task", entity_id=new.id,
                 case_id=task.case_id, reason=f"转办：{reason}",
                 detail={"unit": unit.code, "due_at": new.due_at.isoformat(), "provisional": new.due_provisional,
                         "rule": new.deadline_text, "attempt": new.attempt, "redirected_from": str(task.id)})
    enqueue_task_message(session, task=new, event="task_requested")
    return new


def extend_deadline(session: Session, task: AgencyTask, *, actor: str, due_at: datetime, reason: str,
                    now: datetime | None = None) -> AgencyTask:
    """Give the open ``task`` the later deadline ``due_at`` (UTC-aware) for ``reason`` (see the module).

    Raises:
        ValueError: a closed task, a deadline not later than the current one or than now, no reason; the deadline
            changed meanwhile (refresh).
    """
    _check_open(task, "extend")
    reason = _text(session, task, reason, "extend_reason")
    now = now or utcnow()
    if due_at <= now or due_at <= task.due_at:
        raise FieldValueError("due_at", "problem.due_not_later", value=format_local(due_at),
                              old=format_local(task.due_at))
    latest = _latest(session, task)
    if latest is not None and due_at > latest[0]:
        raise FieldValueError("due_at", "problem.due_past_maximum", value=format_local(due_at),
                              rule=RuleWords(latest[1]), latest=format_local(latest[0]))
    old_due = task.due_at
    fired = set(session.exec(select(Escalation.rung).where(Escalation.task_id == task.id)).all())
    case = session.get(Case, task.case_id) if task.case_id else None
    probe = AgencyTask(**{**task.model_dump(), "due_at": due_at})
    next_at = next_rung_time(probe, load_ladder(), fired, county_code=task_county(task, case.county_code if case
                                                                                   else None), now=now)
    changed = session.execute(
        sa.update(AgencyTask).where(AgencyTask.id == task.id, AgencyTask.due_at == old_due,
                                    AgencyTask.state.in_([s.value for s in OPEN_STATES]))
        .values(due_at=due_at, due_provisional=False, next_rung_at=next_at)
        .execution_options(synchronize_session=False)).rowcount
    session.refresh(task)
    if changed != 1:
        raise FieldValueError("", "problem.deadline_changed_meanwhile")
    record_audit(session, actor=actor, action="task.deadline_extended", entity_type="task", entity_id=task.id,
                 case_id=task.case_id, reason=reason,
                 detail={"old_due_at": old_due.isoformat(), "due_at": due_at.isoformat(),
                         "next_rung_at": next_at.isoformat(), "unit": task.unit_code})
    summary = f"县级民政部门已将截止时间由 {format_local(old_due)} 延长至 {format_local(due_at)}（北京时间）；理由：{reason}"
    occasion = f"extend-{due_at.isoformat()}"
    enqueue_task_message(session, task=task, event="deadline_changed", outcome_summary=summary, occasion=occasion)
    if case is not None:
        enqueue_task_message(session, task=task, event="deadline_changed", recipient_unit=caseworker_unit(case.caseworker),
                             role="caseworker", outcome_summary=summary, occasion=occasion)
    return task


def latest_deadline(session: Session, task: AgencyTask) -> tuple[datetime, str] | None:
    """The latest deadline ``task`` may be extended to and its rule in Chinese (e.g. ``45个工作日``), or ``None``
    when its step has no ``deadline_max`` (policy/pathways/*.yaml; 低保: 45 working days in special cases,
    最低生活保障审核确认办法). Counted like the step's deadline: from the request, or from the pathway's start
    (``deadline_from: pathway_start``); UTC-aware."""
    latest = _latest(session, task)
    return None if latest is None else (latest[0], label_rule(latest[1]))


def _latest(session: Session, task: AgencyTask):
    """:func:`latest_deadline` with the rule itself (a :class:`models.deadlines.DeadlineRule`)."""
    if task.pathway_run_id is None:
        return None
    run = session.get(PathwayRun, task.pathway_run_id)
    try:
        step = step_of(run.pathway, task.step_key)
    except KeyError:
        return None
    if step.deadline_max is None:
        return None
    start = run.started_at if step.deadline_from == "pathway_start" else task.requested_at
    due = compute_deadline(pendulum.instance(start), step.deadline_max).due_at
    return due.in_timezone("UTC"), step.deadline_max


def label_rule(rule) -> str:
    """A deadline rule in Chinese: ``45个工作日``, ``24小时``, ``3日``."""
    unit = {"working_days": "个工作日", "hours": "小时", "calendar_days": "日"}.get(rule.unit, rule.unit)
    return f"{rule.amount}{unit}"


def comment_task(session: Session, task: AgencyTask, *, actor: str, text: str) -> AuditEvent:
    """Record the manager's comment on ``task`` (audit ``task.commented``) and send it to the unit (督办).

    Raises:
        ValueError: an empty or too long comment, or one holding the child's name or ID number.
    """
    text = _text(session, task, text, "comment")
    event = record_audit(session, actor=actor, action="task.commented", entity_type="task", entity_id=task.id,
                         case_id=task.case_id, reason=text, detail={"unit": task.unit_code})
    session.flush()
    if TaskState(task.state) in OPEN_STATES:
        enqueue_task_message(session, task=task, event="task_escalated", outcome_summary=f"县级民政部门批注：{text}",
                             occasion=f"comment-{event.id}")
    return event


def task_history(session: Session, task_ids: list[uuid.UUID]) -> list[AuditEvent]:
    """The managers' and caseworkers' actions on these tasks (:data:`HISTORY_ACTIONS`), oldest first."""
    if not task_ids:
        return []
    return list(session.exec(select(AuditEvent).where(
        AuditEvent.entity_type == "task", AuditEvent.entity_id.in_([str(t) for t in task_ids]),
        AuditEvent.action.in_(HISTORY_ACTIONS)).order_by(AuditEvent.at, AuditEvent.id)).all())
