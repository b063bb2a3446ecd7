"""One bad task never stops the deadline sweep: it is set aside, retried an hour later, and the county told.

The sweep (:func:`careflow.escalation.sweep_deadlines`) renders every due rung's messages before it writes
anything. A task whose rungs cannot be worked out, whose message cannot be rendered (a template error, a step
no longer in the policy, the privacy check), or whose writes the database refuses (a value too long, a
constraint: the sweep then redoes that batch task by task, so the others still fire) is *set aside* by
:func:`set_aside`, in its own transaction:

* its ``next_rung_at`` moves to ``now`` + :data:`RETRY_AFTER` (a conditional ``UPDATE``: only while the task is
  still open and its ``next_rung_at`` is the one the sweep read, so a task answered or handled meanwhile is
  left alone), so the next sweeps do not trip over it every minute and it is tried again an hour later;
* an audit event ``task.escalation_failed`` records the stage, the rungs and the error (clipped);
* the county manager's channel (:func:`notifications.routing.manager_channel`) gets one plain-text message in
  Chinese (not rendered from the templates, which may be what failed), naming the task by its short reference,
  unit and rungs -- no child's name or ID, and not the error text, which may quote stored values. Keyed per task
  and set of rungs, so an hourly retry that fails again does not send it again.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from core.audit import record_audits
from core.settings import get_settings
from careflow.survey.messages import enqueue_message
from models.deadlines import format_local
from models.task import OPEN_STATES_SQL, AgencyTask
from notifications.routing import manager_channel

log = logging.getLogger(__name__)

#: How long a set-aside task waits before the sweep tries it again.
RETRY_AFTER = timedelta(hours=1)
#: The audit action of a set-aside task.
FAILED_ACTION = "task.escalation_failed"
#: The event of the alert to the county manager (≤ 32 characters).
ALERT_EVENT = "escalation_failed"

#: What went wrong, for the alert, by stage.
STAGES_ZH = {"plan": "计算升级节点失败", "render": "生成通知内容失败", "write": "数据库拒绝写入"}
#: The rungs, as a manager reads them.
RUNGS_ZH = {"reminder": "到期提醒", "ack_overdue": "签收超时", "deadline": "到期未办结", "overdue": "逾期督办"}


@dataclass(frozen=True)
class Failure:
    """A task the sweep sets aside.

    Attributes:
        task: the task as the sweep read it (a plain, detached object: its ``next_rung_at`` is the value read).
        county_code: the county whose manager is told (its case's, else its jurisdiction's); None: the first six
            digits of its jurisdiction (a city's or the province's bureau).
        rungs: the rungs it was about to fire (may be empty when they could not be worked out).
        stage: ``"plan"``, ``"render"`` or ``"write"`` (:data:`STAGES_ZH`).
        error: the exception.
    """

    task: AgencyTask
    county_code: str | None
    rungs: tuple[str, ...]
    stage: str
    error: BaseException


def set_aside(session: Session, failures: list[Failure], now: datetime) -> list[uuid.UUID]:
    """Set each failed task aside (see the module docstring), in the caller's transaction; returns the ids of
    the tasks actually moved (a task closed or re-timed meanwhile is skipped: no audit, no alert)."""
    t = AgencyTask.__table__.c
    retry_at = now + RETRY_AFTER
    moved, audits = [], []
    for failure in failures:
        task = failure.task
        changed = session.execute(
            sa.update(AgencyTask.__table__)
            .where(t.id == task.id, sa.text(OPEN_STATES_SQL),
                   t.next_rung_at.is_not_distinct_from(task.next_rung_at))
            .values(next_rung_at=retry_at)
        ).rowcount
        if changed != 1:
            continue
        moved.append(task.id)
        error = f"{type(failure.error).__name__}: {failure.error}"
        log.error("deadline sweep: task %s set aside until %s (%s): %s", task.id, retry_at.isoformat(),
                  failure.stage, error[:300])
        audits.append({"actor": "careflow-sweeper", "action": FAILED_ACTION, "entity_type": "task",
                       "entity_id": task.id, "case_id": task.case_id,
                       "reason": f"{STAGES_ZH[failure.stage]}，已暂缓，{RETRY_AFTER.seconds // 3600} 小时后重试",
                       "detail": {"stage": failure.stage, "rungs": list(failure.rungs), "error": error[:500],
                                  "retry_at": retry_at.isoformat()}})
        _alert(session, failure, now, retry_at)
    record_audits(session, audits)
    return moved


def _alert(session: Session, failure: Failure, now: datetime, retry_at: datetime) -> None:
    """The one plain-text message to the county manager about a set-aside task (no personal data)."""
    task = failure.task
    county = failure.county_code or task.jurisdiction_code[:6]
    tz = get_settings().timezone
    rungs = "、".join(RUNGS_ZH.get(r, r) for r in failure.rungs) or "升级节点"
    subject = f"【期限引擎】任务 {task.short_ref} 升级失败，已暂缓"
    body = (f"期限引擎于 {format_local(now, tz)} 处理任务 {task.short_ref}（承办单位 {task.unit_code}）的"
            f"{rungs}时{STAGES_ZH[failure.stage]}，本次未发出提醒或升级。\n"
            f"该任务已暂缓，将于 {format_local(retry_at, tz)} 左右自动重试；其他任务不受影响。\n"
            f"错误详情见审计日志（{FAILED_ACTION}），请联系系统管理员处理。\n")
    enqueue_message(session, key=f"{ALERT_EVENT}:{task.id}:{'+'.join(failure.rungs) or '-'}", event=ALERT_EVENT,
                    unit_code=manager_channel(county), role="manager", subject=subject, body=body,
                    task_id=task.id, case_id=task.case_id)
