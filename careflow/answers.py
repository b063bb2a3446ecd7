"""An agency's answer to a task: stored first, then the pathway's flow run is resumed."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from core.db import session_scope
from careflow.city_list_filing import complete_city_list_duty, is_city_list_duty
from careflow.reroute import check_rejection, parse_kind, record_rejection, settle_reroute
from careflow.resume import resume_pathway
from careflow.survey.care_files import complete_duty
from careflow.task_lookup import find_task
from careflow.tasks import transition_task
from models.key_care_files import KeyCareDuty
from models.task import AgencyTask, TaskState


#: What a resume result means, for a person reading what was done.
RESUME_TEXT = {"resumed": "flow resumed", "not_needed": "stored; the flow was already moving on",
               "pending": "stored; the sweeper will resume the flow", "": "stored"}


@dataclass
class AnswerResult:
    task: AgencyTask
    resume: str  # "resumed" | "not_needed" | "pending" | "" (no resume needed: not a final answer)


def answer_task(
    ref: str,
    action: TaskState,
    *,
    actor: str,
    unit_code: str | None = None,
    reason: str = "",
    outcome: dict | None = None,
    resume_wait_seconds: float = 20.0,
    now: datetime | None = None,
    rejection_kind: str = "",
    reroute_unit: str = "",
) -> AnswerResult:
    """Record ``action`` (acknowledged, in_progress, completed or rejected) on the task ``ref``.

    ``unit_code`` limits the lookup to that unit's tasks (an officer answers only their own). The
    answer is committed before the flow run is resumed; if resuming fails the answer stays stored
    with ``resume_pending`` set, and the sweeper resumes it later. A child director's contact or visit duty
    completed is the contact or visit recorded, and the next duty scheduled
    (:func:`careflow.survey.care_files.complete_duty`); a city list's filing completed opens the provincial
    department's confirmation of receipt (:func:`careflow.city_list_filing.complete_city_list_duty`). ``now``: the
    time of the answer (default: now).
    A rejection may say why (``rejection_kind``: a :class:`models.task.RejectionKind` value) and, when the step is
    not its unit's or not its area's, name the unit it belongs to (``reroute_unit``: a unit code), where the next
    attempt then goes (:mod:`careflow.reroute`, checked before anything is stored).

    Raises:
        TaskNotFound, InvalidTransition, ValueError (naming the field) — nothing is stored then.
    """
    with session_scope() as session:
        task = find_task(session, ref, unit_code)
        if action == TaskState.completed and session.get(KeyCareDuty, task.id) is not None:
            complete_duty(session, task, actor=actor, outcome=outcome, now=now)  # the contact made: the next one due
        elif action == TaskState.completed and task.pathway_run_id is None and is_city_list_duty(task.duty_key):
            complete_city_list_duty(session, task, actor=actor, outcome=outcome, now=now)  # the province confirms
        elif action == TaskState.rejected:
            kind = parse_kind(rejection_kind)
            check_rejection(session, task, kind, reroute_unit)
            transition_task(session, task, action, actor=actor, reason=reason, outcome=outcome, now=now)
            record_rejection(session, task, kind, reroute_unit, actor=actor, now=now)
        else:
            transition_task(session, task, action, actor=actor, reason=reason, outcome=outcome, now=now)
        pathway_run_id = task.pathway_run_id
    if not action.is_answer or pathway_run_id is None:  # a dated duty: no flow run waits for it
        return AnswerResult(task=task, resume="")
    return AnswerResult(task=task, resume=asyncio.run(resume_pathway(pathway_run_id, wait_seconds=resume_wait_seconds)))


def settle_rejection(ref: str, *, actor: str, unit_code: str = "", note: str = "",
                     resume_wait_seconds: float = 20.0) -> str:
    """After a rejection, the caseworker (or county manager) chooses the unit or adds the information
    (:func:`careflow.reroute.settle_reroute`), committed before the waiting flow is resumed; returns the resume's
    result (``resumed``, ``not_needed``, ``pending``).

    Raises:
        TaskNotFound; ValueError (Chinese, naming the field) -- nothing is stored then.
    """
    with session_scope() as session:
        task = find_task(session, ref)
        settle_reroute(session, task, actor=actor, unit_code=unit_code, note=note)
        pathway_run_id = task.pathway_run_id
    if pathway_run_id is None:
        return ""
    return asyncio.run(resume_pathway(pathway_run_id, wait_seconds=resume_wait_seconds))
