"""Presenters: the records as each page and API response shows them (the same shapes for both).

Reading a child's record or a case's timeline writes an audit event (DOMAIN.md §8): ``child.viewed``,
``child.id_revealed``, ``child.list_read``, ``case.timeline_read`` (by :func:`careflow.timeline.case_timeline`),
``task.viewed``.
"""
from __future__ import annotations

import datetime as dt
import uuid

import pendulum
from sqlmodel import Session, select

from core.audit import record_audit
from core.i18n import deadline_text as i18n_deadline_text
from core.outcome import shown_outcome
from careflow.facts import unit_names
from core.settings import get_settings
from careflow.timeline import case_timeline
from careflow.deployments import PATHWAY_DEPLOYMENTS
from models.base import utcnow
from models.case import Case, PathwayRun
from models.child import Child, Guardian
from models.dated_duties import describe_duty
from models.deadlines import format_local
from models.eligibility import assess_migrant_child
from models.field_values import NO_REFERRAL
from models.outcome_fields import OutcomeField
from models.pathways import PathwayDefinition, PathwayStep
from models.policy import load_policy
from models.resident_id import mask_resident_id
from models.task import AgencyTask, TaskState
from web.duty_words import duty_instructions, duty_title
from web.i18n import Translator
from web.names import people_names
from web.scope import confidential_case
from web.outputs import (
    AssessmentOut, CaseDetail, CaseSummary, ChildDetail, ChildSummary, GuardianOut, OutcomeFieldOut, PathwayInfo,
    PathwayRunOut, ReasonOut, TaskOut, TimelineRowOut,
)


def today() -> dt.date:
    """Today in the configured time zone (Asia/Shanghai)."""
    return pendulum.now(get_settings().timezone).date()


def local_time(value: dt.datetime | None) -> str:
    """``YYYY-MM-DD HH:MM`` in Asia/Shanghai, or an empty string."""
    return format_local(value, get_settings().timezone) if value else ""


def flow_run_url(flow_run_id: uuid.UUID | None) -> str | None:
    """The flow run in the Prefect UI: ``<prefect ui url>/runs/flow-run/<id>`` (linked on admins' pages only)."""
    if flow_run_id is None:
        return None
    return f"{get_settings().resolved_prefect_ui_url}/runs/flow-run/{flow_run_id}"


def step_definition(pathway: str, step_key: str) -> PathwayStep | None:
    definition = load_policy().pathways.get(pathway)
    if definition is None:
        return None
    try:
        return definition.step(step_key)
    except KeyError:
        return None


def deadline_text(text: str, t: Translator) -> str:
    """A stored rule (``"3 working days"``) in the reader's language (``3个工作日``, :func:`core.i18n.deadline_text`)."""
    return i18n_deadline_text(text, t.lang)


def outcome_labels(step: PathwayStep | None, t: Translator) -> dict[str, str]:
    return {f.name: t.pick(f, "label") for f in step.outcome} if step else {}




def pathway_title(pathway: str, t: Translator) -> str:
    definition = load_policy().pathways.get(pathway)
    return t.pick(definition, "title") if definition else pathway


def field_out(field: OutcomeField, t: Translator, exclude_items: tuple[int, ...] = ()) -> OutcomeFieldOut:
    """A policy field as a form shows it: a choice's options with their labels; a service-list field's options are
    the items of the list by name (``第13项 最低生活保障服务``), without ``exclude_items`` (the referring pathway's
    own); an onward referral also offers ``none`` (无需转介)."""
    options = list(field.options)
    if field.type in ("service_item", "service_items"):
        items = load_policy().service_items
        options = [str(n) for n in items if n not in exclude_items]
        labels = [t("field.service_item_option", n=n, service=items[int(n)].service_in(t.lang)) for n in options]
        if field.type == "service_items":
            options.insert(0, NO_REFERRAL)
            labels.insert(0, t.option(field.name, NO_REFERRAL))
    else:
        labels = [t.option(field.name, o) for o in options]
    return OutcomeFieldOut(name=field.name, type=field.type, label=t.pick(field, "label"), required=field.required,
                           options=options, option_labels=labels)


#: Asked when a pathway has a step routed by the place of the emergency (临时救助 in 急难发生地, 方案 六); see
#: :func:`careflow.cases.validate_start_parameters`.
EMERGENCY_AREA_FIELD = OutcomeField(
    name="emergency_area_code", type="area", required=True, label_zh="急难发生地（乡镇、村居）",
    label_en="Place of the emergency (township or village)")


def own_items(pathway: str) -> tuple[int, ...]:
    """The service-list items ``pathway`` itself delivers (not offered for its onward referral)."""
    definition = load_policy().pathways.get(pathway)
    return tuple(definition.service_items) if definition and pathway != "service_referral" else ()


def start_fields(pathway: PathwayDefinition) -> list[OutcomeField]:
    """The fields a caseworker fills in to start ``pathway``: its policy start parameters, plus the place of the
    emergency when a step is routed by it."""
    fields = list(pathway.start_parameters)
    if any(step.jurisdiction_basis == "emergency_place" for step in pathway.steps):
        fields.insert(0, EMERGENCY_AREA_FIELD)
    return fields


def start_labels(pathway: str, t: Translator) -> dict[str, str]:
    """The start fields of ``pathway`` by input name (``p_item`` → ``清单服务项目``); empty for an unknown one."""
    definition = load_policy().pathways.get(pathway)
    return {f"p_{f.name}": t.pick(f, "label") for f in start_fields(definition)} if definition else {}


def pathway_infos(t: Translator) -> list[PathwayInfo]:
    """Every pathway of the policy with its start fields; ``available`` when a flow serves it."""
    return [
        PathwayInfo(key=key, title=t.pick(p, "title"), source=p.source, available=key in PATHWAY_DEPLOYMENTS,
                    start_parameters=[field_out(f, t) for f in start_fields(p)])
        for key, p in load_policy().pathways.items()
        if not p.started_by_agencies  # the misconduct notice is the police's or procuratorate's (/notices/new)
    ]


# --------------------------------------------------------------------------------------------- children


def assessment_of(child: Child, on: dt.date | None = None) -> AssessmentOut:
    """The migrant-child test (方案 一) for a stored child as of ``on`` (default today): a child ages out."""
    on = on or today()
    result = assess_migrant_child(birth_date=child.birth_date, hukou_county=child.hukou_county_code,
                                  residence_county=child.residence_county_code, arrival_date=child.arrival_date, on=on)
    return AssessmentOut(on=on, is_migrant=result.is_migrant, turns_16_on=result.turns_16_on,
                         six_months_on=result.six_months_on,
                         reasons=[ReasonOut(**r.model_dump()) for r in result.reasons])


def child_summary(child: Child) -> ChildSummary:
    """A child as a list shows it: the ID number masked."""
    return ChildSummary(id=child.id, full_name=child.full_name, resident_id_masked=mask_resident_id(child.resident_id),
                        sex=child.sex, residence_county_code=child.residence_county_code,
                        residence_area_code=child.residence_area_code, key_care_criteria=list(child.key_care_criteria),
                        created_at=child.created_at)


def list_children_audited(session: Session, children: list[Child], *, actor: str) -> list[ChildSummary]:
    """Summaries of ``children``, recording which records ``actor`` saw (``child.list_read``)."""
    if children:
        record_audit(session, actor=actor, action="child.list_read", entity_type="child", entity_id="list",
                     detail={"count": len(children), "ids": [c.id.hex for c in children[:200]]})
    return [child_summary(c) for c in children]


def case_summary(case: Case) -> CaseSummary:
    return CaseSummary(reference=case.reference, status=str(case.status), county_code=case.county_code,
                       caseworker=case.caseworker, summary=case.summary, opened_at=case.opened_at,
                       closed_at=case.closed_at, close_reason=case.close_reason)


def child_detail(session: Session, child: Child, *, actor: str, reveal_id: bool = False,
                 hide_confidential: bool = False) -> ChildDetail:
    """A child's full record (audited ``child.viewed``; ``reveal_id`` also ``child.id_revealed``).

    ``hide_confidential`` (a caseworker reading): the cases of a confidential pathway (the misconduct notice of 方案
    十一, :func:`web.scope.confidential_case`) are left out of the child's cases.

    The resident ID stays masked in ``resident_id_masked`` unless ``reveal_id``, when it holds the full ID.
    """
    record_audit(session, actor=actor, action="child.id_revealed" if reveal_id else "child.viewed",
                 entity_type="child", entity_id=child.id)
    guardians = session.exec(select(Guardian).where(Guardian.child_id == child.id)).all()
    query = select(Case).where(Case.child_id == child.id)
    if hide_confidential:
        query = query.where(~confidential_case())
    cases = session.exec(query.order_by(Case.opened_at.desc())).all()
    summary = child_summary(child)
    if reveal_id:
        summary.resident_id_masked = child.resident_id
    return ChildDetail(
        **summary.model_dump(), birth_date=child.birth_date, hukou_county_code=child.hukou_county_code,
        residence_address=child.residence_address, arrival_date=child.arrival_date,
        guardians=[GuardianOut(full_name=g.full_name, relation=g.relation, phone=g.phone) for g in guardians],
        assessment=assessment_of(child), cases=[case_summary(c) for c in cases],
    )


# --------------------------------------------------------------------------------------------- cases


def pathway_run_out(run: PathwayRun, t: Translator) -> PathwayRunOut:
    return PathwayRunOut(id=run.id, pathway=run.pathway, title=pathway_title(run.pathway, t), status=str(run.status),
                         status_label=t.pathway_status(run.status),
                         started_at=run.started_at, ended_at=run.ended_at,
                         outcome=shown_outcome(run.outcome, run.outcome_phrases, t.lang),
                         flow_run_id=run.flow_run_id, flow_run_url=flow_run_url(run.flow_run_id))


def case_detail(session: Session, case: Case, *, actor: str, t: Translator) -> CaseDetail:
    """A case with every pathway and every task across them (the read is audited ``case.timeline_read``)."""
    timeline = case_timeline(session, case.reference, actor=actor)
    runs = session.exec(select(PathwayRun).where(PathwayRun.case_id == case.id).order_by(PathwayRun.started_at)).all()
    rows = []
    names = people_names(session, [case.caseworker, *(row.answered_by for row in timeline.rows)])
    for row in timeline.rows:
        step = step_definition(row.pathway, row.step_key)
        rows.append(TimelineRowOut(
            pathway=row.pathway, step_key=row.step_key, title=t.pick(step, "title") if step else row.title,
            attempt=row.attempt, unit_code=row.unit_code, unit_name=row.unit_name, requested_at=row.requested_at,
            due_at=row.due_at, due_provisional=row.due_provisional, deadline_text=deadline_text(row.deadline_text, t),
            state=str(row.state), state_label=t.state(row.state), answered_at=row.answered_at, answered_by=row.answered_by, outcome=row.outcome,
            answered_by_name=names.get(row.answered_by, row.answered_by),
            outcome_labels=outcome_labels(step, t), rejection_reason=row.rejection_reason, on_time=row.on_time,
            rejection_kind=row.rejection_kind, rejection_kind_label=rejection_kind_label(row.rejection_kind, t),
            task_id=row.task_id,
        ))
    summary = case_summary(case).model_copy(update={"caseworker_name": names.get(case.caseworker, case.caseworker)})
    child = session.get(Child, case.child_id)
    return CaseDetail(**summary.model_dump(), child_id=case.child_id, child_name=child.full_name if child else "",
                      pathways=[pathway_run_out(r, t) for r in runs], timeline=rows)


# --------------------------------------------------------------------------------------------- tasks


def task_out(session: Session, task: AgencyTask, t: Translator, now: dt.datetime | None = None, *,
             case_reference: str | None = None, pathway: str | None = None,
             unit_name: str | None = None) -> TaskOut:
    """A task as its agency sees it: case reference, step, deadline, instructions, outcome fields — no
    child's name or ID number (DOMAIN.md §8: each agency sees only what its step needs).

    A list passes ``case_reference`` and ``pathway`` (``""`` for a dated duty) joined in its own query, so that
    presenting a row costs no SQL (:mod:`web.task_list`); otherwise they are looked up. ``unit_name``: the unit's
    name when the caller has it ("" leaves it out; ``None`` looks it up).
    """
    now = now or utcnow()
    if case_reference is None:
        case = session.get(Case, task.case_id) if task.case_id else None
        case_reference = case.reference if case else ""
    if pathway is None:
        run = session.get(PathwayRun, task.pathway_run_id) if task.pathway_run_id else None
        pathway = run.pathway if run else ""
    if unit_name is None:
        unit_name = unit_names(session, [task.unit_code]).get(task.unit_code, task.unit_code)
    follower = task.follower_unit_code
    follower_name = unit_names(session, [follower]).get(follower, follower) if follower and unit_name else ""
    has_run = task.pathway_run_id is not None and bool(pathway)
    step = step_definition(pathway, task.step_key) if has_run else None
    # a dated duty outside any case (a child director's contact, a city list's filing): its own fields and text,
    # in the reader's language
    duty = describe_duty(task.duty_key or "", task.title, t.lang) if not has_run else None
    fields = list(step.outcome) if step else list(duty.outcome) if duty else []
    # a key care duty's title and instructions in the reader's language (web.duty_words)
    title = duty_title(duty.step_title, task.duty_key or "", t) if duty else task.title
    instructions = duty_instructions(task.duty_key or "", duty.instructions, t) if duty else ""
    state = TaskState(task.state)
    return TaskOut(
        id=task.id, short_ref=task.short_ref, case_reference=case_reference, pathway=pathway,
        step_key=task.step_key, step_title=t.pick(step, "title") if step else title,
        attempt=task.attempt,
        state=state.value, state_label=t.state(state), unit_code=task.unit_code, requested_at=task.requested_at, ack_due_at=task.ack_due_at,
        due_at=task.due_at, due_local=local_time(task.due_at), due_provisional=task.due_provisional,
        deadline_text=deadline_text(task.deadline_text, t), deadline_for=step.deadline_for if step else "completion",
        overdue=state.is_open and task.due_at < now,
        ack_overdue=state == TaskState.requested and task.ack_due_at is not None and task.ack_due_at < now,
        instructions=t.pick(step, "instructions") if step else instructions,
        note=step_note(pathway, step, t), outcome=task.outcome,
        outcome_fields=[field_out(f, t, own_items(pathway)) for f in fields],
        outcome_labels={f.name: t.pick(f, "label") for f in fields},
        rejection_reason=task.rejection_reason, answered_at=task.answered_at, answered_by=task.answered_by,
        rejection_kind=task.rejection_kind, rejection_kind_label=rejection_kind_label(task.rejection_kind, t),
        unit_name=unit_name, follower_unit_code=follower, follower_name=follower_name,
    )


def rejection_kind_label(kind: str, t: Translator) -> str:
    """A rejection's kind as people read it in ``t``'s language (需补充信息, More information needed); "" for none."""
    return t.label(kind, "rejection_kind") if kind else ""


def step_note(pathway: str, step: PathwayStep | None, t: Translator) -> str:
    """A step's note for the agency in the reader's language: the catalogue's ``note.<pathway>.<step>``; the
    policy's own (English) note only to an English reader; none otherwise."""
    if step is None:
        return ""
    key = f"note.{pathway}.{step.key}"
    text = t(key)
    if text != key:
        return text
    return step.note if t.lang == "en" else ""


def audit_task_view(session: Session, task: AgencyTask, *, actor: str) -> None:
    record_audit(session, actor=actor, action="task.viewed", entity_type="task", entity_id=task.id,
                 case_id=task.case_id)
