"""Loading a city's service list (市级关爱服务清单) and creating its dated duties (闽民童〔2025〕5号 四).

A city list is checked against the provincial list (:func:`models.city_list.check_city_list`); a
narrower one is refused unless forced, and a forced load records the differences in the audit trail.
Loading creates two duty tasks for the city's civil affairs bureau (unit ``civil_affairs-<city code>``):

* filing with the provincial civil affairs department within 10 days of publication
  (制定下发后10日内报送省民政厅备案; 10 calendar days, the day of publication not counted, a last day that is a
  rest day moved to the next working day — 民法典 第二百零一条至第二百零三条);
* republication two years after publication (每两年更新发布一次; due on the same date two years on, counted
  as calendar days, so a 2027 date is *provisional* until that year's holiday arrangement is loaded).

Each duty is an :class:`models.task.AgencyTask` with no case and no pathway run, unique by its
``duty_key`` (``city_list_filing:350300:2025-03-01``): loading the same list twice creates nothing new.
A ``task_requested`` message is stored for each duty (:func:`notifications.messages.enqueue_task_message`);
the caller sends it after committing (:func:`send_duty_messages`).
"""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pendulum
import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import record_audit
from core.db import session_scope
from core.settings import get_settings
from models.agency import AgencyUnit
from models.base import utcnow
from models.city_list import CityServiceList, Difference, check_city_list, is_accepted, read_city_list
from models.dated_duties import DUTY_KINDS, DutyKind, duty_key
from models.deadlines import DeadlineRule, compute_deadline
from models.notification import Notification
from models.task import AgencyTask
from notifications.messages import enqueue_task_message
from notifications.outbox import dispatch_notification

__all__ = ["CityListLoad", "NarrowerCityList", "duty_deadline", "load_city_list", "load_city_list_file",
           "send_duty_messages"]


class NarrowerCityList(ValueError):
    """The city list is narrower than the provincial list and was not forced; nothing was stored.

    ``differences`` holds every difference found (the message lists the narrower ones).
    """

    def __init__(self, city_list: CityServiceList, differences: list[Difference]):
        self.differences = differences
        narrower = [str(d) for d in differences if d.narrower]
        super().__init__(
            f"the service list of {city_list.city_name} ({city_list.city_code}, published "
            f"{city_list.published_on}) is narrower than the provincial list in {len(narrower)} way(s) "
            "(覆盖范围和实现程度不得低于省级关爱服务清单):\n  " + "\n  ".join(narrower))


@dataclass
class CityListLoad:
    """What :func:`load_city_list` did.

    ``duties``: the filing and the republication task, in that order (created now or found from an
    earlier load); ``created``: how many of them are new; ``notifications``: the ``task_requested``
    message of each duty (stored, not yet sent); ``differences``: the check's result (narrower ones only
    when ``forced``).
    """

    city_list: CityServiceList
    differences: list[Difference]
    forced: bool
    duties: list[AgencyTask] = field(default_factory=list)
    created: int = 0
    notifications: list[Notification] = field(default_factory=list)


def duty_deadline(kind: DutyKind, published_on, tz: str | None = None):
    """The :class:`models.deadlines.Deadline` of a duty of a list published on ``published_on`` (a date).

    Counted by :func:`models.deadlines.compute_deadline` in calendar days from the publication date (00:00
    local time): ``period_days`` days, or for ``period_years`` the number of days to the same date that
    many years on (29 February → 28 February).
    """
    tz = tz or get_settings().timezone
    start = pendulum.datetime(published_on.year, published_on.month, published_on.day, tz=tz)
    if kind.period_days is not None:
        days = kind.period_days
    else:
        days = (start.add(years=kind.period_years).date() - start.date()).days
    return compute_deadline(start, DeadlineRule(amount=days, unit="calendar_days"), tz=tz)


def load_city_list(session: Session, city_list: CityServiceList, *, actor: str, force: bool = False,
                   now: datetime | None = None, digest: str = "") -> CityListLoad:
    """Check ``city_list`` against the provincial list and create its two dated duties (once).

    The duties go to the unit ``civil_affairs-<city code>`` (e.g. ``civil_affairs-350300`` 莆田市民政局),
    which must be in the agency directory. ``now`` (UTC-aware, default the current time) is when the
    duties are requested; their due dates count from the publication date, so a list loaded late may
    have an overdue filing. The load is audited (``city_list.loaded``, with every difference — the narrower
    ones too when forced — and ``digest``, the file's sha256 if given).

    Raises:
        NarrowerCityList: the list is narrower and ``force`` is false (nothing stored).
        LookupError: no unit ``civil_affairs-<city code>`` in the agency directory (field ``city_code``).
    """
    differences = check_city_list(city_list.items)
    accepted = is_accepted(differences)
    if not accepted and not force:
        raise NarrowerCityList(city_list, differences)
    unit_code = f"civil_affairs-{city_list.city_code}"
    unit = session.get(AgencyUnit, unit_code)
    if unit is None or not unit.active:
        raise LookupError(f"field 'city_code': no active unit {unit_code!r} (the city's civil affairs bureau) "
                          "in the agency directory; add it to the directory first")
    now = now or utcnow()
    result = CityListLoad(city_list=city_list, differences=differences, forced=not accepted)
    for kind in ("city_list_filing", "city_list_republication"):
        task, created = _duty_task(session, DUTY_KINDS[kind], city_list, unit, now)
        result.duties.append(task)
        result.created += created
    session.flush()
    for task in result.duties:
        result.notifications.append(enqueue_task_message(session, task=task, event="task_requested"))
    record_audit(
        session, actor=actor, action="city_list.loaded", entity_type="city_list",
        entity_id=f"{city_list.city_code}:{city_list.published_on.isoformat()}",
        reason=("narrower than the provincial list; loaded with --force" if not accepted else "accepted"),
        detail={"city_code": city_list.city_code, "published_on": city_list.published_on.isoformat(),
                "source": city_list.source, "items": len(city_list.items), "forced": not accepted,
                "sha256": digest,
                "differences": [{"item": d.item, "kind": d.kind, "narrower": d.narrower, "detail": d.detail}
                                for d in differences],
                "duties": [t.duty_key for t in result.duties], "created": result.created},
    )
    return result


def _duty_task(session: Session, kind: DutyKind, city_list: CityServiceList, unit: AgencyUnit,
               now: datetime) -> tuple[AgencyTask, bool]:
    key = duty_key(kind.kind, city_list.city_code, city_list.published_on)
    existing = session.exec(select(AgencyTask).where(AgencyTask.duty_key == key)).first()
    if existing:
        return existing, False
    deadline = duty_deadline(kind, city_list.published_on)
    task = AgencyTask(
        case_id=None, pathway_run_id=None, duty_key=key, step_key=kind.kind, agency_type=unit.agency_type,
        unit_code=unit.code, jurisdiction_code=unit.jurisdiction_code,
        title=f"{kind.title_zh}（{city_list.city_name}，{city_list.published_on.isoformat()}发布）"[:120],
        requested_at=now, due_at=deadline.due_at, due_provisional=deadline.provisional,
        deadline_text=str(deadline.rule),
    )
    try:
        with session.begin_nested():
            session.add(task)
    except sa.exc.IntegrityError:  # created meanwhile by a concurrent load of the same list
        return session.exec(select(AgencyTask).where(AgencyTask.duty_key == key)).one(), False
    record_audit(session, actor="careflow", action="task.requested", entity_type="task", entity_id=task.id,
                 reason=kind.source, detail={"unit": unit.code, "duty_key": key, "due_at": deadline.due_at.isoformat(),
                                             "provisional": deadline.provisional, "rule": str(deadline.rule)})
    return task, True


def load_city_list_file(path: str | Path, *, actor: str, force: bool = False) -> CityListLoad:
    """Read the file (:func:`models.city_list.read_city_list`), load it in one transaction, then send
    the duties' messages (a failed send stays in the outbox for the sweeper).

    Raises:
        PolicyError: the file is malformed. NarrowerCityList, LookupError: see :func:`load_city_list`.
    """
    city_list = read_city_list(path)
    with session_scope() as session:
        result = load_city_list(session, city_list, actor=actor, force=force, digest=file_digest(path))
        notification_ids = [n.id for n in result.notifications]
    send_duty_messages(notification_ids)
    return result


def send_duty_messages(notification_ids: list[uuid.UUID]) -> list[str]:
    """Try to deliver stored duty messages now (each in its own transaction); returns their statuses."""
    statuses = []
    for notification_id in notification_ids:
        with session_scope() as session:
            statuses.append(dispatch_notification(session, notification_id).status.value)
    return statuses


def file_digest(path: str | Path) -> str:
    """The sha256 of a city list file (hex), to tell two versions of one date apart in the audit trail."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
