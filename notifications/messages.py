"""What a message about a task says, and storing it in the outbox once (the outbox then sends it).

``enqueue_task_message`` renders and stores a message once per (task, event, recipient): the key makes a
resumed, retried or restarted flow a no-op. The content is built without the child's name or ID number
(DOMAIN.md §7). :func:`alert_given_up` tells the county manager that a message could not be delivered.
"""
from __future__ import annotations

import logging
from functools import lru_cache
from typing import NamedTuple

from sqlmodel import Session, select

from core.audit import record_audit
from core.i18n import deadline_text as i18n_deadline_text
from core.i18n import label, outcome_text
from core.settings import get_settings
from models.agency import AgencyUnit
from models.case import Case, PathwayRun
from models.child import Child
from models.deadlines import DeadlineRule, format_local
from models.notification import Notification
from models.policy import load_policy
from models.service_list import referral_item, referral_text
from models.task import AgencyTask
from models.user import WebUser
from models.areas import overdue_area
from notifications.claims import wake_send_loops
from notifications.render import MessageContext, assert_no_personal_data, render_message
from notifications.routing import manager_channel

log = logging.getLogger(__name__)


def task_message_context(session: Session, task: AgencyTask, event: str, *, role: str = "officer",
                         outcome_summary: str = "", policy=None, rows: dict | None = None,
                         lang: str = "zh", blocked: bool = False) -> MessageContext:
    """Everything a message about ``task`` may say: case reference, step, deadline, how to answer.

    Deliberately built without the child's name or ID number (DOMAIN.md §7).

    A referral of a service-list item (a pathway whose start parameters include ``item``, e.g.
    ``service_referral``) names the item in the step title and puts its service, target group, content and
    departments after the step's instructions (:func:`models.service_list.referral_text`). A dated duty
    outside any case (no pathway run, ``duty_key`` set: e.g. a city list's 10-day filing) shows the duty's
    subject where the case reference would be, and its own title, instructions and answer fields
    (:func:`models.dated_duties.describe_duty`). ``policy``: the loaded policy (default :func:`load_policy`;
    bulk callers pass it once). ``rows``: the task's pathway run, case and unit name already read, keyed by
    ``PathwayRun``, ``Case`` and ``AgencyUnit`` (bulk callers read them for many tasks at once; missing keys are
    read here). The command lines to answer (``careflow task …``) are given only when the unit
    ``answers_by_command`` (issue 12); otherwise the link to the task page is how to answer.

    ``lang``: the language of a dated duty's wording (subject, titles, instructions, answer fields' labels and
    choices), for a message rendered in that language (:func:`notifications.render.render_message`); Chinese by
    default, as :func:`enqueue_task_message` stores every message. A case step's wording is the policy's Chinese.

    A ``task_rejected`` message also says who returned the task, the reason's kind and text and the unit the officer
    named (:func:`_rejection`); ``blocked``: the step was returned as often as allowed and is not re-issued.
    """
    rows = rows or {}
    unit_row = rows[AgencyUnit] if AgencyUnit in rows else session.get(AgencyUnit, task.unit_code)
    settings = get_settings()
    duty = task.pathway_run_id is None
    wording = _duty_wording(task, lang) if duty else _step_wording(session, task, policy or load_policy(), rows)
    lang = lang if duty and lang == "en" else "zh"  # a case step's words are Chinese: so are its fields
    return MessageContext(
        event=event,
        case_reference=wording.reference,
        pathway_title=wording.pathway_title,
        step_title=wording.step_title,
        agency_unit_name=unit_row.name if unit_row is not None else task.unit_code,
        task_ref=task.short_ref,
        due_at_local=format_local(task.due_at, settings.timezone),
        # Shown only while acknowledging is still outstanding (a reminder after acknowledgement leaves it out).
        ack_due_at_local=(format_local(task.ack_due_at, settings.timezone)
                          if task.ack_due_at is not None and task.acknowledged_at is None else ""),
        deadline_text=_deadline_text(task) if lang == "zh" else i18n_deadline_text(task.deadline_text, lang),
        provisional=task.due_provisional,
        instructions=wording.instructions,
        outcome_fields=[{"name": f.name, "label": (lang == "en" and f.label_en) or f.label_zh,
                         "choices": _choices(f, lang)} for f in wording.outcome],
        answer_commands=_answer_commands(task, unit_row, wording.outcome),
        link=settings.task_url(task.id),  # the task's web page, never the Prefect UI (issue 12)
        escalation_level=task.escalation_level,
        recipient_role=role,
        outcome_summary=outcome_summary,
        manager_level=("province" if task.case_id is None
                       and (overdue_area(task.jurisdiction_code, None) or "").endswith("0000") else "county"),
        **(_rejection(session, task, blocked) if event == "task_rejected" else {}),
    )


def _rejection(session: Session, task: AgencyTask, blocked: bool) -> dict:
    """What a ``task_rejected`` message says of the rejection: who (an account's display name, else as recorded),
    the kind (a code: the template words it), the officer's text and the unit named instead."""
    user = session.exec(select(WebUser).where(WebUser.username == task.answered_by)).first() \
        if task.answered_by else None
    return {"rejected_by": (user.display_name or user.username) if user is not None else task.answered_by,
            "rejection_kind": task.rejection_kind, "rejection_reason": task.rejection_reason,
            "reroute_unit_name": unit_name(session, task.reroute_unit_code) if task.reroute_unit_code else "",
            "blocked": blocked}


class _Wording(NamedTuple):
    """What a task asks, in the policy's words: the case reference (a duty's subject), the pathway and step
    titles, the instructions and the outcome fields to answer."""

    reference: str
    pathway_title: str
    step_title: str
    instructions: str
    outcome: list


def _duty_wording(task: AgencyTask, lang: str = "zh") -> _Wording:
    """A dated duty outside any case (:func:`models.dated_duties.describe_duty`), in ``lang``."""
    # A pathway's flow-run process stores messages about steps only, never about a dated duty:
    # start-up: the duties' wording (programmes, joint meetings) is loaded only for a duty's message
    from models.dated_duties import describe_duty

    duty = describe_duty(task.duty_key or "", task.title, lang)
    return _Wording(duty.subject, duty.pathway_title, duty.step_title, duty.instructions, list(duty.outcome))


def _step_wording(session: Session, task: AgencyTask, policy, rows: dict) -> _Wording:
    """A step of a pathway run; a referral of a service-list item names the item in the step title and adds
    :func:`models.service_list.referral_text` to the instructions."""
    run = rows.get(PathwayRun) or session.get(PathwayRun, task.pathway_run_id)
    case = rows.get(Case) or session.get(Case, task.case_id)
    definition = policy.pathways[run.pathway]
    step = definition.step(task.step_key)
    step_title, instructions = step.title_zh, step.instructions_zh
    if any(p.name == "item" for p in definition.start_parameters):
        try:
            item = referral_item(run.parameters)
        except ValueError:
            item = None
        if item is not None:
            step_title = f"{step.title_zh}：清单第{item.number}项 {item.service}"
            instructions = f"{step.instructions_zh}\n\n{referral_text(item)}"
    return _Wording(case.reference, definition.title_zh, step_title, instructions, list(step.outcome))


def _answer_commands(task: AgencyTask, unit_row: AgencyUnit | None, outcome: list) -> dict[str, str]:
    """The command lines to answer ``task`` by (``careflow task …``), for a unit that ``answers_by_command``;
    ``{}`` otherwise (the link to the task page is how to answer, issue 12)."""
    if unit_row is None or not unit_row.answers_by_command:
        return {}
    unit = task.unit_code
    return {
        "acknowledge": f"careflow task ack {task.short_ref} --unit {unit} --as <姓名>",
        "reject": f"careflow task reject {task.short_ref} --unit {unit} --as <姓名> --reason <原因>",
        "complete": f"careflow task complete {task.short_ref} --unit {unit} --as <姓名> "
        + " ".join(f"--outcome {f.name}=<{f.label_zh}>" for f in outcome if f.required),
    }


def _choices(field, lang: str = "zh") -> dict[str, str]:
    """A choice's or yes/no field's values → their labels in ``lang`` (:func:`core.i18n.label`); ``{}`` for text."""
    values = list(field.options) or (["yes", "no"] if field.type == "bool" else [])
    return {v: label(v, f"option.{field.name}", lang) for v in values}


def describe_outcome(session: Session, task: AgencyTask) -> str:
    """The task's outcome in the step's own words, e.g. ``情节严重：是；儿童处于危险之中：是``, choices by their
    labels (:func:`core.i18n.outcome_text`)."""
    pathway = session.get(PathwayRun, task.pathway_run_id).pathway
    labels = {f.name: f.label_zh for f in load_policy().pathways[pathway].step(task.step_key).outcome}
    return outcome_text(task.outcome, labels, "zh")  # choices by their labels (救助方式：多种方式), never raw


def unit_name(session: Session, unit_code: str) -> str:
    """The name of the agency unit ``unit_code``, or the code itself when the directory has no such unit."""
    unit = session.get(AgencyUnit, unit_code)
    return unit.name if unit else unit_code


def _deadline_text(task: AgencyTask) -> str:
    return _describe_deadline(task.deadline_text)


@lru_cache(maxsize=1024)
def _describe_deadline(deadline_text: str) -> str:
    """``"3 working days"`` -> ``"3个工作日"`` (unparsable text as it is); cached: the sweep renders thousands of
    messages over a handful of distinct time limits."""
    try:
        amount, unit = deadline_text.split(" ", 1)
        units = {"hours": "h", "days": "d", "working days": "wd"}
        return DeadlineRule.parse(f"{amount}{units[unit]}").describe_zh()
    except (ValueError, KeyError):  # a dated duty's rule ("monthly (每月联系)", "by 2026-03-31")
        return i18n_deadline_text(deadline_text, "zh")


def message_key(task: AgencyTask, event: str, recipient: str, occasion: str | None) -> str:
    """The idempotency key of a message: ``"<task id>:<event>:<recipient>:<occasion>"``, the occasion defaulting
    to the task's escalation level."""
    return f"{task.id}:{event}:{recipient}:{occasion if occasion is not None else task.escalation_level}"


def enqueue_task_message(
    session: Session, *, task: AgencyTask, event: str, recipient_unit: str | None = None,
    role: str = "officer", outcome_summary: str = "", occasion: str | None = None, send_now: bool = False,
    blocked: bool = False,
) -> Notification:
    """Render and store the message for ``event`` on ``task`` once; later calls return the stored one.

    ``send_now``: a pathway flow's message, sent within a second by the send loop (:mod:`notifications.send_loop`)
    rather than by the next sweep. ``blocked``: for ``task_rejected``, the step is not re-issued (the pathway stops).

    ``recipient_unit`` defaults to the task's unit. The idempotency key is
    ``"<task id>:<event>:<recipient>:<occasion>"``; ``occasion`` defaults to the task's escalation level
    (the sweeper passes the escalation rung).

    A task of a ``confidential`` pathway (the misconduct notice, 方案 十一) says no answer's content and no
    start parameter's value (:func:`assert_no_parameters`).

    Raises:
        PersonalDataLeak: the rendered text holds the child's name or ID number, or a confidential pathway's
            start parameter (nothing is stored).
    """
    recipient = recipient_unit or task.unit_code
    key = message_key(task, event, recipient, occasion)
    existing = session.exec(select(Notification).where(Notification.idempotency_key == key)).first()
    if existing:
        return existing
    run = session.get(PathwayRun, task.pathway_run_id) if task.pathway_run_id is not None else None
    confidential = run is not None and load_policy().pathways[run.pathway].confidential
    if confidential:  # 方案 十一's notice: the conduct and the follow-up are read on the task page only
        outcome_summary = ""
    elif event == "task_answered" and task.outcome and run is not None:
        outcome_summary = "；".join(filter(None, [outcome_summary, describe_outcome(session, task)]))
    ctx = task_message_context(session, task, event, role=role, outcome_summary=outcome_summary, blocked=blocked)
    message = render_message(ctx)
    if task.case_id is not None:  # a dated duty outside any case concerns no child
        child = session.get(Child, session.get(Case, task.case_id).child_id)
        for text in (message.subject, message.body):
            assert_no_personal_data(text, child_name=child.full_name, resident_id=child.resident_id)
            if confidential:
                assert_no_parameters(text, run.parameters)
    notification = Notification(
        idempotency_key=key, event=event, case_id=task.case_id, task_id=task.id, unit_code=recipient,
        recipient_role=role, subject=message.subject, body=message.body, send_now=send_now,
    )
    session.add(notification)
    record_audit(session, actor="careflow", action="notification.queued", entity_type="notification",
                 entity_id=notification.id, case_id=task.case_id, detail={"event": event, "unit": recipient})
    if send_now:
        wake_send_loops(session)
    return notification


def assert_no_parameters(text: str, parameters: dict) -> None:
    """Check that ``text`` quotes none of a confidential pathway run's written parameters (the conduct reported:
    values of two characters or more with a letter or a Chinese character, white space ignored; dates and area codes,
    which a case reference or a deadline may hold by chance, are not matched).

    Raises:
        PersonalDataLeak: naming the parameter, not its value.
    """
    compact = "".join(text.split())
    for name, value in (parameters or {}).items():
        value = "".join(str(value).split()) if isinstance(value, str) else ""
        if len(value) >= 2 and any(c.isalpha() for c in value) and value in compact:
            raise PersonalDataLeak(f"message text contains the start parameter {name!r} of a confidential pathway")


def alert_given_up(session: Session, notification: Notification, attempts: int | None = None) -> None:
    """Tell the county civil affairs manager (:func:`~notifications.routing.manager_channel`) that a message
    could not be delivered.

    ``attempts`` is the number of attempts to report (default the message's own; a message carried by a
    digest reports the digest's). Nothing is sent for a message that is itself such an alert's target
    (the manager channel), or that concerns no task.
    """
    if notification.task_id is None or notification.event == "delivery_failed":
        return
    task = session.get(AgencyTask, notification.task_id)
    case = session.get(Case, task.case_id) if task.case_id is not None else None
    county = case.county_code if case is not None else task.jurisdiction_code[:6]
    manager = manager_channel(county)
    if manager == notification.unit_code:  # the manager's own channel failed: an alert there would fail too
        return
    attempts = notification.attempts if attempts is None else attempts
    enqueue_task_message(session, task=task, event="task_escalated", recipient_unit=manager, role="manager",
                         outcome_summary=f"通知 {notification.unit_code} 投递失败 {attempts} 次，已停止重试")
