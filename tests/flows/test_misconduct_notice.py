"""The misconduct notice (方案 十一) on a real Prefect server with a served deployment: a police notice reaches civil
affairs and education, escalates when unanswered, and a follow-up that screened the child at risk starts the
psychological-screening pathway on the same case. No message says the conduct."""
from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

import pytest
from sqlmodel import select

from careflow.escalation import escalate_overdue_tasks
from careflow.misconduct import start_notice
from careflow.registration import register_child
from careflow.resume import start_pathway_flow
from core.db import session_scope
from models.case import PathwayRun, PathwayStatus
from models.notification import Notification
from tests.factories import make_resident_id
from tests.flows.support import complete_together, notifications_of, tasks_of, wait_for_agency_task, wait_for_end

CONDUCT = "深夜在网吧与成年人聚集并参与盗窃电动车"


def police_notice(school: str = "") -> tuple[str, uuid.UUID, uuid.UUID]:
    """A child of 城厢区 notified by the 城厢 police; returns (case reference, run id, flow run id)."""
    with session_scope() as session:
        child = register_child(session, resident_id=make_resident_id(), full_name="通报" + uuid.uuid4().hex[:4],
                               hukou_county="511321", residence_county="350302", residence_area_code="350302001001",
                               arrival_date=date(2023, 8, 20), actor="e2e.caseworker").child
        started = start_notice(session, actor="民警陈强", unit_code="police-350302", resident_id=child.resident_id,
                               conduct_kind="offence", conduct=CONDUCT, conduct_on="2026-11-20",
                               school_area_code=school)
        reference, run_id = started.case.reference, started.run.id
    return reference, run_id, asyncio.run(start_pathway_flow(run_id))


@pytest.mark.e2e
@pytest.mark.only_backend("sqlite", why="the flow's branching reads the same rows on both databases; its writes are tested on both")
def test_the_police_notice_reaches_civil_affairs_and_education_and_escalates_unanswered(served):
    reference, run_id, flow_run_id = police_notice(school="上杭县")
    civil = wait_for_agency_task(run_id, flow_run_id, "civil_affairs_followup", "civil_affairs")
    school = wait_for_agency_task(run_id, flow_run_id, "education_followup", "education")
    assert (civil.unit_code, school.unit_code) == ("civil_affairs-350302", "education-350823")
    assert civil.ack_due_at - civil.requested_at == timedelta(hours=24)

    fired = {(tid, rung) for tid, rung in escalate_overdue_tasks(civil.due_at + timedelta(hours=25))}
    assert {(civil.id, "overdue"), (school.id, "overdue")} <= fired
    messages = notifications_of(reference)
    assert {(n.event, n.unit_code) for n in messages} >= {
        ("task_requested", "civil_affairs-350302"), ("task_requested", "education-350823"),
        ("task_escalated", "civil_affairs-350302.manager"), ("task_escalated", "caseworker.民警陈强")}
    assert all(CONDUCT not in n.subject + n.body and "2026-11-20" not in n.body for n in messages)


@pytest.mark.e2e
@pytest.mark.only_backend("postgresql", why="the flow's branching reads the same rows on both databases; its writes are tested on both")
def test_a_follow_up_that_screened_the_child_at_risk_starts_the_screening_pathway(served):
    reference, run_id, flow_run_id = police_notice()
    complete_together(run_id, flow_run_id, [
        ("civil_affairs_followup", "civil_affairs",
         {"guardianship_support": "yes", "screening_result": "at_risk", "note": "已约谈监护人"}),
        ("education_followup", "education", {"school_measures": "yes", "screening_result": "not_screened"}),
    ])
    run = wait_for_end(run_id)
    assert run.status == PathwayStatus.completed
    assert run.outcome == "民政部门已跟进，已提供监护支持；教育部门已跟进，学校已采取教育帮扶措施；已启动心理健康筛查路径"
    assert {t.unit_code for t in tasks_of(run_id)} == {"civil_affairs-350302", "education-350302"}
    with session_scope() as session:
        screening = session.exec(select(PathwayRun).where(PathwayRun.case_id == run.case_id,
                                                          PathwayRun.pathway == "psychological_screening")).one()
        assert screening.parameters["screening_result"] == "at_risk"
        to_police = session.exec(select(Notification).where(Notification.unit_code == "caseworker.民警陈强",
                                                            Notification.case_id == run.case_id)).all()
    assert {n.event for n in to_police} >= {"task_answered", "pathway_closed"}
    assert all("约谈监护人" not in n.body and CONDUCT not in n.body for n in notifications_of(reference))
