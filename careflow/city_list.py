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

Each list loaded is a :class:`models.city_list_version.CityListVersion` (numbered per city, with its items and
differences). A later list of the same city is its republication: the earlier versions' open republication duties
are completed by it (audited, naming the new version), and the new list's duties are the next ones. A list older
than the city's latest is refused. Filing and its confirmation by the province: :mod:`careflow.city_list_filing`.
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
from models.city_list_version import CityListVersion
from models.dated_duties import DUTY_KINDS, DutyKind, duty_key
from models.deadlines import DeadlineRule, compute_deadline
from models.errors import FieldLookupError, FieldValueError
from models.notification import Notification
from models.task import OPEN_STATE_VALUES, AgencyTask, TaskState
from notifications.messages import enqueue_task_message
from notifications.outbox import dispatch_notification
from careflow.tasks import transition_task

__all__ = ["CityListLoad", "NarrowerCityList", "OlderCityList", "duty_deadline", "load_city_list",
           "load_city_list_file", "send_duty_messages"]


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


class OlderCityList(FieldValueError):
    """The list is older than the city's latest loaded version (a republication must be newer); nothing stored.
    Field ``published_on``, worded in the reader's language (``problem.city_list_older``)."""


@dataclass
class CityListLoad:
    """What :func:`load_city_list` did.

    ``duties``: the filing and the republication task, in that order (created now or found from an
    earlier load); ``created``: how many of them are new; ``notifications``: the ``task_requested``
    message of each duty (stored, not yet sent); ``differences``: the check's result (narrower ones only
    when ``forced``); ``version``: the stored version; ``republished``: the earlier republication duties this
    list completed.
    """

    city_list: CityServiceList
    differences: list[Difference]
    forced: bool
    duties: list[AgencyTask] = field(default_factory=list)
    created: int = 0
    notifications: list[Notification] = field(default_factory=list)
    version: CityListVersion | None = None
    republished: list[AgencyTask] = field(default_factory=list)


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
    """Check ``city_list`` against the provincial list, store it as the city's next version and create its two
    dated duties (once).

    The duties go to the unit ``civil_affairs-<city code>`` (e.g. ``civil_affairs-350300`` 莆田市民政局),
    which must be in the agency directory. ``now`` (UTC-aware, default the current time) is when the
    duties are requested; their due dates count from the publication date, so a list loaded late may
    have an overdue filing. A list newer than the city's latest version is its republication (方案 四: 每两年更新
    发布一次): every open republication duty of the city's earlier versions is completed, audited ``task.completed``
    with the new version named. The load is audited (``city_list.loaded``, with every difference — the narrower
    ones too when forced — the version and ``digest``, the file's sha256 if given). Loading the same (city,
    publication date) again stores nothing new.

    Raises:
        NarrowerCityList: the list is narrower and ``force`` is false (nothing stored).
        OlderCityList: published before the city's latest loaded version (nothing stored; field
            ``published_on``, worded in the reader's language).
        LookupError: no unit ``civil_affairs-<city code>`` in the agency directory (field ``city_code``).
    """
    differences = check_city_list(city_list.items)
    accepted = is_accepted(differences)
    if not accepted and not force:
        raise NarrowerCityList(city_list, differences)
    unit_code = f"civil_affairs-{city_list.city_code}"
    unit = session.get(AgencyUnit, unit_code)
    if unit is None or not unit.active:
        raise FieldLookupError("city_code", "problem.no_city_bureau", unit=unit_code)
    now = now or utcnow()
    result = CityListLoad(city_list=city_list, differences=differences, forced=not accepted)
    version, new_version = _version(session, city_list, differences, forced=not accepted, actor=actor,
                                    digest=digest, now=now)
    for kind in ("city_list_filing", "city_list_republication"):
        task, created = _duty_task(session, DUTY_KINDS[kind], city_list, unit, now)
        result.duties.append(task)
        result.created += created
    session.flush()
    result.version = version
    if new_version:  # a version found keeps its links (its filing may be on a later attempt by now)
        version.filing_task_id, version.republication_task_id = (t.id for t in result.duties)
        result.republished = _complete_earlier_republications(session, version, actor=actor, now=now)
    for task in result.duties:
        result.notifications.append(enqueue_task_message(session, task=task, event="task_requested"))
    record_audit(
        session, actor=actor, action="city_list.loaded", entity_type="city_list",
        entity_id=f"{city_list.city_code}:{city_list.published_on.isoformat()}",
        reason=("narrower than the provincial list; loaded with --force" if not accepted else "accepted"),
        detail={"city_code": city_list.city_code, "published_on": city_list.published_on.isoformat(),
                "source": city_list.source, "items": len(city_list.items), "forced": not accepted,
                "sha256": digest, "version": version.version, "differences": _differences_json(differences),
                "duties": [t.duty_key for t in result.duties], "created": result.created,
                "republished": [t.duty_key for t in result.republished]},
    )
    return result


def _differences_json(differences: list[Difference]) -> list[dict]:
    return [{"item": d.item, "kind": d.kind, "narrower": d.narrower, "detail": d.detail} for d in differences]


def _version(session: Session, city_list: CityServiceList, differences: list[Difference], *, forced: bool,
             actor: str, digest: str, now: datetime) -> tuple[CityListVersion, bool]:
    """The stored version of ``city_list`` (city, publication date) and whether it is new: found, or numbered one
    after the city's latest.

    Raises:
        OlderCityList: the city's latest version was published after ``city_list``.
    """
    code, published = city_list.city_code, city_list.published_on
    found = session.exec(select(CityListVersion).where(CityListVersion.city_code == code,
                                                       CityListVersion.published_on == published)).first()
    if found is not None:
        return found, False
    latest = session.exec(select(CityListVersion).where(CityListVersion.city_code == code)
                          .order_by(CityListVersion.version.desc()).limit(1)).first()
    if latest is not None and latest.published_on > published:
        raise OlderCityList("published_on", "problem.city_list_older", value=published.isoformat(),
                            city=city_list.city_name, version=latest.version,
                            latest=latest.published_on.isoformat())
    version = CityListVersion(
        city_code=code, version=(latest.version + 1) if latest else 1, published_on=published,
        source=city_list.source[:300], title_zh=city_list.title_zh[:200], sha256=digest,
        items=[item.model_dump(mode="json") for item in city_list.items],
        differences=[{**d, "city_item": diff.city_item} for d, diff in zip(_differences_json(differences),
                                                                          differences)],
        forced=forced, loaded_at=now, loaded_by=actor[:64])
    session.add(version)
    return version, True


def _complete_earlier_republications(session: Session, version: CityListVersion, *, actor: str,
                                     now: datetime) -> list[AgencyTask]:
    """Complete the open republication duties of the city's versions before ``version``: the new list is their
    republication (方案 四). Each completion (:func:`careflow.tasks.transition_task`) is audited with the new
    version, its publication date and document in its outcome and reason."""
    prefix = f"city_list_republication:{version.city_code}:"
    mine = duty_key("city_list_republication", version.city_code, version.published_on)
    earlier = session.exec(select(AgencyTask).where(
        AgencyTask.duty_key.like(prefix + "%"), AgencyTask.duty_key != mine,
        AgencyTask.state.in_(OPEN_STATE_VALUES)).order_by(AgencyTask.due_at)).all()
    published = version.published_on.isoformat()
    note = f"已由第 {version.version} 版清单（{published}发布，{version.source}）更新发布"
    for task in earlier:
        transition_task(session, task, TaskState.completed, actor=actor, reason=note, now=now,
                        outcome={"republished_on": published, "note": note[:500]})
    return list(earlier)


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
