"""An onward referral (转介): another pathway started on the same case by a pathway's answer, e.g. the temporary
assistance pathway referring service-list item 16 to the guardianship pathway (方案 六).

:func:`start_linked_pathway` (a Prefect task, cached per referring run and item) records the pathway run once
(:func:`record_linked_pathway`: the audit event ``pathway.linked`` finds it again) and creates its flow run; a
referral no flow can take, or that the policy refuses, is recorded as pending (``pathway.referral_pending``) with
the reason, once per item. The result is a :class:`LinkedPathway`.
"""
from __future__ import annotations

import uuid
from typing import Literal

from prefect import get_run_logger, task
from pydantic import BaseModel
from sqlmodel import select

from careflow.deployments import PATHWAY_DEPLOYMENTS
from core.audit import record_audit
from core.db import session_scope
from core.outcome import Outcome
from flows.steps import cache_key, error_reason
from models.audit import AuditEvent
from models.case import PathwayRun
from models.policy import load_policy


#: Why a referral is pending, in Chinese (``LinkedPathway.reason``): no pathway to start, or the start refused.
NO_PATHWAY = "暂无可启动的服务路径"
NOT_STARTED = "未能启动："


class LinkedPathway(BaseModel):
    """A pathway started (or left pending) for the same case by another pathway's onward referral.

    ``status``: ``started`` (the pathway run exists; its flow run is created here or, if that failed,
    by the sweeper) or ``pending`` (no flow runs that pathway yet, or the policy refused the start:
    recorded as an audit event, ``reason`` says why).
    """

    item: int
    pathway: str
    status: Literal["started", "pending"]
    pathway_run_id: str | None = None
    reason: str = ""


@task(
    name="start-linked-pathway", persist_result=True, retries=3, retry_delay_seconds=2,
    cache_key_fn=lambda _ctx, p: cache_key("link", p["referred_from"], p["item"]),
)
async def start_linked_pathway(referred_from: str, item: int, pathway: str, parameters: dict,
                               started_by: str) -> LinkedPathway:
    """Start ``pathway`` on the case of the pathway run ``referred_from`` for service-list ``item`` (once).

    The pathway run is recorded by :func:`record_linked_pathway` and its flow run created by
    :func:`careflow.resume.start_pathway_flow` (``run_deployment(..., as_subflow=False)``: a subflow could
    not suspend). Idempotent per (``referred_from``, ``item``): the result is cached under that key, and
    an earlier attempt's run is found in the database. If creating the flow run fails, the run stays
    ``starting`` and the sweeper starts it; a ``pending`` referral creates nothing.
    """
    from careflow.resume import start_pathway_flow  # start-up: Babel (careflow.reroute), only for a referral

    log = get_run_logger()
    linked = record_linked_pathway(referred_from, item, pathway, parameters, started_by)
    if linked.status == "pending":
        log.warning("referral of item %s to %s is pending: %s", item, pathway, linked.reason)
        return linked
    run_id = uuid.UUID(linked.pathway_run_id)
    with session_scope() as session:
        flow_run_id = session.get(PathwayRun, run_id).flow_run_id
    if flow_run_id is None:
        try:
            flow_run_id = await start_pathway_flow(run_id)
        except Exception as exc:  # the run is stored as ``starting``: the sweeper starts it
            log.warning("pathway run %s (%s) recorded; starting its flow run failed: %s", run_id, pathway, exc)
    log.info("item %s: pathway %s runs as pathway run %s (flow run %s)", item, pathway, run_id, flow_run_id)
    return linked


def record_linked_pathway(referred_from: str, item: int, pathway: str, parameters: dict,
                          started_by: str) -> LinkedPathway:
    """Record, once, that the pathway run ``referred_from`` refers service-list ``item`` to ``pathway``.

    Creates the pathway run on the same case with :func:`careflow.cases.create_pathway_run` (start
    ``parameters`` validated there) and an audit event ``pathway.linked`` (detail: ``from_pathway_run``,
    ``item``, ``pathway``) by which a later call finds it instead of creating another. When no deployment
    runs ``pathway`` (:data:`careflow.deployments.PATHWAY_DEPLOYMENTS`) or the policy refuses the start, nothing is
    created: the referral is recorded as pending (audit ``pathway.referral_pending`` on ``referred_from``,
    once per item) and the result's ``reason`` says why. Creates no flow run.
    """
    # start-up: the case's writer loads the task writer's answer checks (Jinja2), only for an onward referral
    from careflow.cases import create_pathway_run

    reason = ""
    if pathway not in PATHWAY_DEPLOYMENTS or pathway not in load_policy().pathways:
        reason = NO_PATHWAY
    if pathway == "service_referral":  # the referring unit's answer is the written reason where a condition is unknown
        parameters = {"eligibility_override": f"承办单位在上一路径的答复中转介清单第{item}项", **parameters}
    with session_scope() as session:
        parent = session.get(PathwayRun, uuid.UUID(referred_from))
        run = None if reason else _linked_run(session, parent, item)
        if run is None and not reason:
            try:
                with session.begin_nested():
                    run = create_pathway_run(session, case_id=parent.case_id, pathway=pathway, actor=started_by,
                                             parameters=parameters)
            except (KeyError, ValueError) as exc:
                reason, run = f"{NOT_STARTED}{error_reason(exc)}", None
            else:
                record_audit(session, actor=started_by, action="pathway.linked", entity_type="pathway_run",
                             entity_id=run.id, case_id=parent.case_id,
                             reason=f"清单第{item}项：由 {parent.pathway} 转介",
                             detail={"from_pathway_run": referred_from, "item": item, "pathway": pathway})
        if run is None:
            if not _pending_recorded(session, parent, item):
                record_audit(session, actor=started_by, action="pathway.referral_pending", entity_type="pathway_run",
                             entity_id=parent.id, case_id=parent.case_id, reason=reason[:1000],
                             detail={"item": item, "pathway": pathway, "parameters": parameters})
            return LinkedPathway(item=item, pathway=pathway, status="pending", reason=reason)
        return LinkedPathway(item=item, pathway=pathway, status="started", pathway_run_id=str(run.id))


def pending_reason(reason: str) -> Outcome:
    """A pending referral's ``reason`` as a phrase: ``link.no_pathway`` (also for none), ``link.not_started`` with
    the refusal as written, else the text itself."""
    if not reason or reason == NO_PATHWAY:
        return Outcome().add("link.no_pathway")
    if reason.startswith(NOT_STARTED):
        return Outcome().add("link.not_started", error=reason.removeprefix(NOT_STARTED))
    return Outcome.typed(reason)


def _linked_run(session, parent: PathwayRun, item: int) -> PathwayRun | None:
    """The pathway run an earlier attempt linked from ``parent`` for ``item`` (its audit event), if any."""
    events = session.exec(select(AuditEvent).where(
        AuditEvent.case_id == parent.case_id, AuditEvent.action == "pathway.linked")).all()
    for event in events:
        if event.detail.get("from_pathway_run") == str(parent.id) and event.detail.get("item") == item:
            return session.get(PathwayRun, uuid.UUID(event.entity_id))
    return None


def _pending_recorded(session, parent: PathwayRun, item: int) -> bool:
    events = session.exec(select(AuditEvent).where(
        AuditEvent.entity_id == str(parent.id), AuditEvent.action == "pathway.referral_pending")).all()
    return any(event.detail.get("item") == item for event in events)
