"""Who may see what: the permission rules of every page and API endpoint (DOMAIN.md §1, §8).

* A child, and every case on it, lies where the child lives: the residence area code (village 12 digits or
  township 9) or, when not known, the residence county. It is inside a jurisdiction when its area code starts
  with the jurisdiction's prefix (:func:`careflow.routing.jurisdiction_prefix`: ``350300`` → ``3503``).
* Caseworkers and managers see the children, cases and tasks inside their jurisdiction; only caseworkers
  change them (register, record a report, start a pathway).
* An agency officer sees only their unit's tasks (and nothing of a child but the case reference).
* An admin sees users and agency units, no child.
* A case opened by a notice of a ``confidential`` pathway (the police's or procuratorate's misconduct notice, 方案
  十一) is the agencies' concerned and the managers': caseworkers neither list nor open it (:func:`confidential_case`).

The lists themselves (paged, filtered, searched, with these rules in SQL) are :mod:`web.lists` and
:mod:`web.task_list`.

Lookups of a single object outside the user's scope raise :class:`NotVisible` (shown as 404, so that
guessing a URL reveals nothing, not even that the object exists); a role that may never use a page gets
:class:`NotAllowed` (403).
"""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import Session, select

from careflow.confidential import confidential_case
from careflow.routing import jurisdiction_prefix
from models.case import Case, case_reference
from models.child import Child
from models.task import AgencyTask
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
    """SQL condition on :class:`Child`: the child lives inside ``jurisdiction`` (see :func:`inside`).

    Written as conditions an index serves (a ``LIKE`` prefix is not indexable under PostgreSQL's usual
    collations): a county is one residence county code (``= '350302'``; ``ix_child_county_created``), a city or the
    province the range of county codes its prefix covers (``3503`` → ``350300``..``350399``); a township or
    township its first nine digits (``substr(residence_area_code, 1, 9) = '350302001'``,
    ``ix_child_township_created``: a page in time order without sorting the township); a village its township's
    nine digits too (the same index, newest first, which carries the area code), with the range of its area codes
    and the prefix test as the filter (migration 0024: no index of its own, which could not give a page in time
    order anyway). An area code always lies inside the residence county (registration and the survey refuse others)
    and codes are digits, so the county comparison alone decides for a county or wider.
    """
    if not jurisdiction:
        return sa.false()
    prefix = jurisdiction_prefix(jurisdiction)
    if len(prefix) == 9:  # a township: its first nine digits (ix_child_township_created, in time order)
        return sa.func.substr(Child.residence_area_code, 1, 9) == prefix
    if len(prefix) > 9:  # a village: its township's children (the index), then its own code; none without one
        return sa.and_(sa.func.substr(Child.residence_area_code, 1, 9) == prefix[:9],
                       Child.residence_area_code.between(prefix, prefix.ljust(12, "9")),
                       Child.residence_area_code.startswith(prefix, autoescape=True))
    county = prefix[:6]
    if len(county) == 6:
        return Child.residence_county_code == county
    return Child.residence_county_code.between(county.ljust(6, "0"), county.ljust(6, "9"))


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
    """The case ``reference`` and its child, if the child lies in the user's jurisdiction (for a caseworker, and
    the case is not :func:`confidential_case`).

    Raises:
        NotAllowed: the role never reads cases. NotVisible: no such case in the user's jurisdiction.
    """
    require_role(user, UserRole.caseworker, UserRole.manager)
    case = session.exec(select(Case).where(Case.reference == case_reference(reference))).first()
    child = session.get(Child, case.child_id) if case else None
    if case is None or child is None or not can_read_child(user, child):
        raise NotVisible(f"no case {reference!r}")
    if UserRole(user.role) == UserRole.caseworker and session.execute(
            sa.select(confidential_case()).where(Case.id == case.id)).scalar():
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


def answers_task(user: WebUser, task: AgencyTask) -> bool:
    """Whether ``user`` is an officer of the unit ``task`` is assigned to (the only one who answers it; a unit
    following the task at the registration place reads it only)."""
    return UserRole(user.role) == UserRole.agency_officer and bool(user.unit_code) and user.unit_code == task.unit_code


def visible_task(session: Session, user: WebUser, task_id: uuid.UUID) -> AgencyTask:
    """The task ``task_id`` if ``user`` may read it: an officer their own unit's task or one their unit follows
    at the child's registration place (``follower_unit_code``: read, never answered — :func:`answers_task`), a
    manager one inside their jurisdiction.

    Raises:
        NotAllowed: caseworkers and admins (caseworkers read tasks on the case timeline). NotVisible: otherwise.
    """
    require_role(user, UserRole.agency_officer, UserRole.manager)
    task = session.get(AgencyTask, task_id)
    if task is None:
        raise NotVisible(f"no task {task_id}")
    if UserRole(user.role) == UserRole.agency_officer:
        if not user.unit_code or user.unit_code not in (task.unit_code, task.follower_unit_code):
            raise NotVisible(f"no task {task_id}")
    elif not task_in(session, task, user.jurisdiction_code):
        raise NotVisible(f"no task {task_id}")
    return task
