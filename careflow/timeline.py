"""A case's timeline: every task of every pathway on the case, in order, with answers and messages."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, select

from careflow.audit import record_audit
from careflow.settings import get_settings
from models.agency import AgencyUnit
from models.case import Case, PathwayRun
from models.deadlines import format_local
from models.notification import Notification
from models.task import AgencyTask


@dataclass
class TimelineRow:
    """One task as a manager reads it. Times are UTC-aware; :func:`format_timeline` shows them locally."""

    pathway: str
    step_key: str
    title: str
    attempt: int
    unit_code: str
    unit_name: str
    requested_at: datetime
    due_at: datetime
    due_provisional: bool
    deadline_text: str
    state: str
    answered_at: datetime | None
    answered_by: str
    outcome: dict
    rejection_reason: str
    on_time: bool | None
    notifications: list[tuple[str, str, str]] = field(default_factory=list)  # (event, unit, status)


@dataclass
class CaseTimeline:
    reference: str
    status: str
    pathways: list[tuple[str, str, str]]  # (pathway, status, outcome)
    rows: list[TimelineRow]


def case_timeline(session: Session, reference: str, *, actor: str) -> CaseTimeline:
    """The timeline of the case ``reference`` across all its pathways (the read is audited).

    Raises:
        LookupError: no such case.
    """
    case = session.exec(select(Case).where(Case.reference == reference)).first()
    if case is None:
        raise LookupError(f"field 'case': no case {reference!r}")
    record_audit(session, actor=actor, action="case.timeline_read", entity_type="case", entity_id=case.id,
                 case_id=case.id)
    runs = {r.id: r for r in session.exec(select(PathwayRun).where(PathwayRun.case_id == case.id)).all()}
    tasks = session.exec(select(AgencyTask).where(AgencyTask.case_id == case.id).order_by(AgencyTask.requested_at)).all()
    messages = session.exec(select(Notification).where(Notification.case_id == case.id).order_by(Notification.created_at)).all()
    rows = []
    for t in tasks:
        unit = session.get(AgencyUnit, t.unit_code)
        rows.append(TimelineRow(
            pathway=runs[t.pathway_run_id].pathway, step_key=t.step_key, title=t.title, attempt=t.attempt,
            unit_code=t.unit_code, unit_name=unit.name if unit else t.unit_code, requested_at=t.requested_at,
            due_at=t.due_at, due_provisional=t.due_provisional, deadline_text=t.deadline_text, state=t.state,
            answered_at=t.answered_at, answered_by=t.answered_by, outcome=t.outcome,
            rejection_reason=t.rejection_reason,
            on_time=(t.answered_at <= t.due_at) if t.answered_at else None,
            notifications=[(m.event, m.unit_code, m.status) for m in messages if m.task_id == t.id],
        ))
    return CaseTimeline(
        reference=case.reference, status=case.status,
        pathways=[(r.pathway, r.status, r.outcome) for r in sorted(runs.values(), key=lambda r: r.started_at)],
        rows=rows,
    )


def format_timeline(timeline: CaseTimeline) -> str:
    """The timeline as text for a terminal, times in the configured zone (Asia/Shanghai)."""
    tz = get_settings().timezone
    lines = [f"个案 Case {timeline.reference}  ({timeline.status})"]
    for pathway, status, outcome in timeline.pathways:
        lines.append(f"  路径 pathway {pathway}: {status}{' — ' + outcome if outcome else ''}")
    for n, row in enumerate(timeline.rows, 1):
        due = format_local(row.due_at, tz) + ("（暂定 provisional）" if row.due_provisional else "")
        attempt = f" (第{row.attempt}次 attempt {row.attempt})" if row.attempt > 1 else ""
        lines.append(f"{n:>2}. {row.title}{attempt}  [{row.step_key}]")
        lines.append(f"    承办 agency: {row.unit_name} ({row.unit_code})")
        lines.append(f"    发起 requested: {format_local(row.requested_at, tz)}   时限 due: {due} ({row.deadline_text})")
        answer = row.state
        if row.answered_at:
            timing = "按时 on time" if row.on_time else "逾期 late"
            answer += f" at {format_local(row.answered_at, tz)} by {row.answered_by} ({timing})"
        if row.outcome:
            answer += "  " + ", ".join(f"{k}={v}" for k, v in row.outcome.items())
        if row.rejection_reason:
            answer += f"  reason: {row.rejection_reason}"
        lines.append(f"    答复 answer: {answer}")
        for event, unit, status in row.notifications:
            lines.append(f"    通知 notification: {event} → {unit}: {status}")
    return "\n".join(lines)
