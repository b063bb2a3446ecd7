"""Claims handled at the child's household-registration place (户籍地; 清单 items 10, 13, 14; issue 13 item 5).

A step marked ``jurisdiction_basis: registration_place`` in ``policy/pathways/*.yaml`` is decided where the child's
household is registered (``Child.hukou_county_code``), not where the child lives:

* **省内通办** — the registration county is in the unit directory (an active unit of the step's agency type covers
  it at the agency's level, :func:`registration_unit`; in practice a Fujian county): the task goes to that unit
  (:func:`careflow.step_tasks.open_step_task` routes it by the registration county), and the residence county's
  unit of the same agency type **follows** it (:func:`follower_unit`, stored as ``AgencyTask.follower_unit_code``).
  Following means: the task is on the follower's 跟进 list (the officer inbox's ``follow`` filter,
  ``ix_agency_task_follower_due``), its officers may read the task page but not answer it, and the follower is
  told when the task is opened (``task_followed``), answered (``task_answered``) and at its deadline (the
  ladder's ``deadline`` rung, :func:`careflow.ladder.due_rungs`). The case stays the residence county's: its
  caseworker and county manager get the rungs as for any task.
* **跨省通办** — the registration county is not in the directory (outside Fujian): the step's
  ``cross_province_steps`` are taken instead, by the residence county's unit (:func:`registration_route`): forward
  the application within 3 working days, then record the registration place's reply and its date (typed answer
  fields, ``type: date``), due by the legal total counted from the referral (``deadline_from: pathway_start``).

Deadlines are the policy's (``deadline``, ``deadline_max``: 低保 30 working days, up to 45 with a recorded reason,
《社会救助暂行办法》, 最低生活保障审核确认办法; 事实无人抚养儿童 recognition 15 + 15 working days).
"""
from __future__ import annotations

import uuid
from typing import Literal

from sqlmodel import Session

from careflow.routing import LEVEL_PREFIX_LENGTH, NoUnitForAgency, jurisdiction_prefix, resolve_unit
from models.agency import AgencyUnit
from models.case import Case, PathwayRun
from models.child import Child
from models.errors import FieldValueError, Words
from models.pathways import PathwayStep
from models.policy import load_policy

Route = Literal["registration_place", "cross_province"]


def step_level(step: PathwayStep, agency_type: str) -> str:
    """The jurisdiction level a step's unit is found at: the step's ``level``, else the agency's."""
    return step.level or load_policy().agency(agency_type).level


def registration_unit(session: Session, agency_type: str, child: Child, level: str) -> AgencyUnit | None:
    """The active unit of ``agency_type`` at exactly ``level`` (the county's own civil affairs bureau) covering the
    child's registration county, or ``None`` when the directory has none (treated as outside the directory: 跨省通办).
    A city's bureau covering the county does not count: the claim is decided by the county (the directory of a
    deployment lists every county of Fujian)."""
    try:
        unit = resolve_unit(session, agency_type, child.hukou_county_code, level=level)
    except NoUnitForAgency:
        return None
    wanted = LEVEL_PREFIX_LENGTH.get(level, 6)
    return unit if len(jurisdiction_prefix(unit.jurisdiction_code)) >= min(wanted, 6) else None


def follower_unit(session: Session, step: PathwayStep, agency_type: str, child: Child, level: str,
                  assignee: AgencyUnit) -> str | None:
    """The residence county's unit of ``agency_type`` that follows ``step``'s task assigned to ``assignee`` at the
    registration place; ``None`` for a step not handled there, when it is the assignee itself (a child registered
    where they live) or when the directory has none for the residence.
    """
    if step.jurisdiction_basis != "registration_place":
        return None
    try:
        residence = resolve_unit(session, agency_type, child.residence_area_code or child.residence_county_code,
                                 level=level)
    except NoUnitForAgency:
        return None
    return None if residence.code == assignee.code else residence.code


def registration_route(session: Session, pathway_run_id: uuid.UUID, step_key: str) -> Route:
    """How the step ``step_key`` of the pathway run is taken: ``registration_place`` when every agency of the step
    has a unit covering the child's registration county (省内通办), ``cross_province`` when one has none (its
    ``cross_province_steps`` are taken at the residence instead).

    Raises:
        ValueError: the step is not marked ``jurisdiction_basis: registration_place``; or it is routed to the registration place, has no unit there and no ``cross_province_steps``
            (a policy file that cannot be carried out; a FieldValueError naming the step, worded in the reader's
            language).
    """
    run = session.get(PathwayRun, pathway_run_id)
    step = load_policy().pathways[run.pathway].step(step_key)
    if step.jurisdiction_basis != "registration_place":
        raise FieldValueError("", "problem.step_not_at_registration_place", step=step_key,
                              title=Words(zh=step.title_zh, en=step.title_en))
    child = session.get(Child, session.get(Case, run.case_id).child_id)
    if all(registration_unit(session, agency, child, step_level(step, agency)) for agency in step.agencies):
        return "registration_place"
    if not step.cross_province_steps:
        raise FieldValueError("", "problem.step_no_registration_unit", step=step_key, county=child.hukou_county_code,
                              title=Words(zh=step.title_zh, en=step.title_en))
    return "cross_province"
