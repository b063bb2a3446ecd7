"""The local stack starts what is missing, and a runner that just stopped does not count as running."""
import asyncio
import os
import signal
import time

import pytest

from careflow.runners import live_runners
from entry.stack import LocalStack


@pytest.mark.only_backend("sqlite", why="a runner's liveness is the Prefect server's, the same for both databases")
def test_a_stopped_runner_is_replaced_not_trusted(served):
    served.stop()  # no runner at all during this test; restarted for the tests after it
    try:
        first = LocalStack(with_sink=False, with_server=False, serve="always").start()
        assert first.started == ["serve"]
        first.stop()
        time.sleep(6)  # the stopped runner's deployments still read READY on the server for a while
        second = LocalStack(with_sink=False, with_server=False, serve="auto").start()
        try:
            assert second.started == ["serve"]
        finally:
            second.stop()
    finally:
        served.start()



@pytest.mark.only_backend("sqlite", why="the Prefect server is the same for both databases")
def test_the_test_server_schedules_no_flow_run_of_a_daily_deployment(served):
    """The served daily flows keep their crons, but no run is ever scheduled on the test server: a cron firing at
    its real hour mid-suite would write duties into the shared databases (see tests/conftest.py)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    async def schedules_and_runs() -> tuple[list, int]:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name("programme-report-duties/programme-report-duties")
            runs = await client.read_flow_runs(deployment_filter=DeploymentFilter(
                id=DeploymentFilterId(any_=[deployment.id])))
            return deployment.schedules, len(runs)

    time.sleep(6)  # the server's scheduler looks at a recently updated deployment every 5 s
    schedules, runs = asyncio.run(schedules_and_runs())
    assert [s.schedule.cron for s in schedules] == ["15 1 * * *"]
    assert runs == 0


@pytest.mark.only_backend("sqlite", why="starting a process again is the same whatever the database")
def test_a_killed_runner_is_started_again_and_serves(served):
    """`careflow up` looks every few seconds: a runner killed by SIGKILL (out of memory, a careless kill) is started
    again and registers as a live runner; otherwise every pathway and the sweeper would stop in silence. (A second
    runner beside the session's one, which goes on serving.)"""
    stack = LocalStack(with_sink=False, with_server=False, serve="always", pathways_only=True).start()
    try:
        assert stack.restart_exited() == []  # nothing died: nothing started twice
        [(_, runner)] = stack._processes
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait(timeout=10)
        assert stack.restart_exited() == [("serve", -signal.SIGKILL)]
        [(_, again)] = stack._processes
        deadline = time.monotonic() + 120
        while again.pid not in {r.pid for r in live_runners()}:  # registered just before it polls
            assert again.poll() is None, "the restarted runner exited"
            assert time.monotonic() < deadline, "the restarted runner never registered"
            time.sleep(0.5)
        assert runner.pid not in {r.pid for r in live_runners()}
    finally:
        stack.stop()
