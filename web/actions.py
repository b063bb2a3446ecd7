"""What users change, with their permissions checked: the caseworker's and the agency officer's actions.

Each function checks the role and the jurisdiction or unit (:mod:`web.scope`) and then calls careflow's
own application layer (``careflow.cases``, ``careflow.answers``), which writes the audit trail.

Errors: :class:`web.scope.NotAllowed` (role), :class:`web.scope.NotVisible` (outside scope), ``ValueError`` /
``LookupError`` naming the field for what the user typed (shown on the form, or 422 in the API).
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session

from careflow.answers import AnswerResult, answer_task
from careflow.cases import create_pathway_run, open_case
from careflow.key_care import open_key_care
from careflow.registration import Registration, register_child
from careflow.resume import start_pathway_flow
from careflow.task_lookup import TaskNotFound
from careflow.deployments import PATHWAY_DEPLOYMENTS
from models.case import Case, PathwayRun
from models.child import Child
from models.eligibility import KeyCareCriterion
from models.errors import FieldValueError
from models.policy import load_policy
from models.regions import get_county
from models.task import TaskState
from models.user import UserRole, WebUser
from web.inputs import ChildCreate, PathwayStart, ReportCreate
from web.scope import NotVisible, answers_task, can_read_child, inside, require_role, visible_task

log = logging.getLogger(__name__)

#: Starts the flow run of a recorded pathway run and returns its id (replaced in tests without Prefect).
PathwayStarter = Callable[[uuid.UUID], uuid.UUID | None]


def default_starter(pathway_run_id: uuid.UUID) -> uuid.UUID:
    """Create the pathway's flow run on the Prefect server (:func:`careflow.resume.start_pathway_flow`)."""
    return asyncio.run(start_pathway_flow(pathway_run_id))


def register_child_as(session: Session, user: WebUser, data: ChildCreate) -> Registration:
    """Register a child living inside the caseworker's jurisdiction and run the migrant-child test (方案 一).

    A township caseworker must give a residence area code inside their township.

    Raises:
        NotAllowed: not a caseworker. ValueError: bad ID, unknown county, an area outside the jurisdiction,
            a duplicate ID (the message names the field).
    """
    require_role(user, UserRole.caseworker)
    residence = get_county(data.residence_county)
    area = data.residence_area_code or residence.code
    if not inside(area, user.jurisdiction_code):
        field = "residence_area_code" if len(user.jurisdiction_code) > 6 else "residence_county"
        raise FieldValueError(field, "problem.outside_jurisdiction", value=area, jurisdiction=user.jurisdiction_code)
    return register_child(
        session, resident_id=data.resident_id, full_name=data.full_name, sex=data.sex,
        hukou_county=data.hukou_county, residence_county=residence.code,
        residence_area_code=data.residence_area_code, residence_address=data.residence_address,
        arrival_date=data.arrival_date, actor=user.username,
        key_care_criteria={KeyCareCriterion(c) for c in data.key_care_criteria},
        guardians=[g.model_dump() for g in data.guardians],
    )


def record_report_as(session: Session, user: WebUser, child: Child, data: ReportCreate) -> Case:
    """Record a report about a child by opening a case on it; the case summary holds the report. Key care grounds
    the report shows go through the one key care door (:func:`careflow.key_care.open_key_care`): a key care
    target gets the file, its duties and the family guardianship assessment at once.

    Raises:
        NotAllowed: not a caseworker. NotVisible: the child is outside the jurisdiction.
    """
    require_role(user, UserRole.caseworker)
    if not can_read_child(user, child):
        raise NotVisible(f"no child {child.id}")
    parts = []
    if data.reported_by:
        parts.append(f"{_REPORTER}{data.reported_by}")
    if data.mandatory_report:
        parts.append(_MANDATORY)
    parts.append(data.summary)
    case = open_case(session, child_id=child.id, caseworker=user.username, summary=_SEP.join(parts)[:500])
    if data.key_care_criteria:  # key care from any door
        open_key_care(session, child, data.key_care_criteria, actor=user.username,
                      reason=f"报告中列明重点关爱情形（{case.reference}）")
    return case


#: How :func:`record_report_as` writes the report into the case summary: ``报告人：班主任；强制报告；<summary>``.
_REPORTER, _MANDATORY, _SEP = "报告人：", "强制报告", "；"


def report_values(case: Case) -> dict[str, str]:
    """What the case's report said that a start form asks again, read back from its summary (written by
    :func:`record_report_as`): ``{"reported_by": "班主任", "mandatory_report": "yes"}``; empty for a case opened
    otherwise. Keeps the reporter's name out of the redirect's URL (and so out of logs and browser history)."""
    parts = (case.summary or "").split(_SEP)
    if not parts or not parts[0].startswith(_REPORTER):
        return {}
    return {"reported_by": parts[0].removeprefix(_REPORTER),
            "mandatory_report": "yes" if len(parts) > 2 and parts[1] == _MANDATORY else "no"}


@dataclass
class StartResult:
    run: PathwayRun
    started: bool


def start_pathway_as(session: Session, user: WebUser, case: Case, child: Child, data: PathwayStart,
                     starter: PathwayStarter) -> StartResult:
    """Record a pathway run on the case (commits) and create its flow run at once.

    The run is committed before the flow run is created; if creating it fails (Prefect down) the run stays
    ``starting`` and the sweeper starts it (``started`` is then False).

    Raises:
        NotAllowed: not a caseworker. NotVisible: the case is outside the jurisdiction.
        ValueError: a pathway without a flow, or start parameters that do not match the policy's.
    """
    require_role(user, UserRole.caseworker)
    if not can_read_child(user, child):
        raise NotVisible(f"no case {case.reference!r}")
    if data.pathway not in PATHWAY_DEPLOYMENTS or data.pathway not in load_policy().pathways:
        raise FieldValueError("pathway", "problem.not_a_pathway", pathway=data.pathway,
                              known=", ".join(sorted(set(PATHWAY_DEPLOYMENTS) & set(load_policy().pathways))))
    run = create_pathway_run(session, case_id=case.id, pathway=data.pathway, actor=user.username,
                             parameters=data.parameters)  # validated there (careflow.cases.validate_start_parameters)
    session.commit()
    try:
        started = starter(run.id) is not None
    except Exception as exc:  # the run is stored; the sweeper starts it later
        log.warning("starting the flow of pathway run %s failed: %s", run.id, exc)
        started = False
    session.refresh(run)
    return StartResult(run=run, started=started)


def answer_as(session: Session, user: WebUser, task_id: uuid.UUID, action: TaskState, *, reason: str = "",
              outcome: dict | None = None, rejection_kind: str = "", reroute_unit: str = "") -> AnswerResult:
    """An agency officer answers their unit's task: acknowledge, reject with a reason, or complete with the
    step's outcome; a final answer resumes the pathway at once (:func:`careflow.answers.answer_task`).

    The request's session is committed first (the answer is written in a session of its own).

    Raises:
        NotAllowed: not an agency officer. NotVisible: not their unit's task.
        ValueError: a transition the task's state does not allow, no reason, an outcome that does not match
            the step (the message names the field).
    """
    require_role(user, UserRole.agency_officer)
    task = visible_task(session, user, task_id)
    if not answers_task(user, task):  # a unit following the task at the registration place reads it only
        raise NotVisible(f"no task {task_id}")
    session.commit()
    try:
        return answer_task(task.id.hex, action, actor=user.username, unit_code=user.unit_code, reason=reason,
                           outcome=outcome, resume_wait_seconds=15.0, rejection_kind=rejection_kind,
                           reroute_unit=reroute_unit)
    except TaskNotFound:
        raise NotVisible(f"no task {task_id}") from None
