"""What ``benchmarks.recovery`` measures and checks: the pathways a kill took down, when each moved again, and at the
end what was lost (a pathway not completed, an answer not acted on) or duplicated (a task, a message, a mail).

Imported only once ``benchmarks.recovery`` has set up its private home, ports and database (Prefect reads its
settings as it loads). Times are ``time.monotonic()`` seconds.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

from prefect.client.orchestration import get_client
from sqlmodel import select

from benchmarks.recovery_actors import Agencies
from careflow.reconcile import _read_flow_runs
from core.db import session_scope
from core.settings import get_settings
from models.case import OPEN_PATHWAY_STATUSES, PathwayRun, PathwayStatus
from models.notification import Notification
from models.task import AgencyTask, TaskState
from notifications.sink import read_mailbox


def running_victims(run_ids) -> dict[uuid.UUID, int]:
    """Open pathway runs whose flow run is Running or Pending now (killed with the runner): id → restart count."""
    with session_scope() as session:
        runs = [(r.id, r.flow_run_id, r.restart_count) for r in session.exec(
            select(PathwayRun).where(PathwayRun.status.in_(OPEN_PATHWAY_STATUSES))).all() if r.id in run_ids]

    async def states():
        async with get_client() as client:
            return await _read_flow_runs(client, [f for _, f, _ in runs if f])

    flow_runs = asyncio.run(states()) if runs else {}
    victims = {}
    for run_id, flow_run_id, restarts in runs:
        state = flow_runs.get(flow_run_id).state if flow_run_id in flow_runs else None
        if state is not None and state.type.value in ("RUNNING", "PENDING"):
            victims[run_id] = restarts
    return victims


def moving_again(victims: dict[uuid.UUID, int], timeout: float) -> tuple[dict, dict]:
    """Wait until each victim is restarted (restart count up: the sweeper created its new flow run) and its new flow
    run has begun (``down_since`` cleared by ``begin_pathway``); returns (restarted at, begun at) by run id."""
    restarted: dict[uuid.UUID, float] = {}
    begun: dict[uuid.UUID, float] = {}
    deadline = time.monotonic() + timeout
    while len(begun) < len(victims) and time.monotonic() < deadline:
        with session_scope() as session:
            for run_id, restarts in victims.items():
                if run_id in begun:
                    continue
                run = session.get(PathwayRun, run_id)
                ended = run.status.value not in ("starting", "running")
                if run_id not in restarted and (run.restart_count > restarts or ended):
                    restarted[run_id] = time.monotonic()
                if run_id in restarted and (ended or run.down_since is None and run.flow_run_id is not None):
                    begun[run_id] = time.monotonic()
        time.sleep(0.1)
    return restarted, begun


def wait_all(run_ids, timeout: float) -> list[uuid.UUID]:
    """Wait until every pathway run ended, at most ``timeout`` seconds; returns those still open."""
    deadline = time.monotonic() + timeout
    while True:
        with session_scope() as session:
            open_runs = [r for r in run_ids if session.get(PathwayRun, r).status.value in ("starting", "running")]
        if not open_runs or time.monotonic() > deadline:
            return open_runs
        time.sleep(1)


def audit(run_ids, agencies: Agencies, lost_runs) -> tuple[int, int]:
    """Lost: pathways not completed, plus answers the pathway did not act on. Duplicated: tasks, messages, mails."""
    ids = set(run_ids)
    with session_scope() as session:
        runs = [session.get(PathwayRun, r) for r in run_ids]
        tasks = [t for t in session.exec(select(AgencyTask)).all() if t.pathway_run_id in ids]
        notes = [n for n in session.exec(select(Notification)).all() if n.task_id in {t.id for t in tasks}]
    not_completed = [r for r in runs if r.status != PathwayStatus.completed]
    for r in not_completed:
        print(f"  not completed: {r.id} {r.status} {r.outcome or r.last_failure}")
    unacted = [t for t in tasks if t.state == TaskState.completed and t.pathway_run_id in {r.id for r in not_completed}]
    steps = Counter((t.pathway_run_id, t.step_key, t.agency_type, t.attempt) for t in tasks)
    per_run = Counter(t.pathway_run_id for t in tasks)
    keys = Counter(n.idempotency_key for n in notes)
    mails = Counter((m.to, m.subject) for m in read_mailbox(get_settings().mailbox_dir))
    # a pathway with fewer than its 3 tasks is not completed (counted lost above), not duplicated
    dup_tasks = sum(c - 1 for c in steps.values()) + sum(per_run[r] - 3 for r in run_ids if per_run[r] > 3)
    dup_notes = sum(c - 1 for c in keys.values())
    dup_mails = sum(c - 1 for c in mails.values())
    print(f"tasks {len(tasks)} (expected {3 * len(run_ids)}), messages {len(notes)}, mails {sum(mails.values())}; "
          f"restarts per pathway {Counter(r.restart_count for r in runs)}")
    return len(not_completed) + len(unacted), dup_tasks + dup_notes + dup_mails
