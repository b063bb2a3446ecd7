"""Recording a notice of a suspected offence or serious misconduct (涉罪或严重不良行为通报, 闽民童〔2025〕5号 十一).

检察院、公安等部门要及时通报流动儿童的涉罪或严重不良行为情况: only an officer of a unit whose agency type the pathway
names in ``started_by_agencies`` (``policy/pathways/misconduct_notice.yaml``: police, procuratorate) records one.
The notice opens a case of its own on the registered child (held by the notifying officer, who is told of the
answers; its summary names the notifying unit, never the conduct) and records the pathway run with the conduct as
its start parameters, which the units concerned read on their task pages and managers on theirs
(:mod:`careflow.facts`); the flow (:mod:`flows.misconduct_notice`) is started by the caller after the commit.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pendulum
from sqlmodel import Session, select

from careflow.cases import create_pathway_run, open_case
from core.settings import get_settings
from models.agency import AgencyUnit
from models.case import Case, PathwayRun
from models.child import Child, resident_id_is
from models.policy import load_policy
from models.errors import FieldLookupError, FieldProblem, FieldValueError
from models.resident_id import mask_resident_id, normalize_resident_id

__all__ = ["NOTICE_PATHWAY", "NotANoticeUnit", "NoticeStarted", "may_start_notice", "start_notice"]

#: The pathway a notice runs.
NOTICE_PATHWAY = "misconduct_notice"


def may_start_notice(unit: AgencyUnit | None) -> bool:
    """Whether an officer of ``unit`` may record a notice: an active unit of an agency type of the pathway's
    ``started_by_agencies`` (police, procuratorate)."""
    starters = load_policy().pathway(NOTICE_PATHWAY).started_by_agencies
    return unit is not None and unit.active and unit.agency_type in starters


class NotANoticeUnit(FieldProblem, PermissionError):
    """The unit is not one that records notices (not a police or procuratorate unit), worded in the reader's
    language (:meth:`models.errors.FieldProblem.text`)."""


@dataclass
class NoticeStarted:
    """What :func:`start_notice` recorded: the case opened for the notice and its pathway run (not yet started)."""

    case: Case
    run: PathwayRun


def start_notice(session: Session, *, actor: str, unit_code: str, resident_id: str, conduct_kind: str,
                 conduct: str, conduct_on: str | dt.date, school_area_code: str = "",
                 today: dt.date | None = None) -> NoticeStarted:
    """Record a notice by ``actor`` of the unit ``unit_code`` about the child with ``resident_id`` (GB 11643).

    ``conduct_kind``: ``offence`` (涉嫌违法犯罪) | ``serious_misconduct`` (严重不良行为); ``conduct``: what the child
    is suspected of (at most 500 characters); ``conduct_on``: its date (``YYYY-MM-DD``, not after ``today``,
    Asia/Shanghai); ``school_area_code``: the county, township or village of the child's school (code or name),
    whose education bureau gets the notice (empty: the child's county of residence). Audited ``case.opened`` and
    ``pathway.started``. The caller commits, then starts the flow.

    Raises:
        NotANoticeUnit (a PermissionError): the unit is not a police or procuratorate unit (naming it).
        models.errors.FieldLookupError: no child registered with that ID (field 身份证号, the number masked).
        ValueError: a field missing or malformed (a :class:`models.errors.FieldValueError` naming the field and the
            value). Each worded in the reader's language.
    """
    unit = session.get(AgencyUnit, unit_code)
    if not may_start_notice(unit):
        raise NotANoticeUnit("unit_code", "problem.not_a_notice_unit", unit=unit_code)
    number = normalize_resident_id(str(resident_id or ""))  # InvalidResidentID naming what is wrong with it
    child = session.exec(select(Child).where(resident_id_is(Child.resident_id, number))).first()
    if child is None:
        raise FieldLookupError("resident_id", "problem.no_child_registered", masked=mask_resident_id(number))
    day = notice_date(conduct_on, today)
    notice = open_case(session, child_id=child.id, caseworker=actor, summary=f"{unit.name}通报")
    run = create_pathway_run(session, case_id=notice.id, pathway=NOTICE_PATHWAY, actor=actor, parameters={
        "conduct_kind": conduct_kind, "conduct": conduct, "conduct_on": day.isoformat(),
        "school_area_code": school_area_code}, starting_unit=unit.code)
    return NoticeStarted(case=notice, run=run)


def notice_date(value: str | dt.date, today: dt.date | None = None) -> dt.date:
    """The date of the conduct: a date or ``YYYY-MM-DD`` text, not after ``today`` (Asia/Shanghai).

    Raises:
        models.errors.FieldValueError: naming the field 行为发生日期 (``conduct_on``) and the value.
    """
    labels = _labels("conduct_on")
    if isinstance(value, dt.date):
        day = value
    else:
        try:
            day = dt.date.fromisoformat(str(value or "").strip())
        except ValueError:
            raise FieldValueError("conduct_on", "problem.not_a_date", labels=labels, value=str(value or "")) from None
    today = today or pendulum.now(get_settings().timezone).date()
    if day > today:
        raise FieldValueError("conduct_on", "problem.date_in_future", labels=labels, value=day.isoformat())
    return day


def _labels(name: str) -> dict[str, str]:
    """The label by language of the notice's start parameter ``name`` (``conduct_on`` → 行为发生日期)."""
    found = next(f for f in load_policy().pathway(NOTICE_PATHWAY).start_parameters if f.name == name)
    return {"zh": found.label_zh, "en": found.label_en}
