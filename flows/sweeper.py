"""The sweeper: a scheduled flow that makes deadlines act and leaves nothing stored unacted on.

Each sweep (every minute by default, cron in Asia/Shanghai) fires the escalation ladder's reached rungs
(:mod:`careflow.escalation`), starts pathway runs whose flow run was never created, resumes flow runs
whose agency answer is stored but was not delivered to the flow, and sends every message that is due.
Overlapping sweeps are safe: rungs are unique per task and messages are claimed before sending.
"""
from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from careflow.db import session_scope
from careflow.resume import reconcile
from notifications.outbox import dispatch_notification, due_notifications  # noqa: F401 (kept for importers)


@task(name="reconcile-pathways", cache_policy=NO_CACHE)
async def reconcile_pathways() -> dict[str, int]:
    """Start unstarted pathway runs and resume runs with stored answers."""
    return await reconcile()


@task(name="escalate-overdue-tasks", cache_policy=NO_CACHE)
def escalate() -> int:
    """Fire the ladder's reached rungs; returns how many fired."""
    from careflow.escalation import escalate_overdue_tasks

    return len(escalate_overdue_tasks())


@task(name="retry-notifications", cache_policy=NO_CACHE)
def retry_notifications() -> dict[str, int]:
    """Send every pending message and every failed one whose retry time has come.

    Runs :func:`notifications.dispatcher.dispatch_due`: daily digests when due, bursts merged into digests,
    then the due messages in parallel across recipients within each platform's rate limits. Returns
    ``{status: count}`` ("skipped": another dispatcher had it; "pending": deferred by a rate limit).
    """
    from notifications.dispatcher import dispatch_due

    return dispatch_due()


@flow(name="careflow-sweeper", log_prints=True)
async def sweeper() -> dict:
    """One sweep; returns what it did."""
    rungs = escalate()
    pathways = await reconcile_pathways()
    messages = retry_notifications()
    get_run_logger().info("escalations %s; pathways %s; notifications %s", rungs, pathways, messages)
    return {"escalations": rungs, "pathways": pathways, "notifications": messages}
