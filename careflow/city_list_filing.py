"""Filing a city's service list with the provincial civil affairs department, and the province's confirmation
(闽民童〔2025〕5号 四: "于制定下发后10日内报送省民政厅备案").

The city's civil affairs bureau completes its filing duty (``city_list_filing:<city>:<date>``, outcome ``filed``);
that is only the city's word. When it says ``filed: 是``, a task of the provincial department (unit
``civil_affairs-350000``, ``city_list_filing_receipt:<city>:<date>``, 5 working days by default: no law fixes it) asks
it to confirm receipt; the list is filed (已确认) only when the province completes that task with ``received: 是``.
Answering ``received: 否`` leaves the list unfiled and gives the city its filing again (a next attempt, due in 5
working days by default), until the province confirms. A filing still open 24 h after its deadline is escalated to
the provincial department's manager by the ladder (:func:`careflow.ladder.task_county`: a city's duty has no county
above it). The states:
:func:`models.city_list_version.filing_state`.

Public API: :func:`is_city_list_duty`, :func:`complete_city_list_duty` (what :func:`careflow.answers.answer_task`
calls when such a duty is completed).
"""
from __future__ import annotations

from datetime import datetime

import pendulum
import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import record_audit
from core.settings import get_settings
from models.errors import FieldValueError, Labels
from careflow.answer_text import validate_answer
from careflow.tasks import transition_task
from models.agency import AgencyUnit
from models.base import utcnow
from models.city_list_version import CityListVersion
from models.dated_duties import DUTY_KINDS, PROVINCE_CODE, duty_key, split_duty_key
from models.deadlines import DeadlineRule, compute_deadline
from models.regions import load_regions
from models.task import AgencyTask, TaskState
from notifications.messages import enqueue_task_message

__all__ = ["complete_city_list_duty", "is_city_list_duty", "province_unit_code"]

#: Working days the city has to file again when the province received nothing (a *default*: no law fixes it).
REFILE_WORKING_DAYS = 5

#: The duty kinds whose completion does more than close the task.
_HANDLED = ("city_list_filing", "city_list_filing_receipt")


def province_unit_code() -> str:
    """``civil_affairs-350000``: the provincial civil affairs department (省民政厅), with whom cities file."""
    return f"civil_affairs-{PROVINCE_CODE}"


def is_city_list_duty(key: str | None) -> bool:
    """Whether ``key`` is a city list's filing duty or the province's confirmation of it."""
    return (key or "").partition(":")[0] in _HANDLED


def complete_city_list_duty(session: Session, task: AgencyTask, *, actor: str, outcome: dict | None,
                            now: datetime | None = None) -> AgencyTask | None:
    """Complete a filing duty or a confirmation of receipt (:func:`careflow.tasks.transition_task`), then:

    * a filing answered ``filed`` false is refused (the duty stays open, escalated when overdue);
    * a filing answered ``filed`` true: open the provincial department's confirmation task (once), with its
      ``task_requested`` message (stored; the sweeper sends what is not sent at once), audited ``city_list.filed``;
    * a confirmation answered ``received`` true: audited ``city_list.filing_confirmed`` (the list is filed);
      ``received`` false: audited ``city_list.filing_not_received``, and the city's filing opened again (its next
      attempt, ``…:r2``, due in :data:`REFILE_WORKING_DAYS` working days, escalated like the first).

    ``now``: UTC-aware, default the current time. Returns the confirmation task opened (or found), else None.

    Raises:
        ValueError (a FieldValueError worded in the reader's language, naming the field): the answer does not fit the duty's fields; a filing answered
        ``filed`` false; no active unit
        ``civil_affairs-350000`` in the agency directory (raised inside the caller's transaction: roll it back).
    """
    now = now or utcnow()
    kind, city_code, published, attempt = split_duty_key(task.duty_key or "")
    if kind == "city_list_filing" and validate_answer(session, task, outcome or {}).get("filed") is False:
        filed = next(f for f in DUTY_KINDS[kind].outcome if f.name == "filed")
        raise FieldValueError("filed", "problem.filing_not_filed", labels={"zh": filed.label_zh, "en": filed.label_en})
    transition_task(session, task, TaskState.completed, actor=actor, outcome=outcome, now=now)
    stored, entity = task.outcome or {}, f"{city_code}:{published}"
    if kind == "city_list_filing" and stored.get("filed") is True:
        receipt = _open_duty(session, "city_list_filing_receipt", province_unit_code(), city_code, published,
                             attempt, now, after=task)
        record_audit(session, actor=actor, action="city_list.filed", entity_type="city_list", entity_id=entity,
                     reason=stored.get("note", ""),
                     detail={"filing_task": str(task.id), "receipt_task": str(receipt.id), "attempt": attempt})
        return receipt
    if kind == "city_list_filing_receipt" and stored.get("received") is True:
        record_audit(session, actor=actor, action="city_list.filing_confirmed", entity_type="city_list",
                     entity_id=entity, reason=stored.get("note", ""), detail={"receipt_task": str(task.id)})
    elif kind == "city_list_filing_receipt":
        again = _open_duty(session, "city_list_filing", f"civil_affairs-{city_code}", city_code, published,
                           attempt + 1, now, after=task)
        record_audit(session, actor=actor, action="city_list.filing_not_received", entity_type="city_list",
                     entity_id=entity, reason=stored.get("note", ""),
                     detail={"receipt_task": str(task.id), "filing_again": str(again.id), "attempt": attempt + 1})
    return None


def _open_duty(session: Session, kind_name: str, unit_code: str, city_code: str, published: str, attempt: int,
               now: datetime, *, after: AgencyTask) -> AgencyTask:
    """Open (once, by its duty key) the ``attempt``-th duty ``kind_name`` of the list (city, ``published``) for
    ``unit_code``, following the task ``after``: the province's confirmation of a filing, or the city's filing
    again when the province received nothing. Due in :data:`REFILE_WORKING_DAYS` or the kind's working days from
    ``now``; linked from the list's version (a new filing also clears the old confirmation) and announced by a
    ``task_requested`` message.

    Raises:
        ValueError: ``unit_code`` is not an active unit of the directory (a FieldValueError naming it).
    """
    kind = DUTY_KINDS[kind_name]
    key = duty_key(kind.kind, city_code, _date(published), attempt)
    existing = session.exec(select(AgencyTask).where(AgencyTask.duty_key == key)).first()
    if existing is not None:
        return existing
    unit = session.get(AgencyUnit, unit_code)
    if unit is None or not unit.active:  # raised before anything is committed: the caller's transaction rolls back
        raise FieldValueError("", "problem.duty_unit_missing", unit=unit_code,
                              who=Labels([kind_name], "duty_unit"))
    rule = DeadlineRule(amount=kind.period_working_days or REFILE_WORKING_DAYS, unit="working_days")
    deadline = compute_deadline(pendulum.instance(now), rule, tz=get_settings().timezone)
    city = load_regions().cities.get(city_code, city_code)
    again = f"，第 {attempt} 次报送" if attempt > 1 else ""
    task = AgencyTask(
        case_id=None, pathway_run_id=None, duty_key=key, step_key=kind.kind, agency_type=unit.agency_type,
        unit_code=unit.code, jurisdiction_code=unit.jurisdiction_code,
        title=f"{kind.title_zh}（{city}，{published}发布{again}）"[:120], requested_at=now,
        due_at=deadline.due_at, due_provisional=deadline.provisional, deadline_text=str(deadline.rule))
    session.add(task)
    session.flush()
    links = {"receipt_task_id": task.id} if kind_name == "city_list_filing_receipt" else \
        {"filing_task_id": task.id, "receipt_task_id": None}
    session.execute(sa.update(CityListVersion).where(
        CityListVersion.city_code == city_code, CityListVersion.published_on == _date(published))
        .values(**links).execution_options(synchronize_session=False))
    record_audit(session, actor="careflow", action="task.requested", entity_type="task", entity_id=task.id,
                 reason=kind.source, detail={"unit": unit.code, "duty_key": key, "after_task": str(after.id),
                                             "due_at": deadline.due_at.isoformat(), "rule": str(deadline.rule)})
    enqueue_task_message(session, task=task, event="task_requested")
    return task


def _date(text: str):
    return datetime.strptime(text, "%Y-%m-%d").date()
