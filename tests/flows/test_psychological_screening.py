"""The psychological-screening pathway (§4B) on a real Prefect server with a served deployment, on each backend.

One test per branch of the screening result, each with the fewest answers that prove it: normal closes at
once; at risk resolved by counselling closes without a referral; at risk still high after counselling is
referred within 24 h; high risk with a severe disorder (the demo) refers at once and enrols the child with
both health and civil affairs.
"""
from datetime import timedelta

import pytest
from sqlmodel import select

from careflow.cases import create_pathway_run, open_case
from core.db import session_scope
from entry.demos import psychological_screening as demo
from models.case import Case, CaseStatus, PathwayRun, PathwayStatus
from models.task import TaskState
from tests.flows.support import (
    complete, complete_together, new_case, notifications_of, tasks_of, wait_for_agency_task, wait_for_end,
)

PATHWAY = "psychological_screening"
GUARDIANS_INFORMED = {"guardians_informed": "yes"}


def _case_left_open(run: PathwayRun) -> bool:
    """The pathway's end leaves the case open: closing it is the caseworker's decision (issue 12)."""
    with session_scope() as session:
        return session.get(Case, run.case_id).status == CaseStatus.open


def test_a_pathway_run_needs_a_valid_screening_result(session, register):
    case = open_case(session, child_id=register().child.id, caseworker="test.caseworker")
    with pytest.raises(ValueError, match=r"field 'screening_result': required"):
        create_pathway_run(session, case_id=case.id, pathway=PATHWAY, actor="test.caseworker", parameters={})
    with pytest.raises(ValueError, match=r"'screening_result': 'severe' is not one of normal"):
        create_pathway_run(session, case_id=case.id, pathway=PATHWAY, actor="test.caseworker",
                           parameters={"screening_result": "severe"})
    run = create_pathway_run(session, case_id=case.id, pathway=PATHWAY, actor="test.caseworker",
                             parameters={"screening_result": "at_risk", "screened_by": "school"})
    assert run.parameters == {"screening_result": "at_risk", "screened_by": "school"}
    run.status = PathwayStatus.cancelled  # no flow run: keep the sweeper of a served stack from starting it


@pytest.mark.e2e
@pytest.mark.only_backend("postgresql", why="the flow's branching reads the same rows on both databases; its writes are tested on both")
def test_normal_screening_closes_without_any_task(served):
    reference, run_id, _ = new_case(PATHWAY, {"screening_result": "normal", "screened_by": "school"})
    run = wait_for_end(run_id)
    assert (run.status, run.outcome) == (PathwayStatus.completed, "心理健康筛查结果正常，无需干预")
    assert tasks_of(run_id) == []
    assert _case_left_open(run)


@pytest.mark.e2e
@pytest.mark.only_backend("postgresql", why="the flow's branching reads the same rows on both databases; its writes are tested on both")
def test_at_risk_resolved_by_counselling_closes_without_a_referral(served):
    reference, run_id, flow_run_id = new_case(PATHWAY, {"screening_result": "at_risk"})
    complete_together(run_id, flow_run_id, [
        ("counselling", "social_work", {"started": "yes", "risk_after": "resolved"}),
        ("guardian_involvement", "township_station", GUARDIANS_INFORMED),
    ])
    run = wait_for_end(run_id)
    assert run.status == PathwayStatus.completed
    assert run.outcome == ("心理健康筛查结果有风险；已开始心理辅导、情绪疏导；已告知并配合监护人采取干预措施；"
                           "辅导后风险已解除，未转介就医")
    assert {(t.step_key, t.unit_code) for t in tasks_of(run_id)} == {
        ("counselling", "social_work-350302"), ("guardian_involvement", "township_station-350302001")}
    assert _case_left_open(run)
    to_caseworker = {n.event for n in notifications_of(reference) if n.recipient_role == "caseworker"}
    assert to_caseworker == {"task_answered", "pathway_closed"}


@pytest.mark.e2e
@pytest.mark.only_backend("postgresql", why="the flow's branching reads the same rows on both databases; its writes are tested on both")
def test_at_risk_still_high_after_counselling_is_referred_to_hospital_within_24_hours(served):
    reference, run_id, flow_run_id = new_case(PATHWAY, {"screening_result": "at_risk"})
    complete_together(run_id, flow_run_id, [
        ("guardian_involvement", "township_station", GUARDIANS_INFORMED),
        ("counselling", "social_work", {"started": "yes", "risk_after": "high_risk"}),
    ])
    referral = wait_for_agency_task(run_id, flow_run_id, "medical_referral", "medical_institution")
    assert referral.unit_code == "medical_institution-350300"
    assert referral.due_at - referral.requested_at == timedelta(hours=24)  # urgent_deadline, not 3 working days
    complete(run_id, flow_run_id, "medical_referral", {"seen": "yes", "severe_mental_disorder": "no"})
    run = wait_for_end(run_id)
    assert run.status == PathwayStatus.completed
    assert "辅导后仍高风险，已转介就医（加急，24小时）；医疗机构已接诊；未诊断为严重精神障碍" in run.outcome
    assert [t.step_key for t in tasks_of(run_id)][-1] == "medical_referral"
    assert all(t.state == TaskState.completed for t in tasks_of(run_id))


@pytest.mark.e2e
@pytest.mark.only_backend("postgresql", why="the flow's branching reads the same rows on both databases; its writes are tested on both")
def test_high_risk_with_severe_disorder_refers_at_once_and_enrols_with_health_and_civil_affairs(served):
    reference = demo.drive()
    assert demo.check(reference) == []
    with session_scope() as session:
        case = session.exec(select(Case).where(Case.reference == reference)).one()
        run = session.exec(select(PathwayRun).where(PathwayRun.case_id == case.id)).one()
    tasks = tasks_of(run.id)
    assert {t.step_key for t in tasks[:3]} == {"medical_referral", "counselling", "guardian_involvement"}
    assert [(t.step_key, t.agency_type) for t in tasks[3:]] in (
        [("community_rehabilitation", "health"), ("community_rehabilitation", "civil_affairs")],
        [("community_rehabilitation", "civil_affairs"), ("community_rehabilitation", "health")])
    closed = [n for n in notifications_of(reference) if n.event == "pathway_closed"]
    assert len(closed) == 1 and closed[0].unit_code == f"caseworker.{demo.CASEWORKER}"
