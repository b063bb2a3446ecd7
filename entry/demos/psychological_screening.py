"""``careflow demo --pathway psychological_screening``: a high-risk screening that ends in community rehabilitation.

The child (a girl of 13 registered in 江西省瑞金市, living in 莆田市城厢区 since 2022) scores high risk in her
school's mental-health screening. The medical referral goes out at once with its urgent 24 h deadline while
the social-work centre starts counselling and the township station involves her mother; the city mental
health centre diagnoses a severe mental disorder, so the district health bureau (health management) and
civil affairs bureau (community rehabilitation) each enrol her (闽民童〔2025〕5号 八; 清单第17项、第8项).
"""
from __future__ import annotations

import asyncio
from datetime import date, timedelta


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
from models.policy import load_policy
from models.task import TaskState

CASEWORKER = "chen.jing"
PARAMETERS = {"screening_result": "high_risk", "screened_by": "school",
              "note": "学校心理健康筛查：抑郁量表高分，自述有自伤念头"}

#: (step, agency type, unit, officer, acknowledge first?, outcome). The first three are requested together
#: (the last of them to answer resumes the flow); the two rehabilitation tasks together after the diagnosis.
SCREENING_ANSWERS = [
    ("counselling", "social_work", "social_work-350302", "区社工中心 社工林晓", True,
     {"started": "yes", "risk_after": "high_risk", "note": "已开展危机干预和情绪疏导，每周两次"}),
    ("guardian_involvement", "township_station", "township_station-350302001", "龙桥街道工作站 儿童督导员郭敏", False,
     {"guardians_informed": "yes", "note": "已告知母亲，母亲同意陪同就医并配合干预"}),
    ("medical_referral", "medical_institution", "medical_institution-350300", "市精神卫生中心 医生许文", True,
     {"seen": "yes", "severe_mental_disorder": "yes", "note": "诊断为双相情感障碍，病情稳定后居家治疗"}),
    ("community_rehabilitation", "health", "health-350302", "区卫健局 张华", False,
     {"enrolled": "yes", "note": "已纳入严重精神障碍患者健康管理，社区医生随访"}),
    ("community_rehabilitation", "civil_affairs", "civil_affairs-350302", "区民政局 吴涛", True,
     {"enrolled": "yes", "note": "已纳入精神障碍社区康复服务"}),
]


def drive() -> str:
    """Register the child, open the case, start the pathway and answer every step; return the case reference."""
    rid = unused_resident_id("360781", date(2012, 6, 7), female=True)
    with session_scope() as session:
        reg = register_child(
            session, resident_id=rid, full_name="陈雨欣", sex="女", hukou_county="360781",
            residence_county="350302", residence_area_code="350302001001",
            residence_address="莆田市城厢区龙桥街道凤山社区", arrival_date=date(2022, 9, 1),
            key_care_criteria={KeyCareCriterion.psychological_behavioural}, actor=CASEWORKER,
            guardians=[{"full_name": "陈美华", "relation": "母亲"}],
        )
        migrant = reg.assessment.is_migrant
        case = open_case(session, child_id=reg.child.id, caseworker=CASEWORKER,
                         summary="学校心理健康筛查结果高风险")
        run = create_pathway_run(session, case_id=case.id, pathway="psychological_screening", actor=CASEWORKER,
                                 parameters=PARAMETERS)
    say_opened(migrant, case.reference, "psychological_screening")
    flow_run_id = asyncio.run(start_pathway_flow(run.id))
    say_flow_run(flow_run_id)
    for step, agency_type, unit, officer, acknowledge_first, outcome in SCREENING_ANSWERS:
        answer_as_agency(run.id, step, agency_type, unit, officer, acknowledge_first, outcome)
    wait_for_end(run.id)
    close_as_caseworker(case.reference, CASEWORKER, "已转介就医并纳入社区康复服务，由康复机构和社区持续跟进")
    return case.reference


def check(reference: str) -> list[str]:
    """What is wrong with the finished demo case, as the policy says it should have gone (empty: nothing)."""
    problems = []
    with session_scope() as session:
        timeline = case_timeline(session, reference, actor=CASEWORKER)
    rows = {(row.step_key, row.unit_code): row for row in timeline.rows}
    expected = [(step, unit) for step, _, unit, *_ in SCREENING_ANSWERS]
    if sorted(rows) != sorted(expected) or len(timeline.rows) != len(expected):
        problems.append(problem("tasks", tasks=[(r.step_key, r.unit_code) for r in timeline.rows], expected=expected))
        return problems
    first, rehabilitation = [rows[k] for k in expected[:3]], [rows[k] for k in expected[3:]]
    answered = [row.answered_at for row in first if row.answered_at]
    if len(answered) < 3 or max(row.requested_at for row in first) >= min(answered):
        problems.append(problem("not_together"))
    diagnosed = rows[("medical_referral", "medical_institution-350300")].answered_at
    if diagnosed is None or min(row.requested_at for row in rehabilitation) < diagnosed:
        problems.append(problem("rehabilitation_early"))
    referral = rows[("medical_referral", "medical_institution-350300")]
    urgent = load_policy().pathway("psychological_screening").step("medical_referral").urgent_deadline
    allowed = referral.due_at - referral.requested_at
    if referral.deadline_text != str(urgent) or allowed != timedelta(hours=urgent.amount):
        problems.append(problem("urgent", deadline=referral.deadline_text, expected=urgent))
    for row in timeline.rows:
        if row.state != TaskState.completed:
            problems.append(problem("task_state", step=f"{row.step_key} ({row.unit_code})", state=row.state))
        requested = [n for n in row.notifications if n[0] == "task_requested"]
        if len(requested) != 1:
            problems.append(problem("requested", step=f"{row.step_key} ({row.unit_code})", n=len(requested)))
        if any(status != "sent" for _, _, status in row.notifications):
            problems.append(problem("undelivered", step=row.step_key, messages=row.notifications))
    (_, status, outcome), = timeline.pathways
    if status != PathwayStatus.completed:
        problems.append(problem("pathway", status=status))
    for words in ("已加急转介就医", "诊断为严重精神障碍", "已纳入健康管理", "已纳入精神障碍社区康复服务"):
        if words not in outcome:
            problems.append(problem("outcome_words", outcome=outcome, words=words))
    if timeline.status != CaseStatus.closed:
        problems.append(problem("case", case=timeline.status))
    return problems
