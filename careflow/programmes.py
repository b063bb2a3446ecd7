"""Programmes (关爱服务活动) of service-list items 18-20 and the children invited to them (闽民童〔2025〕5号
（九）精神文化生活服务, （十）城市融入服务, （十一）法治安全教育服务).

These measures are activities that departments organise for many children — reading corners of the Xinhua
bookstores, 童心港湾 activities, legal-education sessions — not a service each department owes one child. So:

* a department (or a township station, a school, a social-work organisation on contract) records a programme
  (:func:`record_programme`): item, title, date and place, organiser, county, capacity;
* a referral for one of these items (``delivery: programme`` in ``policy/service_list.yaml``) invites the child to
  the next programme of the item in the case's county that has not begun and has a seat left, or puts the child on
  that county's waiting list for the item (:func:`invite_child`); no task is opened for any department;
* recording a programme invites the waiting children of its county and item, oldest first, up to its capacity;
* after the programme the organiser records who attended, and how many came without a referral
  (:func:`record_attendance`).

Seats are taken with conditional updates (``invited_count < capacity`` in the UPDATE), so two referrals never take
the last seat twice; an invitation is unique per referral (pathway run), so a restarted flow invites no child twice.
The caseworker is told of each invitation through the outbox (case reference only, never the child's name).
The quarterly report duty and the dashboard's figures are :mod:`careflow.programme_reports`.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import record_audit
from core.i18n import LANGUAGES, gettext, has_message
from core.outcome import Outcome
from careflow.routing import jurisdiction_prefix
from careflow.survey.messages import enqueue_message
from models.agency import AgencyUnit
from models.base import utcnow
from models.case import Case, CaseStatus, PathwayRun
from models.deadlines import format_local
from models.errors import FieldValueError, Labels, raise_problems
from models.policy import load_policy
from models.programmes import InvitationStatus, Programme, ProgrammeInvitation
from models.regions import load_regions
from notifications.routing import caseworker_unit

__all__ = ["ProgrammeInput", "give_back_seats", "invite_child", "invitation_outcome", "invite_waiting",
           "programme_items", "record_attendance", "record_programme"]

#: Candidate programmes tried, in date order, when a referral looks for a seat (each try is one conditional update).
_CANDIDATES = 20
_SEATED = (InvitationStatus.invited.value, InvitationStatus.attended.value, InvitationStatus.absent.value)


def programme_items() -> dict[int, str]:
    """The service-list items delivered as programmes (``delivery: programme``): number → service name."""
    return {n: item.service for n, item in load_policy().service_items.items() if item.delivery == "programme"}


@dataclass(frozen=True)
class ProgrammeInput:
    """What an organiser records. ``starts_at``: UTC-aware; ``county_code``: the county whose children it is for
    (6 digits); ``capacity``: children invited at most (1-10000)."""

    item: int
    title: str
    starts_at: datetime
    place: str
    county_code: str
    capacity: int
    description: str = ""


def _refusal(field: str, key: str, **values) -> FieldValueError:
    """The problem ``key`` with field ``field`` of a programme, labelled ``programme.field.<field>`` where the
    catalogues name it so (活动名称, 面向县区), else by the field's common label (``field.item``: 服务事项)."""
    own = f"programme.field.{field}"
    labels = {lang: gettext(own, lang) for lang in LANGUAGES} if has_message(own) else None
    return FieldValueError(field, key, labels=labels, **values)


def programme_problems(data: ProgrammeInput, unit: AgencyUnit, *, skip: frozenset[str] = frozenset()
                       ) -> list[FieldValueError]:
    """Every problem of ``data`` (each a FieldValueError naming its field and value), the fields in ``skip`` left
    out (a form's own check refused what was typed there already)."""
    problems: list[FieldValueError] = []
    items = programme_items()
    if "item" not in skip and data.item not in items:
        problems.append(_refusal("item", "problem.programme_item", value=data.item,
                                 items=Labels(items, "", sep="list")))
    if "title" not in skip and (not data.title.strip() or len(data.title) > 120):
        problems.append(_refusal("title", "problem.programme_length", value=data.title, most=120))
    if "place" not in skip and (not data.place.strip() or len(data.place) > 200):
        problems.append(_refusal("place", "problem.programme_length", value=data.place, most=200))
    if "capacity" not in skip and not 1 <= data.capacity <= 10000:
        problems.append(_refusal("capacity", "problem.programme_between", value=data.capacity, low=1, high=10000))
    if "county" not in skip:
        own = unit.jurisdiction_code
        if data.county_code not in {c.code for c in load_regions().counties}:
            problems.append(_refusal("county", "problem.programme_county", value=data.county_code))
        elif not (data.county_code.startswith(jurisdiction_prefix(own)) or own.startswith(data.county_code)):
            problems.append(_refusal("county", "problem.programme_county_outside", value=data.county_code,
                                     unit=unit.name))
    if "description" not in skip and len(data.description) > 1000:
        problems.append(_refusal("description", "problem.programme_too_long", most=1000))
    return problems


def _check(data: ProgrammeInput, unit: AgencyUnit) -> None:
    """Raise every problem of ``data`` at once (:func:`programme_problems`): the one, or several as
    :class:`models.errors.FieldValueProblems`."""
    raise_problems(programme_problems(data, unit))


def record_programme(session: Session, unit: AgencyUnit, data: ProgrammeInput, *, actor: str,
                     now: datetime | None = None) -> Programme:
    """Record a programme organised by ``unit`` and invite the waiting children of its county and item
    (:func:`invite_waiting`); audited ``programme.recorded``.

    Raises:
        ValueError: a field is wrong (a FieldValueError naming the field and the value, worded from the
            catalogues in the reader's language; several at once as FieldValueProblems); nothing is stored.
    """
    _check(data, unit)
    now = now or utcnow()
    programme = Programme(item=data.item, title=data.title.strip(), starts_at=data.starts_at, place=data.place.strip(),
                          organiser_unit_code=unit.code, county_code=data.county_code, capacity=data.capacity,
                          description=data.description.strip(), recorded_by=actor, recorded_at=now)
    session.add(programme)
    session.flush()
    record_audit(session, actor=actor, action="programme.recorded", entity_type="programme", entity_id=programme.id,
                 reason=f"清单第{data.item}项", detail={"unit": unit.code, "county": data.county_code,
                                                       "starts_at": data.starts_at.isoformat(),
                                                       "capacity": data.capacity})
    invite_waiting(session, programme, actor=actor, now=now)
    return programme


def _take_seats(session: Session, programme_id: uuid.UUID, seats: int) -> bool:
    """Take ``seats`` seats of the programme if it has them left (a conditional update); whether it did."""
    taken = session.execute(sa.update(Programme).where(
        Programme.id == programme_id, Programme.invited_count + seats <= Programme.capacity,
    ).values(invited_count=Programme.invited_count + seats))
    return taken.rowcount == 1


def give_back_seats(session: Session, programme_id: uuid.UUID, seats: int) -> None:
    """Give ``seats`` taken seats of the programme back (a conditional update: the count never goes below 0)."""
    session.execute(sa.update(Programme).where(Programme.id == programme_id, Programme.invited_count >= seats)
                    .values(invited_count=Programme.invited_count - seats))


def invite_child(session: Session, pathway_run_id: uuid.UUID, item: int, *, now: datetime | None = None
                 ) -> ProgrammeInvitation:
    """Invite the referred child to the next programme of ``item`` in the case's county, or put the child on that
    county's waiting list for the item; return the invitation (the one already stored for this referral, if any).

    "Next": the earliest programme of the item for the county that starts after ``now`` with a seat left. The seat is
    taken and the invitation stored in one savepoint; a concurrent call for the same referral finds the stored one.
    Audited ``programme.invited`` or ``programme.waitlisted``; the caseworker is sent a message (the case's
    reference, the programme, its time and place).
    """
    existing = _invitation_of(session, pathway_run_id)
    if existing is not None:
        return existing
    now = now or utcnow()
    run = session.get(PathwayRun, pathway_run_id)
    case = session.get(Case, run.case_id)
    candidates = session.exec(select(Programme.id).where(
        Programme.county_code == case.county_code, Programme.item == item, Programme.starts_at > now,
        Programme.invited_count < Programme.capacity,
    ).order_by(Programme.starts_at, Programme.id).limit(_CANDIDATES)).all()
    try:
        with session.begin_nested():
            chosen = next((pid for pid in candidates if _take_seats(session, pid, 1)), None)
            invitation = ProgrammeInvitation(
                pathway_run_id=pathway_run_id, case_id=case.id, child_id=case.child_id, item=item,
                county_code=case.county_code, programme_id=chosen, created_at=now,
                status=InvitationStatus.invited if chosen else InvitationStatus.waiting,
                invited_at=now if chosen else None)
            session.add(invitation)
            session.flush()
    except sa.exc.IntegrityError:  # the same referral, invited meanwhile by another run
        return _invitation_of(session, pathway_run_id)
    programme = session.get(Programme, chosen) if chosen else None
    record_audit(session, actor="careflow", action="programme.invited" if chosen else "programme.waitlisted",
                 entity_type="programme_invitation", entity_id=invitation.id, case_id=case.id,
                 reason=f"清单第{item}项", detail={"programme": str(chosen) if chosen else None,
                                                   "county": case.county_code})
    if programme is not None:
        _tell_caseworker(session, case, programme, invitation)
    return invitation


def _invitation_of(session: Session, pathway_run_id: uuid.UUID) -> ProgrammeInvitation | None:
    return session.exec(select(ProgrammeInvitation).where(
        ProgrammeInvitation.pathway_run_id == pathway_run_id)).first()


def invite_waiting(session: Session, programme: Programme, *, actor: str, now: datetime | None = None) -> int:
    """Invite the children waiting for the programme's item in its county (their case still open), oldest first, up to
    the seats left; returns how many were invited (0 for a programme that has begun).

    Set-based: one read of at most the seats left (locked, skipping rows another transaction holds, on PostgreSQL),
    the seats taken with one conditional update, the invitations moved with one conditional update
    (``programme_id IS NULL``); seats a concurrent writer's rows took are given back.
    """
    now = now or utcnow()
    seats = programme.capacity - programme.invited_count
    if programme.starts_at <= now or seats <= 0:
        return 0
    ids = session.exec(select(ProgrammeInvitation.id).join(Case, Case.id == ProgrammeInvitation.case_id).where(
        ProgrammeInvitation.programme_id.is_(None), ProgrammeInvitation.status == InvitationStatus.waiting.value,
        ProgrammeInvitation.county_code == programme.county_code,
        ProgrammeInvitation.item == programme.item, Case.status == CaseStatus.open,
    ).order_by(ProgrammeInvitation.created_at, ProgrammeInvitation.id).limit(seats)
        .with_for_update(of=ProgrammeInvitation, skip_locked=True)).all()
    if not ids or not _take_seats(session, programme.id, len(ids)):
        return 0
    moved = session.execute(sa.update(ProgrammeInvitation).where(
        ProgrammeInvitation.id.in_(ids), ProgrammeInvitation.programme_id.is_(None),
        ProgrammeInvitation.status == InvitationStatus.waiting.value,
    ).values(programme_id=programme.id, status=InvitationStatus.invited.value, invited_at=now)).rowcount
    if moved < len(ids):
        give_back_seats(session, programme.id, len(ids) - moved)
    session.refresh(programme)
    invited = session.exec(select(ProgrammeInvitation).where(
        ProgrammeInvitation.id.in_(ids), ProgrammeInvitation.programme_id == programme.id)).all()
    cases = {c.id: c for c in session.exec(select(Case).where(Case.id.in_([i.case_id for i in invited])))}
    for invitation in invited:
        record_audit(session, actor=actor, action="programme.invited", entity_type="programme_invitation",
                     entity_id=invitation.id, case_id=invitation.case_id, reason="候补名单",
                     detail={"programme": str(programme.id)})
        _tell_caseworker(session, cases[invitation.case_id], programme, invitation)
    return len(invited)


def _tell_caseworker(session: Session, case: Case, programme: Programme, invitation: ProgrammeInvitation) -> None:
    unit = session.get(AgencyUnit, programme.organiser_unit_code)
    enqueue_message(
        session, key=f"programme_invited:{invitation.id}", event="programme_invited",
        unit_code=caseworker_unit(case.caseworker), role="caseworker", case_id=case.id,
        subject=f"个案 {case.reference}：已受邀参加{programme.title}",
        body=(f"个案 {case.reference} 的儿童已受邀参加清单第{programme.item}项活动：\n"
              f"活动：{programme.title}\n时间：{format_local(programme.starts_at)}\n地点：{programme.place}\n"
              f"组织单位：{unit.name if unit else programme.organiser_unit_code}\n"
              f"邀请码：{invitation.id.hex[:8]}（参加时向组织单位出示，用于登记参加情况）\n"
              "请通知儿童及其监护人按时参加。活动结束后，组织单位将登记实际参加情况，可在个案页面查看。\n"))


def invitation_outcome(invitation: ProgrammeInvitation, programme: Programme | None) -> Outcome:
    """How the referral ended, for the pathway run's outcome (:mod:`core.outcome`), in Chinese e.g.
    ``清单第18项：已邀请参加「童心港湾读书会」（2027-01-16 09:30，凤山社区儿童之家）``."""
    if programme is None:
        return Outcome().add("programme.waiting", item=invitation.item)
    return Outcome().add("programme.invited", item=invitation.item, title=programme.title,
                         when=format_local(programme.starts_at), place=programme.place)


def record_attendance(session: Session, programme: Programme, attended: set[uuid.UUID], *, walk_ins: int,
                      actor: str, now: datetime | None = None) -> dict[str, int]:
    """Record who of the invited children attended (``attended``: invitation ids) — the others are absent — and how
    many children came without a referral; returns ``{"attended": n, "absent": m}``. May be corrected later
    (recorded again). Conditional updates (only this programme's seated invitations); audited
    ``programme.attendance_recorded``.

    Raises:
        ValueError: the programme's day has not come (Asia/Shanghai), or ``walk_ins`` is negative or above 100000.
    """
    now = now or utcnow()
    if programme.starts_at > now:
        raise FieldValueError("", "problem.programme_not_begun", starts=format_local(programme.starts_at))
    if not 0 <= walk_ins <= 100000:
        raise _refusal("walk_ins", "problem.programme_between", value=walk_ins, low=0, high=100000)
    ours = sa.and_(ProgrammeInvitation.programme_id == programme.id, ProgrammeInvitation.status.in_(_SEATED))
    ids = list(attended)
    came = session.execute(sa.update(ProgrammeInvitation).where(ours, ProgrammeInvitation.id.in_(ids)).values(
        status=InvitationStatus.attended.value, attendance_at=now)).rowcount if ids else 0
    away = session.execute(sa.update(ProgrammeInvitation).where(ours, ProgrammeInvitation.id.not_in(ids)).values(
        status=InvitationStatus.absent.value, attendance_at=now)).rowcount
    programme.walk_ins, programme.attendance_by, programme.attendance_at = walk_ins, actor, now
    session.add(programme)
    session.flush()
    record_audit(session, actor=actor, action="programme.attendance_recorded", entity_type="programme",
                 entity_id=programme.id, detail={"attended": came, "absent": away, "walk_ins": walk_ins})
    return {"attended": came, "absent": away}
