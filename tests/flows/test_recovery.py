"""Recovery from careflow's database: the runner or the Prefect server is killed with SIGKILL where a flow writes,
and the sweeper's reconcile restarts the pathway, which ends once, with each task and message once.

Real processes, real SIGKILL: a fault point (``CAREFLOW_FAULT_POINT``, :func:`flows.faults.fault_point`) makes the
flow-run process kill its runner's process group. One guardianship pathway goes through all four points in a row
(each restart of the runner is armed with the next point; the runner's send loop sends what the flow stored), then a second pathway has the Prefect server killed while
its resumed flow run is between reading the answer and moving on. Cost: about 60-90 s per backend on 2 cores.
"""
import asyncio
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlmodel import select

from careflow.answers import answer_task
from core.db import session_scope
from careflow.recovery import stalled_pathway_runs
from careflow.reconcile import reconcile
from core.settings import get_settings
from entry.stack import LocalStack
from flows.faults import FAULT_POINTS, PENDING_FAULT_POINT
from models.audit import AuditEvent
from models.case import PathwayRun, PathwayStatus
from models.notification import DeliveryStatus
from models.task import TaskState
from notifications.sink import read_mailbox
from tests.flows.support import (
    kill_process_group, new_case, notifications_of, read_flow_run, tasks_of, wait_for_end, wait_for_file,
    send_stored, wait_for_sends, wait_for_task,
)

pytestmark = [pytest.mark.e2e, pytest.mark.fault]

NOT_SERIOUS = {"serious": "no", "child_in_danger": "no"}


def _sweep(**kwargs) -> dict:
    """One reconcile as the sweeper does it; the default stall time (300 s) is far away, so a restart here comes
    from seeing the killed flow run's process gone (same host), as production's sweeper does."""
    return asyncio.run(reconcile(stall_after=kwargs.pop("stall_after", 300), max_restarts=10, **kwargs))


def _assert_once(reference: str, run_id) -> None:
    """Each task once and answered; each message once in the outbox and delivered once."""
    send_stored()  # the armed runners ran no send loop
    wait_for_sends(reference)
    tasks = tasks_of(run_id)
    assert [(t.step_key, t.attempt, t.state) for t in tasks] == [("committee_admonition", 1, TaskState.completed)]
    assert tasks[0].outcome and tasks[0].answered_by == "社区 王丽"  # the answer is kept
    keys = [n.idempotency_key for n in notifications_of(reference)]
    assert Counter(keys).most_common(1)[0][1] == 1, keys
    assert {n.event for n in notifications_of(reference)} == {"task_requested", "task_answered"}
    mails = [m for m in read_mailbox(get_settings().mailbox_dir) if reference in m.subject]
    assert Counter(m.to for m in mails) == {"village_committee-350302001001@careflow.local": 1,
                                            "caseworker.e2e.caseworker@careflow.local": 1}


def test_runner_killed_at_every_point_where_a_flow_writes_the_pathway_completes_once(runners):
    first, *rest = FAULT_POINTS
    runners.start(first)
    reference, run_id, _ = new_case()
    runners.wait_killed(first)
    killed_at = [first]
    for point in [*rest, None]:
        runners.start(point)
        counts = _sweep()
        assert counts["restarted"] == 1, (killed_at[-1], counts)
        with session_scope() as session:
            run = session.get(PathwayRun, run_id)
            assert run.restart_count == len(killed_at) and run.last_failure, killed_at
            flow_run_id = run.flow_run_id
        if point == "during_resume":  # the restarted run waits for the committee; its answer is resumed, then killed
            task = wait_for_task(run_id, flow_run_id, "committee_admonition")
            result = answer_task(task.short_ref, TaskState.completed, actor="社区 王丽", unit_code=task.unit_code,
                                 outcome=NOT_SERIOUS)
            assert result.resume == "resumed"
        if point is None:
            break
        runners.wait_killed(point)
        killed_at.append(point)
    run = wait_for_end(run_id)
    assert killed_at == list(FAULT_POINTS)
    assert run.status == PathwayStatus.completed and "未报告公安机关" in run.outcome
    assert run.restart_count == len(FAULT_POINTS) and run.down_since is None
    _assert_once(reference, run_id)
    with session_scope() as session:  # nothing left that the dashboard would call stalled
        assert run_id not in {r.id for r in stalled_pathway_runs(session, timedelta(0))}


def test_runner_killed_while_a_flow_run_is_pending_it_is_restarted_as_soon_as_a_new_runner_is_up(runners):
    runners.start(PENDING_FAULT_POINT)  # killed after it claimed the flow run, before the flow run began Running
    reference, run_id, flow_run_id = new_case()
    runners.wait_killed(PENDING_FAULT_POINT)
    assert asyncio.run(read_flow_run(flow_run_id)).state.is_pending()
    assert _sweep()["restarted"] == 0  # no runner is up: nothing can run it yet, and nothing is started twice
    runners.start(None)
    counts = _sweep()  # the stall time (300 s) is far away: the restart comes from the runner registry
    assert counts["restarted"] == 1, counts
    with session_scope() as session:
        run = session.get(PathwayRun, run_id)
        assert run.restart_count == 1 and "运行器" in run.last_failure, run.last_failure
        flow_run_id = run.flow_run_id
    task = wait_for_task(run_id, flow_run_id, "committee_admonition")
    result = answer_task(task.short_ref, TaskState.completed, actor="社区 王丽", unit_code=task.unit_code,
                         outcome=NOT_SERIOUS)
    assert result.resume == "resumed"
    run = wait_for_end(run_id)
    assert run.status == PathwayStatus.completed and run.down_since is None
    _assert_once(reference, run_id)


def test_prefect_server_killed_during_a_resume_the_pathway_completes_once(runners, prefect_server):
    runners.start("during_resume=pause", CAREFLOW_FAULT_PAUSE="8")
    reference, run_id, flow_run_id = new_case()
    task = wait_for_task(run_id, flow_run_id, "committee_admonition")
    result = answer_task(task.short_ref, TaskState.completed, actor="社区 王丽", unit_code=task.unit_code,
                         outcome=NOT_SERIOUS)
    assert result.resume == "resumed"
    wait_for_file(get_settings().home / "faults" / "during_resume.paused")
    server = next(p for name, p in prefect_server._processes if name == "prefect-server")
    kill_process_group(server)  # SIGKILL while the resumed flow run is between reading the answer and closing
    prefect_server._processes.remove(("prefect-server", server))
    restarted = LocalStack(with_sink=False, serve="never").start()
    prefect_server._processes.extend(restarted._processes)
    if runners.process.poll() is not None:  # a runner that lost its server for good is restarted as an operator would
        runners.start(None)
    deadline = time.monotonic() + 120
    while True:
        with session_scope() as session:
            run = session.get(PathwayRun, run_id)
        if run.status not in (PathwayStatus.starting, PathwayStatus.running):
            break
        assert time.monotonic() < deadline, f"pathway still {run.status} after the server came back"
        _sweep(stall_after=20)
        time.sleep(2)
    assert run.status == PathwayStatus.completed, run.outcome
    _assert_once(reference, run_id)
    assert asyncio.run(read_flow_run(run.flow_run_id)).state is not None


LONG_REASON = ("该户已搬离本社区，经多次上门核实未果，" * 53)[:1000]  # the longest reason a task takes; no personal data


def test_a_step_rejected_three_times_with_a_long_reason_ends_failed_and_the_manager_is_told(served):
    reference, run_id, flow_run_id = new_case()
    for attempt in (1, 2, 3):
        task = wait_for_task(run_id, flow_run_id, "committee_admonition", attempt)
        result = answer_task(task.short_ref, TaskState.rejected, actor="社区 王丽", unit_code=task.unit_code,
                             reason=LONG_REASON)
        assert result.resume == "resumed"
    run = wait_for_end(run_id)
    assert run.status == PathwayStatus.failed
    deadline = time.monotonic() + 30  # the flow sends them just after it recorded the end
    while any(n.status != DeliveryStatus.sent for n in notifications_of(reference) if n.event == "pathway_closed"):
        assert time.monotonic() < deadline, "the failure messages were not sent"
        time.sleep(0.3)
    assert len(run.outcome) == 500 and run.outcome.startswith("受阻：“劝诫、制止”已被退回 3 次：") and run.outcome.endswith("…")
    failed = [n for n in notifications_of(reference) if n.event == "pathway_closed"]
    assert {(n.unit_code, n.recipient_role) for n in failed} == {
        ("civil_affairs-350302.manager", "manager"), ("caseworker.e2e.caseworker", "caseworker")}
    assert all("路径未能完成" in n.body and "该户已搬离本社区" in n.body for n in failed)
    # The manager's channel also hears of each rejection (【督办】); the end of the pathway comes exactly once.
    mails = [m for m in read_mailbox(get_settings().mailbox_dir)
             if m.to.startswith("civil_affairs-350302.manager@") and reference in m.subject and "路径结束" in m.subject]
    assert len(mails) == 1, (
        [(n.unit_code, n.status, n.last_error) for n in failed],
        [(m.to, m.subject) for m in read_mailbox(get_settings().mailbox_dir) if reference in m.subject])


async def _crashed_flow_run():
    """A flow run that crashed, as the runner leaves one (no runner needed: created in the Crashed state)."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    @flow(name="careflow-test-crashed")
    def crashed():  # never runs
        pass

    async with get_client() as client:
        return (await client.create_flow_run(crashed, state=Crashed(message="process killed"))).id


def test_a_pathway_restarted_too_often_ends_failed_and_the_caseworker_and_manager_are_told(prefect_server, session):
    from careflow.cases import create_pathway_run, open_case
    from careflow.registration import register_child
    from datetime import date
    from tests.factories import make_resident_id

    reg = register_child(session, resident_id=make_resident_id(), full_name="重启" + str(time.time_ns())[-4:],
                         hukou_county="511321", residence_county="350302", residence_area_code="350302001001",
                         arrival_date=date(2023, 8, 20), actor="e2e.caseworker")
    case = open_case(session, child_id=reg.child.id, caseworker="e2e.caseworker")
    run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="e2e.caseworker")
    run.status, run.flow_run_id, run.restart_count = PathwayStatus.running, asyncio.run(_crashed_flow_run()), 3
    session.add(run)
    session.commit()

    counts = asyncio.run(reconcile(max_restarts=3))
    assert counts["given_up"] == 1 and counts["restarted"] == 0
    session.expire_all()
    run = session.get(PathwayRun, run.id)
    # the reason worded (the engine's "process killed" stays in the log and the audit, not in what people read)
    assert run.status == PathwayStatus.failed and "重启 3 次" in run.outcome and "流程运行意外结束" in run.outcome
    assert "process killed" not in run.outcome
    [failed] = session.exec(select(AuditEvent).where(AuditEvent.case_id == case.id,
                                                     AuditEvent.action == "pathway.failed")).all()
    assert "process killed" in failed.detail["engine_reason"]
    told = [n for n in notifications_of(case.reference) if n.event == "pathway_closed"]
    assert {(n.unit_code, n.recipient_role) for n in told} == {
        ("civil_affairs-350302.manager", "manager"), ("caseworker.e2e.caseworker", "caseworker")}
    assert all("路径未能完成" in n.body and case.reference in n.subject for n in told)
    assert asyncio.run(reconcile(max_restarts=3))["given_up"] == 0  # once
