"""A child the survey finds in another county or area: the open cases and duties follow them (方案 一（一）: the
county of residence is responsible), and the new county's caseworkers are told.

:func:`relocate_child` is called by the import for each child whose residence changed. :func:`close_cases_aged_out`
closes the cases of a child who turned 16 (no longer a migrant child, 方案 一).
"""
from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field

from sqlmodel import Session, select

from core.audit import record_audit
from careflow.cases import close_case
from careflow.routing import NoUnitForAgency, jurisdiction_prefix, resolve_unit
from careflow.survey.duties import UnitCache, file_duties
from careflow.survey.messages import enqueue_message
from models.agency import AgencyUnit
from models.base import utcnow
from models.case import Case, CaseStatus
from models.child import Child
from models.deadlines import format_local
from models.key_care_files import FileStatus, KeyCareFile
from models.regions import get_county
from models.task import OPEN_STATES, AgencyTask
from notifications.messages import enqueue_task_message

_LEVELS = {2: "province", 4: "city", 6: "county", 9: "township", 12: "village"}


@dataclass
class Relocation:
    """What moving one child did.

    Attributes:
        child_id: the child.
        from_county, to_county, from_area, to_area: residence before and after (codes; area may be "").
        cases: references of the open cases transferred to ``to_county``.
        rerouted: (task ref, old unit, new unit) of every open task or duty handed to another unit.
        kept: (task ref, unit, why) of open tasks left where they were (routed by the registration place or the
            place of an emergency, or no unit of that type in the new area).
        notified: unit codes told about the transfer.
    """

    child_id: uuid.UUID
    from_county: str
    to_county: str
    from_area: str
    to_area: str
    cases: list[str] = field(default_factory=list)
    rerouted: list[tuple[str, str, str]] = field(default_factory=list)
    kept: list[tuple[str, str, str]] = field(default_factory=list)
    notified: list[str] = field(default_factory=list)

    @property
    def county_changed(self) -> bool:
        return self.from_county != self.to_county


def _reroute(session: Session, task: AgencyTask, old_place: str, new_place: str) -> tuple[AgencyUnit | None, str]:
    """The unit ``task`` should now go to, or (None, why it stays)."""
    unit = session.get(AgencyUnit, task.unit_code)
    prefix = jurisdiction_prefix(unit.jurisdiction_code) if unit else ""
    if unit is None or not old_place.startswith(prefix):
        return None, "not routed by the residence (registration place or place of an emergency)"
    level = _LEVELS.get(len(prefix), "village")
    if task.duty_key:
        level = None  # a duty goes to the finest unit of the new area (see careflow.survey.duties.DUTY_ROUTING)
    try:
        new_unit = resolve_unit(session, task.agency_type, new_place, level=level)
    except NoUnitForAgency as exc:
        if task.duty_key:
            new_unit = UnitCache(session).unit_for(new_place)
            if new_unit is None:
                return None, str(exc)
        else:
            return None, str(exc)
    if new_unit.code == task.unit_code:
        return None, "same unit"
    return new_unit, ""


def relocate_child(
    session: Session,
    child: Child,
    *,
    from_county: str,
    from_area: str,
    round_label: str,
    actor: str = "careflow-survey",
    now: datetime.datetime | None = None,
) -> Relocation:
    """Move what is open about ``child`` to its new residence (``child`` already holds the new one).

    * every open case gets ``county_code`` = the new county (a county move), audited ``case.transferred``;
    * every open task of those cases and every open duty of the child's key care file that was routed by the
      residence goes to the unit of the same agency type and level covering the new area
      (:func:`careflow.routing.resolve_unit`), audited ``task.rerouted``; the new unit is told (the step's usual
      message for a case task, a short note for a duty);
    * the key care file moves with the child (county and area);
    * on a county move, the new county's civil affairs bureau (``civil_affairs-<county>``, where its caseworkers
      receive) gets one message naming the cases, the file and the tasks transferred — references only.

    Idempotent per round: messages are keyed by child, round and new county.
    """
    now = now or utcnow()
    result = Relocation(child_id=child.id, from_county=from_county, to_county=child.residence_county_code,
                        from_area=from_area, to_area=child.residence_area_code)
    cases = session.exec(select(Case).where(Case.child_id == child.id, Case.status == CaseStatus.open)).all()
    _transfer_cases(session, cases, result, round_label=round_label, actor=actor)
    tasks: list[AgencyTask] = []
    if cases:
        tasks.extend(session.exec(select(AgencyTask).where(
            AgencyTask.case_id.in_([c.id for c in cases]), AgencyTask.state.in_([s.value for s in OPEN_STATES]))).all())
    file = session.exec(select(KeyCareFile).where(KeyCareFile.child_id == child.id)).first()
    if file is not None:
        tasks.extend(task for task, _ in file_duties(session, file.id))
        file.county_code, file.area_code, file.updated_at = result.to_county, result.to_area, now
        session.add(file)
    for task in tasks:
        _hand_over(session, task, child, file, result, round_label=round_label, actor=actor)
    if result.county_changed:
        _tell_new_county(session, child, file, result, round_label=round_label)
        record_audit(session, actor=actor, action="child.moved", entity_type="child", entity_id=child.id,
                     reason=f"survey {round_label}",
                     detail={"from_county": from_county, "to_county": result.to_county, "cases": result.cases,
                             "rerouted": len(result.rerouted)})
    return result


def _transfer_cases(session: Session, cases: list[Case], result: Relocation, *, round_label: str,
                    actor: str) -> None:
    """On a county move, the open ``cases`` go to the new county (audited ``case.transferred``; their references
    in ``result.cases``)."""
    if not result.county_changed:
        return
    to_county = result.to_county
    for case in cases:
        if case.county_code != to_county:
            old = case.county_code
            case.county_code = to_county
            session.add(case)
            record_audit(session, actor=actor, action="case.transferred", entity_type="case", entity_id=case.id,
                         case_id=case.id, reason=f"survey {round_label}: child now lives in {to_county}",
                         detail={"from_county": old, "to_county": to_county})
            result.cases.append(case.reference)


def _hand_over(session: Session, task: AgencyTask, child: Child, file: KeyCareFile | None, result: Relocation, *,
               round_label: str, actor: str) -> None:
    """An open case task or duty goes to the unit covering the child's new area (:func:`_reroute`; audited
    ``task.rerouted``, in ``result.rerouted``), which is told; or stays where it is (in ``result.kept``, why)."""
    old_place, new_place = result.from_area or result.from_county, result.to_area or result.to_county
    new_unit, why = _reroute(session, task, old_place, new_place)
    if new_unit is None:
        if why != "same unit":
            result.kept.append((task.short_ref, task.unit_code, why))
        return
    old_unit = task.unit_code
    task.unit_code = new_unit.code
    task.jurisdiction_code = new_place if task.duty_key else new_unit.jurisdiction_code
    session.add(task)
    record_audit(session, actor=actor, action="task.rerouted", entity_type="task", entity_id=task.id,
                 case_id=task.case_id, reason=f"survey {round_label}: child moved",
                 detail={"from_unit": old_unit, "to_unit": new_unit.code})
    result.rerouted.append((task.short_ref, old_unit, new_unit.code))
    session.flush()
    if task.case_id is not None:
        enqueue_task_message(session, task=task, event="task_requested", recipient_unit=new_unit.code,
                             occasion=f"transfer:{round_label}",
                             outcome_summary=f"儿童居住地变更，本任务由 {old_unit} 转交")
        return
    enqueue_message(
        session, key=f"survey:duty_transfer:{task.id}:{new_unit.code}", event="survey_duty_transfer",
        unit_code=new_unit.code, task_id=task.id, children=[child],
        subject=f"【转交】{task.title}",
        body=(f"{new_unit.name}：\n儿童居住地变更（{round_label} 轮监测摸排），以下关爱任务转由你单位办理：\n"
              f"  {task.title}，任务 {task.short_ref}，截止 {format_local(task.due_at)}（北京时间）\n"
              f"完成后登记：careflow survey record-contact {file.reference if file else ''} "
              f"--kind {'visit' if task.step_key.endswith('visit') else 'contact'} --as <儿童主任>\n"))


def _tell_new_county(session: Session, child: Child, file: KeyCareFile | None, result: Relocation, *,
                     round_label: str) -> None:
    """One message to the new county's civil affairs bureau (its caseworkers) naming the cases, the file and the
    tasks transferred and kept — references only (in ``result.notified``)."""
    from_county, to_county, to_area = result.from_county, result.to_county, result.to_area
    try:
        county = get_county(to_county)
        frm = get_county(from_county)
        to_name, from_name = county.full_name, frm.full_name
    except ValueError:
        to_name, from_name = to_county, from_county
    unit = f"civil_affairs-{to_county}"
    lines = [f"{to_name}民政局：", f"{round_label} 轮监测摸排发现一名儿童由 {from_name}（{from_county}）迁入本县（区）"
             f"（{to_area or to_county}）。"]
    if result.cases:
        lines.append("转入的个案：" + "、".join(result.cases))
    if file is not None:
        lines.append(f"重点关爱服务对象档案：{file.reference}（{'在册' if file.status == FileStatus.active.value else '已关闭'}）")
    if result.rerouted:
        lines.append("已转交的任务：" + "；".join(f"{ref}（{old} → {new}）" for ref, old, new in result.rerouted))
    if result.kept:
        lines.append("未转交的任务：" + "；".join(f"{ref}（{unit_}：{why}）" for ref, unit_, why in result.kept))
    lines.append("请指定儿童主任跟进，并核实个案与档案信息。查看：careflow survey changes "
                 f"--county {to_county} --round {round_label}")
    enqueue_message(session, key=f"survey:transfer:{child.id}:{round_label}:{to_county}", event="survey_transfer",
                    unit_code=unit, role="caseworker", children=[child],
                    subject=f"【流动儿童迁入】{round_label} 轮摸排：个案/档案转入 {to_name}",
                    body="\n".join(lines) + "\n")
    result.notified.append(unit)


AGED_OUT_REASON = "年满十六周岁，不再属于流动儿童（实施方案 一） / aged out at 16"


def close_cases_aged_out(session: Session, child: Child, *, turned_16_on: datetime.date, actor: str = "careflow",
                         now: datetime.datetime | None = None) -> list[str]:
    """Close the open cases of a child who is 16 (已满十六周岁) with that reason; returns their references.

    Open tasks of those cases are cancelled with the same reason and running pathway runs are marked cancelled
    (their Prefect flow runs, if waiting, simply stay waiting: nothing will resume them).
    """
    now = now or utcnow()
    reason = f"{AGED_OUT_REASON} ({turned_16_on})"
    return [case.reference
            for case in session.exec(select(Case).where(Case.child_id == child.id,
                                                        Case.status == CaseStatus.open)).all()
            if close_case(session, case.id, reason, actor=actor, now=now, cancel_open_work=True)]
