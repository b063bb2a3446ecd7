"""Key care from any door (issue 13 item 3; 方案 一（二）, 七): the one place that decides whether a child is a key care
target (重点关爱服务对象) and what opening the file (一人一档) brings.

The rule is :func:`models.eligibility.key_care_target`: a migrant child (方案 一, on the day of the decision) with
at least one key care criterion. The survey applies it row by row (:func:`models.survey_rules.classify`) and opens
its files set-based (:mod:`careflow.survey.round_consequences`); every other door — registering a child
(:mod:`careflow.registration`), recording a report (``web.actions.record_report_as``), recording a psychological
screening whose result shows an abnormality (:func:`careflow.cases.create_pathway_run`) — calls
:func:`open_key_care` for one child, which decides with the very same :func:`models.survey_rules.classify`.

Opening (or reopening) a file brings, at once and from either entry (:func:`follow_up_opened_files`, a list of file
ids, set-based):

* the child director's contact and visit duties (:func:`careflow.survey.duties.ensure_duties`);
* the family guardianship assessment (困境儿童家庭监护评估, 方案 七: 各地民政部门要将列入重点关爱服务对象范围的流动儿童
  纳入困境儿童家庭监护评估范围) — :func:`open_assessments`: a task with no case for the civil affairs bureau of the
  child's residence county, its agency, level, title, instructions, answer fields and deadline (15 working days,
  a default) those of the guardianship pathway's ``guardianship_assessment`` step (``policy/pathways/
  guardianship.yaml``), escalated by the sweeper like any task — unless one for the child is open, or was completed
  in the last year (:data:`ASSESSMENT_VALID_MONTHS`), whether on its own or as a step of a guardianship pathway.

Nothing is opened twice: a child has one file (reopened, never duplicated), duties are unique by key, and the
assessment is looked up before it opens.
"""
from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import pendulum
import sqlalchemy as sa
from sqlmodel import Session, select

from careflow.ladder import initial_next_rung_at
from careflow.routing import NoUnitForAgency, resolve_unit
from careflow.survey.bulk import bulk_insert
from careflow.survey.care_files import reopen_file
from careflow.survey.duties import BATCH_FILES, UnitCache, ensure_duties
from careflow.survey.duty_calendar import SHANGHAI, today_local
from core.audit import record_audit
from models.agency import AgencyUnit
from models.base import utcnow
from models.case import Case
from models.child import Child
from models.dated_duties import ASSESSMENT_DUTY, assessment_duty_key
from models.deadlines import compute_deadline
from models.eligibility import KeyCareCriterion, add_months
from models.errors import FieldValueError
from models.key_care_files import FileStatus, GuardianshipAssessment, KeyCareFile, file_reference
from models.policy import load_policy
from models.regions import get_county
from models.survey_rules import classify
from models.task import OPEN_STATE_VALUES, AgencyTask, TaskState
from notifications.messages import enqueue_task_message

#: A completed family guardianship assessment counts for this many months: a file opened within them opens none.
ASSESSMENT_VALID_MONTHS = 12

#: The key care criterion a psychological screening result records (方案 八: 在工作中发现有心理、行为异常的流动儿童;
#: 一（二）: 心理和行为异常). ``normal`` records none.
SCREENING_GROUNDS: dict[str, KeyCareCriterion] = {
    "at_risk": KeyCareCriterion.psychological_behavioural,
    "high_risk": KeyCareCriterion.psychological_behavioural,
}


#: The pathway whose start records a psychological screening result (``screening_result``).
SCREENING_PATHWAY = "psychological_screening"


@dataclass
class FollowUp:
    """What opening files brought: duties created, assessment tasks opened (ids), and area → work not routed."""

    duties: int = 0
    assessments: list[uuid.UUID] = field(default_factory=list)
    unrouted: dict[str, int] = field(default_factory=dict)
    seconds_assessments: float = 0.0  # time spent opening the assessments (the survey's timings report it)


@dataclass
class KeyCareOpening:
    """What :func:`open_key_care` did for one child.

    ``action``: ``opened``, ``reopened``, ``updated`` (new grounds on an active file), ``unchanged`` (an active file
    with these grounds already) or ``not_key_care`` (no criterion, or not a migrant child today: no file).
    """

    action: str
    file: KeyCareFile | None = None
    follow_up: FollowUp = field(default_factory=FollowUp)


def is_key_care_target(child: Child, criteria: Iterable[str], *, on: datetime.date) -> bool:
    """Whether ``child`` with ``criteria`` is a key care target on ``on`` (Asia/Shanghai date): the survey's own
    row test (:func:`models.survey_rules.classify`) on the child's stored facts (方案 一, 一（二）)."""
    return classify(birth_date=child.birth_date, hukou=get_county(child.hukou_county_code),
                    residence=get_county(child.residence_county_code), arrival_date=child.arrival_date, on=on,
                    criteria=tuple(sorted(set(criteria)))).is_key_care


def open_key_care(session: Session, child: Child, criteria: Iterable[KeyCareCriterion | str] = (), *, actor: str,
                  reason: str, today: datetime.date | None = None,
                  now: datetime.datetime | None = None) -> KeyCareOpening:
    """The single-child door: record ``criteria`` (added to the child's own, audited ``child.key_care_updated``
    when new) and, when the child is a key care target today (:func:`is_key_care_target`), open or reopen the
    file at the child's residence area, or add the new grounds to the active one; a file opened or reopened gets
    its duties and assessment at once (:func:`follow_up_opened_files`), the assessment's unit a ``task_requested``
    message (the outbox), an active file its current duties.

    ``reason``: why (shown in the audit trail, e.g. ``登记时列为重点关爱服务对象``). ``today``: Asia/Shanghai date
    (default today). Raises FieldValueError (a ValueError naming the field ``key_care_criteria``) for an unknown
    criterion; nothing is written then.
    """
    now = now or utcnow()
    today = today or today_local(now)
    given: set[str] = set()
    for criterion in criteria:
        if str(criterion) not in KeyCareCriterion._value2member_map_:
            raise FieldValueError("key_care_criteria", "problem.unknown_key_care_ground", value=str(criterion),
                                  allowed=", ".join(c.value for c in KeyCareCriterion))
        given.add(str(criterion))
    grounds = sorted(set(child.key_care_criteria or ()) | given)
    if grounds != sorted(child.key_care_criteria or ()):
        child.key_care_criteria = grounds
        session.add(child)
        record_audit(session, actor=actor, action="child.key_care_updated", entity_type="child", entity_id=child.id,
                     reason=reason, detail={"criteria": grounds})
    session.flush()
    if not is_key_care_target(child, grounds, on=today):
        return KeyCareOpening("not_key_care")
    file = session.exec(select(KeyCareFile).where(KeyCareFile.child_id == child.id)).first()
    if file is None:
        file = KeyCareFile(child_id=child.id, county_code=child.residence_county_code,
                           area_code=child.residence_area_code or "", criteria=grounds, opened_on=today)
        session.add(file)
        session.flush()
        record_audit(session, actor=actor, action="key_care_file.opened", entity_type="key_care_file",
                     entity_id=file.id, reason=reason, detail={"file": file.reference, "criteria": grounds})
        action = "opened"
    elif file.status != FileStatus.active.value:
        reopen_file(session, file, grounds, today=today, actor=actor, now=now, reason=reason)
        action = "reopened"
    elif set(grounds) != set(file.criteria):
        file.criteria, file.updated_at = grounds, now
        session.add(file)
        record_audit(session, actor=actor, action="key_care_file.updated", entity_type="key_care_file",
                     entity_id=file.id, reason=reason, detail={"file": file.reference, "criteria": grounds})
        action = "updated"
    else:
        action = "unchanged"
    session.flush()
    if action in ("opened", "reopened"):
        follow_up = follow_up_opened_files(session, [file.id], today=today, now=now, actor=actor)
        for task_id in follow_up.assessments:  # the bureau is told at once (a survey's are many: inbox and ladder)
            enqueue_task_message(session, task=session.get(AgencyTask, task_id), event="task_requested")
    else:
        plan = ensure_duties(session, [file.id], today=today, now=now, actor=actor)
        follow_up = FollowUp(duties=plan.created_count, unrouted=dict(plan.unrouted))
    return KeyCareOpening(action, file, follow_up)


def record_screening_grounds(session: Session, child: Child, result: str, *, actor: str,
                             now: datetime.datetime | None = None) -> KeyCareOpening | None:
    """A psychological screening recorded with ``result`` (``normal`` | ``at_risk`` | ``high_risk``): the ground it
    shows (:data:`SCREENING_GROUNDS`) goes through :func:`open_key_care`; None for a result that shows none."""
    ground = SCREENING_GROUNDS.get(str(result))
    if ground is None:
        return None
    return open_key_care(session, child, [ground], actor=actor, now=now, reason="心理健康筛查发现心理、行为异常")


def follow_up_opened_files(session: Session, file_ids: Iterable[int], *, today: datetime.date,
                           now: datetime.datetime, actor: str, units: UnitCache | None = None,
                           duties: bool = True, new_children: bool = False) -> FollowUp:
    """What every file just opened or reopened gets, one file or a survey's thousands (set-based): its contact and
    visit duties (:func:`careflow.survey.duties.ensure_duties`; ``duties=False`` when the caller makes sure of
    them itself) and the family guardianship assessment (:func:`open_assessments`; ``new_children``: the files'
    children were created in this transaction, so none can have a duty or an assessment yet and none is looked up)."""
    ids = sorted(set(file_ids))
    result = FollowUp()
    if duties:
        plan = ensure_duties(session, ids, today=today, now=now, actor=actor, units=units, new_files=new_children)
        result.duties, result.unrouted = plan.created_count, dict(plan.unrouted)
    started = time.perf_counter()
    opened, unrouted = open_assessments(session, ids, today=today, now=now, actor=actor, new_children=new_children)
    result.assessments, result.seconds_assessments = opened, time.perf_counter() - started
    for area, count in unrouted.items():
        result.unrouted[area] = result.unrouted.get(area, 0) + count
    return result


def assessment_since(now: datetime.datetime) -> datetime.datetime:
    """The earliest answer time of an assessment that still counts at ``now``: 00:00 (Asia/Shanghai) of the same
    day :data:`ASSESSMENT_VALID_MONTHS` months earlier, UTC-aware."""
    day = add_months(now.astimezone(SHANGHAI).date(), -ASSESSMENT_VALID_MONTHS)
    return datetime.datetime(day.year, day.month, day.day, tzinfo=SHANGHAI).astimezone(datetime.timezone.utc)


def _assessment_pending_or_recent(child_column, since: datetime.datetime) -> sa.ColumnElement[bool]:
    """SQL: the child of ``child_column`` has an assessment open, or completed since ``since`` — on its own
    (:class:`GuardianshipAssessment`) or as the ``guardianship_assessment`` step of a case's pathway."""
    task = sa.orm.aliased(AgencyTask)
    counts = sa.or_(task.state.in_(OPEN_STATE_VALUES),
                    sa.and_(task.state == TaskState.completed.value, task.answered_at >= since))
    alone = (sa.select(1).select_from(GuardianshipAssessment).join(task, task.id == GuardianshipAssessment.task_id)
             .where(GuardianshipAssessment.child_id == child_column, counts))
    case_task = sa.orm.aliased(AgencyTask)
    in_case = (sa.select(1).select_from(Case).join(case_task, case_task.case_id == Case.id)
               .where(Case.child_id == child_column, case_task.step_key == ASSESSMENT_DUTY,
                      sa.or_(case_task.state.in_(OPEN_STATE_VALUES),
                             sa.and_(case_task.state == TaskState.completed.value, case_task.answered_at >= since))))
    return sa.or_(alone.exists(), in_case.exists())


def has_recent_assessment(session: Session, child_id: uuid.UUID, *, now: datetime.datetime | None = None) -> bool:
    """Whether the child has a family guardianship assessment open, or completed in the last
    :data:`ASSESSMENT_VALID_MONTHS` months (the rule :func:`open_assessments` applies)."""
    since = assessment_since(now or utcnow())
    return bool(session.exec(sa.select(_assessment_pending_or_recent(sa.literal(child_id, sa.Uuid), since))).first()[0])


_TASK_COLUMNS = ("id", "case_id", "pathway_run_id", "duty_key", "step_key", "attempt", "agency_type", "unit_code",
                 "jurisdiction_code", "title", "state", "requested_at", "due_at", "due_provisional", "deadline_text",
                 "escalation_level", "answered_by", "outcome", "rejection_reason", "rejection_kind", "reroute_note",
                 "rerouted_by", "next_rung_at")
_ID, _KEY, _TITLE = (_TASK_COLUMNS.index(c) for c in ("id", "duty_key", "title"))  # each task's own columns


def open_assessments(session: Session, file_ids: Iterable[int], *, today: datetime.date, now: datetime.datetime,
                     actor: str, new_children: bool = False) -> tuple[list[uuid.UUID], dict[str, int]]:
    """Open the family guardianship assessment (方案 七) for the children of the active files ``file_ids`` who have
    none open and none completed in the last :data:`ASSESSMENT_VALID_MONTHS` months; returns the tasks' ids and
    area → children not routed (no civil affairs unit covers the county: nothing opened for them).

    Each task: the ``guardianship_assessment`` step's agency at its level (the county civil affairs bureau of the
    child's residence county), title, and deadline counted from ``now`` by the step's rule (15 working days by
    default, Asia/Shanghai), ``duty_key`` ``guardianship_assessment:<child id>:<today>``, linked to child and file
    (:class:`GuardianshipAssessment`), audited ``task.requested`` and reaching the unit's inbox; the sweeper
    escalates it like any task. Set-based per :data:`BATCH_FILES` files (a survey opens thousands at once): one
    query finds the children that need one (``new_children``: children created in this transaction, the survey's
    fast path — none can have one, so only the files are read), then the tasks, links and audit events are written
    in bulk.
    """
    step = load_policy().pathway("guardianship").step(ASSESSMENT_DUTY)
    agency = step.agencies[0]
    level = step.level or load_policy().agency(agency).level
    deadline = compute_deadline(pendulum.instance(now), step.deadline)
    conn = session.connection()
    session.flush()
    units: dict[str, dict | None] = {}  # county → the columns every task of its unit shares (None: no unit)
    opened: list[uuid.UUID] = []
    unrouted: dict[str, int] = {}
    ids = sorted(set(file_ids))
    for start in range(0, len(ids), BATCH_FILES):
        rows, links, audits = [], [], []
        for key, (file_id, child_id, county) in _wanted_assessments(
                conn, ids[start:start + BATCH_FILES], today=today, now=now, look_up=not new_children).items():
            if county not in units:
                try:
                    unit = resolve_unit(session, agency, county, level=level)
                except NoUnitForAgency:
                    unit = None
                units[county] = None if unit is None else _shared_columns(unit, step, deadline, now)
            shared = units[county]
            if shared is None:
                unrouted[county] = unrouted.get(county, 0) + 1
                continue
            task_id, reference = uuid.uuid4(), file_reference(file_id)
            row = list(shared.values())
            row[_ID], row[_KEY], row[_TITLE] = task_id, key, f"{step.title_zh}（{reference}）"
            rows.append(row)
            links.append((task_id, child_id, file_id))
            audits.append((now, actor[:64], "task.requested", "task", str(task_id), None, f"{reference} {key}",
                           {"unit": shared["unit_code"], "due_at": deadline.due_at.isoformat(), "duty_key": key,
                            "provisional": deadline.provisional, "rule": str(step.deadline)}))
            opened.append(task_id)
        if rows:
            bulk_insert(conn, "agency_task", _TASK_COLUMNS, rows)
            bulk_insert(conn, "guardianship_assessment", ("task_id", "child_id", "file_id"), links)
            bulk_insert(conn, "audit_event", ("at", "actor", "action", "entity_type", "entity_id", "case_id",
                                              "reason", "detail"), audits)
    return opened, unrouted


def _shared_columns(unit: AgencyUnit, step, deadline, now: datetime.datetime) -> dict:
    """The values of :data:`_TASK_COLUMNS` every assessment task of ``unit`` opened at ``now`` shares (``id``,
    ``duty_key`` and ``title`` are each task's own), ``next_rung_at`` computed once by the escalation ladder."""
    task = AgencyTask(id=uuid.uuid4(), duty_key="", step_key=ASSESSMENT_DUTY, agency_type=unit.agency_type,
                      unit_code=unit.code, jurisdiction_code=unit.jurisdiction_code, title=step.title_zh,
                      requested_at=now, due_at=deadline.due_at, due_provisional=deadline.provisional,
                      deadline_text=str(step.deadline))
    task.next_rung_at = initial_next_rung_at(task, None, now)
    return {c: (TaskState.requested.value if c == "state" else getattr(task, c)) for c in _TASK_COLUMNS}


def _wanted_assessments(conn: sa.Connection, file_ids: list[int], *, today: datetime.date, now: datetime.datetime,
                        look_up: bool = True) -> dict[str, tuple[int, uuid.UUID, str]]:
    """duty key → (file id, child id, residence county) of the active files among ``file_ids`` (at most
    :data:`BATCH_FILES`) whose child needs an assessment: none open, none completed since
    :func:`assessment_since`, and no task of today's key (one answered already today — rejected, cancelled — is not
    opened again that day). Two queries; one without ``look_up`` (children new in this transaction)."""
    query = (sa.select(KeyCareFile.id, KeyCareFile.child_id, Child.residence_county_code)
             .join(Child, Child.id == KeyCareFile.child_id)
             .where(KeyCareFile.id.in_(file_ids), KeyCareFile.status == FileStatus.active.value)
             .order_by(KeyCareFile.id))
    if look_up:
        query = query.where(sa.not_(_assessment_pending_or_recent(KeyCareFile.child_id, assessment_since(now))))
    wanted = conn.execute(query).all()
    keys = {assessment_duty_key(child_id, today): (file_id, child_id, county) for file_id, child_id, county in wanted}
    if keys and look_up:
        taken = set(conn.execute(sa.select(AgencyTask.duty_key).where(AgencyTask.duty_key.in_(keys))).scalars())
        keys = {k: v for k, v in sorted(keys.items()) if k not in taken}
    return keys


def assessments_of(session: Session, child_id: uuid.UUID) -> list[AgencyTask]:
    """The family guardianship assessments opened for the child by a key care file, newest first."""
    return list(session.exec(
        select(AgencyTask).join(GuardianshipAssessment, GuardianshipAssessment.task_id == AgencyTask.id)
        .where(GuardianshipAssessment.child_id == child_id)
        .order_by(AgencyTask.requested_at.desc())).all())
