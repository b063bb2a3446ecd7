"""A flow run suspended without its input schema can never be resumed; the sweeper restarts it instead (#16).

Prefect's ``suspend_flow_run(wait_for_input=…)`` sets the Suspended state first and saves the input's schema just
after. ``benchmarks.recovery`` found a guardianship pathway whose schema was never saved (the Prefect server on
SQLite was "database is locked"): every resume was refused with "Run input schema not found", the agency's answer
waited for ever and the pathway never moved. Here such a run is made by hand on a real Prefect server.
"""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.input.run_input import keyset_from_paused_state
from prefect.states import Suspended

from careflow import reconcile, resume
from careflow.tasks import transition_task
from careflow.waits import pause_key
from flows.waiting import AgencyAnswer
from core.db import session_scope
from models.base import utcnow
from models.case import PathwayRun
from models.task import AgencyTask, TaskState

pytestmark = pytest.mark.only_backend("sqlite", why="the rule is Prefect's; the database only stores the answer")


@flow(name="schema-lost-placeholder")
def placeholder() -> None:
    """Stands for a pathway flow: the test only needs a flow run to suspend."""


async def _suspend_without_schema(task_id: str):
    key = pause_key("all", [task_id], 0, 1)
    async with get_client() as client:
        # a deployment's run, as a pathway's: the server reschedules only those on resume
        deployment_id = await client.create_deployment(await client.create_flow(placeholder), "placeholder")
        flow_run = await client.create_flow_run_from_deployment(deployment_id)
        state = Suspended(pause_key=key)
        state.state_details.run_input_keyset = keyset_from_paused_state(state)
        await client.set_flow_run_state(flow_run.id, state, force=True)
        return flow_run.id


async def _state_of(flow_run_id):
    async with get_client() as client:
        return (await client.read_flow_run(flow_run_id)).state


def _answer(session, task_id) -> None:
    transition_task(session, session.get(AgencyTask, task_id), TaskState.completed, actor="村委会 办理人",
                    outcome={"serious": "no", "child_in_danger": "no"})
    session.commit()


@pytest.mark.parametrize("lost", [True, False], ids=["suspended-longer-than-the-grace", "just-suspended"])
def test_a_run_suspended_without_its_input_schema_is_crashed_and_then_restarted(
        prefect_server, session, committee_task, monkeypatch, lost):
    # the server stamps the state itself: the grace, not the state's age, is what the test moves
    monkeypatch.setattr(resume, "INPUT_SCHEMA_GRACE", timedelta(0) if lost else timedelta(hours=1))
    monkeypatch.setattr(resume, "SCHEMA_SAVE_WAIT", 0.5)  # the schema never comes: no need to wait for it long
    task_id, run_id, _child = committee_task
    _answer(session, task_id)
    flow_run_id = asyncio.run(_suspend_without_schema(str(task_id)))
    with session_scope() as s:
        run = s.get(PathwayRun, run_id)
        run.flow_run_id, run.resume_pending = flow_run_id, True
        s.add(run)

    assert asyncio.run(resume.resume_pathway(run_id)) == "pending"  # the answer stays pending: never lost
    state = asyncio.run(_state_of(flow_run_id))
    with session_scope() as s:
        error = s.get(PathwayRun, run_id).last_resume_error
    if lost:  # lost for longer than the grace: dead, and the next recovery pass restarts it
        assert state.is_crashed()
        assert "未保存答复输入的格式" in error
        verdict = reconcile.judge_flow_run(asyncio.run(_read(flow_run_id)), now=utcnow(),
                                        stall_after=timedelta(minutes=5))
        assert verdict.action == "restart"
    else:  # just suspended: its schema may be being saved now, so it is only retried
        assert state.is_paused()
        assert "Run input schema not found" in error


async def _suspend_and_save_the_schema_a_moment_later(task_id: str, run_id) -> tuple[str, object]:
    flow_run_id = await _suspend_without_schema(task_id)
    with session_scope() as s:
        run = s.get(PathwayRun, run_id)
        run.flow_run_id, run.resume_pending = flow_run_id, True
        s.add(run)
    keyset = (await _state_of(flow_run_id)).state_details.run_input_keyset

    async def save_later() -> None:
        await asyncio.sleep(1.0)
        await AgencyAnswer.save(keyset, flow_run_id=flow_run_id)

    saving = asyncio.create_task(save_later())
    verdict = await resume.resume_pathway(run_id)
    await saving
    return verdict, await _state_of(flow_run_id)


def test_an_answer_given_before_the_suspended_run_saved_its_schema_resumes_it(
        prefect_server, session, committee_task):
    """Found by the suite (service referral, a rejection answered at once read "pending", and waited for the
    sweeper): the answer waits the moment the schema takes to be saved, and resumes the run."""
    task_id, run_id, _child = committee_task
    _answer(session, task_id)
    verdict, state = asyncio.run(_suspend_and_save_the_schema_a_moment_later(str(task_id), run_id))
    assert verdict == "resumed"
    assert not state.is_paused()
    with session_scope() as s:
        assert s.get(PathwayRun, run_id).resume_pending is False


async def _read(flow_run_id):
    async with get_client() as client:
        return await client.read_flow_run(flow_run_id)
