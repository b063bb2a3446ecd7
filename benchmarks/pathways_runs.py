"""What ``benchmarks.pathways`` measures, on careflow's side and on the raw flow's (:mod:`benchmarks.raw_flow`).

Every figure is seconds between two wall-clock instants (aware UTC) recorded by the system itself, never the moment a
poll noticed: careflow's "notified" is the step's message (``task_requested`` to the assigned unit) stored as
``sent`` (its ``Notification.sent_at``, read from careflow's database: whoever sends it, the flow or a dispatcher);
the raw flow's is its step task's end (``TaskRun.end_time`` of the first ``raw-step-<n>`` run that Completed);
"waiting" is a flow run's Suspended state (its timestamp, read from the Prefect server).

Imported only once ``benchmarks.pathways`` has set up its private home, ports and databases.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from datetime import date, datetime, timezone
from typing import NamedTuple

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, TaskRunFilter, TaskRunFilterName
from prefect.deployments import run_deployment
from prefect.exceptions import PrefectHTTPStatusError
from prefect.flow_runs import resume_flow_run
from sqlmodel import select

from benchmarks.pathways_stack import RAW_DEPLOYMENT
from careflow.answers import answer_task
from careflow.cases import create_pathway_run, open_case
from careflow.registration import register_child
from careflow.resume import start_pathway_flow, wait_until_suspended
from core.db import session_scope
from models.notification import DeliveryStatus, Notification
from models.task import AgencyTask, TaskState
from tests.factories import make_resident_id

#: The guardianship pathway's four sequential steps and the answers that lead from each to the next (serious, no
#: danger; police order family education; guidance started).
STEPS = ("committee_admonition", "police_reprimand", "family_education_guidance", "guardianship_assessment")
ANSWERS = ({"serious": "yes", "child_in_danger": "no"},
           {"reprimanded": "yes", "family_education_ordered": "yes", "child_unsafe": "no"},
           {"guidance_started": "yes"})
CASEWORKER = "bench.caseworker"
TIMEOUT = 300.0  # seconds for any one step or batch


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def _again_when_busy(start, attempts: int = 5):
    """``await start()``, again (after 2 s) when the Prefect server answered 503 (a SQLite server under a batch's
    load; its client's own retries spent): what the sweeper does for a pathway left ``starting``. ``start`` must be
    idempotent (an idempotency key)."""
    for attempt in range(attempts):
        try:
            return await start()
        except PrefectHTTPStatusError as exc:
            if exc.response.status_code != 503 or attempt == attempts - 1:
                raise
            print(f"  the Prefect server answered 503; starting again ({attempt + 1})", flush=True)
            await asyncio.sleep(2)


def new_cases(n: int) -> list[uuid.UUID]:
    """Register ``n`` children in 城厢区 凤山社区 and open a case on each (not timed); returns the case ids."""
    ids = []
    for _ in range(n):
        with session_scope() as session:
            reg = register_child(session, resident_id=make_resident_id(), full_name="压测" + uuid.uuid4().hex[:4],
                                 hukou_county="511321", residence_county="350302",
                                 residence_area_code="350302001001", arrival_date=date(2023, 8, 20), actor=CASEWORKER)
            ids.append(open_case(session, child_id=reg.child.id, caseworker=CASEWORKER).id)
    return ids


def _create_run(case_id: uuid.UUID) -> uuid.UUID:
    """Record the guardianship pathway run on the case, as ``careflow pathway start`` and the web app do."""
    with session_scope() as session:
        return create_pathway_run(session, case_id=case_id, pathway="guardianship", actor=CASEWORKER).id


class Sent(NamedTuple):
    """A step's ``task_requested`` message as sent: when, its task, and when the flow stored it."""

    sent_at: datetime
    task: AgencyTask
    stored_at: datetime


def _sent(run_ids: list[uuid.UUID], step: str) -> dict[uuid.UUID, Sent]:
    """For each run whose ``step`` task's own message is sent: its :class:`Sent`."""
    with session_scope() as session:
        rows = session.exec(
            select(Notification.sent_at, AgencyTask, Notification.created_at)
            .join(AgencyTask, Notification.task_id == AgencyTask.id)
            .where(AgencyTask.pathway_run_id.in_(run_ids), AgencyTask.step_key == step, AgencyTask.attempt == 1,
                   Notification.event == "task_requested", Notification.recipient_role == "officer",
                   Notification.status == DeliveryStatus.sent)).all()
        return {task.pathway_run_id: Sent(sent_at, task, stored_at) for sent_at, task, stored_at in rows}


def _wait_sent(run_ids: list[uuid.UUID], step: str) -> dict[uuid.UUID, Sent]:
    deadline = time.monotonic() + TIMEOUT
    while len(found := _sent(run_ids, step)) < len(run_ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{step}: {len(found)} of {len(run_ids)} messages sent within {TIMEOUT:.0f} s")
        time.sleep(0.1)
    return found


def _delays(sent: Sent) -> tuple[float, float]:
    """(task opened → its agency's message sent, message stored → sent) in seconds: issue 17's "the first agency
    notified within 2 s of its task", and the send loop's part of it."""
    return ((sent.sent_at - sent.task.requested_at).total_seconds(),
            (sent.sent_at - sent.stored_at).total_seconds())


def careflow_sequence(case_id: uuid.UUID) -> tuple[list[float], list[tuple[float, float]]]:
    """One guardianship pathway through its four steps; returns ([start → first notified, answer 1 → step 2
    notified, answer 2 → step 3 notified, answer 3 → step 4 notified], [each step's :func:`_delays`]) in seconds. Each answer is given once the flow run is suspended (an agency answers minutes later, not while the
    flow is still running)."""
    began = _now()
    run_id = _create_run(case_id)
    flow_run_id = asyncio.run(start_pathway_flow(run_id))
    sent = _wait_sent([run_id], STEPS[0])[run_id]
    task, figures, delays = sent.task, [(sent.sent_at - began).total_seconds()], [_delays(sent)]
    for step, answer in zip(STEPS[1:], ANSWERS):
        if not asyncio.run(wait_until_suspended(flow_run_id, timeout=TIMEOUT)):
            raise RuntimeError(f"flow run {flow_run_id} ended before {step}")
        answered = _now()
        result = answer_task(task.short_ref, TaskState.completed, actor="压测 办理人", unit_code=task.unit_code,
                             outcome=answer)
        if result.resume != "resumed":
            raise RuntimeError(f"answer to {task.step_key} did not resume the flow: {result.resume}")
        sent = _wait_sent([run_id], step)[run_id]
        task = sent.task
        figures.append((sent.sent_at - answered).total_seconds())
        delays.append(_delays(sent))
    return figures, delays


async def _raw_step_done(client, flow_run_id: uuid.UUID, step: int) -> datetime:
    """When the raw flow run's ``raw-step-<step>`` first Completed (not a later Cached pass)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(any_=[f"raw-step-{step}"])))
        done = [r.end_time or r.state.timestamp for r in runs if r.state and r.state.type.value == "COMPLETED"]
        if done:
            return min(done)
        if time.monotonic() > deadline:
            raise TimeoutError(f"raw-step-{step} of {flow_run_id} not done within {TIMEOUT:.0f} s")
        await asyncio.sleep(0.1)


async def _raw_sequence() -> list[float]:
    async with get_client() as client:
        began = _now()
        flow_run = await run_deployment(RAW_DEPLOYMENT, parameters={"steps": 4}, timeout=0, as_subflow=False)
        figures = [(await _raw_step_done(client, flow_run.id, 1) - began).total_seconds()]
        for step in (2, 3, 4):
            if not await wait_until_suspended(flow_run.id, timeout=TIMEOUT):
                raise RuntimeError(f"raw flow run {flow_run.id} ended before step {step}")
            answered = _now()
            await resume_flow_run(flow_run.id, run_input={"step": step - 1})
            figures.append((await _raw_step_done(client, flow_run.id, step) - answered).total_seconds())
        return figures


def raw_sequence() -> list[float]:
    """The raw flow through its four steps: [created → first task done, resume 1 → task 2 done, resume 2 → task 3
    done, resume 3 → task 4 done] in seconds."""
    return asyncio.run(_raw_sequence())


async def _all_suspended(flow_run_ids: list[uuid.UUID]) -> tuple[datetime, set[uuid.UUID]]:
    """When the last of the flow runs that wait became Suspended (their state timestamps), and the ids of those that
    ended instead (crashed or failed under load: a line says which; in production the sweeper restarts them).

    Raises:
        RuntimeError: none waits. TimeoutError: some neither wait nor ended within :data:`TIMEOUT`.
    """
    deadline = time.monotonic() + TIMEOUT
    async with get_client() as client:
        while True:
            runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids)))
            ended = [r for r in runs if r.state and r.state.is_final()]
            waiting = [r for r in runs if r.state and r.state.is_paused()]
            if len(runs) == len(flow_run_ids) and len(ended) + len(waiting) == len(runs):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(waiting)} of {len(flow_run_ids)} flow runs suspended within {TIMEOUT:.0f} s")
            await asyncio.sleep(0.5)
    if ended:
        print(f"  {len(ended)} of {len(runs)} flow run(s) ended instead of waiting, not counted: "
              f"{ended[0].state.name}: {(ended[0].state.message or '')[:200]}", flush=True)
    if not waiting:
        raise RuntimeError("no flow run of the batch waits")
    return max(r.state.timestamp for r in waiting), {r.id for r in ended}


def careflow_batch(case_ids: list[uuid.UUID]) -> tuple[float, float, int, float, float]:
    """Start a guardianship pathway on each case at once (each recorded, then every flow run created together);
    returns (seconds until all are suspended, seconds until every first message is sent, how many wait, the longest
    task opened → its message sent, the longest message stored → sent, in seconds)."""
    began = _now()
    run_ids = [_create_run(case_id) for case_id in case_ids]

    async def start_all():
        return await asyncio.gather(*(_again_when_busy(lambda r=r: start_pathway_flow(r)) for r in run_ids))

    flow_run_ids = asyncio.run(start_all())
    suspended, ended = asyncio.run(_all_suspended(list(flow_run_ids)))
    waiting = [run_id for run_id, flow_run_id in zip(run_ids, flow_run_ids) if flow_run_id not in ended]
    sent = _wait_sent(waiting, STEPS[0]).values()
    notified = max(s.sent_at for s in sent)
    delays = [_delays(s) for s in sent]
    return ((suspended - began).total_seconds(), (notified - began).total_seconds(), len(waiting),
            max(d[0] for d in delays), max(d[1] for d in delays))


def raw_batch(n: int) -> tuple[float, float, int]:
    """Create ``n`` raw flow runs at once; returns (seconds until all are suspended, until every first task is done,
    how many wait)."""
    async def run():
        began = _now()
        flow_runs = await asyncio.gather(*(_again_when_busy(lambda key=uuid.uuid4().hex: run_deployment(
            RAW_DEPLOYMENT, parameters={"steps": 4}, timeout=0, as_subflow=False, idempotency_key=key))
            for _ in range(n)))
        suspended, ended = await _all_suspended([f.id for f in flow_runs])
        waiting = [f for f in flow_runs if f.id not in ended]
        async with get_client() as client:
            done = max([await _raw_step_done(client, f.id, 1) for f in waiting])
        return (suspended - began).total_seconds(), (done - began).total_seconds(), len(waiting)

    return asyncio.run(run())
