"""``careflow demo --pathway service_referral``: one service-list referral on realistic data — item 16,
监护支持干预服务, whose six responsible departments each answer.

The child (a girl of 9 registered in 江西省瑞金市, living in 莆田市城厢区凤山社区 since 2022) is referred for
guardianship support (清单第16项: family-education guidance for the parents, the family guardianship assessment).
The six county units the item names — court, procuratorate, education, police, civil affairs and the women's
federation — receive one task each at once, acknowledge and complete it; the referral closes when all six have
answered (completion ``all``). (Items 18-20 are programmes, not referrals to departments: ``careflow.programmes``.)
"""
from __future__ import annotations

import asyncio
import time
from datetime import date

from sqlmodel import select

from careflow.answers import answer_task
from careflow.cases import create_pathway_run, open_case
from careflow.registration import register_child
from core.db import session_scope
from core.i18n import cli_text as tr
from entry.demos.driving import (
    close_as_caseworker, problem, say_answered, say_flow_run, say_opened, unused_resident_id, wait_for_end,
)
from careflow.resume import start_pathway_flow, wait_until_suspended
from careflow.timeline import case_timeline
from models.case import Case, CaseStatus, PathwayStatus
from models.notification import Notification
from models.task import AgencyTask, TaskState

CASEWORKER = "chen.li"
ITEM = 16
STEP = "service_referral"

#: (agency type, unit, officer, what was done) for each of item 16's departments, in the list's order.
ITEM_ANSWERS = [
    ("court", "court-350302", "区法院 林志强", "经核查，无涉及该儿童的监护权案件，已告知诉讼支持渠道"),
    ("procuratorate", "procuratorate-350302", "区检察院 郑凯", "已纳入“春蕾安全员”联系名单，跟踪监护履职情况"),
    ("education", "education-350302", "区教育局 陈晓燕", "就读学校安排班主任每周家访联系，开展家校共育"),
    ("police", "police-350302", "城厢分局 黄婷", "社区民警已走访家庭，提示监护人履行监护职责"),
    ("civil_affairs", "civil_affairs-350302", "区民政局 吴涛", "纳入困境儿童家庭监护评估，评估结论为监护基本到位"),
    ("womens_federation", "womens_federation-350302", "区妇联 黄燕", "为父母提供家庭教育指导服务，每月一次"),
]
EXPECTED_UNITS = {agency: unit for agency, unit, *_ in ITEM_ANSWERS}


def wait_for_referral_tasks(pathway_run_id, flow_run_id, count: int, attempt: int = 1,
                            timeout: float = 120) -> list[AgencyTask]:
    """The referral's ``count`` tasks of ``attempt`` once the flow opened them and suspended to wait."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not asyncio.run(wait_until_suspended(flow_run_id, timeout=max(1.0, deadline - time.monotonic()))):
            raise RuntimeError(tr("cli.demo.out.flow_ended", flow_run=flow_run_id, step="referral"))
        with session_scope() as session:
            tasks = session.exec(select(AgencyTask).where(
                AgencyTask.pathway_run_id == pathway_run_id, AgencyTask.attempt == attempt)).all()
        if len(tasks) >= count:
            return list(tasks)
        time.sleep(0.3)
    raise TimeoutError(tr("cli.demo.out.too_few_tasks", count=count, seconds=round(timeout)))


def drive() -> str:
    """Register the child, open the case, refer item 16 and answer as its six departments; return the case
    reference."""
    rid = unused_resident_id("360781", date(2016, 6, 8), female=True)
    with session_scope() as session:
        reg = register_child(
            session, resident_id=rid, full_name="刘雨桐", sex="女", hukou_county="360781",
            residence_county="350302", residence_area_code="350302001001",
            residence_address="莆田市城厢区龙桥街道凤山社区", arrival_date=date(2022, 9, 1), actor=CASEWORKER,
            guardians=[{"full_name": "刘志明", "relation": "父亲"}, {"full_name": "钟美华", "relation": "母亲"}],
        )
        migrant = reg.assessment.is_migrant
        case = open_case(session, child_id=reg.child.id, caseworker=CASEWORKER,
                         summary="父母务工早出晚归，孩子课余独处，申请监护支持干预服务（清单第16项）")
        run = create_pathway_run(session, case_id=case.id, pathway="service_referral", actor=CASEWORKER,
                                 parameters={"item": ITEM})
    say_opened(migrant, case.reference, "service_referral")
    flow_run_id = asyncio.run(start_pathway_flow(run.id))
    say_flow_run(flow_run_id)
    tasks = {t.agency_type: t for t in wait_for_referral_tasks(run.id, flow_run_id, len(ITEM_ANSWERS))}
    for agency, unit, officer, measures in ITEM_ANSWERS:
        task = tasks[agency]
        if task.unit_code != unit:
            raise RuntimeError(tr("cli.demo.out.wrong_unit", step=agency, unit=task.unit_code, expected=unit))
        answer_task(task.short_ref, TaskState.acknowledged, actor=officer, unit_code=unit)
        result = answer_task(task.short_ref, TaskState.completed, actor=officer, unit_code=unit,
                             outcome={"service_provided": "yes", "measures": measures})
        say_answered(unit, task.title, result.resume)
    wait_for_end(run.id)
    close_as_caseworker(case.reference, CASEWORKER, "清单第16项服务已由各责任部门提供")
    return case.reference


def check(reference: str) -> list[str]:
    """What is wrong with the finished demo case (empty: all six departments answered and the referral
    closed, every message delivered, each carrying item 16's service)."""
    problems = []
    with session_scope() as session:
        timeline = case_timeline(session, reference, actor=CASEWORKER)
        case = session.exec(select(Case).where(Case.reference == reference)).one()
        task_ids = [t.id for t in session.exec(select(AgencyTask).where(AgencyTask.case_id == case.id)).all()]
        requested = session.exec(select(Notification).where(Notification.event == "task_requested",
                                                            Notification.task_id.in_(task_ids))).all()
    rows = timeline.rows
    units = {row.unit_code for row in rows}
    if sorted(units) != sorted(EXPECTED_UNITS.values()) or len(rows) != len(ITEM_ANSWERS):
        problems.append(problem("units", units=sorted(units), n=len(rows), expected=sorted(EXPECTED_UNITS.values())))
    for row in rows:
        if row.step_key != STEP:
            problems.append(problem("unit_step", unit=row.unit_code, step=row.step_key, expected=STEP))
        if row.state != TaskState.completed:
            problems.append(problem("task_state", step=row.unit_code, state=row.state))
        if [n for n in row.notifications if n[0] == "task_requested"] != [("task_requested", row.unit_code, "sent")]:
            problems.append(problem("unit_requested", unit=row.unit_code, messages=row.notifications))
        if any(status != "sent" for _, _, status in row.notifications):
            problems.append(problem("undelivered", step=row.unit_code, messages=row.notifications))
    for message in requested:
        if message.unit_code in units and ("清单第16项 监护支持干预服务" not in message.subject
                                           or "家庭教育指导服务" not in message.body):
            problems.append(problem("item_content", unit=message.unit_code))
    (_, status, outcome), = timeline.pathways
    if status != PathwayStatus.completed:
        problems.append(problem("referral", status=status, outcome=outcome))
    elif not outcome.startswith("清单第16项监护支持干预服务：6个责任部门均已答复"):
        problems.append(problem("referral_outcome", outcome=outcome))
    if timeline.status != CaseStatus.closed:
        problems.append(problem("case", case=timeline.status))
    return problems
