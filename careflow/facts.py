"""What the unit a task is routed to needs to know to act (need-to-know views, issue 12 item 1).

A push message carries only the case reference, the step, the deadline and a link (DOMAIN.md §7). The task
page of the unit that must go to the child's home needs more: each step of ``policy/pathways/*.yaml`` lists
in ``shows:`` which facts of the child and the case its unit sees (:data:`models.pathways.FACT_KEYS`: name, sex,
age, address, household registration, key care grounds, guardians and their phones, the report) and in
``shows_answers:`` which earlier steps' answers. The caseworker's name and phone are always shown.

:func:`task_facts` computes them for one task, only for a viewer who may see them (:func:`may_see_facts`: an
officer of the unit the task is routed to, a manager whose jurisdiction holds the child, the case's caseworker
or a caseworker whose jurisdiction holds the child), and writes the audit row ``task.child_facts_viewed``
(DOMAIN.md §8: every read of a child's record is audited). Values are the stored ones (codes for choices and
key care grounds); the web layer labels them. A few SQL statements per call, none growing with the province.
"""
from __future__ import annotations

import datetime as dt
import uuid

import pendulum
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from core.audit import record_audit
from careflow.routing import jurisdiction_prefix
from core.settings import get_settings
from models.agency import AgencyUnit
from models.areas import load_areas
from models.audit import AuditEvent
from models.case import Case, PathwayRun
from models.child import Child, Guardian
from models.dated_duties import ASSESSMENT_DUTY
from models.eligibility_rules import age_in_years
from models.key_care_files import GuardianshipAssessment, KeyCareDuty, KeyCareFile
from models.outcome_fields import OutcomeField
from models.policy import Policy, load_policy
from models.regions import get_county
from models.task import AgencyTask, TaskState
from models.user import UserRole, WebUser

__all__ = ["AnswerFact", "CaseworkerFact", "FactsNotVisible", "GuardianFact", "ParameterFact", "TaskFacts",
           "may_see_facts", "person_fact", "task_facts", "unit_names"]


class FactsNotVisible(PermissionError):
    """The viewer may not see the child's facts of this task (not its unit, not in the jurisdiction)."""


class GuardianFact(BaseModel):
    """A parent or other guardian: name, relation (as typed, e.g. 母亲) and phone."""

    name: str
    relation: str
    phone: str


class ParameterFact(BaseModel):
    """One recorded value (a start parameter of the pathway, or a field of an earlier answer).

    ``type`` is ``bool`` | ``text`` | ``choice``; ``value`` is the stored value (a choice's code, a bool);
    ``label_zh``/``label_en`` the field's label from the policy.
    """

    name: str
    type: str
    label_zh: str
    label_en: str
    value: bool | str | int | float | None


class AnswerFact(BaseModel):
    """An earlier step's answer the unit sees (``shows_answers``): which step, which unit, when, what."""

    step_key: str
    step_title_zh: str
    step_title_en: str
    unit_name: str
    answered_at: dt.datetime | None
    values: list[ParameterFact]


class CaseworkerFact(BaseModel):
    """Whom to call about the case: the caseworker's name (the login when no name is recorded) and phone."""

    username: str
    name: str
    phone: str


class TaskFacts(BaseModel):
    """The facts of a task's child and case its unit sees; a fact not in ``shows`` is left empty.

    Attributes:
        shows: the step's ``shows`` list (which of the fields below are filled).
        child_name / sex (男/女 or "") / age (whole years today, Asia/Shanghai) / birth_date.
        address: the residence county's full name and the address as recorded.
        hukou: the household-registration county's full name.
        key_care: key care grounds (:class:`models.eligibility.KeyCareCriterion` codes).
        guardians: name, relation and phone of each guardian.
        report_summary: what was reported (the case's summary); parameters: the pathway's start parameters.
        answers: earlier steps' answers (``shows_answers``), oldest first.
        caseworker: whom to call (always filled).
    """

    shows: list[str] = Field(default_factory=list)
    child_name: str = ""
    sex: str = ""
    age: int | None = None
    birth_date: dt.date | None = None
    address: str = ""
    hukou: str = ""
    key_care: list[str] = Field(default_factory=list)
    guardians: list[GuardianFact] = Field(default_factory=list)
    report_summary: str = ""
    parameters: list[ParameterFact] = Field(default_factory=list)
    answers: list[AnswerFact] = Field(default_factory=list)
    caseworker: CaseworkerFact


def _inside(area: str, jurisdiction: str) -> bool:
    return bool(jurisdiction) and bool(area) and area.startswith(jurisdiction_prefix(jurisdiction))


def may_see_facts(task: AgencyTask, case: Case | None, child: Child, viewer: WebUser) -> bool:
    """Whether ``viewer`` may see the child's facts of ``task``: an officer of the unit the task is routed to;
    a manager whose jurisdiction holds the child; the case's caseworker (``case`` None: a task of no case), or a
    caseworker whose jurisdiction holds the child; an officer of the residence unit following a task handled at the
    registration place (``follower_unit_code``, :mod:`careflow.registration_place`: the child lives in its county).
    Admins and officers of other units never."""
    role = UserRole(viewer.role)
    area = child.residence_area_code or child.residence_county_code
    if role == UserRole.agency_officer:
        return bool(viewer.unit_code) and viewer.unit_code in (task.unit_code, task.follower_unit_code)
    if role == UserRole.manager:
        return _inside(area, viewer.jurisdiction_code)
    if role == UserRole.caseworker:
        return (case is not None and case.caseworker == viewer.username) or _inside(area, viewer.jurisdiction_code)
    return False


def _county_name(code: str) -> str:
    try:
        return get_county(code).full_name
    except ValueError:
        return code


def _county_prefixes(code: str) -> tuple[str, ...]:
    """How a typed address may begin with its county: province, city and county, city and county, or the county."""
    try:
        region = get_county(code)
    except ValueError:
        return ()
    return (f"{region.province_name}{region.full_name}", region.full_name, region.name)


def full_address(child: Child) -> str:
    """Where a unit goes to find the child: the residence county's full name, the township and village of the
    residence area by name (policy/areas.yaml), then the address as recorded — without repeating a township or
    village (or county) the recorded address already begins with: ``莆田市城厢区`` + ``龙桥街道凤山社区`` + ``凤山街12号``.
    An area whose names are unknown is left out (the address as recorded stands)."""
    county = _county_name(child.residence_county_code)
    address = (child.residence_address or "").strip()
    for prefix in _county_prefixes(child.residence_county_code):  # typed with the county already
        if address.startswith(prefix):
            address = address[len(prefix):]
            break
    code = child.residence_area_code or ""
    areas = load_areas()
    names = [n for n in (areas.get(code[:9], "") if len(code) >= 9 else "",
                         areas.get(code, "") if len(code) == 12 else "") if n]
    for index, name in enumerate(names):  # the typed address may begin with the township or the village
        if address.startswith(name):
            names = names[:index]
            break
    return "".join(p for p in (county, *names, address) if p)


def _values(fields: list[OutcomeField], stored: dict, policy: Policy) -> list[ParameterFact]:
    out = []
    for f in fields:
        value = stored.get(f.name)
        if value is None or value == "":
            continue
        if f.name == "item" and str(value).strip().isdigit() and int(value) in policy.service_items:
            value = f"第{int(value)}项 {policy.service_items[int(value)].service}"
        out.append(ParameterFact(name=f.name, type=f.type, label_zh=f.label_zh, label_en=f.label_en, value=value))
    return out


def unit_names(session: Session, codes: list[str]) -> dict[str, str]:
    """Unit code → unit name for ``codes`` (one statement; a code without a unit maps to itself)."""
    wanted = sorted(set(c for c in codes if c))
    found = dict(session.exec(select(AgencyUnit.code, AgencyUnit.name).where(AgencyUnit.code.in_(wanted))).all()) \
        if wanted else {}
    return {code: found.get(code, code) for code in wanted}


def person_fact(session: Session, username: str) -> CaseworkerFact:
    """A person (the caseworker, who answered) by login: name and phone from their web account (the login and
    no phone without one)."""
    user = session.exec(select(WebUser).where(WebUser.username == username)).first()
    return CaseworkerFact(username=username, name=(user.display_name if user and user.display_name else username),
                          phone=user.phone if user else "")


def task_facts(session: Session, task: AgencyTask, viewer: WebUser, *, policy: Policy | None = None,
               today: dt.date | None = None, purpose: str = "page") -> TaskFacts | None:
    """The facts ``viewer`` sees on ``task``'s page (or letter: ``purpose="letter"``), audited.

    Returns ``None`` for a task on no pathway run other than a key care file's duty (a city list's filing, a
    programme report: its page says what it needs). Writes the audit
    row ``task.child_facts_viewed`` (detail: the facts shown, the purpose, the viewer's role; never the values)
    in the caller's transaction.

    Raises:
        FactsNotVisible: ``viewer`` may not see them (:func:`may_see_facts`); nothing is audited.
    """
    if task.pathway_run_id is None or task.case_id is None:
        return _key_care_duty_facts(session, task, viewer, today=today, purpose=purpose)
    policy = policy or load_policy()
    run = session.get(PathwayRun, task.pathway_run_id)
    case = session.get(Case, task.case_id)
    child = session.get(Child, case.child_id)
    if not may_see_facts(task, case, child, viewer):
        raise FactsNotVisible(f"no task {task.id}")
    definition = policy.pathways.get(run.pathway)
    step = None
    if definition is not None and task.step_key in definition.step_keys:
        step = definition.step(task.step_key)
    shows = list(step.shows) if step else []
    facts = TaskFacts(shows=shows, caseworker=person_fact(session, case.caseworker))
    _fill_child_facts(session, facts, child, today or pendulum.now(get_settings().timezone).date())
    if "report" in shows:
        facts.report_summary = case.summary
        facts.parameters = _values(list(definition.start_parameters), run.parameters or {}, policy)
        if (run.parameters or {}).get("eligibility_unknown"):  # stored by careflow.referral_eligibility
            facts.parameters.append(ParameterFact(
                name="eligibility_unknown", type="text", label_zh="未能确认的服务对象条件",
                label_en="Target-group conditions not confirmed", value=run.parameters["eligibility_unknown"]))
    if step is not None and step.shows_answers:
        facts.answers = _answers(session, run.id, step.shows_answers, definition, policy)
    record_audit(session, actor=viewer.username, action="task.child_facts_viewed", entity_type="task",
                 entity_id=task.id, case_id=case.id,
                 detail={"shows": shows, "answers": list(step.shows_answers) if step else [], "purpose": purpose,
                         "role": UserRole(viewer.role).value, "unit_code": viewer.unit_code or ""})
    return facts


def _fill_child_facts(session: Session, facts: TaskFacts, child: Child, today: dt.date) -> None:
    """The child's facts of ``facts.shows`` filled in (age in whole years on ``today``, Asia/Shanghai)."""
    shows = facts.shows
    if "child_name" in shows:
        facts.child_name = child.full_name
    if "sex" in shows:
        facts.sex = child.sex
    if "age" in shows:
        facts.age, facts.birth_date = age_in_years(child.birth_date, today), child.birth_date
    if "address" in shows:
        facts.address = full_address(child)
    if "hukou" in shows:
        facts.hukou = _county_name(child.hukou_county_code)
    if "key_care" in shows:
        facts.key_care = list(child.key_care_criteria)
    if "guardians" in shows:
        guardians = session.exec(select(Guardian).where(Guardian.child_id == child.id).order_by(Guardian.id)).all()
        facts.guardians = [GuardianFact(name=g.full_name, relation=g.relation, phone=g.phone) for g in guardians]


#: What the unit of a key care target's contact or home visit (重点关爱服务对象的定期联系、入户走访) sees: whom to
#: contact and where, and why the child is in care.
CONTACT_DUTY_SHOWS = ["child_name", "sex", "age", "address", "guardians", "key_care"]


def _key_care_duty_facts(session: Session, task: AgencyTask, viewer: WebUser, *, today: dt.date | None,
                      purpose: str) -> TaskFacts | None:
    """A key care file's duty (:mod:`careflow.key_care`): for its family guardianship assessment (方案 七) the child's
    facts the guardianship pathway's ``guardianship_assessment`` step shows (no report: none was made), for its
    contacts and home visits :data:`CONTACT_DUTY_SHOWS`; whom to call being who opened the duty; audited as for a
    step. None for any other dated duty (a city list's filing, a programme report).

    Raises:
        FactsNotVisible: ``viewer`` may not see them (:func:`may_see_facts`).
    """
    link = session.get(GuardianshipAssessment, task.id)
    if link is not None:
        child = session.get(Child, link.child_id)
        shows = [s for s in load_policy().pathway("guardianship").step(ASSESSMENT_DUTY).shows if s != "report"]
    else:
        child = session.exec(select(Child).join(KeyCareFile, KeyCareFile.child_id == Child.id)
                             .join(KeyCareDuty, KeyCareDuty.file_id == KeyCareFile.id)
                             .where(KeyCareDuty.task_id == task.id)).first()
        shows = CONTACT_DUTY_SHOWS
    if child is None:
        return None
    if not may_see_facts(task, None, child, viewer):
        raise FactsNotVisible(f"no task {task.id}")
    opened_by = session.exec(select(AuditEvent.actor).where(
        AuditEvent.entity_id == str(task.id), AuditEvent.action == "task.requested")).first() or ""
    facts = TaskFacts(shows=shows, caseworker=person_fact(session, opened_by))
    _fill_child_facts(session, facts, child, today or pendulum.now(get_settings().timezone).date())
    record_audit(session, actor=viewer.username, action="task.child_facts_viewed", entity_type="task",
                 entity_id=task.id, detail={"shows": shows, "answers": [], "purpose": purpose,
                                            "role": UserRole(viewer.role).value, "unit_code": viewer.unit_code or ""})
    return facts


def _answers(session: Session, run_id: uuid.UUID, keys: list[str], definition, policy: Policy) -> list[AnswerFact]:
    rows = session.exec(select(AgencyTask).where(AgencyTask.pathway_run_id == run_id,
                                                 AgencyTask.step_key.in_(keys),
                                                 AgencyTask.state == TaskState.completed)
                        .order_by(AgencyTask.answered_at, AgencyTask.id)).all()
    names = unit_names(session, [r.unit_code for r in rows])
    out = []
    for row in rows:
        step = definition.step(row.step_key)
        out.append(AnswerFact(step_key=row.step_key, step_title_zh=step.title_zh, step_title_en=step.title_en,
                              unit_name=names.get(row.unit_code, row.unit_code), answered_at=row.answered_at,
                              values=_values(list(step.outcome), row.outcome or {}, policy)))
    return out
