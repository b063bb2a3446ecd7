"""``careflow demo --pathway guardianship``: one complete guardianship case on realistic data, answered as each agency in turn.

The child (a boy of 11 registered in 四川省南部县, living in 莆田市城厢区 since 2023) is reported by his
community committee; the case is serious and the child is in danger, so the police reprimand the
father and order family-education guidance while the rescue centre takes him into temporary
guardianship; the women's federation starts guidance; civil affairs assesses the family's guardianship.
"""
from __future__ import annotations

import asyncio
import time
from datetime import date

import typer
from sqlmodel import select

from careflow.answers import answer_task
from careflow.cases import create_pathway_run, open_case, register_child
from careflow.db import session_scope
from careflow.resume import start_pathway_flow, wait_until_suspended
from careflow.settings import get_settings
from careflow.timeline import case_timeline
from models.case import CaseStatus, PathwayRun, PathwayStatus
from models.child import Child
from models.eligibility import KeyCareCriterion
from models.resident_id import check_character
from models.task import AgencyTask, TaskState

CASEWORKER = "lin.fang"

#: (step, unit, officer, acknowledge first?, outcome) in the order the policy reaches them.
GUARDIANSHIP_ANSWERS = [
    ("committee_admonition", "village_committee-350302001001", "凤山社区 王丽", False,
     {"serious": "yes", "child_in_danger": "yes", "note": "父亲酒后多次殴打，孩子身上有新伤"}),
    ("police_reprimand", "police-350302", "城厢分局 民警陈强", True,
     {"reprimanded": "yes", "family_education_ordered": "yes", "child_unsafe": "yes", "note": "已对父亲予以训诫"}),
    ("temporary_guardianship", "rescue_centre-350300", "救助保护中心 郑敏", True,
     {"placed": "yes", "note": "已接收临时监护"}),
    ("family_education_guidance", "womens_federation-350302", "区妇联 黄燕", False,
     {"guidance_started": "yes", "provider": "城厢区家庭教育指导服务中心"}),
    ("guardianship_assessment", "civil_affairs-350302", "区民政局 吴涛", True,
     {"guardianship_missing_or_unsafe": "no", "long_term_guardianship_needed": "no", "note": "母亲可履行监护职责"}),
]
EXPECTED_STEPS = [step for step, *_ in GUARDIANSHIP_ANSWERS]


def demo_resident_id() -> str:
    """A valid ID of a boy born 2015-03-15, household registration 511321 南部县 (sequence varies per run)."""
    seq = int(time.time()) % 500 * 2 + 1  # odd: male
    first17 = f"51132120150315{seq:03d}"
    return first17 + check_character(first17)


def _wait_for_task(pathway_run_id, flow_run_id, step_key: str, timeout: float = 120) -> AgencyTask:
    """The step's task once the flow has created it and suspended to wait for its answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope() as session:
            task = session.exec(select(AgencyTask).where(
                AgencyTask.pathway_run_id == pathway_run_id, AgencyTask.step_key == step_key)).first()
        if not asyncio.run(wait_until_suspended(flow_run_id, timeout=deadline - time.monotonic())):
            raise RuntimeError(f"flow run {flow_run_id} ended before step {step_key!r}; see the Prefect UI")
        if task:
            return task
        time.sleep(0.3)
    raise TimeoutError(f"no task for step {step_key!r} after {timeout:.0f} s")


def _wait_for_end(pathway_run_id, timeout: float = 120) -> PathwayRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope() as session:
            run = session.get(PathwayRun, pathway_run_id)
            if run.status not in (PathwayStatus.starting, PathwayStatus.running):
                return run
        time.sleep(0.3)
    raise TimeoutError(f"pathway run not finished after {timeout:.0f} s")


def drive() -> str:
    """Register the child, open the case, start the pathway and answer every step; return the case reference."""
    with session_scope() as session:
        while True:
            rid = demo_resident_id()
            if not session.exec(select(Child).where(Child.resident_id == rid)).first():
                break
            time.sleep(1)
        reg = register_child(
            session, resident_id=rid, full_name="李浩然", sex="男", hukou_county="511321",
            residence_county="350302", residence_area_code="350302001001",
            residence_address="莆田市城厢区龙桥街道凤山社区", arrival_date=date(2023, 8, 20),
            key_care_criteria={KeyCareCriterion.missing_guardianship}, actor=CASEWORKER,
            guardians=[{"full_name": "李建国", "relation": "父亲"}, {"full_name": "张秀兰", "relation": "母亲"}],
        )
        typer.echo(f"registered child {reg.child.id}: migrant child = {reg.assessment.is_migrant}")
        case = open_case(session, child_id=reg.child.id, caseworker=CASEWORKER,
                         summary="社区报告：监护人酒后殴打儿童（强制报告）")
        run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor=CASEWORKER)
    typer.echo(f"case {case.reference}: guardianship pathway {run.id}")
    flow_run_id = asyncio.run(start_pathway_flow(run.id))
    typer.echo(f"flow run {flow_run_id}: {get_settings().resolved_public_url}/runs/flow-run/{flow_run_id}")
    for step, unit, officer, acknowledge_first, outcome in GUARDIANSHIP_ANSWERS:
        task = _wait_for_task(run.id, flow_run_id, step)  # the agency answers after it was notified
        if task.unit_code != unit:
            raise RuntimeError(f"step {step} went to {task.unit_code}, expected {unit}")
        if acknowledge_first:
            answer_task(task.short_ref, TaskState.acknowledged, actor=officer, unit_code=unit)
        result = answer_task(task.short_ref, TaskState.completed, actor=officer, unit_code=unit, outcome=outcome)
        typer.echo(f"  {unit} answered {step} ({result.resume})")
    _wait_for_end(run.id)
    return case.reference


def check(reference: str) -> list[str]:
    """What is wrong with the finished demo case, as the policy says it should have gone (empty: nothing)."""
    problems = []
    with session_scope() as session:
        timeline = case_timeline(session, reference, actor=CASEWORKER)
    steps = [row.step_key for row in timeline.rows]
    if sorted(steps) != sorted(EXPECTED_STEPS):
        problems.append(f"steps {steps}, expected {EXPECTED_STEPS}")
    if steps[:2] != EXPECTED_STEPS[:2] or steps[-2:] != EXPECTED_STEPS[-2:]:
        problems.append(f"steps out of the policy's order: {steps}")
    for row in timeline.rows:
        if row.state != TaskState.completed:
            problems.append(f"{row.step_key} is {row.state}")
        requested = [n for n in row.notifications if n[0] == "task_requested"]
        if len(requested) != 1:
            problems.append(f"{row.step_key}: {len(requested)} new-task messages, expected 1")
        if any(status != "sent" for _, _, status in row.notifications):
            problems.append(f"{row.step_key}: undelivered messages {row.notifications}")
    (_, status, _), = timeline.pathways
    if status != PathwayStatus.completed:
        problems.append(f"pathway is {status}")
    if timeline.status != CaseStatus.closed:
        problems.append(f"case is {timeline.status}, expected closed")
    return problems
