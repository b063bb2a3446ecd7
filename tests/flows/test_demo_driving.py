"""The demo driver follows the pathway, not one flow run: a flow run that crashed while its pathway is open is
restarted by the sweeper as a new flow run, and the demo goes on waiting for the step (it used to stop with
"flow run … ended" at once)."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Crashed, Suspended

from core.db import session_scope
from entry.demos.driving import wait_for_step_task
from models.case import PathwayRun, PathwayStatus

pytestmark = pytest.mark.only_backend("sqlite", why="the wait is the demo's; the database only links the runs")


@flow(name="demo-driving-placeholder")
def placeholder() -> None:
    """Stands for a pathway flow: the test only needs flow runs in given states."""


async def _flow_run_in(state):
    async with get_client() as client:
        flow_run = await client.create_flow_run(placeholder)
        await client.set_flow_run_state(flow_run.id, state, force=True)
        return flow_run.id


def _link(run_id, flow_run_id, status: PathwayStatus) -> None:
    with session_scope() as session:
        run = session.get(PathwayRun, run_id)
        run.flow_run_id, run.status = flow_run_id, status
        session.add(run)


def test_a_crashed_flow_run_of_an_open_pathway_is_waited_through(prefect_server, committee_task, capsys):
    task_id, run_id, _child = committee_task
    _link(run_id, asyncio.run(_flow_run_in(Crashed(message="runner killed"))), PathwayStatus.running)

    def sweeper_restarts():  # what careflow.reconcile does a sweep later: a new flow run, which suspends again
        time.sleep(2)
        _link(run_id, asyncio.run(_flow_run_in(Suspended(pause_key="restarted"))), PathwayStatus.running)

    restart = threading.Thread(target=sweeper_restarts)
    restart.start()
    try:
        task = wait_for_step_task(run_id, "committee_admonition", timeout=60)
    finally:
        restart.join()
    assert task.id == task_id
    assert "巡检将重启该路径" in capsys.readouterr().out


def test_a_pathway_that_ended_stops_the_wait(prefect_server, committee_task):
    _task_id, run_id, _child = committee_task
    _link(run_id, asyncio.run(_flow_run_in(Crashed(message="gone"))), PathwayStatus.failed)
    with pytest.raises(RuntimeError, match="已结束"):
        wait_for_step_task(run_id, "police_reprimand", timeout=20)
