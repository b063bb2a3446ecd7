"""Who may see what: the permission rules of every page and API endpoint (DOMAIN.md §1, §8).

* A child, and every case on it, lies where the child lives: the residence area code (village 12 digits or
  township 9) or, when not known, the residence county. It is inside a jurisdiction when its area code starts
  with the jurisdiction's prefix (:func:`careflow.routing.jurisdiction_prefix`: ``350300`` → ``3503``).
* Caseworkers and managers see the children, cases and tasks inside their jurisdiction; only caseworkers
  change them (register, record a report, start a pathway).
* An agency officer sees only their unit's tasks (and nothing of a child but the case reference).
* An admin sees users and agency units, no child.

Lookups of a single object outside the user's scope raise :class:`NotVisible` (shown as 404, so that
guessing a URL reveals nothing, not even that the object exists); a role that may never use a page gets
:class:`NotAllowed` (403).
"""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import Session, select

from careflow.routing import jurisdiction_prefix
from models.case import Case
from models.child import Child
from models.task import OPEN_STATES, AgencyTask
from models.user import UserRole, WebUser


class NotVisible(LookupError):
    """The object does not exist or lies outside the user's scope (both are 404)."""


class NotAllowed(PermissionError):
    """The user's role may not use this page or endpoint (403)."""


def require_role(user: WebUser, *roles: UserRole) -> WebUser:
    """Return ``user`` if their role is one of ``roles``; raise :class:`NotAllowed` otherwise."""
    if UserRole(user.role) not in roles:
        raise NotAllowed(f"role {UserRole(user.role).value!r} may not do this")
    return user


def child_area(child: Child) -> str:
    """The area a child (and its cases) lies in: residence village/township code, else residence county."""
    return child.residence_area_code or child.residence_county_code


def inside(area: str, jurisdiction: str) -> bool:
    """Whether ``area`` lies inside ``jurisdiction`` (an empty jurisdiction contains nothing)."""
    return bool(jurisdiction) and bool(area) and area.startswith(jurisdiction_prefix(jurisdiction))


def child_in(jurisdiction: str):
    """SQL condition on :class:`Child`: the child lives inside ``jurisdiction`` (see :func:`inside`)."""
    if not jurisdiction:
        return sa.false()
    prefix = jurisdiction_prefix(jurisdiction)
    return sa.or_(
        sa.and_(Child.residence_area_code != "", Child.residence_area_code.startswith(prefix, autoescape=True)),
        sa.and_(Child.residence_area_code == "", Child.residence_county_code.startswith(prefix, autoescape=True)),
    )


def reads_children(user: WebUser) -> bool:
    return UserRole(user.role) in (UserRole.caseworker, UserRole.manager)


def can_read_child(user: WebUser, child: Child) -> bool:
    return reads_children(user) and inside(child_area(child), user.jurisdiction_code)


def visible_child(session: Session, user: WebUser, child_id: uuid.UUID) -> Child:
    """The child ``child_id`` if ``user`` may read its record.

    Raises:
        NotAllowed: the role never reads children. NotVisible: no such child in the user's jurisdiction.
    """
    require_role(user, UserRole.caseworker, UserRole.manager)
    child = session.get(Child, child_id)
    if child is None or not can_read_child(user, child):
        raise NotVisible(f"no child {child_id}")
    return child


def visible_case(session: Session, user: WebUser, reference: str) -> tuple[Case, Child]:
    """The case ``reference`` and its child, if the child lies in the user's jurisdiction.

    Raises:
        NotAllowed: the role never reads cases. NotVisible: no such case in the user's jurisdiction.
    """
    require_role(user, UserRole.caseworker, UserRole.manager)
    case = session.exec(select(Case).where(Case.reference == reference)).first()
    child = session.get(Child, case.child_id) if case else None
    if case is None or child is None or not can_read_child(user, child):
        raise NotVisible(f"no case {reference!r}")
    return case, child


def task_in(session: Session, task: AgencyTask, jurisdiction: str) -> bool:
    """Whether a task belongs to ``jurisdiction``: its case's child lives there (a dated duty without a case:
    its own jurisdiction code)."""
    if task.case_id is None:
        return inside(task.jurisdiction_code, jurisdiction)
    case = session.get(Case, task.case_id)
    child = session.get(Child, case.child_id) if case else None
    return child is not None and inside(child_area(child), jurisdiction)


def visible_task(session: Session, user: WebUser, task_id: uuid.UUID) -> AgencyTask:
    """The task ``task_id`` if ``user`` may read it: an officer their own unit's task, a manager one inside
    their jurisdiction.

    Raises:
        NotAllowed: caseworkers and admins (caseworkers read tasks on the case timeline). NotVisible: otherwise.
    """
    require_role(user, UserRole.agency_officer, UserRole.manager)
    task = session.get(AgencyTask, task_id)
    if task is None:
        raise NotVisible(f"no task {task_id}")
    if UserRole(user.role) == UserRole.agency_officer:
        if not user.unit_code or task.unit_code != user.unit_code:
            raise NotVisible(f"no task {task_id}")
    elif not task_in(session, task, user.jurisdiction_code):
        raise NotVisible(f"no task {task_id}")
    return task


def children_of(session: Session, user: WebUser, *, limit: int = 200) -> list[Child]:
    """The children in the user's jurisdiction, newest first."""
    require_role(user, UserRole.caseworker, UserRole.manager)
    return list(session.exec(select(Child).where(child_in(user.jurisdiction_code))
                             .order_by(Child.created_at.desc()).limit(limit)).all())


def cases_of(session: Session, user: WebUser, *, status: str | None = None,
             limit: int = 200) -> list[tuple[Case, Child]]:
    """The cases on children in the user's jurisdiction, newest first (optionally of one status)."""
    require_role(user, UserRole.caseworker, UserRole.manager)
    query = select(Case, Child).join(Child, Child.id == Case.child_id).where(child_in(user.jurisdiction_code))
    if status:
        query = query.where(Case.status == status)
    return list(session.exec(query.order_by(Case.opened_at.desc()).limit(limit)).all())


def unit_tasks(session: Session, unit_code: str, *, open_only: bool = True, limit: int = 200) -> list[AgencyTask]:
    """A unit's tasks, soonest deadline first: open ones, or (``open_only=False``) the answered ones, newest first."""
    query = select(AgencyTask).where(AgencyTask.unit_code == unit_code)
    if open_only:
        query = query.where(AgencyTask.state.in_([s.value for s in OPEN_STATES])).order_by(AgencyTask.due_at)
    else:
        query = query.where(AgencyTask.state.not_in([s.value for s in OPEN_STATES])).order_by(
            AgencyTask.answered_at.desc())
    return list(session.exec(query.limit(limit)).all())
