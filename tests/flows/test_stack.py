"""The local stack starts what is missing, and a runner that just stopped does not count as running."""
import time

from entry.stack import LocalStack


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


def test_the_test_server_schedules_no_flow_run_of_a_daily_deployment(served):
    """The served daily flows keep their crons, but no run is ever scheduled on the test server: a cron firing at
    its real hour mid-suite would write duties into the shared databases (see tests/conftest.py)."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, FlowRunFilter

    async def scheduled_runs() -> tuple[list, int]:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name("programme-report-duties/programme-report-duties")
            runs = await client.read_flow_runs(deployment_filter=DeploymentFilter(
                id=DeploymentFilterId(any_=[deployment.id])), flow_run_filter=FlowRunFilter())
            return deployment.schedules, len(runs)

    time.sleep(6)  # the server's scheduler looks at a recently updated deployment every 5 s
    schedules, runs = asyncio.run(scheduled_runs())
    assert [s.schedule.cron for s in schedules] == ["15 1 * * *"]
    assert runs == 0
