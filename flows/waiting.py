"""Requesting steps from agencies and waiting for their answers: the one wait every pathway uses.

A step is requested by opening its task (once), notifying the agency (once), and suspending the flow
run until the agency answers. The answer is stored in careflow's database before the flow is resumed
(:mod:`careflow.resume`), so on every (re)run the flow reads the database first and suspends only while
an answer is missing. No suspend has a timeout: deadlines and escalation belong to the sweeper
(a timed-out suspend would fail the run).

The suspend key is ``await-<rule>-<answers so far>-<suspend number>-<task ids (hex)>`` (Prefect allows
only lowercase letters, digits and dashes). The suspend number comes from the database and is new for
every suspend: a key that already received input would make ``suspend_flow_run`` return at once
instead of waiting (Prefect's flow run ``run_count`` stays 1 across resumes, so it cannot serve).
The resumer reads the key and resumes only when the database holds more answers than it records.
"""
from __future__ import annotations

import uuid
from typing import Literal, NamedTuple

from prefect import get_run_logger
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput

from core.db import session_scope
from core.outcome import Outcome
from flows.faults import fault_point
from flows.steps import (
    PathwayContext, TaskAnswer, next_suspend_number, queue_message, read_tasks, request_agency_step,
)
from careflow.waits import is_satisfied, pause_key
from models.task import AgencyTask, TaskState
from notifications.routing import caseworker_unit, manager_channel

#: A rejected step is re-issued (with escalation) at most this many times in all.
MAX_ATTEMPTS = 3


class AgencyAnswer(RunInput):
    """What a resume carries: which pathway run's tasks were answered. The answers themselves are
    read from the database, the system of record."""

    pathway_run_id: str
    answer_seq: int


class PathwayBlocked(Exception):
    """A step was rejected :data:`MAX_ATTEMPTS` times; the county manager has been told. Its text is Chinese,
    naming the step by its title (``step_title``; the key when the policy has none); :attr:`outcome` is the
    pathway's recorded outcome (``受阻：…``), the rejection reason in it as the agency wrote it."""

    def __init__(self, step_key: str, reason: str, step_title: str = "", pathway: str = "",
                 outcome: Outcome | None = None):
        super().__init__(f"“{step_title or step_key}”已被退回 {MAX_ATTEMPTS} 次：{reason}" if outcome is None
                         else outcome.text())
        self.step_key = step_key
        self.reason = reason
        self.outcome = outcome or Outcome().add("blocked", step=f"{pathway}/{step_key}", times=MAX_ATTEMPTS,
                                                reason=reason)


def unroutable(ctx: PathwayContext, step_key: str, exc: BaseException) -> PathwayBlocked | None:
    """The step ``step_key`` has no unit for the child's area (``NoUnitForAgency`` from opening its task): the run
    stops at once, its outcome worded for people (:func:`careflow.routing.gap_outcome`: add the child's village, or
    the administrator adds the unit), the engine's text only in the log. Restarting would fail the same way.
    ``None`` for any other error."""
    from careflow.routing import NoUnitForAgency, gap_outcome  # start-up: only when opening a task failed

    if not isinstance(exc, NoUnitForAgency):
        return None
    get_run_logger().warning("step %s cannot be routed: %s", step_key, exc)
    return PathwayBlocked(step_key, str(exc), pathway=ctx.pathway, outcome=gap_outcome(exc, ctx.pathway, step_key))


async def await_answers(ctx: PathwayContext, task_ids: list[str], rule: Literal["all", "any"] = "all") -> list[TaskAnswer]:
    """Return the tasks' answers once ``rule`` holds, suspending the flow run until then."""
    while True:
        answers = read_tasks(task_ids)
        if is_satisfied(rule, [a.state for a in answers]):
            fault_point("during_resume")
            return answers
        answered = sum(a.state.is_answer for a in answers)
        key = pause_key(rule, task_ids, answered, next_suspend_number(ctx.pathway_run_id))
        get_run_logger().info("waiting for %s of %d task(s): %s", rule, len(task_ids), ", ".join(t[:8] for t in task_ids))
        await suspend_flow_run(wait_for_input=AgencyAnswer, key=key)


def _open_and_notify(ctx: PathwayContext, step_key: str, agency_type: str, attempt: int, urgent: bool) -> str:
    """The step's task id: from the run's ledger when an earlier pass opened it and stored its message (no task
    run), else opened and its message stored now (one task run)."""
    return (ctx.ledger.task_requested(step_key, agency_type, attempt)
            or request_agency_step(ctx.pathway_run_id, step_key, agency_type, attempt, urgent))


class StepRequest(NamedTuple):
    """One step requested from one agency type; ``urgent`` uses the step's ``urgent_deadline``
    (e.g. the 24 h medical referral of a high-risk screening) instead of its ``deadline``."""

    step_key: str
    agency_type: str
    urgent: bool = False


async def request_steps(
    ctx: PathwayContext, requests: list[tuple[str, str] | tuple[str, str, bool]], *,
    rule: Literal["all", "any"] = "all", urgent: bool = False,
) -> dict[str, TaskAnswer]:
    """Request several steps at once and wait for ``rule`` of them to be completed.

    Each request is ``(step, agency type)`` or ``(step, agency type, urgent)`` (a :class:`StepRequest`);
    the keyword ``urgent`` makes every request urgent. An urgent request's deadline is the step's
    ``urgent_deadline`` where it has one.

    A rejection goes back to the caseworker and up to the county civil affairs bureau, and the step is
    re-issued as the next attempt: to the unit the rejection named or the caseworker chose, or the same unit
    with the information added (waiting for the caseworker where needed: :func:`await_reroute`), else routed.

    Returns:
        The completed answers, keyed by ``"<step>/<agency type>"``.
    Raises:
        PathwayBlocked: a step was rejected :data:`MAX_ATTEMPTS` times, or no unit takes it (:func:`unroutable`).
    """
    wanted = [StepRequest(*r) for r in requests]
    pairs = [(r.step_key, r.agency_type) for r in wanted]
    is_urgent = {(r.step_key, r.agency_type): r.urgent or urgent for r in wanted}
    attempts = {pair: 1 for pair in pairs}
    rejections = {pair: 0 for pair in pairs}
    while True:
        task_ids = {}
        for pair in pairs:
            try:
                task_ids[pair] = _open_and_notify(ctx, *pair, attempts[pair], is_urgent[pair])
            except Exception as exc:
                blocked = unroutable(ctx, pair[0], exc)
                if blocked is None:
                    raise
                raise blocked from exc
        answers = await await_answers(ctx, list(task_ids.values()), rule)
        by_pair = dict(zip(pairs, answers))
        rejected = [pair for pair, a in by_pair.items() if a.state == TaskState.rejected]
        completed = {f"{s}/{a}": ans for (s, a), ans in by_pair.items() if ans.state == TaskState.completed}
        if not rejected and (rule == "all" and len(completed) == len(pairs) or rule == "any" and completed):
            return completed
        for pair in rejected:
            answer = by_pair[pair]
            rejections[pair] += 1
            _report_rejection(ctx, answer, blocked=rejections[pair] >= MAX_ATTEMPTS)
            if rejections[pair] >= MAX_ATTEMPTS:
                raise PathwayBlocked(pair[0], answer.rejection_reason, _step_title(ctx.pathway, pair[0]), ctx.pathway)
            await await_reroute(ctx, answer.task_id)
            attempts[pair] = answer.attempt + 1  # a manager's redirect may have used numbers in between


def _step_title(pathway: str, step_key: str) -> str:
    """The Chinese title of ``step_key`` in ``pathway``'s policy ("" when the policy does not name it)."""
    from models.policy import load_policy  # start-up: the policy's models, only for a blocked step

    try:
        return str(load_policy().pathways[pathway].step(step_key).title_zh)
    except (KeyError, AttributeError):
        return ""


def reroute_pending(task_id: str) -> bool:
    """Whether the caseworker must still choose a unit or add information for this rejected task
    (:func:`careflow.reroute.needs_followup`), read fresh from the database. A plain read (no task run): a
    failure fails the flow run, which the sweeper restarts."""
    from careflow.reroute import needs_followup  # start-up: Babel and the policy, only after a rejection

    with session_scope() as session:
        return needs_followup(session.get(AgencyTask, uuid.UUID(task_id)))


async def await_reroute(ctx: PathwayContext, task_id: str) -> None:
    """Wait until the rejected task's next unit is settled (:mod:`careflow.reroute`): at once when the officer
    named a unit, the reason was "other" or none; else until the caseworker (or manager) chose a unit or added
    the information (:func:`careflow.reroute.settle_reroute`, which marks the run ``resume_pending``).

    The suspend key is an ``any`` wait on the rejected task with no answers recorded (``await-any-0-…``): the
    resumer (:func:`careflow.resume.resume_pathway`) sees one answer more than recorded and resumes; the flow
    re-reads the database and suspends again (a new key) if nothing was settled yet.
    """
    while reroute_pending(task_id):
        key = pause_key("any", [task_id], 0, next_suspend_number(ctx.pathway_run_id))
        get_run_logger().info("waiting for the caseworker to redirect rejected task %s", task_id[:8])
        await suspend_flow_run(wait_for_input=AgencyAnswer, key=key)


def _report_rejection(ctx: PathwayContext, answer: TaskAnswer, *, blocked: bool = False) -> None:
    """Tell the caseworker and the county manager of a rejection (once each: what the ledger holds is skipped).

    A message of its own (``task_rejected``, 【退回】): who returned which task, the reason's kind and text, and
    what the caseworker has to do now (:func:`notifications.messages.task_message_context`) -- not an escalation
    (督办), and without the agency's answer checklist. ``blocked``: the step is not re-issued (:class:`PathwayBlocked`).
    """
    for recipient, role in ((caseworker_unit(ctx.caseworker), "caseworker"), (manager_channel(ctx.county_code), "manager")):
        if not ctx.ledger.was_told(answer.task_id, "task_rejected", recipient):
            queue_message(answer.task_id, "task_rejected", recipient=recipient, role=role, blocked=blocked)


async def request_step(ctx: PathwayContext, step_key: str, agency_type: str, *, urgent: bool = False) -> TaskAnswer:
    """Request one step from one agency type and wait for its completion (see :func:`request_steps`)."""
    answers = await request_steps(ctx, [(step_key, agency_type)], urgent=urgent)
    return answers[f"{step_key}/{agency_type}"]
