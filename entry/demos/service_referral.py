"""``careflow demo --pathway service_referral``: one service-list referral on realistic data — item 18,
精神文化生活服务, whose seven responsible departments each answer.

The child (a girl of 9 registered in 江西省瑞金市, living in 莆田市城厢区凤山社区 since 2022) is referred for
cultural activities, reading guidance and companionship (清单第18项). The seven county units the item names
— cyberspace office, education, civil affairs, radio and TV, Youth League, women's federation and the Xinhua
bookstore — receive one task each at once, acknowledge and complete it; the referral closes when all seven
have answered (completion ``all``).
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
ITEM = 18
STEP = "service_referral"

#: (agency type, unit, officer, what was done) for each of item 18's departments, in the list's order.
ITEM_18_ANSWERS = [
    ("cyberspace", "cyberspace-350302", "区委网信办 林志强", "推送适合儿童的网络视听节目清单，开展网络素养讲座"),
    ("education", "education-350302", "区教育局 陈晓燕", "安排参加就读学校少年宫社团和课后服务文化活动"),
    ("civil_affairs", "civil_affairs-350302", "区民政局 吴涛", "纳入凤山社区儿童之家和“童心港湾”每周活动"),
    ("radio_tv", "radio_tv-350302", "区文体旅游局 郑凯", "推荐流动儿童主题广播电视节目，邀请参加少儿节目录制"),
    ("youth_league", "youth_league-350302", "团区委 黄婷", "邀请参加青少年宫（青年之家）暑期活动"),
    ("womens_federation", "womens_federation-350302", "区妇联 黄燕", "组织巾帼志愿者开展亲子阅读和精神陪伴"),
    ("publishing_group", "publishing_group-350302", "新华书店城厢区分公司 王磊",
     "在凤山社区设立“福见书香，点亮梦想”读书角并赠书20册"),
]
EXPECTED_UNITS = {agency: unit for agency, unit, *_ in ITEM_18_ANSWERS}


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
    """Register the child, open the case, refer item 18 and answer as its seven departments; return the case
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
                         summary="父母务工早出晚归，孩子课余独处，申请精神文化生活服务（清单第18项）")
        run = create_pathway_run(session, case_id=case.id, pathway="service_referral", actor=CASEWORKER,
                                 parameters={"item": ITEM})
    say_opened(migrant, case.reference, "service_referral")
    flow_run_id = asyncio.run(start_pathway_flow(run.id))
    say_flow_run(flow_run_id)
    tasks = {t.agency_type: t for t in wait_for_referral_tasks(run.id, flow_run_id, len(ITEM_18_ANSWERS))}
    for agency, unit, officer, measures in ITEM_18_ANSWERS:
        task = tasks[agency]
        if task.unit_code != unit:
            raise RuntimeError(tr("cli.demo.out.wrong_unit", step=agency, unit=task.unit_code, expected=unit))
        answer_task(task.short_ref, TaskState.acknowledged, actor=officer, unit_code=unit)
        result = answer_task(task.short_ref, TaskState.completed, actor=officer, unit_code=unit,
                             outcome={"service_provided": "yes", "measures": measures})
        say_answered(unit, task.title, result.resume)
    wait_for_end(run.id)
    close_as_caseworker(case.reference, CASEWORKER, "清单第18项服务已由各责任部门提供")
    return case.reference


def check(reference: str) -> list[str]:
    """What is wrong with the finished demo case (empty: all seven departments answered and the referral
    closed, every message delivered, each carrying item 18's service)."""
    problems = []
    with session_scope() as session:
        timeline = case_timeline(session, reference, actor=CASEWORKER)
        case = session.exec(select(Case).where(Case.reference == reference)).one()
        task_ids = [t.id for t in session.exec(select(AgencyTask).where(AgencyTask.case_id == case.id)).all()]
        requested = session.exec(select(Notification).where(Notification.event == "task_requested",
                                                            Notification.task_id.in_(task_ids))).all()
    rows = timeline.rows
    units = {row.unit_code for row in rows}
    if sorted(units) != sorted(EXPECTED_UNITS.values()) or len(rows) != len(ITEM_18_ANSWERS):
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
        if message.unit_code in units and ("清单第18项 精神文化生活服务" not in message.subject
                                           or "读书角阅读保障" not in message.body):
            problems.append(problem("item_content", unit=message.unit_code))
    (_, status, outcome), = timeline.pathways
    if status != PathwayStatus.completed:
        problems.append(problem("referral", status=status, outcome=outcome))
    elif not outcome.startswith("清单第18项精神文化生活服务：7个责任部门均已答复"):
        problems.append(problem("referral_outcome", outcome=outcome))
    if timeline.status != CaseStatus.closed:
        problems.append(problem("case", case=timeline.status))
    return problems
