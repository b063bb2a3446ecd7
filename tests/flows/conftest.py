"""A real local Prefect server (SQLite) for the session, and the deployments served per database backend."""
import pytest

from entry.stack import LocalStack


@pytest.fixture(scope="session")
def prefect_server():
    """The Prefect server and the local mail sink, started once for the whole session."""
    from entry.stack import ensure_home

    ensure_home()
    stack = LocalStack(serve="never").start()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def served(database_url, prefect_server):
    """A runner serving every deployment against the current backend's database."""
    stack = LocalStack(with_sink=False, with_server=False, serve="always").start()
    yield stack
    stack.stop()


@pytest.fixture(autouse=True)
def no_leftover_pathways(request):
    """Before each test on a database: cancel the pathway runs earlier tests left open, and their flow runs.

    Why: unit tests elsewhere (tests/careflow, tests/notifications, ...) record pathway runs they never start, and
    fault tests leave runs whose runner was killed. A ``reconcile()`` in a later test would start, resume or restart
    all of them at once; on CI (2 cores) three dozen flow runs started by one sweep kept the served runner busy for
    two minutes and the test's own resumed run timed out. Each test here drives only its own pathways.

    Conditional ``UPDATE`` (only runs still open are cancelled); the flow runs are set Cancelled (a running one
    Cancelling, so that its runner kills it) and are never resumed or restarted. Tests without a database are left alone.
    """
    if "database_url" in request.fixturenames:
        request.getfixturevalue("database_url")
        cancel_open_pathway_runs(with_prefect="prefect_server" in request.fixturenames)
    yield


def cancel_open_pathway_runs(*, with_prefect: bool) -> int:
    """Cancel every open pathway run (status ``cancelled``, ``resume_pending`` cleared) and, ``with_prefect``,
    set their Prefect flow runs Cancelled. Returns how many pathway runs were cancelled."""
    import asyncio

    import sqlalchemy as sa

    from core.db import session_scope
    from models.base import utcnow
    from models.case import OPEN_PATHWAY_STATUSES, PathwayRun, PathwayStatus

    with session_scope() as session:
        rows = session.execute(sa.select(PathwayRun.id, PathwayRun.flow_run_id)
                               .where(PathwayRun.status.in_(OPEN_PATHWAY_STATUSES))).all()
        if not rows:
            return 0
        session.execute(
            sa.update(PathwayRun)
            .where(PathwayRun.id.in_([row.id for row in rows]), PathwayRun.status.in_(OPEN_PATHWAY_STATUSES))
            .values(status=PathwayStatus.cancelled.value, resume_pending=False, ended_at=utcnow(),
                    outcome="测试结束：由测试环境取消")
            .execution_options(synchronize_session=False))
    flow_run_ids = [row.flow_run_id for row in rows if row.flow_run_id is not None]
    if with_prefect and flow_run_ids:
        asyncio.run(_cancel_flow_runs(flow_run_ids))
    return len(rows)


async def _cancel_flow_runs(flow_run_ids) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled, Cancelling

    async with get_client() as client:
        for flow_run_id in flow_run_ids:
            try:
                run = await client.read_flow_run(flow_run_id)
                if run.state is None or run.state.is_final():
                    continue
                # a flow run in a live runner's process: Cancelling makes the runner kill that process (no message
                # of a leftover reaches the mail sink during a later test); suspended or scheduled ones: Cancelled
                active = run.state.is_running() or run.state.is_pending()
                state = (Cancelling if active else Cancelled)(message="leftover of an earlier test")
                await client.set_flow_run_state(flow_run_id, state, force=True)
            except Exception:  # unknown to the server (a synthetic id) or already gone: nothing to stop
                pass


def pytest_configure(config):
    config.addinivalue_line("markers", "fault: fault injection: kills the runner or the Prefect server with SIGKILL")


@pytest.fixture
def runners(served):
    """Control of the runner for fault-injection tests: stops the session's runner, starts runners (armed with a
    fault point or not), and at the end leaves an unarmed runner serving as ``served`` for the tests after."""
    from tests.flows.support import RunnerControl

    control = RunnerControl(served)
    yield control
    control.restore()
