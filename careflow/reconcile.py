"""The sweeper's pass over pathway runs (part of every sweep): resume those with stored answers, restart those whose
flow run died, start those never started.

careflow's database is the system of record, so a pathway whose flow run crashed, failed, was cancelled, vanished
or stopped making progress is restarted as a new flow run of the same pathway run (:func:`recover_pathway_runs`).
The new run re-runs the flow from the top; every side effect is keyed (a task by pathway run, step, agency and
attempt; a message by task, event, recipient and occasion; a send by the message's status) and every step's result
is persisted, so it finds what the dead run created and never creates it twice. Whether a flow run is dead is
:func:`judge_flow_run`, a pure function of its state, its times and its process on this host.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import StateType
from sqlmodel import select

from core.audit import record_audit
from core.db import session_scope
from core.outcome import Outcome
from core.processes import dead_process_recorded_at
from core.settings import get_settings
from careflow.recovery import close_pathway_run, failure_outcome, record_flow_failure
from careflow.resume import crash_flow_run, resume_pathway, start_pathway_flow
from careflow.runners import earliest_runner_start
from models.base import utcnow
from models.case import OPEN_PATHWAY_STATUSES, PathwayRun, PathwayStatus, clip_text

log = logging.getLogger(__name__)


async def reconcile(*, wait_seconds: float = 0.0, stall_after: float | None = None,
                    max_restarts: int | None = None) -> dict[str, int]:
    """One sweep over pathway runs, in this order: resume those with stored answers (cheap, and an agency is
    waiting for its answer to move the pathway on), then restart or end those whose flow run died
    (:func:`recover_pathway_runs`), then start those whose flow run was never created (restarts included).

    ``stall_after`` (seconds) and ``max_restarts`` default to the settings ``stall_after_seconds`` and
    ``max_restarts``.

    Returns counts by result: ``started``, ``resumed``, ``pending``, ``not_needed``, ``start_failed``, and those of
    :func:`recover_pathway_runs` (``restarted``, ``given_up``, ``waiting_for_runner``, ``unreadable``).
    """
    counts = {"started": 0, "resumed": 0, "pending": 0, "not_needed": 0, "start_failed": 0}
    with session_scope() as session:
        waiting = session.exec(select(PathwayRun.id).where(PathwayRun.resume_pending == True)).all()  # noqa: E712
    for run_id in waiting:
        counts[await resume_pathway(run_id, wait_seconds=wait_seconds)] += 1
    counts.update(await recover_pathway_runs(stall_after=stall_after, max_restarts=max_restarts))
    with session_scope() as session:
        unstarted = session.exec(select(PathwayRun.id).where(
            PathwayRun.status == PathwayStatus.starting.value, PathwayRun.flow_run_id == None)).all()  # noqa: E711
    for run_id in unstarted:
        try:
            await start_pathway_flow(run_id)
            counts["started"] += 1
        except Exception as exc:
            log.warning("starting pathway run %s failed: %s", run_id, exc)
            counts["start_failed"] += 1
    return counts


#: Flow runs read from Prefect per call (one ``read_flow_runs`` filtered by ids per batch of open pathway runs).
RECOVERY_BATCH = 200


@dataclass(frozen=True)
class Verdict:
    """What a pathway run's flow run says: ``action`` ``restart`` (dead: crashed, failed, cancelled, vanished, or
    Running/Pending without a new state for ``stall_after``) or ``wait`` (Scheduled and not picked up: a runner is
    missing; restarting would not help); ``reason`` in Chinese with the engine's message."""

    action: str
    reason: str


def judge_flow_run(flow_run, *, now: datetime, stall_after: timedelta, flow_process: str = "",
                   runners_since: datetime | None = None, claimed_at: datetime | None = None) -> Verdict | None:
    """The :class:`Verdict` on one flow run (``None``: alive or suspended, nothing to do).

    ``flow_run`` is a Prefect ``FlowRun`` or ``None`` when the server does not know it (its database was reset).
    ``flow_process`` is ``PathwayRun.flow_process``: a Running flow run whose process, recorded on this host
    during this Running state, no longer exists is dead at once (no need to wait ``stall_after``).
    ``runners_since`` is when the longest-serving live runner on this host started
    (:func:`careflow.runners.earliest_runner_start`; ``None``: none is live, the rule is off): a Pending flow run
    (claimed, "Submitting") since before that was claimed by a runner that has died, and is dead at once.
    A Running flow run is never judged by the runners: its own process may outlive its runner (an orphan that
    still sends its messages), so only its recorded process or ``stall_after`` tells. ``claimed_at`` (when the
    Running flow run last became Pending, read by :func:`recover_pathway_runs` only when it matters) extends "this
    Running state" back to the claim: a flow-run process records itself as it loads, before it reports Running
    (:func:`flows.steps.record_loading_process`), so a record since the claim is this run's own process.
    """
    if flow_run is None or flow_run.state is None:
        return Verdict("restart", "Prefect 中找不到该流程运行")
    state = flow_run.state
    since = state.timestamp
    message = clip_text(state.message or "", 300)
    if state.type in (StateType.CRASHED, StateType.FAILED, StateType.CANCELLED):
        ended = {StateType.CRASHED: "崩溃", StateType.FAILED: "失败", StateType.CANCELLED: "被取消"}[state.type]
        return Verdict("restart", f"流程运行已{ended}（{state.name}）" + (f"：{message}" if message else ""))
    if state.type == StateType.COMPLETED:  # ended without closing its pathway (closing is its last step)
        return Verdict("restart", f"流程运行已结束（{state.name}），但路径未结束")
    if state.type == StateType.RUNNING and _process_gone(flow_process, min(since, claimed_at or since)):
        return Verdict("restart", f"运行流程的进程（{flow_process.rsplit(':', 1)[0]}）已不存在（被杀或崩溃）")
    if (state.type == StateType.PENDING and runners_since is not None and since is not None
            and since < runners_since):
        return Verdict("restart", "流程运行已被一个随后停止的运行器（careflow serve 或 careflow worker）领取"
                                  f"（{state.name}），现有运行器均在其后启动，视为已中断")
    if state.type in (StateType.RUNNING, StateType.PENDING, StateType.CANCELLING):
        if since is not None and now - since > stall_after:
            return Verdict("restart", f"流程运行停留在 {state.name} 超过 {stall_after.total_seconds():.0f} 秒，"
                                      "视为已中断（进程被杀或停止发送心跳）")
        return None
    if state.type == StateType.SCHEDULED:
        scheduled = state.state_details.scheduled_time or since
        if scheduled is not None and now - scheduled > stall_after:
            return Verdict("wait", f"流程运行等待执行超过 {stall_after.total_seconds():.0f} 秒："
                                   "没有运行中的 careflow serve 或 careflow worker")
    return None  # PAUSED (suspended, waiting for an answer) or too recent to judge


def _recorded_before_running(flow_run, flow_process: str) -> bool:
    """Whether ``flow_run`` is Running and its recorded process, on this host and gone, was recorded before that
    Running state began (by the process as it loaded, or by an earlier run): only then is the claim time needed."""
    state = flow_run.state if flow_run is not None else None
    if state is None or not state.is_running() or state.timestamp is None:
        return False
    recorded_at = dead_process_recorded_at(flow_process)
    return recorded_at is not None and recorded_at < state.timestamp.timestamp()


async def _claimed_at(client, flow_run) -> datetime | None:
    """When ``flow_run`` last became Pending (claimed by a runner or worker) before its current Running state."""
    try:
        states = await client.read_flow_run_states(flow_run.id)
    except Exception as exc:  # the server may be busy: judge without it
        log.warning("recovery: could not read the states of flow run %s: %s", flow_run.id, exc)
        return None
    running_since = flow_run.state.timestamp
    claims = [s.timestamp for s in states if s.is_pending() and s.timestamp is not None and s.timestamp <= running_since]
    return max(claims, default=None)


def _process_gone(flow_process: str, since: datetime | None) -> bool:
    """Whether ``flow_process`` (``<host>:<pid>:<unix time>``) was recorded on this host at or after ``since``
    and that process no longer exists. Unknown (another host, recorded earlier, unreadable): False."""
    recorded_at = dead_process_recorded_at(flow_process)
    return recorded_at is not None and since is not None and recorded_at >= since.timestamp()


async def _read_flow_runs(client, ids: list[uuid.UUID]) -> dict[uuid.UUID, object]:
    runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=len(ids))
    return {run.id: run for run in runs}


async def recover_pathway_runs(*, stall_after: float | None = None, max_restarts: int | None = None,
                               now: datetime | None = None, batch: int = RECOVERY_BATCH) -> dict[str, int]:
    """Restart, as a new flow run, every open pathway run whose flow run is dead; end as failed those restarted
    ``max_restarts`` times already; mark ``down_since`` on those waiting for a runner.

    Dead (:func:`judge_flow_run`): Crashed (by the ``on_crashed`` hook, the heartbeat automation or a person),
    Failed, Cancelled, unknown to the server, Running with its process gone (recorded on this host), Pending since
    before every live runner on this host started (:mod:`careflow.runners`: its runner died), or Running/Pending
    with no new state for ``stall_after`` seconds (default setting ``stall_after_seconds``, 300).

    Set-based: open pathway runs with a flow run are read in pages of ``batch`` (keyset on id, the partial index
    ``ix_pathway_run_open``), and each page's flow-run states in one ``read_flow_runs`` call filtered by ids.
    Restarting is a conditional update (the run must still be open, on the same flow run and restart count): two
    sweeps never restart a run twice. The dead flow run is set Crashed first (a zombie that still runs is
    stopped by the engine). The new flow run's idempotency key is ``pathway-run-<id>-r<n>``; if creating it
    fails, the run stays ``starting`` without a flow run and the next sweep creates it.

    A run ended as failed after ``max_restarts`` tells the caseworker and the county manager, in Chinese
    (:func:`careflow.recovery.close_pathway_run`).

    Returns counts: ``restarted``, ``given_up``, ``waiting_for_runner``, ``unreadable`` (a page whose states could
    not be read: the Prefect server is down; nothing is changed for it).
    """
    settings = get_settings()
    stall = timedelta(seconds=settings.stall_after_seconds if stall_after is None else stall_after)
    limit = settings.max_restarts if max_restarts is None else max_restarts
    counts = {"restarted": 0, "given_up": 0, "waiting_for_runner": 0, "unreadable": 0}
    async with get_client() as client:
        for rows in _open_runs_with_a_flow_run(batch):
            try:
                flow_runs = await _read_flow_runs(client, [row.flow_run_id for row in rows])
            except Exception as exc:  # server down: judge nothing rather than restart everything
                log.warning("recovery: could not read %d flow runs: %s", len(rows), exc)
                counts["unreadable"] += len(rows)
                continue
            moment = now or utcnow()
            runners_since = earliest_runner_start()
            for row in rows:
                flow_run = flow_runs.get(row.flow_run_id)
                verdict = await _verdict_on(client, row, flow_run, now=moment, stall_after=stall,
                                            runners_since=runners_since)
                if verdict is None:
                    continue
                if verdict.action == "wait":
                    _mark_waiting_for_runner(row, verdict.reason, moment)
                    counts["waiting_for_runner"] += 1
                    continue
                outcome = await _restart_or_give_up(client, row, verdict.reason, limit, flow_run)
                if outcome:
                    counts[outcome] += 1
    return counts


def _open_runs_with_a_flow_run(batch: int):
    """The open pathway runs that have a flow run (``id``, ``flow_run_id``, ``restart_count``, ``flow_process``), in
    pages of ``batch`` by keyset on id (the partial index ``ix_pathway_run_open``), each page read in its own
    session."""
    after: uuid.UUID | None = None
    while True:
        with session_scope() as session:
            query = (sa.select(PathwayRun.id, PathwayRun.flow_run_id, PathwayRun.restart_count,
                               PathwayRun.flow_process)
                     .where(PathwayRun.status.in_(OPEN_PATHWAY_STATUSES), PathwayRun.flow_run_id.is_not(None))
                     .order_by(PathwayRun.id).limit(batch))
            if after is not None:
                query = query.where(PathwayRun.id > after)
            rows = session.execute(query).all()
        if not rows:
            return
        yield rows
        if len(rows) < batch:
            return
        after = rows[-1].id


async def _verdict_on(client, row, flow_run, *, now: datetime, stall_after: timedelta,
                      runners_since: datetime | None) -> Verdict | None:
    """:func:`judge_flow_run` on one pathway run's flow run; for a run whose process recorded itself before it
    reported Running, judged again knowing when a runner claimed it (one more call to the server, only then)."""
    verdict = judge_flow_run(flow_run, now=now, stall_after=stall_after, flow_process=row.flow_process,
                             runners_since=runners_since)
    if verdict is None and _recorded_before_running(flow_run, row.flow_process):
        verdict = judge_flow_run(flow_run, now=now, stall_after=stall_after, flow_process=row.flow_process,
                                 runners_since=runners_since, claimed_at=await _claimed_at(client, flow_run))
    return verdict


def _mark_waiting_for_runner(row, reason: str, now: datetime) -> None:
    """Record on the pathway run that its flow run waits for a runner (``down_since``, ``last_failure``)."""
    with session_scope() as session:
        record_flow_failure(session, row.id, row.flow_run_id, reason, now=now)


async def _restart_or_give_up(client, row, reason: str, max_restarts: int, flow_run) -> str | None:
    """Restart one pathway run (returns ``"restarted"``), end it failed (``"given_up"``), or ``None`` when another
    sweep, a flow or an answer changed it meanwhile."""
    now = utcnow()
    if row.restart_count >= max_restarts:
        # people read the reason worded (no exception text); the engine's words go to the log and the audit
        outcome = Outcome().add("gave_up", times=row.restart_count, reason=failure_outcome(reason))
        with session_scope() as session:
            closed, messages = close_pathway_run(session, row.id, outcome, PathwayStatus.failed,
                                                 expect_flow_run=row.flow_run_id, now=now,
                                                 detail={"engine_reason": clip_text(reason, 1000)})
        if not closed:
            return None
        await crash_flow_run(client, flow_run, reason)
        _send_now(messages)
        log.warning("pathway run %s ended failed after %d restarts: %s", row.id, row.restart_count, reason)
        return "given_up"
    with session_scope() as session:
        result = session.execute(
            sa.update(PathwayRun)
            .where(PathwayRun.id == row.id, PathwayRun.status.in_(OPEN_PATHWAY_STATUSES),
                   PathwayRun.flow_run_id == row.flow_run_id, PathwayRun.restart_count == row.restart_count)
            .values(restart_count=row.restart_count + 1, last_failure=clip_text(reason), flow_run_id=None,
                    status=PathwayStatus.starting.value, down_since=sa.func.coalesce(PathwayRun.down_since, now))
            .execution_options(synchronize_session=False))
        if result.rowcount != 1:
            return None
        case_id = session.execute(sa.select(PathwayRun.case_id).where(PathwayRun.id == row.id)).scalar_one()
        record_audit(session, actor="careflow", action="pathway.restarted", entity_type="pathway_run",
                     entity_id=row.id, case_id=case_id, reason=clip_text(reason, 1000),
                     detail={"restart": row.restart_count + 1, "dead_flow_run": str(row.flow_run_id)})
    await crash_flow_run(client, flow_run, reason)
    try:
        new_id = await start_pathway_flow(row.id)
    except Exception as exc:  # stays ``starting`` without a flow run: the next sweep starts it
        log.warning("restart of pathway run %s: creating its flow run failed: %s", row.id, exc)
    else:
        log.warning("pathway run %s restarted as flow run %s (restart %d): %s", row.id, new_id,
                    row.restart_count + 1, reason)
    return "restarted"


def _send_now(notification_ids: list[uuid.UUID]) -> None:
    # start-up: the outbox loads Apprise's plugins (about 0.9 s); only a give-up with messages to send needs it
    from notifications.outbox import dispatch_notification

    for notification_id in notification_ids:
        try:
            with session_scope() as session:
                dispatch_notification(session, notification_id)
        except Exception as exc:  # stays in the outbox: the sweeper's dispatch retries it
            log.warning("message %s stays in the outbox: %s", notification_id, exc)
