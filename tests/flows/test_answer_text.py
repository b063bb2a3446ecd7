"""A note holding the child's name, on a real Prefect server (issue #16): it used to be stored, and the next
message's privacy check then raised inside the flow and froze the pathway. Now it is refused when submitted,
naming the field; the officer's corrected note goes through, is quoted to the caseworker, and the pathway ends.
One step of the guardianship pathway (about 5-10 s on the served runner)."""
import pytest
from sqlmodel import select

from careflow.answers import answer_task
from core.db import session_scope
from models.case import Case, PathwayRun, PathwayStatus
from models.child import Child
from models.task import AgencyTask, TaskState
from tests.flows.support import new_case, notifications_of, wait_for_end, wait_for_task

pytestmark = pytest.mark.e2e


def test_a_note_with_the_childs_name_is_refused_and_the_pathway_moves_on(served):
    reference, run_id, flow_run_id = new_case()
    task = wait_for_task(run_id, flow_run_id, "committee_admonition")
    with session_scope() as session:
        case = session.exec(select(Case).where(Case.reference == reference)).one()
        child = session.get(Child, case.child_id)
    answer = {"serious": "no", "child_in_danger": "no"}
    with pytest.raises(ValueError) as refused:
        answer_task(task.short_ref, TaskState.completed, actor="社区 王丽", unit_code=task.unit_code,
                    outcome={**answer, "note": f"已上门劝诫{child.full_name}的父亲"})
    assert refused.value.text("zh").startswith("情况说明：不能出现儿童姓名或身份证号")
    with session_scope() as session:
        assert session.get(AgencyTask, task.id).state == TaskState.requested  # nothing stored
        assert session.get(PathwayRun, run_id).resume_pending is False

    result = answer_task(task.short_ref, TaskState.completed, actor="社区 王丽", unit_code=task.unit_code,
                         outcome={**answer, "note": "已上门劝诫该儿童的父亲，父亲表示改正"})
    assert result.resume == "resumed", result.resume
    run = wait_for_end(run_id)
    assert run.status == PathwayStatus.completed, run.outcome
    told = [n for n in notifications_of(reference) if n.event == "task_answered" and n.recipient_role == "caseworker"]
    assert len(told) == 1 and "已上门劝诫该儿童的父亲" in told[0].body
    assert all(child.full_name not in n.body for n in notifications_of(reference))
