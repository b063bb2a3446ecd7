"""Giving a programme place back (关爱服务活动, service-list items 18-20; 方案 （九）（十）（十一）).

A child invited to a programme may not come after all (the family has moved, the guardian says no, the case is
closed): the caseworker withdraws the place (:func:`withdraw_invitation`), or closing the case does it
(:func:`release_case_places`, called by :func:`careflow.cases.close_case`). A withdrawn invitation to a programme
that has not begun gives its seat back, and the seat goes at once to the next child on the county's waiting list for
the item (:func:`careflow.programmes.invite_waiting`, whose caseworker is told); a withdrawn place on the waiting list
simply leaves it. After a programme begins its seats are settled by the attendance (:func:`record_attendance`),
not here.

Every change is conditional: the invitation moves only from the state read (``invited`` or ``waiting``), and a seat
is given back only by the withdrawal that moved it, so two concurrent withdrawals free one seat.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import record_audit
from careflow.programmes import give_back_seats, invite_waiting
from models.base import utcnow
from models.errors import FieldLookupError, FieldValueError
from models.programmes import InvitationStatus, Programme, ProgrammeInvitation

__all__ = ["Withdrawal", "release_case_places", "withdraw_invitation"]

_HELD = (InvitationStatus.waiting.value, InvitationStatus.invited.value)


@dataclass(frozen=True)
class Withdrawal:
    """What a withdrawal did: ``seat_freed`` (an invitation to a programme not yet begun gave its seat back) and
    ``next_invited`` (children of the waiting list invited to that seat: 0 or 1)."""

    seat_freed: bool
    next_invited: int


def find_invitation(session: Session, case_id: uuid.UUID, code: str) -> ProgrammeInvitation:
    """The case's invitation whose code (the first 8 hex digits of its id, as the case page and the message show it)
    is ``code``.

    Raises:
        FieldLookupError: no invitation of the case has that code (field ``invitation``).
    """
    text = (code or "").strip().lower()
    for invitation in session.exec(select(ProgrammeInvitation).where(ProgrammeInvitation.case_id == case_id)):
        if text and invitation.id.hex.startswith(text):
            return invitation
    raise FieldLookupError("invitation", "problem.no_invitation", value=code)


def withdraw_invitation(session: Session, invitation: ProgrammeInvitation, *, actor: str, reason: str,
                        now: datetime | None = None) -> Withdrawal:
    """Withdraw the child's place (module docstring); audited ``programme.withdrawn`` with ``reason``. Does not commit.

    Raises:
        FieldValueError: no reason (field ``withdraw_reason``); the place is no longer held — attended, absent or
            withdrawn already, perhaps by someone else a moment ago (field ``invitation``); the programme has begun
            (its attendance is recorded instead).
    """
    reason = (reason or "").strip()
    if not reason:
        raise FieldValueError("withdraw_reason", "problem.required")
    now = now or utcnow()
    programme = session.get(Programme, invitation.programme_id) if invitation.programme_id else None
    if programme is not None and programme.starts_at <= now:
        raise FieldValueError("invitation", "problem.programme_begun", title=programme.title)
    if not _withdraw(session, [invitation.id]):
        raise FieldValueError("invitation", "problem.invitation_not_held", value=invitation.id.hex[:8])
    record_audit(session, actor=actor, action="programme.withdrawn", entity_type="programme_invitation",
                 entity_id=invitation.id, case_id=invitation.case_id, reason=reason[:500],
                 detail={"programme": str(programme.id) if programme else None})
    if programme is None:
        return Withdrawal(seat_freed=False, next_invited=0)
    give_back_seats(session, programme.id, 1)
    session.refresh(programme)
    return Withdrawal(seat_freed=True, next_invited=invite_waiting(session, programme, actor=actor, now=now))


def release_case_places(session: Session, case_id: uuid.UUID, *, actor: str, reason: str,
                        now: datetime | None = None) -> int:
    """Withdraw every place the case's child still holds — on a waiting list, or invited to a programme that has not
    begun — because the case closed (``reason``: the closure's); the freed seats go to the waiting lists. Returns how
    many places were withdrawn. Set-based enough for a case (a few invitations): one conditional update."""
    now = now or utcnow()
    rows = session.exec(select(ProgrammeInvitation.id, ProgrammeInvitation.programme_id)
                        .outerjoin(Programme, Programme.id == ProgrammeInvitation.programme_id)
                        .where(ProgrammeInvitation.case_id == case_id, ProgrammeInvitation.status.in_(_HELD),
                               sa.or_(Programme.id.is_(None), Programme.starts_at > now))).all()
    withdrawn = _withdraw(session, [i for i, _ in rows])
    for invitation_id, programme_id in rows:
        if invitation_id not in withdrawn:
            continue
        record_audit(session, actor=actor, action="programme.withdrawn", entity_type="programme_invitation",
                     entity_id=invitation_id, case_id=case_id, reason=reason[:500],
                     detail={"programme": str(programme_id) if programme_id else None, "case_closed": True})
        if programme_id is not None:
            give_back_seats(session, programme_id, 1)
            invite_waiting(session, session.get(Programme, programme_id), actor=actor, now=now)
    return len(withdrawn)


def _withdraw(session: Session, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Move the invitations ``ids`` still held to ``withdrawn`` (conditional); the ids this call moved."""
    if not ids:
        return set()
    session.flush()
    moved = session.execute(sa.update(ProgrammeInvitation).where(
        ProgrammeInvitation.id.in_(ids), ProgrammeInvitation.status.in_(_HELD),
    ).values(status=InvitationStatus.withdrawn.value)
        .returning(ProgrammeInvitation.id)).scalars().all()
    session.expire_all()
    return set(moved)
