"""Pathway runs that lost their flow run: ending them as failed, telling people, and listing the stalled ones.

Database-only (no Prefect client here): :mod:`careflow.resume` decides from the engine's states which runs to
restart or end; the flows' ``on_failure``/``on_crashed`` hook and ``close_pathway`` write through these functions.
Every state change is conditional (the expected status, and where it matters the expected flow run, in the
``UPDATE``), so a sweep, a hook and a flow that race never overwrite each other.
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import record_audit
from core.outcome import Outcome
from models.base import utcnow
from models.child import Child
from models.case import OPEN_PATHWAY_STATUSES, Case, PathwayRun, PathwayStatus, clip_text
from models.notification import Notification
from models.task import AgencyTask
from notifications.routing import caseworker_unit, manager_channel  # noqa: F401 (manager_channel: also imported from here)


#: An engine's text that quotes a raw exception (Prefect's "Flow run encountered an exception: KeyError: …", a
#: Python class name): never shown to people, only logged and audited (:func:`failure_outcome`).
_RAW_ERROR = re.compile(r"encountered an exception|Traceback|\b[A-Z][A-Za-z]*(?:Error|Exception)\b")


#: careflow's own verdicts on a flow run (:func:`careflow.reconcile.judge`, :mod:`careflow.resume`), Chinese text that
#: may quote the engine (a crashed run's state message), by words they contain → the phrase that words them in the
#: reader's language; the most specific first.
_VERDICTS = (
    ("已不存在（被杀或崩溃）", "failure.process_gone"),
    ("随后停止的运行器", "failure.runner_stopped"),
    ("未保存答复输入的格式", "failure.input_lost"),
    ("Prefect 中找不到该流程运行", "failure.run_missing"),
    ("流程运行已", "failure.run_ended"),
)


def failure_outcome(reason: str) -> Outcome:
    """Why a flow run failed, as people read it (the case page, the dashboard, the 【路径失败】 mail): a known error
    worded (``NoUnitForAgency``: the directory lacks a unit for the child's area), any other quoted exception as
    "the flow hit an error (details in the log)"; careflow's own Chinese verdicts (a process gone, a run that ended or
    a runner that stopped: :data:`_VERDICTS`) by their phrase, never with the engine's state message they quote; other
    text as it is. The raw ``reason`` stays in the log and the audit (``pathway.restarted``, ``pathway.failed``
    detail)."""
    if "NoUnitForAgency" in reason:
        return Outcome().add("failure.no_unit")
    if _RAW_ERROR.search(reason):
        return Outcome().add("failure.error")
    for words, key in _VERDICTS:
        if words in reason:
            return Outcome().add(key)
    return Outcome.typed(reason)


#: What a failure message says instead of a reason that quotes the child's name or ID number.
WITHHELD = "路径未能完成（原因中含儿童个人信息，未随通知发送，请登录系统查看）"


def record_flow_failure(session: Session, pathway_run_id: uuid.UUID, flow_run_id: uuid.UUID | None,
                        reason: str, *, now: datetime | None = None) -> bool:
    """Record on an open pathway run that its flow run ``flow_run_id`` failed or crashed with ``reason``.

    Sets ``last_failure`` (cut to 500 characters) and ``down_since`` (UTC, kept if already set). Only while the
    run is open and still linked to that flow run (a later flow run's failure is not overwritten by an older
    one's). Returns True when recorded. Does not commit.
    """
    now = now or utcnow()
    conditions = [PathwayRun.id == pathway_run_id, PathwayRun.status.in_(OPEN_PATHWAY_STATUSES)]
    if flow_run_id is not None:
        conditions.append(PathwayRun.flow_run_id == flow_run_id)
    result = session.execute(
        sa.update(PathwayRun).where(*conditions)
        .values(last_failure=clip_text(reason), down_since=sa.func.coalesce(PathwayRun.down_since, now))
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def close_pathway_run(session: Session, pathway_run_id: uuid.UUID, outcome: str | Outcome, status: PathwayStatus,
                      *, actor: str = "careflow", expect_flow_run: uuid.UUID | None = None,
                      now: datetime | None = None, detail: dict | None = None) -> tuple[bool, list[uuid.UUID]]:
    """End an open pathway run as ``status`` with ``outcome`` (cut to 500 characters with "…"); once. An
    :class:`~core.outcome.Outcome` is stored as its phrases and its Chinese text; a plain text as the text only.

    A run that is no longer open (or, with ``expect_flow_run``, no longer linked to that flow run) is left as it
    is. A ``failed`` end tells the case's caseworker and the county manager (``civil_affairs-<county>.manager``),
    in Chinese, with the reason; ``detail`` goes to the audit event only (the engine's raw text). The case stays
    open: closing it is the caseworker's decision, and the ended pathway waits in their inbox (待我处理,
    :mod:`careflow.closing`; issue 12). Does not commit.

    Returns:
        ``(closed, notification ids)``: whether this call ended the run, and the messages it stored (to send
        now; the sweeper sends any that stay pending).
    """
    now = now or utcnow()
    phrases = outcome.to_json() if isinstance(outcome, Outcome) else None
    outcome = outcome.text() if isinstance(outcome, Outcome) else clip_text(outcome)
    conditions = [PathwayRun.id == pathway_run_id, PathwayRun.status.in_(OPEN_PATHWAY_STATUSES)]
    if expect_flow_run is not None:
        conditions.append(PathwayRun.flow_run_id == expect_flow_run)
    result = session.execute(
        sa.update(PathwayRun).where(*conditions)
        .values(status=status.value, outcome=outcome, outcome_phrases=phrases, ended_at=now, resume_pending=False)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False, []
    run = session.get(PathwayRun, pathway_run_id)
    session.refresh(run)
    record_audit(session, actor=actor, action=f"pathway.{status.value}", entity_type="pathway_run",
                 entity_id=run.id, case_id=run.case_id, reason=outcome, **({"detail": detail} if detail else {}))
    notifications = notify_pathway_failed(session, run, outcome) if status == PathwayStatus.failed else []
    session.flush()
    return True, [n.id for n in notifications]


def notify_pathway_failed(session: Session, run: PathwayRun, reason: str) -> list[Notification]:
    """Store (once each) the message telling the caseworker and the county manager that ``run`` ended failed.

    Sent as a ``pathway_closed`` message on the run's latest task (the step it stopped at) when it has one,
    else as a plain message naming the case reference and the pathway. Never the child's name or ID number.
    """
    # Every flow-run process imports this module (flows.steps) before it reports Running: the policy's models and
    # the message templates (Jinja2) would be start-up cost for it; loaded only when a pathway fails.
    from models.policy import load_policy
    from notifications.messages import enqueue_task_message  # start-up: as above
    from notifications.render import PersonalDataLeak, assert_no_personal_data  # start-up: as above

    case = session.get(Case, run.case_id)
    child = session.get(Child, case.child_id)
    summary = clip_text(f"路径未能完成：{reason}", 480)
    recipients = ((caseworker_unit(case.caseworker), "caseworker"), (manager_channel(case.county_code), "manager"))
    last_task = session.exec(select(AgencyTask).where(AgencyTask.pathway_run_id == run.id)
                             .order_by(AgencyTask.requested_at.desc()).limit(1)).first()
    stored = []
    for recipient, role in recipients:
        if last_task is not None:
            try:
                with session.begin_nested():
                    message = enqueue_task_message(session, task=last_task, event="pathway_closed",
                                                   recipient_unit=recipient, role=role, outcome_summary=summary,
                                                   occasion="failed")
            except PersonalDataLeak:  # the reason quotes the child: say so, never send it
                message = enqueue_task_message(session, task=last_task, event="pathway_closed",
                                               recipient_unit=recipient, role=role, outcome_summary=WITHHELD,
                                               occasion="failed")
            stored.append(message)
            continue
        key = f"pathway-run:{run.id}:failed:{recipient}"
        existing = session.exec(select(Notification).where(Notification.idempotency_key == key)).first()
        if existing:
            stored.append(existing)
            continue
        try:
            title = load_policy().pathways[run.pathway].title_zh
        except KeyError:
            title = run.pathway
        try:
            assert_no_personal_data(summary, child_name=child.full_name, resident_id=child.resident_id)
        except PersonalDataLeak:
            summary = WITHHELD
        notification = Notification(
            idempotency_key=key, event="pathway_closed", case_id=case.id, task_id=None, unit_code=recipient,
            recipient_role=role, subject=clip_text(f"【路径失败】{case.reference} {title}", 200),
            body=(f"您好：\n\n案件 {case.reference} 的服务路径“{title}”未能完成，已停止。\n\n原因：{summary}\n\n"
                  "请登录 careflow 查看个案并决定是否重新启动该路径。\n"),
        )
        session.add(notification)
        record_audit(session, actor="careflow", action="notification.queued", entity_type="notification",
                     entity_id=notification.id, case_id=case.id, detail={"event": "pathway_closed", "unit": recipient})
        stored.append(notification)
    return stored


def stalled_pathway_runs(session: Session, older_than: timedelta, *, now: datetime | None = None,
                         limit: int = 200, county_prefix: str | None = None) -> list[PathwayRun]:
    """Open pathway runs that have had no live flow run for longer than ``older_than``, longest first.

    "No live flow run": never started (``starting`` without a flow run since ``started_at``), or found by the
    sweeper with a flow run that crashed, failed, was cancelled, stopped reporting or waits for a runner
    (``down_since``, cleared when a new flow run begins). At most ``limit`` rows (the dashboard's list).
    ``county_prefix`` (``35``, ``3503``, ``350302``): only runs of cases whose county code starts with it, chosen in
    SQL before the limit (a county's dashboard is not left with what remains of the province's first ``limit``).
    """
    cutoff = (now or utcnow()) - older_than
    since = sa.func.coalesce(PathwayRun.down_since, PathwayRun.started_at)
    query = select(PathwayRun).where(
        PathwayRun.status.in_(OPEN_PATHWAY_STATUSES),
        sa.or_(PathwayRun.down_since < cutoff,
               sa.and_(PathwayRun.flow_run_id.is_(None), PathwayRun.started_at < cutoff)))
    if county_prefix is not None:
        query = query.where(PathwayRun.case_id.in_(
            select(Case.id).where(Case.county_code.startswith(county_prefix, autoescape=True))))
    return list(session.exec(query.order_by(since).limit(limit)).all())
