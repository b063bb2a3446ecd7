"""Claims handled at the registration place (户籍地; 清单 item 13, 最低生活保障; issue 13 item 5), end to end on a real
Prefect server with the served deployment, on each database backend.

* A child living in 城厢区 whose household is registered in 上杭县 (another Fujian county, in the directory:
  省内通办): 上杭县民政局 receives the task, 城厢区民政局 follows it (told when it is opened, at its deadline and when
  it is answered; the task is on its 跟进 list), the 30-working-day limit escalates, and the answer ends the referral.
* A child registered in 四川省南部县 (outside the directory: 跨省通办): 城厢区民政局 forwards the application
  (3 working days), then records the registration place's reply and its date.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from careflow.answers import answer_task
from careflow.escalation import sweep_deadlines
from core.db import session_scope
from models.task import AgencyTask, Escalation, TaskState
from tests.flows.support import new_case, notifications_of, tasks_of, wait_for_end, wait_for_task

LOW_INCOME = {"minimum_living_allowance": "yes"}


def _messages(reference: str) -> set[tuple[str, str, str]]:
    return {(n.event, n.unit_code, n.recipient_role) for n in notifications_of(reference)}


@pytest.mark.e2e
@pytest.mark.only_backend("postgresql", why="the flow's branching reads the same rows on both databases; its writes are tested on both")
def test_item_13_registered_in_another_fujian_county_goes_there_and_the_residence_county_follows(served):
    reference, run_id, flow_run_id = new_case("service_referral", {"item": 13}, facts=LOW_INCOME,
                                              hukou_county="350823")
    task = wait_for_task(run_id, flow_run_id, "minimum_living_referral")
    assert (task.unit_code, task.follower_unit_code) == ("civil_affairs-350823", "civil_affairs-350302")
    assert task.deadline_text == "30 working days"
    messages = _messages(reference)
    assert ("task_requested", "civil_affairs-350823", "officer") in messages
    assert ("task_followed", "civil_affairs-350302", "follower") in messages

    # the 30-working-day limit passes: the registration county's supervisor and the caseworker at the deadline,
    # the residence unit following it too; a working day later the residence county's manager
    sweep_deadlines(now=task.due_at + timedelta(days=3))
    with session_scope() as session:
        fired = {e.rung: e.recipients for e in session.exec(select(Escalation).where(Escalation.task_id == task.id))}
        assert session.get(AgencyTask, task.id).escalation_level == 3
    assert ["civil_affairs-350302", "follower"] in fired["deadline"]
    assert ["civil_affairs-350823.supervisor", "supervisor"] in fired["deadline"]
    assert fired["overdue"] == [["civil_affairs-350302.manager", "manager"]]
    assert ("task_escalated", "civil_affairs-350302", "follower") in _messages(reference)

    answered = answer_task(task.short_ref, TaskState.completed, actor="上杭县民政局 钟丽", unit_code="civil_affairs-350823",
                           outcome={"decision": "approved", "note": "已纳入户籍地低保"})
    assert answered.resume == "resumed"
    run = wait_for_end(run_id)
    assert run.outcome.startswith("清单第13项最低生活保障服务：1个责任部门均已答复")
    followed = [n for n in notifications_of(reference)
                if (n.event, n.unit_code) == ("task_answered", "civil_affairs-350302")]
    assert len(followed) == 1 and "审核通过" in followed[0].body  # told of the answer, in words


@pytest.mark.e2e
@pytest.mark.only_backend("sqlite", why="the flow's branching reads the same rows on both databases; its writes are tested on both")
def test_item_13_registered_outside_fujian_is_forwarded_and_the_reply_recorded_with_its_date(served):
    reference, run_id, flow_run_id = new_case("service_referral", {"item": 13}, facts=LOW_INCOME)  # 四川省南部县
    forward = wait_for_task(run_id, flow_run_id, "registration_forwarding")
    assert (forward.unit_code, forward.follower_unit_code, forward.deadline_text) == (
        "civil_affairs-350302", None, "3 working days")
    answer_task(forward.short_ref, TaskState.completed, actor="城厢区民政局 林芳", unit_code="civil_affairs-350302",
                outcome={"forwarded_to": "南部县民政局", "forwarded_on": forward.requested_at.date().isoformat()})
    reply = wait_for_task(run_id, flow_run_id, "minimum_living_reply")
    assert reply.unit_code == "civil_affairs-350302" and reply.deadline_text == "30 working days"
    with pytest.raises(ValueError, match="replied_on"):
        answer_task(reply.short_ref, TaskState.completed, actor="城厢区民政局 林芳", unit_code="civil_affairs-350302",
                    outcome={"decision": "approved", "replied_on": "下月"})
    replied_on = reply.requested_at.date().isoformat()
    answer_task(reply.short_ref, TaskState.completed, actor="城厢区民政局 林芳", unit_code="civil_affairs-350302",
                outcome={"decision": "refused", "replied_on": replied_on})
    run = wait_for_end(run_id)
    assert run.outcome.startswith("清单第13项最低生活保障服务（跨省通办）")
    assert "转递的户籍地部门：南部县民政局" in run.outcome and f"户籍地答复日期：{replied_on}" in run.outcome
    assert "不予批准" in run.outcome
    assert [(t.step_key, t.state) for t in sorted(tasks_of(run_id), key=lambda t: t.requested_at)] == [
        ("registration_forwarding", TaskState.completed), ("minimum_living_reply", TaskState.completed)]
