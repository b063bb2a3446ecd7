"""Closing a case is a decision (issue 12): a pathway's end proposes it, the caseworker decides, with a reason.

A pathway that ends (completed, failed, blocked) leaves its case open; the case then waits in the caseworker's
inbox (待我处理, :mod:`web.caseworker_inbox`) as "路径已结束，待决定是否结案". The caseworker closes it with a
written reason (:func:`decide_close`), through the one writer :func:`careflow.cases.close_case` (audited
``case.closed``). While the case is open with a pathway still running, closing is refused: the running work would
be left behind (the survey's transfer and age-out close with ``cancel_open_work`` instead).

**The county manager reviews a closure** while the child is in temporary guardianship or at high risk
(:func:`review_reasons`). The rule, from the data careflow holds:

* *in temporary guardianship*: the case's latest ``temporary_guardianship`` task (guardianship pathway, 方案 七) is
  open, or completed with ``placed`` true. careflow records no return home (no step answers it), so a placement
  counts until the case is closed; the manager's review is where the return is confirmed.
* *high risk*: the latest risk recorded on the case is ``high_risk`` — the later of the latest psychological
  screening run's ``screening_result`` (at its start) and the latest completed ``counselling`` task's
  ``risk_after`` (at its answer; 方案 八).

Then the caseworker's close becomes a request (``case.close_requested``, stored on the case: who, when, why); a
manager whose jurisdiction holds the case approves it (the case closes with the caseworker's reason, audited
``case.close_approved`` and ``case.closed``) or refuses it with a reason (``case.close_refused``; the case stays
open and back in the caseworker's inbox). Every state change is a conditional ``UPDATE`` (the expected state in
its ``WHERE``), so of two clicks one wins.

Errors: :class:`ClosingRefused` (a ``ValueError``) with a Chinese message naming what to do or the field.
"""
from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import record_audit
from careflow.cases import CaseRefused, checked_reason, close_case
from careflow.confidential import confidential_case
from models.base import utcnow
from models.audit import AuditEvent
from models.case import OPEN_PATHWAY_STATUSES, Case, CaseStatus, PathwayRun
from models.programmes import InvitationStatus, ProgrammeInvitation
from models.task import OPEN_STATE_VALUES, AgencyTask, TaskState

#: Why the county manager must review, in Chinese (shown on the case page and stored in the request's audit).
IN_TEMPORARY_GUARDIANSHIP = "儿童处于临时监护中"
HIGH_RISK = "最近一次心理风险评估为高风险"
#: The catalogue key of each review reason, for a page in the reader's language (the stored text stays Chinese).
REVIEW_REASON_KEYS = {IN_TEMPORARY_GUARDIANSHIP: "closing.review.temporary_guardianship",
                      HIGH_RISK: "closing.review.high_risk"}


#: The audited decisions of a case's closing and reopening, as :func:`closure_history` lists them.
CLOSURE_ACTIONS = ("case.close_requested", "case.close_approved", "case.close_refused", "case.closed", "case.reopened")


class ClosingRefused(CaseRefused):
    """A closing, reopening or review that cannot be done now; ``key`` (``case.refused.*``) says why, worded in the
    reader's language by :meth:`CaseRefused.text` (``str()``: Chinese)."""


def in_temporary_guardianship(session: Session, case_id: uuid.UUID) -> bool:
    """Whether the case's latest temporary guardianship task is open or placed the child (see the module)."""
    task = session.exec(select(AgencyTask).where(
        AgencyTask.case_id == case_id, AgencyTask.step_key == "temporary_guardianship",
        AgencyTask.state.in_(OPEN_STATE_VALUES + (TaskState.completed.value,)))
        .order_by(AgencyTask.requested_at.desc(), AgencyTask.attempt.desc()).limit(1)).first()
    if task is None:
        return False
    return task.state != TaskState.completed or task.outcome.get("placed") in (True, "yes", "true")


def latest_risk(session: Session, case_id: uuid.UUID) -> str | None:
    """The latest psychological risk recorded on the case (``normal``/``at_risk``/``high_risk``/``resolved``), or
    None: the later of the latest screening run's result and the latest counselling answer's ``risk_after``."""
    run = session.exec(select(PathwayRun).where(
        PathwayRun.case_id == case_id, PathwayRun.pathway == "psychological_screening")
        .order_by(PathwayRun.started_at.desc()).limit(1)).first()
    counselling = session.exec(select(AgencyTask).where(
        AgencyTask.case_id == case_id, AgencyTask.step_key == "counselling",
        AgencyTask.state == TaskState.completed.value, AgencyTask.answered_at.is_not(None))
        .order_by(AgencyTask.answered_at.desc()).limit(1)).first()
    found = []
    if run is not None and run.parameters.get("screening_result"):
        found.append((run.started_at, str(run.parameters["screening_result"])))
    if counselling is not None and counselling.outcome.get("risk_after"):
        found.append((counselling.answered_at, str(counselling.outcome["risk_after"])))
    return max(found)[1] if found else None


def review_reasons(session: Session, case_id: uuid.UUID) -> list[str]:
    """Why closing this case needs the county manager's review (Chinese; empty: the caseworker closes it)."""
    reasons = []
    if in_temporary_guardianship(session, case_id):
        reasons.append(IN_TEMPORARY_GUARDIANSHIP)
    if latest_risk(session, case_id) == "high_risk":
        reasons.append(HIGH_RISK)
    return reasons


def programme_place_to_come(case_id):
    """SQL: the case ``case_id`` has a programme place still to come — its child on a waiting list, or invited and the
    attendance not yet recorded (``ix_programme_invitation_case_id``): its referral is not done though its pathway
    ended."""
    return sa.exists().where(ProgrammeInvitation.case_id == case_id, ProgrammeInvitation.status.in_(
        (InvitationStatus.waiting.value, InvitationStatus.invited.value)))


def has_open_pathway(session: Session, case_id: uuid.UUID) -> bool:
    return session.exec(select(PathwayRun.id).where(
        PathwayRun.case_id == case_id, PathwayRun.status.in_(OPEN_PATHWAY_STATUSES)).limit(1)).first() is not None


def closed_by_manager(session: Session, case_id: uuid.UUID) -> bool:
    """Whether the county manager, not a caseworker, closes the case: a misconduct notice's case (方案 十一) is held
    by the notifying police or procuratorate officer, who has no case page, and no caseworker may see it
    (:func:`careflow.confidential.confidential_case`) — without this nobody could ever close it."""
    return session.execute(sa.select(sa.literal(1)).select_from(Case)
                           .where(Case.id == case_id, confidential_case())).first() is not None


def decide_close(session: Session, case: Case, *, actor: str, reason: str, now: datetime | None = None,
                 by_manager: bool = False) -> str:
    """The caseworker closes ``case`` with ``reason``: ``"closed"``, or ``"requested"`` when the county manager must
    review it first (:func:`review_reasons`; audited ``case.close_requested`` with the reasons). ``by_manager``: the
    county manager closes a case no caseworker holds (:func:`closed_by_manager`); being the reviewer, they ask no
    review. Does not commit.

    Raises:
        CaseRefused: an empty or too long reason (names the field 结案理由).
        ClosingRefused: the case is closed, a request already waits, or a pathway is still running.
    """
    reason = checked_reason(reason, "close_reason")
    now = now or utcnow()
    if case.status != CaseStatus.open:
        raise ClosingRefused("case.refused.closed")
    if case.close_requested_at is not None:
        raise ClosingRefused("case.refused.close_pending")
    if has_open_pathway(session, case.id):
        raise ClosingRefused("case.refused.pathway_running")
    reasons = [] if by_manager else review_reasons(session, case.id)
    if not reasons:
        if not close_case(session, case.id, reason, actor=actor, now=now):
            raise ClosingRefused("case.refused.closed")
        return "closed"
    requested = session.execute(
        sa.update(Case).where(Case.id == case.id, Case.status == CaseStatus.open, Case.close_requested_at.is_(None))
        .values(close_requested_at=now, close_requested_by=actor, close_request_reason=reason)
        .execution_options(synchronize_session=False)).rowcount
    session.refresh(case)
    if requested != 1:
        raise ClosingRefused("case.refused.close_pending")
    record_audit(session, actor=actor, action="case.close_requested", entity_type="case", entity_id=case.id,
                 case_id=case.id, reason=reason, detail={"review": reasons})
    return "requested"


def approve_close(session: Session, case: Case, *, actor: str, note: str = "", now: datetime | None = None) -> None:
    """A manager approves the pending close request: the case closes with the caseworker's reason (audited
    ``case.close_approved`` with the manager's ``note``, then ``case.closed`` by the manager). Does not commit.

    Raises:
        ClosingRefused: no request waits (already decided, or withdrawn by a reopening).
    """
    if case.status != CaseStatus.open or case.close_requested_at is None:
        raise ClosingRefused("case.refused.no_request")
    reason = case.close_request_reason
    record_audit(session, actor=actor, action="case.close_approved", entity_type="case", entity_id=case.id,
                 case_id=case.id, reason=(note or "").strip()[:500],
                 detail={"requested_by": case.close_requested_by, "request_reason": reason})
    if not close_case(session, case.id, reason, actor=actor, now=now):
        raise ClosingRefused("case.refused.no_request")


def refuse_close(session: Session, case: Case, *, actor: str, reason: str) -> None:
    """A manager refuses the pending close request with ``reason``: the request is cleared (a conditional
    ``UPDATE``), audited ``case.close_refused``; the case stays open. Does not commit.

    Raises:
        CaseRefused: an empty or too long reason (names the field 不同意结案的理由). ClosingRefused: no request
            waits.
    """
    reason = checked_reason(reason, "refuse_reason")
    cleared = session.execute(
        sa.update(Case).where(Case.id == case.id, Case.status == CaseStatus.open,
                              Case.close_requested_at.is_not(None))
        .values(close_requested_at=None, close_requested_by="", close_request_reason="")
        .execution_options(synchronize_session=False)).rowcount
    if cleared != 1:
        session.refresh(case)
        raise ClosingRefused("case.refused.no_request")
    record_audit(session, actor=actor, action="case.close_refused", entity_type="case", entity_id=case.id,
                 case_id=case.id, reason=reason,
                 detail={"requested_by": case.close_requested_by, "request_reason": case.close_request_reason})
    session.refresh(case)


def closure_history(session: Session, case_id: uuid.UUID) -> list[AuditEvent]:
    """The case's closing decisions, oldest first (one statement on ``audit_event.case_id``'s index): who requested
    the closure and why, who approved it (with the manager's note) or refused it (with the reason), who closed it,
    who reopened it and why. The ``case.closed`` a manager's approval writes right after ``case.close_approved`` is
    left out: it repeats the request's reason."""
    events = session.exec(select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                   AuditEvent.action.in_(CLOSURE_ACTIONS))
                          .order_by(AuditEvent.at, AuditEvent.id)).all()
    return [e for i, e in enumerate(events)
            if not (e.action == "case.closed" and i and events[i - 1].action == "case.close_approved")]


__all__ = ["CLOSURE_ACTIONS", "ClosingRefused", "HIGH_RISK", "IN_TEMPORARY_GUARDIANSHIP", "REVIEW_REASON_KEYS",
           "approve_close", "closed_by_manager", "closure_history", "decide_close", "has_open_pathway",
           "in_temporary_guardianship", "latest_risk", "programme_place_to_come", "refuse_close", "review_reasons"]
