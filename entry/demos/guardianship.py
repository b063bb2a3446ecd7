"""``careflow demo --pathway guardianship``: one complete guardianship case on realistic data, answered as each agency in turn.

The child (a boy of 11 registered in 四川省南部县, living in 莆田市城厢区 since 2023) is reported by his
community committee; the case is serious and the child is in danger, so the police reprimand the
father and order family-education guidance while the rescue centre takes him into temporary
guardianship; the women's federation starts guidance; civil affairs assesses the family's guardianship.
"""
from __future__ import annotations

import asyncio
from datetime import date


from careflow.cases import create_pathway_run, open_case


from careflow.registration import register_child
from core.db import session_scope
from entry.demos.driving import (
    answer_as_agency, close_as_caseworker, problem, say_flow_run, say_opened, unused_resident_id, wait_for_end,
)
from careflow.resume import start_pathway_flow
from careflow.timeline import case_timeline
from models.case import CaseStatus, PathwayStatus
from models.eligibility import KeyCareCriterion
from models.task import TaskState

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


def drive() -> str:
    """Register the child, open the case, start the pathway and answer every step; return the case reference."""
    # born the day before the tests' default ID space (511321, 15 March 2015), whose numbers a demo run inside the test
    # session once took
    rid = unused_resident_id("511321", date(2015, 3, 14), female=False)
    with session_scope() as session:
        reg = register_child(
            session, resident_id=rid, full_name="李浩然", sex="男", hukou_county="511321",
            residence_county="350302", residence_area_code="350302001001",
            residence_address="莆田市城厢区龙桥街道凤山社区", arrival_date=date(2023, 8, 20),
            key_care_criteria={KeyCareCriterion.missing_guardianship}, actor=CASEWORKER,
            guardians=[{"full_name": "李建国", "relation": "父亲"}, {"full_name": "张秀兰", "relation": "母亲"}],
        )
        migrant = reg.assessment.is_migrant
        case = open_case(session, child_id=reg.child.id, caseworker=CASEWORKER,
                         summary="社区报告：监护人酒后殴打儿童（强制报告）")
        run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor=CASEWORKER)
    say_opened(migrant, case.reference, "guardianship")
    flow_run_id = asyncio.run(start_pathway_flow(run.id))
    say_flow_run(flow_run_id)
    for step, unit, officer, acknowledge_first, outcome in GUARDIANSHIP_ANSWERS:
        answer_as_agency(run.id, step, None, unit, officer, acknowledge_first, outcome)
    wait_for_end(run.id)
    close_as_caseworker(case.reference, CASEWORKER, "监护干预已办结：父亲已受训诫，家庭教育指导已开始，母亲可履行监护职责")
    return case.reference


def check(reference: str) -> list[str]:
    """What is wrong with the finished demo case, as the policy says it should have gone (empty: nothing)."""
    problems = []
    with session_scope() as session:
        timeline = case_timeline(session, reference, actor=CASEWORKER)
    steps = [row.step_key for row in timeline.rows]
    if sorted(steps) != sorted(EXPECTED_STEPS):
        problems.append(problem("steps", steps=steps, expected=EXPECTED_STEPS))
    if steps[:2] != EXPECTED_STEPS[:2] or steps[-2:] != EXPECTED_STEPS[-2:]:
        problems.append(problem("order", steps=steps))
    for row in timeline.rows:
        if row.state != TaskState.completed:
            problems.append(problem("task_state", step=row.step_key, state=row.state))
        requested = [n for n in row.notifications if n[0] == "task_requested"]
        if len(requested) != 1:
            problems.append(problem("requested", step=row.step_key, n=len(requested)))
        if any(status != "sent" for _, _, status in row.notifications):
            problems.append(problem("undelivered", step=row.step_key, messages=row.notifications))
    (_, status, _), = timeline.pathways
    if status != PathwayStatus.completed:
        problems.append(problem("pathway", status=status))
    if timeline.status != CaseStatus.closed:
        problems.append(problem("case", case=timeline.status))
    return problems
