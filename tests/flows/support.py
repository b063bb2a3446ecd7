"""Driving pathways in end-to-end tests the way agencies do: wait for the notified task, then answer."""
from __future__ import annotations

import asyncio
import time
import uuid
from datetime import date

from sqlmodel import select

from careflow.answers import answer_task
from careflow.cases import create_pathway_run, open_case
from careflow.registration import register_child
from careflow.child_facts import record_child_fact
from core.db import session_scope
from entry.demos.driving import wait_for_end  # noqa: F401  (used by the tests)
from careflow.resume import start_pathway_flow, wait_until_suspended
from models.case import PathwayRun
from models.notification import Notification
from models.task import AgencyTask, TaskState
from tests.factories import make_resident_id

CASEWORKER = "e2e.caseworker"


def new_case(pathway: str = "guardianship", parameters: dict | None = None,
             facts: dict[str, str] | None = None, hukou_county: str = "511321") -> tuple[str, uuid.UUID, uuid.UUID]:
    """Register a child in 城厢区 凤山社区 (household registered in ``hukou_county``), record ``facts`` (key → value, by the caseworker; a service referral
    checks the item's target group), open a case, start ``pathway``; returns (reference, run id, flow run id)."""
    with session_scope() as session:
        reg = register_child(
            session, resident_id=make_resident_id(), full_name="端到端" + uuid.uuid4().hex[:4],
            hukou_county=hukou_county, residence_county="350302", residence_area_code="350302001001",
            arrival_date=date(2023, 8, 20), actor=CASEWORKER,
        )
        for key, value in (facts or {}).items():
            record_child_fact(session, child_id=reg.child.id, key=key, value=value, source="caseworker",
                              actor=CASEWORKER)
        case = open_case(session, child_id=reg.child.id, caseworker=CASEWORKER)
        run = create_pathway_run(session, case_id=case.id, pathway=pathway, actor=CASEWORKER,
                                 parameters=parameters)
    flow_run_id = asyncio.run(start_pathway_flow(run.id))
    return case.reference, run.id, flow_run_id


def wait_for_task(run_id: uuid.UUID, flow_run_id: uuid.UUID, step: str, attempt: int = 1,
                  timeout: float = 90) -> AgencyTask:
    """The step's task once the flow created it and suspended waiting for the answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope() as session:
            task = session.exec(select(AgencyTask).where(
                AgencyTask.pathway_run_id == run_id, AgencyTask.step_key == step,
                AgencyTask.attempt == attempt)).first()
        suspended = asyncio.run(wait_until_suspended(flow_run_id, timeout=max(1.0, deadline - time.monotonic())))
        assert suspended, f"flow run ended before step {step!r} (attempt {attempt})"
        if task:
            return task
        time.sleep(0.3)
    raise TimeoutError(f"no task for {step!r} attempt {attempt}")


def complete(run_id, flow_run_id, step: str, outcome: dict, *, attempt: int = 1, acknowledge: bool = False) -> AgencyTask:
    task = wait_for_task(run_id, flow_run_id, step, attempt)
    if acknowledge:
        answer_task(task.short_ref, TaskState.acknowledged, actor="e2e officer", unit_code=task.unit_code)
    result = answer_task(task.short_ref, TaskState.completed, actor="e2e officer", unit_code=task.unit_code,
                         outcome=outcome)
    assert result.resume == "resumed", result.resume
    return result.task


def tasks_of(run_id) -> list[AgencyTask]:
    with session_scope() as session:
        return list(session.exec(select(AgencyTask).where(AgencyTask.pathway_run_id == run_id)
                                 .order_by(AgencyTask.requested_at)).all())


def notifications_of(case_reference: str) -> list[Notification]:
    from models.case import Case

    with session_scope() as session:
        case = session.exec(select(Case).where(Case.reference == case_reference)).one()
        return list(session.exec(select(Notification).where(Notification.case_id == case.id)).all())


def send_stored() -> dict[str, int]:
    """Send, from the test's process, what flows stored to go at once (one pass of the send loop)."""
    from notifications.send_loop import send_pass

    return send_pass()


def wait_for_sends(case_reference: str, timeout: float = 30.0) -> list[Notification]:
    """The case's messages once none that a flow queued to go at once (``send_now``) is still waiting for the
    runner's send loop (:mod:`notifications.send_loop`); a flow stores its messages, it never sends them."""
    from entry.demos.driving import wait_for_queued_messages
    from models.case import Case

    with session_scope() as session:
        case_id = session.exec(select(Case.id).where(Case.reference == case_reference)).one()
    settled = wait_for_queued_messages(case_id, time.monotonic() + timeout)
    messages = notifications_of(case_reference)
    assert settled, [(n.event, n.unit_code, n.status) for n in messages if n.send_now and n.status != "sent"]
    return messages


async def read_flow_run(flow_run_id):
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return await client.read_flow_run(flow_run_id)


def final_flow_run(flow_run_id, timeout: float = 60.0):
    """The flow run once Prefect has recorded its end (bounded wait): a flow writes its pathway run's status as its
    last step, a moment before the server hears that the flow run ended."""
    deadline = time.monotonic() + timeout
    while not (flow_run := asyncio.run(read_flow_run(flow_run_id))).state.is_final():
        assert time.monotonic() < deadline, f"flow run {flow_run_id} stayed {flow_run.state.name}"
        time.sleep(0.5)
    return flow_run


async def read_states(flow_run_id):
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return await client.read_flow_run_states(flow_run_id)


def wait_for_agency_task(run_id: uuid.UUID, flow_run_id: uuid.UUID, step: str, agency_type: str,
                         attempt: int = 1, timeout: float = 90) -> AgencyTask:
    """The task of ``step`` for ``agency_type`` (a step may have one task per agency) once the flow suspended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope() as session:
            task = session.exec(select(AgencyTask).where(
                AgencyTask.pathway_run_id == run_id, AgencyTask.step_key == step,
                AgencyTask.agency_type == agency_type, AgencyTask.attempt == attempt)).first()
        suspended = asyncio.run(wait_until_suspended(flow_run_id, timeout=max(1.0, deadline - time.monotonic())))
        assert suspended, f"flow run ended before step {step!r} for {agency_type!r}"
        if task:
            return task
        time.sleep(0.3)
    raise TimeoutError(f"no task for {step!r} / {agency_type!r}")


def complete_together(run_id, flow_run_id, answers: list[tuple[str, str, dict]]) -> list[AgencyTask]:
    """Complete several tasks the flow waits for together (``(step, agency type, outcome)`` each).

    Every answer but the last leaves the flow suspended (``not_needed``: the wait is not over); the last
    one resumes it.
    """
    tasks = [wait_for_agency_task(run_id, flow_run_id, step, agency) for step, agency, _ in answers]
    done = []
    for index, (task, (_, _, outcome)) in enumerate(zip(tasks, answers)):
        result = answer_task(task.short_ref, TaskState.completed, actor="e2e officer", unit_code=task.unit_code,
                             outcome=outcome)
        expected = "resumed" if index == len(answers) - 1 else "not_needed"
        assert result.resume == expected, (task.step_key, task.agency_type, result.resume)
        done.append(result.task)
    return done


def pathway_runs_of(case_reference: str) -> list[PathwayRun]:
    """Every pathway run on the case, oldest first."""
    from models.case import Case

    with session_scope() as session:
        case = session.exec(select(Case).where(Case.reference == case_reference)).one()
        return list(session.exec(select(PathwayRun).where(PathwayRun.case_id == case.id)
                                 .order_by(PathwayRun.started_at)).all())


class RunnerControl:
    """Start and stop ``careflow serve`` runners for fault-injection tests (see the ``runners`` fixture).

    ``start(fault)`` starts a runner whose flow runs have ``CAREFLOW_FAULT_POINT=fault`` (``None``: unarmed) after
    clearing the fault hit counters; ``wait_killed()`` waits until a fault point killed it with SIGKILL.
    """

    def __init__(self, served):
        self.served = served
        self.current = None
        served.stop()  # the session's runner: this test replaces it

    def start(self, fault: str | None = None, *, pathways_only: bool = True, **env: str):
        """A new runner (``pathways_only``: of the pathways and the sweeper, which is all a fault test drives; it
        starts faster than one that also registers every scheduled flow). An armed runner runs no send loop
        (``CAREFLOW_SEND_POLL=0``): a SIGKILL in the middle of a send would hold that message's claim for
        ``CLAIM_FOR`` (10 min) and then send it again; the test sends what the flows stored (:func:`send_stored`)."""
        if fault:
            env.setdefault("CAREFLOW_SEND_POLL", "0")
        import os
        import shutil

        from core.settings import get_settings
        from entry.stack import LocalStack

        shutil.rmtree(get_settings().home / "faults", ignore_errors=True)
        saved = {key: os.environ.get(key) for key in ["CAREFLOW_FAULT_POINT", "CAREFLOW_SEND_POLL", *env]}
        os.environ.pop("CAREFLOW_FAULT_POINT", None)
        os.environ.pop("CAREFLOW_SEND_POLL", None)
        if fault:
            os.environ["CAREFLOW_FAULT_POINT"] = fault
        os.environ.update(env)
        try:
            stack = LocalStack(with_sink=False, with_server=False, serve="always", pathways_only=pathways_only).start()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        self.current = stack
        return stack

    @property
    def process(self):
        return self.current._processes[0][1]

    def wait_killed(self, what: str, timeout: float = 90) -> None:
        """Wait until the current runner died of SIGKILL (a fault point fired); fail naming ``what`` otherwise."""
        import signal
        import subprocess

        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the runner was not killed at {what} within {timeout:.0f} s") from None
        assert code == -signal.SIGKILL, f"runner exited with {code} at {what}, not by SIGKILL"
        self.current._processes.clear()

    def restore(self) -> None:
        """Stop the current runner and leave an unarmed one serving (as the session's ``served`` stack)."""
        if self.current is not None:
            self.current.stop()
        stack = self.start(None, pathways_only=False)
        self.served._processes.extend(stack._processes)
        stack._processes.clear()


def kill_process_group(process) -> None:
    """SIGKILL a process started with ``start_new_session`` and everything in its group; wait for it."""
    import os
    import signal

    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def parent_of(pid: int) -> int:
    """The parent process id of ``pid`` (from /proc)."""
    from pathlib import Path

    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def cmdline_of(pid: int) -> str:
    """The command line of ``pid``, its arguments joined by spaces ("" once it is gone)."""
    from pathlib import Path

    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def forked_by(pid: int) -> int | None:
    """The process whose fork server started the flow-run process ``pid`` (its parent is a multiprocessing fork
    server, see :mod:`flows.fork_server`), or None when ``pid`` is not such a fork."""
    server = parent_of(pid)
    return parent_of(server) if "multiprocessing.forkserver" in cmdline_of(server) else None


def wait_for_file(path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear in {timeout:.0f} s"
        time.sleep(0.2)
