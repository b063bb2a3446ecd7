"""The guardianship pathway on a real Prefect server with a served deployment, on each database backend.

Each test suspends the flow run at every step, answers as the agency, and checks what the caseworker
and the agencies would see: tasks, their units and order, messages delivered, the case left open for the
caseworker's closing decision (issue 12).
"""
import asyncio
from collections import Counter

import pytest
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Scheduled
from sqlmodel import select

from careflow.answers import answer_task
from core.db import session_scope
from entry.demos import guardianship as demo
from careflow.reconcile import reconcile
from core.settings import get_settings
from models.case import Case, CaseStatus, PathwayRun, PathwayStatus
from models.task import TaskState
from notifications.sink import read_mailbox
from tests.flows.support import (
    complete, final_flow_run, new_case, notifications_of, read_flow_run, read_states, tasks_of, wait_for_end,
    wait_for_sends, wait_for_task,
)

pytestmark = pytest.mark.e2e

NOT_SERIOUS = {"serious": "no", "child_in_danger": "no"}


async def read_task_runs(flow_run_id):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async with get_client() as client:
        return await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))


def test_serious_case_with_child_in_danger_runs_every_step_and_closes(served):
    reference = demo.drive()
    assert demo.check(reference) == []
    with session_scope() as session:
        case = session.exec(select(Case).where(Case.reference == reference)).one()
        run = session.exec(select(PathwayRun).where(PathwayRun.case_id == case.id)).one()
    assert run.status == PathwayStatus.completed

    tasks = tasks_of(run.id)
    assert [t.step_key for t in tasks][:2] == ["committee_admonition", "police_reprimand"]
    assert {t.step_key: t.unit_code for t in tasks} == {
        "committee_admonition": "village_committee-350302001001",
        "police_reprimand": "police-350302",
        "temporary_guardianship": "rescue_centre-350300",
        "family_education_guidance": "womens_federation-350302",
        "guardianship_assessment": "civil_affairs-350302",
    }
    flow_run = final_flow_run(run.flow_run_id)
    assert flow_run.state.is_completed()
    assert {"pathway:guardianship", "county:350302", f"case:{reference}"} <= set(flow_run.tags)
    states = asyncio.run(read_states(run.flow_run_id))
    # one suspend per wait: committee; police and rescue centre together; guidance; assessment
    assert [s.name for s in states].count("Suspended") == 4

    # Each resume re-runs the flow from the top, yet a past step costs no task run (the run's ledger, read once from
    # the database): one task run per task opened, one per caseworker message, one for the close, over five passes.
    names = [t.name for t in asyncio.run(read_task_runs(run.flow_run_id))]
    assert sorted(n for n in names if n.startswith("request-")) == sorted(
        f"request-{t.step_key}-{t.agency_type}-{t.attempt}" for t in tasks)
    told = [n for n in notifications_of(reference) if n.recipient_role == "caseworker"]
    assert len(names) == len(tasks) + len(told) + 1, Counter(n.rsplit("-", 1)[0] for n in names)

    # The police received exactly one message for their task, carrying the case reference, never the name or ID.
    wait_for_sends(reference)
    police_mail = [m for m in read_mailbox(get_settings().mailbox_dir)
                   if m.to.startswith("police-350302@") and reference in m.subject]
    assert len(police_mail) == 1
    assert "训诫" in police_mail[0].subject and reference in police_mail[0].body


def test_not_serious_closes_after_the_committee_admonishes(served):
    reference, run_id, flow_run_id = new_case()
    complete(run_id, flow_run_id, "committee_admonition", NOT_SERIOUS)
    run = wait_for_end(run_id)
    assert run.status == PathwayStatus.completed
    assert "未报告公安机关" in run.outcome
    assert [t.step_key for t in tasks_of(run_id)] == ["committee_admonition"]
    with session_scope() as session:
        assert session.get(Case, run.case_id).status == CaseStatus.open  # closing is the caseworker's decision


def test_rejected_step_goes_back_to_the_caseworker_and_the_county_and_is_reissued(served):
    reference, run_id, flow_run_id = new_case()
    first = wait_for_task(run_id, flow_run_id, "committee_admonition")
    result = answer_task(first.short_ref, TaskState.rejected, actor="社区 王丽", unit_code=first.unit_code,
                         reason="该户已搬离本社区")
    assert result.resume == "resumed"
    complete(run_id, flow_run_id, "committee_admonition", NOT_SERIOUS, attempt=2)
    assert wait_for_end(run_id).status == PathwayStatus.completed

    tasks = tasks_of(run_id)
    assert [(t.step_key, t.attempt, t.state) for t in tasks] == [
        ("committee_admonition", 1, TaskState.rejected), ("committee_admonition", 2, TaskState.completed)]
    returned = {(n.unit_code, n.recipient_role) for n in notifications_of(reference) if n.event == "task_rejected"}
    assert returned == {("caseworker.e2e.caseworker", "caseworker"), ("civil_affairs-350302.manager", "manager")}
    assert all("退回说明：该户已搬离本社区" in n.body and n.subject.startswith("【退回】")
               for n in notifications_of(reference) if n.event == "task_rejected")
    assert not [n for n in notifications_of(reference) if n.event == "task_escalated"]  # a rejection is no 督办


def test_answer_stored_while_prefect_is_unreachable_is_resumed_by_the_sweeper(served):
    reference, run_id, flow_run_id = new_case()
    task = wait_for_task(run_id, flow_run_id, "committee_admonition")
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        result = answer_task(task.short_ref, TaskState.completed, actor="社区 王丽", unit_code=task.unit_code,
                             outcome=NOT_SERIOUS)
    assert result.resume == "pending"
    with session_scope() as session:
        run = session.get(PathwayRun, run_id)
        assert run.resume_pending and run.last_resume_error  # stored, visible, not lost
        assert session.get(type(task), task.id).state == TaskState.completed
    assert asyncio.run(read_flow_run(flow_run_id)).state.is_paused()

    # The sweeper resumes this test's own run: earlier tests' open runs were cancelled (the autouse fixture
    # no_leftover_pathways), so the sweep starts and resumes nothing else that would crowd the runner.
    counts = asyncio.run(reconcile())
    assert (counts["resumed"], counts["started"], counts["restarted"]) == (1, 0, 0), counts
    with session_scope() as session:
        run = session.get(PathwayRun, run_id)
        assert run.resume_pending is False and run.last_resume_error == ""  # ours was the one resumed
    assert not asyncio.run(read_flow_run(flow_run_id)).state.is_paused()
    assert wait_for_end(run_id).status == PathwayStatus.completed


@pytest.mark.only_backend("sqlite", why="the flow's branching reads the same rows on both databases; its writes are tested on both")
def test_replaying_a_finished_flow_run_creates_no_task_or_message_twice(served):
    reference, run_id, flow_run_id = new_case()
    complete(run_id, flow_run_id, "committee_admonition", {"serious": "yes", "child_in_danger": "no"})
    complete(run_id, flow_run_id, "police_reprimand", {"reprimanded": "yes", "family_education_ordered": "no",
                                                       "child_unsafe": "no"}, acknowledge=True)
    complete(run_id, flow_run_id, "guardianship_assessment",
             {"guardianship_missing_or_unsafe": "no", "long_term_guardianship_needed": "no"})
    assert wait_for_end(run_id).status == PathwayStatus.completed
    before_tasks = [(t.id, t.state) for t in tasks_of(run_id)]
    before_messages = sorted(n.idempotency_key for n in wait_for_sends(reference))
    mailbox_before = len(read_mailbox(get_settings().mailbox_dir))

    async def replay():
        async with get_client() as client:
            runs_before = [s.name for s in await client.read_flow_run_states(flow_run_id)].count("Running")
            await client.set_flow_run_state(flow_run_id, Scheduled(), force=True)
            for _ in range(300):
                flow_run = await client.read_flow_run(flow_run_id)
                runs = [s.name for s in await client.read_flow_run_states(flow_run_id)].count("Running")
                if flow_run.state.is_final() and runs > runs_before:
                    return flow_run
                await asyncio.sleep(0.3)
        raise TimeoutError("replayed flow run did not finish")

    replayed = asyncio.run(replay())
    assert replayed.state.is_completed()
    assert [(t.id, t.state) for t in tasks_of(run_id)] == before_tasks
    after_messages = sorted(n.idempotency_key for n in wait_for_sends(reference))
    assert after_messages == before_messages
    assert Counter(after_messages).most_common(1)[0][1] == 1
    assert len(read_mailbox(get_settings().mailbox_dir)) == mailbox_before
