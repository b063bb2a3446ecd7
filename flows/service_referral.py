"""Referral of one service-list item (清单转介, DOMAIN.md §4D; the annex of 闽民童〔2025〕5号).

The pathway run's parameters name the item: ``{"item": 18}`` (1..20 of the provincial list,
:func:`models.service_list.referral_item`). The flow opens one task per responsible department of the item
(``policy/service_list.yaml`` ``departments``: item 16 names six), each routed to that agency's
county-level unit for the child's residence, all requested together, and waits until the item's
``completion`` rule holds: ``all`` — every department answered — or ``any`` — one completed (the others are
then cancelled). A rejection goes back to the caseworker and the county civil affairs bureau and the
department's task is re-issued (:func:`flows.waiting.request_steps`). Each message carries the item's
service, target group and content (:func:`notifications.messages.task_message_context`).

Items 18-20 (``delivery: programme``; 方案 （九）精神文化生活服务, （十）城市融入服务, （十一）法治安全教育服务) are
activities departments organise for many children: the referral invites the child to the next programme of the item
in the case's county, or puts the child on its waiting list (:func:`careflow.programmes.invite_child`), and ends; no
department is given a task for the child.

The deadline is the one of the item's step in ``policy/pathways/service_referral.yaml`` (``item_steps``):
a 10-working-day default, or a legal limit (item 10: 15 + 15 working days; item 13: 30 working days, up to 45).

Items whose step is handled at the child's registration place (items 10, 13, 14: ``jurisdiction_basis:
registration_place``, :mod:`careflow.registration_place`) go to the registration county's civil affairs when the
directory has it (省内通办), the residence county's unit following the task (told when it is opened and answered);
otherwise (跨省通办) the residence civil affairs takes the step's ``cross_province_steps`` one after the other:
forward within 3 working days, then record the registration place's reply and its date.
"""
from __future__ import annotations

import uuid

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from sqlmodel import select

from core.db import session_scope
from core.outcome import Outcome
from flows.steps import (
    PathwayContext, TaskAnswer, begin_pathway, cache_key, close_pathway, error_reason, notify_caseworker,
    notify_follower, open_agency_task, record_failure_hook, registration_route,
)
from flows.waiting import PathwayBlocked, request_step, request_steps
from models.case import PathwayStatus
from models.pathways import PathwayStep
from models.policy import load_policy
from models.policy_lists import ServiceItem
from models.service_list import referral_item
from models.task import AgencyTask, TaskState

PATHWAY = "service_referral"


@flow(name="service-referral", persist_result=True, retries=2, retry_delay_seconds=10,
      on_failure=[record_failure_hook], on_crashed=[record_failure_hook])
async def service_referral(pathway_run_id: str) -> str:
    """Refer one service-list item to its departments for one pathway run (``PathwayRun.id``).

    Returns how it ended (also stored as the run's outcome). A run whose ``item`` parameter is not an
    item of the provincial list ends ``failed`` with the message naming the field; a department that
    rejects :data:`flows.waiting.MAX_ATTEMPTS` times ends it ``failed`` (blocked).
    """
    ctx = begin_pathway(pathway_run_id, flow_run.get_id())
    try:
        item = referral_item(ctx.parameters)
    except ValueError as exc:
        return close_pathway(pathway_run_id, Outcome().add("bad_parameter", error=error_reason(exc)), PathwayStatus.failed)
    if item.delivery == "programme":  # an activity for many children: invite the child, open no department's task
        return close_pathway(pathway_run_id, invite_to_programme(pathway_run_id, item.number))
    try:
        outcome = await _referral_steps(ctx, item)
    except PathwayBlocked as blocked:
        return close_pathway(pathway_run_id, blocked.outcome, PathwayStatus.failed)
    return close_pathway(pathway_run_id, outcome)


@task(name="invite-to-programme", persist_result=True, retries=3, retry_delay_seconds=2,
      cache_key_fn=lambda _ctx, p: cache_key("invite-to-programme", p["pathway_run_id"]))
def invite_to_programme(pathway_run_id: str, item: int) -> Outcome:
    """Invite the child to the next programme of ``item`` in the case's county, or put the child on its waiting list
    (once per referral: :func:`careflow.programmes.invite_child`); returns the outcome to record, e.g.
    ``清单第18项：已邀请参加「童心港湾读书会」（2027-01-16 09:30，凤山社区儿童之家）`` (a result cached before
    outcomes had phrases is that text, recorded as it is)."""
    # start-up: the invitation and its message (the outbox, the regions), only for items 18-20
    from careflow.programmes import invitation_outcome, invite_child
    from models.programmes import Programme  # start-up: the programme tables, likewise

    with session_scope() as session:
        invitation = invite_child(session, uuid.UUID(pathway_run_id), item)
        programme = session.get(Programme, invitation.programme_id) if invitation.programme_id else None
        return invitation_outcome(invitation, programme)


def referral_requests(item: ServiceItem) -> tuple[PathwayStep, list[tuple[str, str]]]:
    """The step that applies to ``item`` and the ``(step key, agency code)`` pairs it is requested as."""
    step = load_policy().pathway(PATHWAY).step_for_item(item.number)
    return step, [(step.key, department) for department in item.departments]


async def _referral_steps(ctx: PathwayContext, item: ServiceItem) -> Outcome:
    step, requests = referral_requests(item)
    if step.jurisdiction_basis == "registration_place":
        if registration_route(ctx.pathway_run_id, step.key) == "cross_province":
            return await _cross_province(ctx, item, step)
        for step_key, agency in requests:  # the residence unit follows each task (found again by request_steps)
            if not ctx.ledger.task_requested(step_key, agency, 1):  # requested: its follower was told before
                notify_follower(open_agency_task(ctx.pathway_run_id, step_key, agency, 1), "task_followed")
    answers = await request_steps(ctx, requests, rule=item.completion)
    if step.jurisdiction_basis == "registration_place":
        for answer in answers.values():
            notify_follower(answer.task_id, "task_answered")
    if item.completion == "any":
        cancel_unanswered(ctx.pathway_run_id, step.key,
                          f"清单第{item.number}项已由{_names(answers.values())}办结（任一部门办结即可）")
    outcome = referral_outcome(item, step, [answers[f"{s}/{a}"] for s, a in requests if f"{s}/{a}" in answers])
    last = max(answers.values(), key=lambda a: requests.index((a.step_key, a.agency_type)))
    notify_caseworker(ctx, last.task_id, "pathway_closed", outcome.text())
    return outcome


async def _cross_province(ctx: PathwayContext, item: ServiceItem, step: PathwayStep) -> Outcome:
    """跨省通办: the step's ``cross_province_steps`` in order at the residence (forward, then the reply)."""
    pathway = load_policy().pathway(PATHWAY)
    answers = []
    for key in step.cross_province_steps:
        answers.append((pathway.step(key), await request_step(ctx, key, pathway.step(key).agency)))
    outcome = cross_province_outcome(item, answers)
    notify_caseworker(ctx, answers[-1][1].task_id, "pathway_closed", outcome.text())
    return outcome


def cross_province_summary(item: ServiceItem, answers: list[tuple[PathwayStep, TaskAnswer]]) -> str:
    """How a cross-province referral ended, at most 500 characters: each step's title and answer, e.g.
    ``清单第13项最低生活保障服务（跨省通办）。转递户籍地（跨省通办）：转递的户籍地部门：南部县民政局；
    转递日期：2026-03-04。记录户籍地审核确认结果（…）：户籍地审核确认结果：审核通过；户籍地答复日期：2026-04-01``."""
    return cross_province_outcome(item, answers).text()


def cross_province_outcome(item: ServiceItem, answers: list[tuple[PathwayStep, TaskAnswer]]) -> Outcome:
    """:func:`cross_province_summary` as phrases (``referral.cross_province``, a ``referral.cross_step`` each)."""
    steps = Outcome(sep="sentence")
    for step, answer in answers:
        steps.add("referral.cross_step", step=f"{PATHWAY}/{step.key}", fields=_fields(step, answer.outcome))
    return Outcome().add("referral.cross_province", item=item.number, service=item.number, steps=steps)


def _names(answers) -> str:
    agencies = load_policy().agencies
    return "、".join(agencies[a.agency_type].name_zh for a in answers)


def summarise(item: ServiceItem, step: PathwayStep, answers: list[TaskAnswer]) -> str:
    """How the referral ended, in the step's own words, at most 500 characters, e.g.
    ``清单第18项精神文化生活服务：7个责任部门均已答复。网信办（已提供服务：是，服务措施：…）；教育（…）``."""
    return referral_outcome(item, step, answers).text()


def referral_outcome(item: ServiceItem, step: PathwayStep, answers: list[TaskAnswer]) -> Outcome:
    """:func:`summarise` as phrases: ``referral.all_answered`` (or ``referral.any_done``) with a
    ``referral.answer`` per department, its fields but the note."""
    said = Outcome()
    for answer in answers:
        shown = {k: v for k, v in answer.outcome.items() if k != "note"}
        said.add("referral.answer", agency=answer.agency_type, fields=_fields(step, shown, sep="comma"))
    head = "referral.all_answered" if item.completion == "all" else "referral.any_done"
    return Outcome().add(head, item=item.number, service=item.number, count=len(answers), answers=said)


def _fields(step: PathwayStep, values: dict, sep: str = "list") -> Outcome:
    """An answer's fields as ``field`` phrases (``审核确认结果：审核通过``), each worded when read."""
    fields = Outcome(sep=sep)
    for name, value in values.items():
        fields.add("field", field=f"{PATHWAY}/{step.key}/{name}", value=value)
    return fields


@task(name="cancel-unanswered", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=2)
def cancel_unanswered(pathway_run_id: str, step_key: str, reason: str) -> int:
    """Cancel the step's tasks still open (an ``any`` referral is done); returns how many were cancelled.

    Idempotent: a replay finds them cancelled already. Each cancellation is audited with ``reason``.
    """
    # start-up: the task writer checks answers with the message renderer (Jinja2), only for an `any` item
    from careflow.tasks import transition_task

    with session_scope() as session:
        open_tasks = session.exec(select(AgencyTask).where(
            AgencyTask.pathway_run_id == uuid.UUID(pathway_run_id), AgencyTask.step_key == step_key,
            AgencyTask.state.in_([s.value for s in TaskState if s.is_open]))).all()
        for agency_task in open_tasks:
            transition_task(session, agency_task, TaskState.cancelled, actor="careflow", reason=reason)
        return len(open_tasks)
