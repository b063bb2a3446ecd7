"""The sweeper: a scheduled flow that makes deadlines act and leaves nothing stored unacted on.

Each sweep (every minute by default, cron in Asia/Shanghai) fires the escalation ladder's reached rungs
(:mod:`careflow.escalation`), restarts pathway runs whose flow run crashed, failed or stopped making progress
(or ends them failed after ``max_restarts``, telling the caseworker and the county manager), starts pathway runs
whose flow run was never created, resumes flow runs whose agency answer is stored but was not delivered to the
flow, and sends every message that is due. After the
escalations it recomputes the manager dashboard's figures when they are stale (:mod:`careflow.figures`).
Overlapping sweeps are safe: rungs are unique per task and messages are claimed before sending.
"""
from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext

from core.db import get_engine
from careflow.figures import refresh_if_stale
from careflow.holiday_warning import check_next_year_calendar
from careflow.reconcile import reconcile
from models.deadlines import format_local


@task(name="reconcile-pathways", cache_policy=NO_CACHE)
async def reconcile_pathways() -> dict[str, int]:
    """Restart pathway runs whose flow run died, start unstarted ones, resume runs with stored answers
    (:func:`careflow.reconcile.reconcile`)."""
    return await reconcile()


@task(name="escalate-overdue-tasks", cache_policy=NO_CACHE)
def escalate() -> dict:
    """Fire the ladder's reached rungs and publish the sweep's figures as the ``deadline-sweep`` artifact.

    One set-based sweep (:func:`careflow.escalation.sweep_deadlines`). Returns ``fired``, ``backlog``,
    ``duration_s``, ``computed``, ``failed`` (tasks set aside for an hour: :mod:`careflow.sweep_guard`) and
    ``skipped`` (another sweep was running: nothing done, no artifact).
    """
    # start-up: the sweep renders messages (Jinja2 templates); `careflow serve` imports this module but never sweeps
    from careflow.escalation import sweep_deadlines

    report = sweep_deadlines()
    figures = {"fired": report.fired_count, "backlog": report.backlog, "duration_s": round(report.duration_s, 3),
               "computed": report.computed, "failed": len(report.failed), "skipped": report.skipped}
    if not report.skipped and TaskRunContext.get() is not None:  # `careflow sweep` calls it outside a run
        create_table_artifact(
            key="deadline-sweep",
            table=[{"完成时间": format_local(report.finished_at), "触发提醒或升级": figures["fired"],
                    "检查任务数": report.computed, "积压待处理任务": report.backlog, "升级失败（已暂缓）": figures["failed"],
                    "用时（秒）": figures["duration_s"]}],
            description=(f"期限引擎巡检：用时 {report.duration_s:.1f} 秒，触发 {figures['fired']} 次，"
                         + ("无积压逾期未处理" if not report.backlog else f"积压 {report.backlog} 项，下次巡检继续")
                         + (f"；{figures['failed']} 项任务升级失败，已暂缓 1 小时后重试" if figures["failed"] else "")))
    return figures


@task(name="refresh-dashboard-figures", cache_policy=NO_CACHE)
def refresh_dashboard() -> dict:
    """Recompute the manager dashboard's figures when stale (:func:`careflow.figures.refresh_if_stale`: older than
    max(15 s, 10 × the last refresh's duration)), so that pages only read them. Returns ``refreshed`` (False:
    fresh enough, or another refresh was running), ``rows`` and ``duration_s``."""
    result = refresh_if_stale(get_engine())
    if result is None:
        return {"refreshed": False, "rows": 0, "duration_s": 0.0}
    return {"refreshed": True, "rows": result.rows, "duration_s": round(result.seconds, 3)}


@task(name="retry-notifications", cache_policy=NO_CACHE)
def retry_notifications() -> dict[str, int]:
    """Send every pending message and every failed one whose retry time has come.

    Runs :func:`notifications.dispatcher.dispatch_due`: daily digests when due, bursts merged into digests,
    then the due messages in parallel across recipients within each platform's rate limits. Returns
    ``{status: count}`` ("skipped": another dispatcher had it; "pending": deferred by a rate limit).
    """
    from notifications.dispatcher import dispatch_due  # start-up: Apprise's plugins, about 0.9 s

    return dispatch_due()


@flow(name="careflow-sweeper", log_prints=True)
async def sweeper() -> dict:
    """One sweep; returns what it did."""
    rungs = escalate()
    figures = refresh_dashboard()
    pathways = await reconcile_pathways()
    check_next_year_calendar()  # from 1 November: warn the province weekly while next year's holidays are missing
    messages = retry_notifications()
    get_run_logger().info("escalations %s; dashboard figures %s; pathways %s; notifications %s", rungs, figures,
                          pathways, messages)
    return {"escalations": rungs, "dashboard": figures, "pathways": pathways, "notifications": messages}
