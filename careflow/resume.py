"""Starting pathway flow runs and resuming them after an agency answers.

The answer is already stored when these run (:func:`careflow.tasks.transition_task`); what happens
here may fail (server down, flow run not suspended yet) and is then retried by the sweeper, because
``PathwayRun.resume_pending`` stays set and ``PathwayRun.status`` stays ``starting``.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid

from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.flow_runs import resume_flow_run
from sqlmodel import select

from careflow.db import session_scope
from flows.registry import deployment_for
from flows.waiting import is_satisfied, parse_pause_key
from models.case import Case, PathwayRun, PathwayStatus
from models.task import AgencyTask, TaskState

log = logging.getLogger(__name__)


async def start_pathway_flow(pathway_run_id: uuid.UUID) -> uuid.UUID:
    """Create the flow run of a recorded pathway run and store its id; returns the flow run id.

    The flow run's idempotency key is the pathway run id, so starting twice returns the same run.
    Tags: ``pathway:<key>``, ``county:<code>``, ``case:<reference>``.
    """
    with session_scope() as session:
        run = session.get(PathwayRun, pathway_run_id)
        case = session.get(Case, run.case_id)
        deployment = deployment_for(run.pathway)
        tags = [f"pathway:{run.pathway}", f"county:{case.county_code}", f"case:{case.reference}"]
    flow_run = await run_deployment(
        deployment.full_name, parameters={"pathway_run_id": str(pathway_run_id)}, timeout=0,
        as_subflow=False, idempotency_key=f"pathway-run-{pathway_run_id}", tags=tags,
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
        rows = session.exec(select(AgencyTask).where(AgencyTask.id.in_([uuid.UUID(t) for t in task_ids]))).all()
        return [TaskState(t.state) for t in rows]


def _clear_pending(pathway_run_id: uuid.UUID, seen_seq: int, error: str = "") -> None:
    """Clear ``resume_pending`` unless an answer arrived after ``seen_seq`` was read."""
    with session_scope() as session:
        run = session.get(PathwayRun, pathway_run_id)
        if run.answer_seq == seen_seq:
            run.resume_pending = False
            run.last_resume_error = error
            session.add(run)


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
            await resume_flow_run(flow_run_id, run_input={"pathway_run_id": str(pathway_run_id), "answer_seq": seq})
    except Exception as exc:  # the server may be down: keep the answer pending, never lose it
        log.warning("resume of pathway run %s failed: %s", pathway_run_id, exc)
        _record_failure(pathway_run_id, f"{type(exc).__name__}: {exc}")
        return "pending"
    _clear_pending(pathway_run_id, seq)
    return "resumed"


async def reconcile(*, wait_seconds: float = 0.0) -> dict[str, int]:
    """Start pathway runs whose flow run was never created, and resume those with stored answers.

    Returns counts by result: ``started``, ``resumed``, ``pending``, ``not_needed``, ``start_failed``.
    """
    counts = {"started": 0, "resumed": 0, "pending": 0, "not_needed": 0, "start_failed": 0}
    with session_scope() as session:
        unstarted = session.exec(select(PathwayRun.id).where(
            PathwayRun.status == PathwayStatus.starting.value, PathwayRun.flow_run_id == None)).all()  # noqa: E711
        waiting = session.exec(select(PathwayRun.id).where(PathwayRun.resume_pending == True)).all()  # noqa: E712
    for run_id in unstarted:
        try:
            await start_pathway_flow(run_id)
            counts["started"] += 1
        except Exception as exc:
            log.warning("starting pathway run %s failed: %s", run_id, exc)
            counts["start_failed"] += 1
    for run_id in waiting:
        counts[await resume_pathway(run_id, wait_seconds=wait_seconds)] += 1
    return counts
