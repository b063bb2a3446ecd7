"""``careflow demo --pathway temporary_assistance``: help first where the emergency happened, then refer onward.

The child (a boy of 12 registered in 贵州省毕节市, living in 城厢区龙桥街道凤山社区) is found alone in 霞林街道 —
another township than his home — two days after his father, a construction worker, was hospitalised. The
霞林 civil affairs office acknowledges it as an emergency and helps first (800 yuan, food and clothes, a
night's shelter); the 800 yuan go through the fast small-amount procedure; the onward referral lists item 16
of the service list (监护支持干预服务), which starts the guardianship pathway on the same case: the community
committee where he lives verifies and admonishes (the mother has come back; not serious). The district
civil affairs bureau completes the paperwork once the emergency has eased (闽民童〔2025〕5号 六; 清单第15项).
"""
from __future__ import annotations

import asyncio
from datetime import date

import typer
from sqlmodel import select

from careflow.cases import create_pathway_run, open_case

from careflow.registration import register_child
from core.db import session_scope
from core.i18n import cli_text as tr
from entry.demos.driving import (
    answer_as_agency, close_as_caseworker, pathway_title, problem, say_flow_run, say_opened, unused_resident_id,
    wait_for_end,
)
from careflow.resume import start_pathway_flow
from careflow.timeline import case_timeline
from models.audit import AuditEvent
from models.case import Case, CaseStatus, PathwayRun, PathwayStatus
from models.eligibility import KeyCareCriterion
from models.task import TaskState

CASEWORKER = "zheng.hui"
#: Where the emergency happened: 霞林街道霞林社区 (the child lives in 龙桥街道凤山社区).
EMERGENCY_AREA = "350302002001"
PARAMETERS = {"emergency_area_code": EMERGENCY_AREA, "how_found": "discovery",
              "emergency_place": "城厢区霞林街道霞林社区", "note": "儿童独自在外两天，父亲务工受伤住院"}

#: (step, unit, officer, acknowledge first?, outcome) of the temporary-assistance pathway, in order.
ASSISTANCE_ANSWERS = [
    ("acknowledgement", "civil_affairs-350302002", "霞林街道社会事务办 林强", True,
     {"emergency": "yes", "note": "父亲住院，儿童无人照料，身无分文"}),
    ("emergency_help", "civil_affairs-350302002", "霞林街道社会事务办 林强", False,
     {"help_given": "several", "amount_yuan": "800", "note": "发放临时救助金800元及衣物食品，安排临时住所一晚"}),
    ("small_amount_payment", "civil_affairs-350302002", "霞林街道社会事务办 林强", False,
     {"paid": "yes", "amount_yuan": "800"}),
    ("onward_referral", "civil_affairs-350302002", "霞林街道社会事务办 林强", False,
     {"services": "16", "note": "父亲住院期间监护缺失，转介监护支持干预"}),
    ("paperwork", "civil_affairs-350302", "区民政局 吴涛", False,
     {"completed": "yes", "note": "已补齐临时救助审批材料"}),
]
#: The linked guardianship pathway's first step, answered by the committee where the child lives.
LINKED_ANSWER = ("committee_admonition", "village_committee-350302001001", "凤山社区 王丽", False,
                 {"serious": "no", "child_in_danger": "no", "note": "母亲已从老家返回照料，已劝诫父母加强看护"})
LINKED_PATHWAY = "guardianship"


def linked_run(reference: str, pathway: str = LINKED_PATHWAY) -> PathwayRun | None:
    """The run of ``pathway`` on the case ``reference`` (the one the onward referral started), if any."""
    with session_scope() as session:
        case = session.exec(select(Case).where(Case.reference == reference)).one()
        return session.exec(select(PathwayRun).where(PathwayRun.case_id == case.id,
                                                     PathwayRun.pathway == pathway)).first()


def drive() -> str:
    """Register the child, open the case, start the pathway and answer every step (and the linked
    guardianship pathway's first step); return the case reference."""
    rid = unused_resident_id("522401", date(2013, 11, 2), female=False)
    with session_scope() as session:
        reg = register_child(
            session, resident_id=rid, full_name="王子豪", sex="男", hukou_county="522401",
            residence_county="350302", residence_area_code="350302001001",
            residence_address="莆田市城厢区龙桥街道凤山社区", arrival_date=date(2023, 2, 15),
            key_care_criteria={KeyCareCriterion.missing_guardianship}, actor=CASEWORKER,
            guardians=[{"full_name": "王建军", "relation": "父亲"}, {"full_name": "刘芳", "relation": "母亲"}],
        )
        migrant = reg.assessment.is_migrant
        case = open_case(session, child_id=reg.child.id, caseworker=CASEWORKER,
                         summary="霞林街道发现儿童独自在外，申请临时救助")
        run = create_pathway_run(session, case_id=case.id, pathway="temporary_assistance", actor=CASEWORKER,
                                 parameters=PARAMETERS)
    say_opened(migrant, case.reference, "temporary_assistance")
    flow_run_id = asyncio.run(start_pathway_flow(run.id))
    say_flow_run(flow_run_id)
    for step, unit, officer, acknowledge_first, outcome in ASSISTANCE_ANSWERS:
        answer_as_agency(run.id, step, None, unit, officer, acknowledge_first, outcome)
    wait_for_end(run.id)
    linked = linked_run(case.reference)
    if linked is None:
        raise RuntimeError(tr("cli.demo.out.no_linked", pathway=pathway_title(LINKED_PATHWAY)))
    typer.echo(tr("cli.demo.out.linked", pathway=pathway_title(LINKED_PATHWAY)))
    step, unit, officer, acknowledge_first, outcome = LINKED_ANSWER
    answer_as_agency(linked.id, step, None, unit, officer, acknowledge_first, outcome)
    wait_for_end(linked.id)
    close_as_caseworker(case.reference, CASEWORKER, "临时救助已发放并补齐手续，监护干预已核实办结")
    return case.reference


def check(reference: str) -> list[str]:
    """What is wrong with the finished demo case, as the policy says it should have gone (empty: nothing)."""
    problems = []
    with session_scope() as session:
        timeline = case_timeline(session, reference, actor=CASEWORKER)
        case = session.exec(select(Case).where(Case.reference == reference)).one()
        links = session.exec(select(AuditEvent).where(AuditEvent.case_id == case.id,
                                                      AuditEvent.action == "pathway.linked")).all()
    assistance = [(r.step_key, r.unit_code) for r in timeline.rows if r.pathway == "temporary_assistance"]
    expected = [(step, unit) for step, unit, *_ in ASSISTANCE_ANSWERS]
    if assistance != expected:
        problems.append(problem("assistance_tasks", tasks=assistance, expected=expected))
    linked = [(r.step_key, r.unit_code) for r in timeline.rows if r.pathway == LINKED_PATHWAY]
    if linked != [LINKED_ANSWER[:2]]:
        problems.append(problem("linked_tasks", pathway=pathway_title(LINKED_PATHWAY), tasks=linked,
                                expected=[LINKED_ANSWER[:2]]))
    for row in timeline.rows:
        if row.state != TaskState.completed:
            problems.append(problem("task_state", step=f"{row.pathway}/{row.step_key}", state=row.state))
        requested = [n for n in row.notifications if n[0] == "task_requested"]
        if len(requested) != 1:
            problems.append(problem("requested", step=row.step_key, n=len(requested)))
        if any(status != "sent" for _, _, status in row.notifications):
            problems.append(problem("undelivered", step=row.step_key, messages=row.notifications))
    pathways = {pathway: (status, outcome) for pathway, status, outcome in timeline.pathways}
    if sorted(pathways) != sorted(["temporary_assistance", LINKED_PATHWAY]) or len(timeline.pathways) != 2:
        problems.append(problem("pathways", pathways=timeline.pathways, pathway=pathway_title(LINKED_PATHWAY)))
    status, outcome = pathways.get("temporary_assistance", ("missing", ""))
    if status != PathwayStatus.completed:
        problems.append(problem("assistance", status=status))
    for words in ("急难型", "已先行救助", "小额快救已发放", "第16项监护支持干预服务：已启动监护干预路径", "已补齐审核审批手续"):
        if words not in outcome:
            problems.append(problem("outcome_words", outcome=outcome, words=words))
    if [e.detail.get("item") for e in links] != [16]:
        problems.append(problem("link_events", items=[e.detail.get("item") for e in links]))
    if pathways.get(LINKED_PATHWAY, ("missing",))[0] != PathwayStatus.completed:
        problems.append(problem("linked_status", pathway=pathway_title(LINKED_PATHWAY),
                                status=pathways.get(LINKED_PATHWAY, ("missing",))[0]))
    if timeline.status != CaseStatus.closed:
        problems.append(problem("case", case=timeline.status))
    return problems
