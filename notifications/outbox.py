"""The notification outbox: store every message first, then send it, retry, and give up loudly.

``enqueue_task_message`` renders and stores a message once per (task, event, recipient);
``dispatch_notification`` sends one stored message through the unit's channels and records the result.
A message that keeps failing is retried with backoff and, after ``MAX_ATTEMPTS``, marked ``given_up``
with an alert to the county civil affairs bureau (民政, the coordinating department).
"""
from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from careflow.audit import record_audit
from careflow.settings import get_settings
from models.base import utcnow
from models.case import Case, PathwayRun
from models.child import Child
from models.deadlines import format_local
from models.notification import DeliveryStatus, Notification
from models.policy import load_policy
from models.task import AgencyTask
from notifications.channels import load_channels, write_default_channels
from notifications.deliver import deliver
from notifications.render import MessageContext, assert_no_personal_data, render_message

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
#: Wait before retry n (1-based): 1, 2, 4, 8 minutes.
BACKOFF = [timedelta(minutes=2**n) for n in range(MAX_ATTEMPTS)]


def caseworker_unit(login: str) -> str:
    """The channel key of a caseworker: caseworkers are addressed like units (``caseworker.<login>``)."""
    return f"caseworker.{login}"


def task_message_context(session: Session, task: AgencyTask, event: str, *, role: str = "officer",
                         outcome_summary: str = "") -> MessageContext:
    """Everything a message about ``task`` may say: case reference, step, deadline, how to answer.

    Deliberately built without the child's name or ID number (DOMAIN.md §7).
    """
    run = session.get(PathwayRun, task.pathway_run_id)
    case = session.get(Case, task.case_id)
    definition = load_policy().pathways[run.pathway]
    step = definition.step(task.step_key)
    unit = task.unit_code
    settings = get_settings()
    return MessageContext(
        event=event,
        case_reference=case.reference,
        pathway_title=definition.title_zh,
        step_title=step.title_zh,
        agency_unit_name=_unit_name(session, unit),
        task_ref=task.short_ref,
        due_at_local=format_local(task.due_at, settings.timezone),
        # Shown only while acknowledging is still outstanding (a reminder after acknowledgement leaves it out).
        ack_due_at_local=(format_local(task.ack_due_at, settings.timezone)
                          if task.ack_due_at is not None and task.acknowledged_at is None else ""),
        deadline_text=_deadline_text(task),
        provisional=task.due_provisional,
        instructions=step.instructions_zh,
        outcome_fields=[{"name": f.name, "label": f.label_zh} for f in step.outcome],
        answer_commands={
            "acknowledge": f"careflow task ack {task.short_ref} --unit {unit} --as <姓名>",
            "reject": f"careflow task reject {task.short_ref} --unit {unit} --as <姓名> --reason <原因>",
            "complete": f"careflow task complete {task.short_ref} --unit {unit} --as <姓名> "
            + " ".join(f"--outcome {f.name}=<{f.label_zh}>" for f in step.outcome if f.required),
        },
        link=f"{settings.resolved_public_url}/runs/flow-run/{run.flow_run_id}" if run.flow_run_id else settings.resolved_public_url,
        escalation_level=task.escalation_level,
        recipient_role=role,
        outcome_summary=outcome_summary,
    )


def describe_outcome(session: Session, task: AgencyTask) -> str:
    """The task's outcome in the step's own words, e.g. ``情节严重：是；儿童处于危险之中：是``."""
    pathway = session.get(PathwayRun, task.pathway_run_id).pathway
    labels = {f.name: f.label_zh for f in load_policy().pathways[pathway].step(task.step_key).outcome}
    shown = {True: "是", False: "否"}
    return "；".join(f"{labels.get(k, k)}：{shown.get(v, v)}" for k, v in task.outcome.items())


def _unit_name(session: Session, unit_code: str) -> str:
    from models.agency import AgencyUnit

    unit = session.get(AgencyUnit, unit_code)
    return unit.name if unit else unit_code


def _deadline_text(task: AgencyTask) -> str:
    from models.deadlines import DeadlineRule

    try:
        amount, unit = task.deadline_text.split(" ", 1)
        units = {"hours": "h", "days": "d", "working days": "wd"}
        return DeadlineRule.parse(f"{amount}{units[unit]}").describe_zh()
    except (ValueError, KeyError):
        return task.deadline_text


def enqueue_task_message(
    session: Session, *, task: AgencyTask, event: str, recipient_unit: str | None = None,
    role: str = "officer", outcome_summary: str = "", occasion: str | None = None,
) -> Notification:
    """Render and store the message for ``event`` on ``task`` once; later calls return the stored one.

    ``recipient_unit`` defaults to the task's unit. The idempotency key is
    ``"<task id>:<event>:<recipient>:<occasion>"``; ``occasion`` defaults to the task's escalation level
    (the sweeper passes the escalation rung).

    Raises:
        PersonalDataLeak: the rendered text holds the child's name or ID number (nothing is stored).
    """
    recipient = recipient_unit or task.unit_code
    key = f"{task.id}:{event}:{recipient}:{occasion if occasion is not None else task.escalation_level}"
    existing = session.exec(select(Notification).where(Notification.idempotency_key == key)).first()
    if existing:
        return existing
    if event == "task_answered" and task.outcome:
        outcome_summary = "；".join(filter(None, [outcome_summary, describe_outcome(session, task)]))
    ctx = task_message_context(session, task, event, role=role, outcome_summary=outcome_summary)
    message = render_message(ctx)
    child = session.get(Child, session.get(Case, task.case_id).child_id)
    for text in (message.subject, message.body):
        assert_no_personal_data(text, child_name=child.full_name, resident_id=child.resident_id)
    notification = Notification(
        idempotency_key=key, event=event, case_id=task.case_id, task_id=task.id, unit_code=recipient,
        recipient_role=role, subject=message.subject, body=message.body,
    )
    session.add(notification)
    record_audit(session, actor="careflow", action="notification.queued", entity_type="notification",
                 entity_id=notification.id, case_id=task.case_id, detail={"event": event, "unit": recipient})
    return notification


def url_identity(notification_id: uuid.UUID, url: str) -> str:
    """A stable identity of ``url`` within one notification that does not reveal the URL.

    The sha256 of the notification id and the full URL (``{unit}`` substituted): the same URL gets the
    same identity on every attempt of that notification, so a retry can tell which URLs already have the
    message, while the stored value carries none of the URL's tokens or passwords (the notification id
    as salt keeps equal URLs of different notifications from being matched against each other).
    """
    return hashlib.sha256(f"{notification_id}\n{url}".encode("utf-8")).hexdigest()


def dispatch_notification(session: Session, notification_id: uuid.UUID, *, now: datetime | None = None) -> Notification:
    """Send one stored message through its unit's channels (from the channel file) and record the result.

    Already ``sent`` or ``given_up`` messages are left alone, so calling this twice never sends twice
    once the first call has recorded its result.

    ``Notification.delivery`` holds one entry per channel URL: ``{"id", "url", "ok", "error", "attempt"}``
    -- ``id`` is :func:`url_identity` (never the URL itself), ``url`` the redacted URL, ``attempt`` the
    attempt that last tried it (for a delivered URL: the attempt that delivered it). A retry sends only
    to the URLs that do not have the message yet, so a unit with an email and a DingTalk channel never
    gets the message twice on the channel that worked. Entries of URLs that were delivered and have since
    been removed from the channel file are kept as a record.

    Two dispatchers never send the same message: each first claims it (``sending``, committed, until
    ``claimed_until``); a dispatcher that crashes mid-send leaves a claim that expires after
    :data:`CLAIM_FOR`, and the message is then due again.

    The message is ``sent`` once every URL configured for the unit has it. On failure: ``failed`` with
    ``next_attempt_at`` set by :data:`BACKOFF`; at :data:`MAX_ATTEMPTS`, ``given_up`` and an alert to the
    county civil affairs.
    """
    now = now or utcnow()
    if not _claim(session, notification_id, now):  # sent, given up, or another dispatcher is on it
        return session.get(Notification, notification_id)
    notification = session.get(Notification, notification_id)
    settings = get_settings()
    write_default_channels(settings.resolved_channels_file, settings.smtp_port)
    urls = load_channels(settings.resolved_channels_file).urls_for(notification.unit_code)

    unique_urls = list(dict.fromkeys(urls))  # a URL listed twice is sent to once
    identities = [url_identity(notification.id, url) for url in unique_urls]
    delivered = {
        entry["id"]: entry for entry in (notification.delivery or [])
        if isinstance(entry, dict) and entry.get("ok") and entry.get("id")
    }
    pending = [(ident, url) for ident, url in zip(identities, unique_urls) if ident not in delivered]

    current = {ident: delivered[ident] for ident in identities if ident in delivered}
    no_channel: list[dict] = []
    if pending or not unique_urls:  # else every configured URL already has it (a failing one was removed)
        notification.attempts += 1
        result = deliver([url for _, url in pending], notification.subject, notification.body)
        if pending:
            for (ident, _url), outcome in zip(pending, result.per_url):
                current[ident] = {"id": ident, "url": outcome.url_redacted, "ok": outcome.ok,
                                  "error": outcome.error, "attempt": notification.attempts}
        else:  # no channel configured: deliver() explains it in a single failed entry
            no_channel = [{"id": "", "url": r.url_redacted, "ok": r.ok, "error": r.error,
                           "attempt": notification.attempts} for r in result.per_url]
    # A new list (JSON columns do not track in-place changes): the configured URLs in order, then URLs
    # that got the message earlier but are no longer configured.
    notification.delivery = (
        [current[ident] for ident in identities] + no_channel
        + [entry for ident, entry in delivered.items() if ident not in current]
    )
    failures = [entry for entry in notification.delivery if not entry["ok"]]
    if not failures:
        notification.status = DeliveryStatus.sent
        notification.sent_at = now
        notification.last_error = ""
        notification.next_attempt_at = None
    else:
        notification.last_error = "; ".join(f"{f['url']}: {f['error']}" for f in failures)[:1000]
        if notification.attempts >= MAX_ATTEMPTS:
            notification.status = DeliveryStatus.given_up
            notification.next_attempt_at = None
            _alert_given_up(session, notification)
        else:
            notification.status = DeliveryStatus.failed
            notification.next_attempt_at = now + BACKOFF[notification.attempts - 1]
        log.warning("notification %s to %s failed (attempt %s): %s", notification.id, notification.unit_code,
                    notification.attempts, notification.last_error)
    notification.claimed_until = None
    session.add(notification)
    record_audit(session, actor="careflow", action=f"notification.{notification.status.value}",
                 entity_type="notification", entity_id=notification.id, case_id=notification.case_id,
                 detail={"attempt": notification.attempts, "unit": notification.unit_code,
                         "urls_tried": len(pending),
                         "urls_delivered": sum(1 for entry in notification.delivery if entry["ok"]),
                         "urls_failed": len(failures)})
    return notification


#: How long a dispatcher holds a message it is sending.
CLAIM_FOR = timedelta(minutes=10)


def _claim(session: Session, notification_id: uuid.UUID, now: datetime) -> bool:
    """Atomically mark the message ``sending`` if it is sendable; commit so other dispatchers see it."""
    result = session.execute(
        sa.update(Notification)
        .where(
            Notification.id == notification_id,
            sa.or_(
                Notification.status.in_([DeliveryStatus.pending, DeliveryStatus.failed]),
                sa.and_(Notification.status == DeliveryStatus.sending, Notification.claimed_until < now),
            ),
        )
        .values(status=DeliveryStatus.sending, claimed_until=now + CLAIM_FOR)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    session.expire_all()
    return result.rowcount == 1


def _alert_given_up(session: Session, notification: Notification) -> None:
    """Tell the county civil affairs bureau that a message could not be delivered."""
    if notification.task_id is None or notification.event == "delivery_failed":
        return
    task = session.get(AgencyTask, notification.task_id)
    case = session.get(Case, task.case_id)
    manager = f"civil_affairs-{case.county_code}"
    if manager == notification.unit_code:
        return
    enqueue_task_message(session, task=task, event="task_escalated", recipient_unit=manager, role="manager",
                         outcome_summary=f"通知 {notification.unit_code} 投递失败 {notification.attempts} 次，已停止重试")


def due_notifications(session: Session, now: datetime | None = None) -> list[uuid.UUID]:
    """Ids of messages waiting to be sent: pending, failed with their retry time reached, or claimed by
    a dispatcher whose claim has expired."""
    now = now or utcnow()
    rows = session.exec(select(Notification).where(Notification.status.in_(
        [DeliveryStatus.pending, DeliveryStatus.failed, DeliveryStatus.sending]))).all()
    return [
        n.id for n in rows
        if n.status == DeliveryStatus.pending
        or n.status == DeliveryStatus.failed and n.next_attempt_at and n.next_attempt_at <= now
        or n.status == DeliveryStatus.sending and n.claimed_until and n.claimed_until < now
    ]
