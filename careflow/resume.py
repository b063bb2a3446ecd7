"""Starting pathway flow runs and resuming them after an agency answers.

The answer is already stored when these run (:func:`careflow.tasks.transition_task`); what happens
here may fail (server down, flow run not suspended yet) and is then retried by the sweeper, because
``PathwayRun.resume_pending`` stays set and ``PathwayRun.status`` stays ``starting``.

Restarting those whose flow run died is :mod:`careflow.reconcile`.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import timedelta

import sqlalchemy as sa
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.flow_runs import resume_flow_run
from prefect.states import Crashed
from sqlmodel import select

from core.db import session_scope
from careflow.deployments import deployment_for
from careflow.reroute import follow_redirects
from careflow.waits import is_satisfied, parse_pause_key
from models.base import utcnow
from models.case import Case, PathwayRun, clip_text
from models.task import AgencyTask, TaskState

log = logging.getLogger(__name__)


async def start_pathway_flow(pathway_run_id: uuid.UUID) -> uuid.UUID:
    """Create the flow run of a recorded pathway run and store its id; returns the flow run id.

    The flow run's idempotency key is ``pathway-run-<id>`` (``pathway-run-<id>-r<n>`` for the ``n``-th
    restart), so starting twice returns the same run. Tags: ``pathway:<key>``, ``county:<code>``,
    ``case:<reference>``.
    """
    with session_scope() as session:
        run = session.get(PathwayRun, pathway_run_id)
        case = session.get(Case, run.case_id)
        deployment = deployment_for(run.pathway)
        tags = [f"pathway:{run.pathway}", f"county:{case.county_code}", f"case:{case.reference}"]
        key = f"pathway-run-{pathway_run_id}" + (f"-r{run.restart_count}" if run.restart_count else "")
    flow_run = await run_deployment(
        deployment.full_name, parameters={"pathway_run_id": str(pathway_run_id)}, timeout=0,
        as_subflow=False, idempotency_key=key, tags=tags,
    )
    with session_scope() as session:
        run = session.get(PathwayRun, pathway_run_id)
        run.flow_run_id = flow_run.id
        session.add(run)
    return flow_run.id


async def wait_until_suspended(flow_run_id: uuid.UUID, timeout: float = 120.0) -> bool:
    """Wait until the flow run is suspended waiting for an answer (True) or has finished (False).

    Raises:
        TimeoutError: neither happened within ``timeout`` seconds.
    """
    async with get_client() as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = (await client.read_flow_run(flow_run_id)).state
            if state.is_paused():
                return True
            if state.is_final():
                return False
            await asyncio.sleep(0.3)
    raise TimeoutError(f"flow run {flow_run_id} neither suspended nor finished in {timeout:.0f} s")


def _task_states(task_ids: list[str]) -> list[TaskState]:
    with session_scope() as session:
        ids = [uuid.UUID(t) for t in follow_redirects(session, task_ids)]
        rows = session.exec(select(AgencyTask).where(AgencyTask.id.in_(ids))).all()
        return [TaskState(t.state) for t in rows]


def _clear_pending(pathway_run_id: uuid.UUID, seen_seq: int, error: str = "") -> None:
    """Clear ``resume_pending`` unless an answer arrived after ``seen_seq`` was read (a conditional ``UPDATE``:
    an answer stored between a read and a write must not have its flag cleared)."""
    with session_scope() as session:
        session.execute(sa.update(PathwayRun)
                        .where(PathwayRun.id == pathway_run_id, PathwayRun.answer_seq == seen_seq)
                        .values(resume_pending=False, last_resume_error=error[:500]))


def _record_failure(pathway_run_id: uuid.UUID, error: str) -> None:
    with session_scope() as session:
        run = session.get(PathwayRun, pathway_run_id)
        run.resume_attempts += 1
        run.last_resume_error = error[:500]
        session.add(run)


async def resume_pathway(pathway_run_id: uuid.UUID, *, wait_seconds: float = 20.0) -> str:
    """Resume the pathway's flow run if it is suspended waiting for answers the database now holds.

    Waits up to ``wait_seconds`` for a running flow run to reach its suspension.

    Returns:
        ``"resumed"``, ``"not_needed"`` (nothing pending, or the flow already moved on), or
        ``"pending"`` (could not resume now; the sweeper will retry; the error is stored on the run).
    """
    with session_scope() as session:
        run = session.get(PathwayRun, pathway_run_id)
        if not run.resume_pending:
            return "not_needed"
        seq, flow_run_id = run.answer_seq, run.flow_run_id
    if flow_run_id is None:
        _record_failure(pathway_run_id, "flow run not created yet")
        return "pending"
    try:
        async with get_client() as client:
            deadline = time.monotonic() + wait_seconds
            while True:
                flow_run = await client.read_flow_run(flow_run_id)
                state = flow_run.state
                if state.is_final():
                    _clear_pending(pathway_run_id, seq)
                    return "not_needed"
                if state.is_paused():
                    break
                if time.monotonic() > deadline:
                    _record_failure(pathway_run_id, f"flow run is {state.name}, not suspended yet")
                    return "pending"
                await asyncio.sleep(0.5)
            parsed = parse_pause_key(state.state_details.pause_key or "")
            if parsed is None:
                _record_failure(pathway_run_id, f"unexpected pause key {state.state_details.pause_key!r}")
                return "pending"
            rule, task_ids, answered_in_key = parsed
            states = _task_states(task_ids)
            if sum(s.is_answer for s in states) <= answered_in_key or not is_satisfied(rule, states):
                _clear_pending(pathway_run_id, seq)  # the flow would only suspend again
                return "not_needed"
            try:
                await _resume_once_schema_saved(client, flow_run_id, deadline,
                                                {"pathway_run_id": str(pathway_run_id), "answer_seq": seq})
            except RuntimeError:  # refused by the server ("Cannot resume this run: …")
                if not await _input_schema_lost(client, flow_run):
                    raise
                reason = ("流程运行已暂停，但暂停时未保存答复输入的格式（进程在暂停与保存之间中断），无法恢复；"
                          "已将其标记为崩溃，由清扫程序重启")
                await crash_flow_run(client, flow_run, reason)
                _record_failure(pathway_run_id, reason)
                return "pending"
    except Exception as exc:  # the server may be down: keep the answer pending, never lose it
        log.warning("resume of pathway run %s failed: %s", pathway_run_id, exc)
        _record_failure(pathway_run_id, f"{type(exc).__name__}: {exc}")
        return "pending"
    _clear_pending(pathway_run_id, seq)
    return "resumed"


#: Seconds an answer waits for a just-suspended flow run to save its input's schema before it is left to the sweeper.
SCHEMA_SAVE_WAIT = 5.0

#: A suspended flow run's input schema is saved just after its Suspended state; missing for longer, it is lost.
INPUT_SCHEMA_GRACE = timedelta(seconds=30)


async def _resume_once_schema_saved(client, flow_run_id: uuid.UUID, deadline: float, run_input: dict) -> None:
    """Resume the suspended flow run with ``run_input``, retrying until ``deadline`` (``time.monotonic()``) while
    the server refuses it.

    The flow proposes its Suspended state before it saves its input's schema (see :func:`_input_schema_lost`): an
    answer given in between is refused ("Run input schema not found") although the run will take it a moment later.

    Retries for :data:`SCHEMA_SAVE_WAIT` seconds at most (the save follows the suspension within milliseconds).

    Raises:
        RuntimeError: still refused at the deadline.
    """
    deadline = min(deadline, time.monotonic() + SCHEMA_SAVE_WAIT)
    while True:
        try:
            await resume_flow_run(flow_run_id, run_input=run_input)
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)
            if not (await client.read_flow_run(flow_run_id)).state.is_paused():
                raise


async def _input_schema_lost(client, flow_run) -> bool:
    """Whether ``flow_run`` is suspended waiting for input whose schema was never saved, for longer than
    :data:`INPUT_SCHEMA_GRACE`.

    Prefect's ``suspend_flow_run(wait_for_input=…)`` proposes the Suspended state first and saves the input's
    schema after it: a process killed in between (or a save refused by a busy server) leaves a run that the
    server refuses to resume, ever ("Run input schema not found"). Such a run is dead and is restarted.
    """

    state = flow_run.state
    keyset = state.state_details.run_input_keyset if state is not None else None
    if not state.is_paused() or not keyset or utcnow() - state.timestamp < INPUT_SCHEMA_GRACE:
        return False
    try:
        await client.read_flow_run_input(flow_run.id, keyset["schema"])
    except ObjectNotFound:
        return True
    except PrefectHTTPStatusError as exc:  # this call answers a missing input with a bare 404
        if exc.response.status_code == 404:
            return True
        raise
    return False


async def crash_flow_run(client, flow_run, reason: str) -> None:
    """Force a flow run that is not final into Crashed (so a zombie still running is aborted by the engine)."""
    if flow_run is None or flow_run.state is None or flow_run.state.is_final():
        return
    try:
        await client.set_flow_run_state(flow_run.id, Crashed(message=clip_text(reason, 300)), force=True)
    except Exception as exc:
        log.warning("could not mark flow run %s crashed: %s", flow_run.id, exc)
