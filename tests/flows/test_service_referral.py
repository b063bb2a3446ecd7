"""Service-list referral (清单, DOMAIN.md §4D): one task per responsible department, requested together.

End to end on a real Prefect server with the served deployment, on each database backend (item 16: six
departments, one resume for all six answers; item 5: a department rejects and is re-issued; item 18, a programme:
the child is invited and no department gets a task), plus the referral's deadlines and messages on the database alone.
"""
import asyncio
from datetime import datetime, timezone

import pytest
from sqlmodel import select

from careflow.answers import answer_task
from careflow.cases import create_pathway_run, open_case
from core.db import session_scope
from entry.demos import service_referral as demo
from careflow.step_tasks import open_step_task
from careflow.tasks import transition_task
from flows.service_referral import referral_requests, summarise
from flows.steps import TaskAnswer
from models.agency import AgencyUnit
from models.case import Case, PathwayRun, PathwayStatus
from models.policy import load_policy
from models.task import TaskState
from notifications.messages import enqueue_task_message
from tests.flows.support import (
    final_flow_run, new_case, notifications_of, read_states, tasks_of, wait_for_end,
)

# Monday 2 March 2026, 10:00 in Shanghai.
REFERRED = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)


# ------------------------------------------------------------------------------------------ end to end


@pytest.mark.e2e
def test_item_16_is_referred_to_six_departments_and_closes_when_all_answered(served):
    reference = demo.drive()
    assert demo.check(reference) == []
    with session_scope() as session:
        case = session.exec(select(Case).where(Case.reference == reference)).one()
        run = session.exec(select(PathwayRun).where(PathwayRun.case_id == case.id)).one()
    assert run.status == PathwayStatus.completed and run.parameters == {"item": "16"}
    tasks = tasks_of(run.id)
    assert sorted(t.unit_code for t in tasks) == sorted(demo.EXPECTED_UNITS.values())
    assert {(t.step_key, t.deadline_text, t.attempt) for t in tasks} == {("service_referral", "10 working days", 1)}
    # requested together: the flow suspended once, and the sixth answer resumed it
    states = asyncio.run(read_states(run.flow_run_id))
    assert [s.name for s in states].count("Suspended") == 1
    assert final_flow_run(run.flow_run_id).state.is_completed()
    closed = [n for n in notifications_of(reference) if n.event == "pathway_closed"]
    assert [(n.unit_code, n.recipient_role) for n in closed] == [(f"caseworker.{demo.CASEWORKER}", "caseworker")]
    assert "妇联" in closed[0].body


@pytest.mark.e2e
@pytest.mark.only_backend("postgresql", why="the flow's branching reads the same rows on both databases; its writes are tested on both")
def test_a_referral_for_item_18_invites_the_child_to_a_programme_and_opens_no_department_task(served):
    from careflow.programmes import ProgrammeInput, record_programme
    from models.programmes import InvitationStatus, Programme, ProgrammeInvitation

    with session_scope() as session:
        unit = session.get(AgencyUnit, "youth_league-350302")
        programme = record_programme(session, unit, ProgrammeInput(
            item=18, title="童心港湾周末读书会", starts_at=datetime(2099, 1, 1, 1, 30, tzinfo=timezone.utc),
            place="凤山社区儿童之家", county_code="350302", capacity=10000), actor="e2e.youth")
        programme_id = programme.id
    reference, run_id, _flow_run_id = new_case("service_referral", {"item": 18})
    run = wait_for_end(run_id)
    assert run.status == PathwayStatus.completed
    assert tasks_of(run_id) == []  # no department is given a task for one child
    with session_scope() as session:
        invitation = session.exec(select(ProgrammeInvitation).where(ProgrammeInvitation.pathway_run_id == run_id)).one()
        programme = session.get(Programme, invitation.programme_id)
        if programme.id == programme_id:  # the earliest of the county's programmes: this test's, unless another's came first
            assert run.outcome.startswith("清单第18项：已邀请参加「童心港湾周末读书会」")
    assert invitation.status == InvitationStatus.invited and programme.item == 18 and programme.county_code == "350302"
    invited = [n for n in notifications_of(reference) if n.event == "programme_invited"]
    assert [n.unit_code for n in invited] == ["caseworker.e2e.caseworker"]


@pytest.mark.e2e
def test_a_department_that_rejects_is_reissued_and_the_referral_still_needs_every_department(served):
    reference, run_id, flow_run_id = new_case("service_referral", {"item": 5},  # 省教育厅、省人社厅
                                               facts={"school_enrolment": "secondary_vocational"})
    first = {t.agency_type: t for t in demo.wait_for_referral_tasks(run_id, flow_run_id, 2)}
    assert {a: t.unit_code for a, t in first.items()} == {
        "education": "education-350302", "human_resources": "human_resources-350302"}
    rejected = answer_task(first["human_resources"].short_ref, TaskState.rejected, actor="区人社局 苏文",
                           unit_code="human_resources-350302", reason="助学金由学校所在地教育部门受理，请核实")
    assert rejected.resume == "resumed"  # a rejection ends the wait at once
    second = [t for t in demo.wait_for_referral_tasks(run_id, flow_run_id, 1, attempt=2)]
    assert [(t.agency_type, t.unit_code) for t in second] == [("human_resources", "human_resources-350302")]
    done = {"service_provided": "yes"}
    education = answer_task(first["education"].short_ref, TaskState.completed, actor="区教育局 陈晓燕",
                            unit_code="education-350302", outcome=done)
    assert education.resume == "not_needed"  # human resources has not answered its re-issued task yet
    last = answer_task(second[0].short_ref, TaskState.completed, actor="区人社局 苏文",
                       unit_code="human_resources-350302", outcome={**done, "measures": "已落实中职学费减免"})
    assert last.resume == "resumed"
    run = wait_for_end(run_id)
    assert run.status == PathwayStatus.completed
    assert run.outcome.startswith("清单第5项中等职业教育助学服务：2个责任部门均已答复")
    assert sorted((t.agency_type, t.attempt, t.state) for t in tasks_of(run_id)) == [
        ("education", 1, TaskState.completed), ("human_resources", 1, TaskState.rejected),
        ("human_resources", 2, TaskState.completed)]
    returned = {(n.unit_code, n.recipient_role) for n in notifications_of(reference) if n.event == "task_rejected"}
    assert returned == {("caseworker.e2e.caseworker", "caseworker"), ("civil_affairs-350302.manager", "manager")}


@pytest.mark.e2e
def test_an_item_outside_the_provincial_list_is_refused_before_anything_is_stored(session, register):
    case = open_case(session, child_id=register().child.id, caseworker="test.caseworker")
    with pytest.raises(ValueError, match="字段 item：请从关爱服务清单中选择服务项目"):  # models.field_values
        create_pathway_run(session, case_id=case.id, pathway="service_referral", actor="test.caseworker",
                           parameters={"item": 21})
    session.flush()
    assert session.exec(select(PathwayRun).where(PathwayRun.case_id == case.id)).all() == []


# ------------------------------------------------------------------------------------------ data and messages


@pytest.fixture
def referral(session, register):
    """Start a service referral of ``item`` on a new case (no flow run) for a child whose household is registered in
    ``hukou`` (四川省南部县 unless given): returns the pathway run."""
    def _start(item: int, hukou: str = "511321") -> PathwayRun:
        case = open_case(session, child_id=register(hukou_county=hukou).child.id, caseworker="test.caseworker")
        run = create_pathway_run(session, case_id=case.id, pathway="service_referral", actor="test.caseworker",
                                 parameters={"item": item, "eligibility_override": "服务对象条件待核实"})
        session.flush()
        return run

    return _start


def test_every_department_of_every_item_has_a_unit_in_chengxiang(session, referral):
    run = referral(18)
    for number, item in load_policy().service_items.items():
        step, requests = referral_requests(item)
        assert [agency for _, agency in requests] == item.departments
        for step_key, agency in requests:
            if step.jurisdiction_basis == "registration_place":  # registered in 四川省南部县: forwarded (跨省通办)
                step_key = step.cross_province_steps[0]
            task = open_step_task(session, pathway_run_id=run.id, step_key=step_key, agency_type=agency,
                                  attempt=number, now=REFERRED)
            assert task.unit_code == f"{agency}-350302", (number, agency)


def test_minimum_living_allowance_takes_its_legal_time_limits(session, referral):
    run = referral(13, "350823")  # registered in 上杭县 (省内通办); the other cases: tests/careflow/test_registration_place.py
    step, requests = referral_requests(load_policy().service_item(13))
    assert requests == [("minimum_living_referral", "civil_affairs")]
    task = open_step_task(session, pathway_run_id=run.id, step_key=step.key, agency_type="civil_affairs", now=REFERRED)
    assert task.unit_code == "civil_affairs-350823" and task.deadline_text == "30 working days"
    # 30 working days in all: Tuesday 14 April (the Qingming holiday, 4-6 April 2026, does not count)
    assert task.due_at.astimezone(timezone.utc) == datetime(2026, 4, 14, 15, 59, 59, tzinfo=timezone.utc)


def test_the_message_carries_the_items_service_and_content(session, referral):
    run = referral(13, "350823")
    task = open_step_task(session, pathway_run_id=run.id, step_key="minimum_living_referral",
                          agency_type="civil_affairs", now=REFERRED)
    session.flush()
    message = enqueue_task_message(session, task=task, event="task_requested")
    assert "最低生活保障审核确认（户籍地办理）：清单第13项 最低生活保障服务" in message.subject
    assert "服务对象：符合最低生活保障条件的流动儿童" in message.body
    assert "服务内容：协助符合条件的流动儿童家庭向户籍地办理最低生活保障" in message.body
    assert "责任部门：民政（各部门均须答复）" in message.body
    assert session.get(Case, run.case_id).reference in message.subject
    # a unit with a web account is sent to its task page, never told to type commands (issue 12)
    assert "careflow task" not in message.body and "（decision）" not in message.body
    assert f"/tasks/{task.id}" in message.body and "审核确认结果" in message.body


def test_a_unit_that_answers_on_the_command_line_is_told_the_commands(session, referral):
    run = referral(13, "350823")
    task = open_step_task(session, pathway_run_id=run.id, step_key="minimum_living_referral",
                          agency_type="civil_affairs", now=REFERRED)
    unit = session.get(AgencyUnit, task.unit_code)
    unit.answers_by_command = True
    session.flush()
    try:
        message = enqueue_task_message(session, task=task, event="task_requested")
        assert "--outcome decision=<审核确认结果>" in message.body
        assert f"careflow task ack {task.short_ref} --unit {task.unit_code}" in message.body
    finally:  # the session commits: a shared unit left answering by command changes later tests' messages
        unit.answers_by_command = False


def test_the_summary_names_each_department_and_fits_the_outcome_column():
    item = load_policy().service_item(18)
    step, requests = referral_requests(item)
    answers = [TaskAnswer(task_id=str(n), step_key=s, agency_type=a, attempt=1, state=TaskState.completed,
                          outcome={"service_provided": True, "measures": "开展活动" * 30}) for n, (s, a) in enumerate(requests)]
    text = summarise(item, step, answers)
    assert text.startswith("清单第18项精神文化生活服务：7个责任部门均已答复。网信办（已提供服务：是，服务措施：开展活动")
    assert len(text) == 500 and text.endswith("…")


def test_an_any_item_cancels_the_other_departments_tasks(session, referral):
    """No provincial item is ``any`` (each department answers for its own part); the rule is checked on
    the flow's cancellation task directly."""
    from flows.service_referral import cancel_unanswered

    run = referral(17)
    tasks = [open_step_task(session, pathway_run_id=run.id, step_key="service_referral", agency_type=agency,
                            now=REFERRED) for agency in ("civil_affairs", "education", "health")]
    session.commit()
    transition_task(session, tasks[1], TaskState.completed, actor="区教育局", outcome={"service_provided": "yes"})
    session.commit()
    assert cancel_unanswered.fn(str(run.id), "service_referral", "已由教育办结（任一部门办结即可）") == 2
    session.expire_all()
    assert [session.get(type(t), t.id).state for t in tasks] == [
        TaskState.cancelled, TaskState.completed, TaskState.cancelled]
    assert cancel_unanswered.fn(str(run.id), "service_referral", "again") == 0


def test_the_summary_words_a_choice_by_its_label():
    """A department's choice reads as the form shows it (审核确认结果：审核通过), never as its code (approved): the
    case page, the timeline and the caseworker's message quoted 「民政（审核确认结果：approved）」."""
    item = load_policy().service_item(13)
    step, requests = referral_requests(item)
    answers = [TaskAnswer(task_id="1", step_key=s, agency_type=a, attempt=1, state=TaskState.completed,
                          outcome={"decision": "approved"}) for s, a in requests]
    text = summarise(item, step, answers)
    assert "approved" not in text and "：审核通过" in text, text
