"""A child's case (caseworker actions): opening it, starting pathway runs on it, closing and reopening it.

A case is opened on a registered child (:mod:`careflow.registration`) in the child's residence county. A pathway run
starts only on an open case, once per pathway (per service-list item for a referral: :func:`pathway_dedupe_key`),
with its start parameters checked against the policy (:func:`validate_start_parameters`). This module is the one
writer of a case's closure (issue #15, ``tests/test_one_writer.py``): :func:`close_case` and :func:`reopen_case`,
each with a written reason, audited.
"""
from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pendulum
import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import record_audit
from core.i18n import LANGUAGES, gettext
from careflow.key_care import SCREENING_PATHWAY, record_screening_grounds
from careflow.start_routing import PathwayNotRoutable, check_first_steps_routable  # noqa: F401 (also from here)
from careflow.exchange.proposals import mark_referred
from careflow.programme_seats import release_case_places
from careflow.referral_eligibility import check_referral, record_override
from core.settings import get_settings
from careflow.tasks import move_tasks
from models.areas import find_area
from models.base import utcnow
from models.case import Case, CaseStatus, PathwayRun, PathwayStatus, clip_text
from models.child import Child
from models.deadlines import format_local
from models.errors import FieldKeyError, FieldLookupError, FieldValueError
from models.policy import load_policy
from models.regions import UnknownRegion, get_county
from models.service_list import referral_item
from models.task import OPEN_STATES, AgencyTask, TaskState


def open_case(session: Session, *, child_id: uuid.UUID, caseworker: str, summary: str = "") -> Case:
    """Open a case on a registered child, held by ``caseworker`` in the child's residence county."""
    child = session.get(Child, child_id)
    if child is None:
        raise FieldLookupError("child_id", "problem.no_child", child_id=child_id)
    today = pendulum.now(get_settings().timezone).format("YYYYMMDD")
    while True:  # 24 random bits per county and day; the unique column is the final guard
        reference = f"CF-{child.residence_county_code}-{today}-{secrets.token_hex(3).upper()}"
        if not session.exec(select(Case.id).where(Case.reference == reference)).first():
            break
    case = Case(
        reference=reference,
        child_id=child.id, county_code=child.residence_county_code, caseworker=caseworker, summary=summary,
    )
    session.add(case)
    record_audit(session, actor=caseworker, action="case.opened", entity_type="case", entity_id=case.id,
                 case_id=case.id, reason=summary)
    return case


class CaseRefused(ValueError):
    """A case action refused as asked, worded from the catalogues (``case.refused.*``) in the reader's language:
    :meth:`text`; ``str()`` is the Chinese text (logs, the command line's default). ``field``, when given, is a
    ``case.field.*`` key worded in the same language (the form field the refusal is about); a value given by
    language (``{"zh": …, "en": …}``, a pathway's title) is read in that language."""

    def __init__(self, key: str, **values):
        self.key, self.values = key, values
        super().__init__(self.text("zh"))

    def text(self, lang: str) -> str:
        """The refusal in ``lang`` (``zh`` or ``en``)."""
        values = {name: value.get(lang, value.get("zh")) if isinstance(value, dict) else value
                  for name, value in self.values.items()}
        if "field" in values:
            values["field"] = gettext(f"case.field.{values['field']}", lang)
        return gettext(self.key, lang, **values)


class CaseClosed(CaseRefused):
    """The case is closed: nothing starts on it until it is reopened with a reason (:func:`reopen_case`)."""

    def __init__(self):
        super().__init__("case.refused.case_closed")


class PathwayAlreadyRunning(CaseRefused):
    """The same pathway (for a service-list referral: the same item) is still open on the case (issue #16).

    The message names the pathway and the open run (who started it, when, its short id), e.g.
    ``该个案的监护干预路径正在进行中（由 lin.fang 于 2026-12-04 18:20（北京时间）发起，路径运行 1a2b3c4d），结束后方可再次发起``.
    ``running`` is the open :class:`PathwayRun` (None if it ended in the meantime).
    """

    def __init__(self, running: PathwayRun | None = None, **values):
        super().__init__("case.refused.already_running" if running else "case.refused.already_started", **values)
        self.running = running


class AgencyStartsIt(CaseRefused):
    """The pathway is started by an agency's officer, never on a caseworker's case (``started_by_agencies``)."""


def pathway_dedupe_key(pathway: str, parameters: Mapping[str, Any]) -> str:
    """Which runs count as "the same pathway" on one case: the pathway key, or for a pathway that refers one
    service-list item (``service_referral``, or any with ``item_steps``) the key and the item number,
    e.g. ``service_referral:18`` — a case may hold referrals of several items at once, but not one item twice.

    ``parameters`` are the validated start parameters (:func:`validate_start_parameters`).
    """
    definition = load_policy().pathway(pathway)
    if definition.item_steps or pathway == "service_referral":
        return f"{pathway}:{referral_item(parameters).number}"
    return pathway


def create_pathway_run(
    session: Session, *, case_id: uuid.UUID, pathway: str, actor: str, parameters: dict | None = None,
    starting_unit: str = "",
) -> PathwayRun:
    """Record that a pathway starts on a case (the flow run is created by :func:`start_pathway`).

    ``parameters`` are checked by :func:`validate_start_parameters` and stored normalised (e.g. a
    temporary-assistance run needs ``emergency_area_code``; a psychological screening its
    ``screening_result``); nothing is stored when they are wrong.

    One run of a pathway (per service-list item, see :func:`pathway_dedupe_key`) may be open
    (``starting``/``running``) on a case at a time: the partial unique index ``uq_pathway_run_open_per_case``
    refuses a second, however close two starts come (a database constraint, not a read-then-write check;
    issue #16). The insert runs in a savepoint, so a refused start leaves the caller's session usable; once
    the open run ended (completed, failed or cancelled) the pathway may be started again.

    Raises:
        KeyError: ``pathway`` is not one of the policy's pathways.
        ValueError: a missing, unknown or ill-typed start parameter (the message names the field).
        PathwayAlreadyRunning (a ValueError): the pathway is already open on the case (Chinese message
            naming the pathway and the open run).
        NotEligible / EligibilityNeedsReason (ValueErrors): a service-list referral whose child is not in the
            item's target group, or whose conditions are unknown and no written reason was given
            (:func:`careflow.referral_eligibility.check_referral`; audited ``referral.eligibility_override``).
        CaseClosed (a ValueError): the case is closed; it is reopened only explicitly, with a reason
            (:func:`reopen_case`; issue 12).
        PathwayNotRoutable (a ValueError): a first step has no unit for the child's area (careflow.start_routing).
        AgencyStartsIt (a ValueError): the pathway is started by an agency (``started_by_agencies``: the
            misconduct notice of 方案 十一, started by the police or the procuratorate through
            :func:`careflow.misconduct.start_notice`, which names the ``starting_unit``), not by a caseworker.
    A screening showing an abnormality is a key care door (:func:`careflow.key_care.record_screening_grounds`).
    """
    if pathway not in load_policy().pathways:
        raise FieldKeyError("pathway", "problem.not_a_pathway", pathway=pathway,
                            known=", ".join(sorted(load_policy().pathways)))
    if load_policy().pathway(pathway).started_by_agencies and not starting_unit:
        raise AgencyStartsIt("case.refused.agency_starts_it", pathway=_titles(load_policy().pathway(pathway)))
    parameters = validate_start_parameters(pathway, parameters or {})
    case = session.get(Case, case_id)
    if case is None:
        raise FieldLookupError("case_id", "problem.no_case", case=case_id)
    if case.status == CaseStatus.closed:
        raise CaseClosed()
    parameters = check_referral(session, case, pathway, parameters)  # target group (服务对象); Chinese refusal
    run = _insert_open_run(session, case, pathway, parameters, actor)
    record_audit(session, actor=actor, action="pathway.started", entity_type="pathway_run", entity_id=run.id,
                 case_id=case.id, detail={"pathway": pathway, "parameters": parameters or {}})
    record_override(session, run, actor)
    if pathway == "service_referral":  # the item is referred: the proposals a department's answer made are done
        mark_referred(session, child_id=case.child_id, item=referral_item(parameters).number, run_id=run.id,
                      actor=actor, now=run.started_at)
    if pathway == SCREENING_PATHWAY:  # key care from any door: a screening that shows an abnormality (方案 八)
        record_screening_grounds(session, session.get(Child, case.child_id), parameters["screening_result"],
                                 actor=actor)
    return run


def _insert_open_run(session: Session, case: Case, pathway: str, parameters: dict, actor: str) -> PathwayRun:
    """The new run, inserted in a savepoint: refused when the pathway is open on the case already (the partial unique
    index, :class:`PathwayAlreadyRunning`), then when a step it takes first has no unit for the child's area
    (:func:`careflow.start_routing.check_first_steps_routable`, :class:`PathwayNotRoutable`); either refusal leaves
    nothing stored and the caller's session usable."""
    key = pathway_dedupe_key(pathway, parameters)
    run = PathwayRun(case_id=case.id, pathway=pathway, parameters=parameters or {}, dedupe_key=key,
                     started_by=actor, started_at=utcnow())
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
            check_first_steps_routable(session, case, pathway, parameters)  # a run no unit takes never starts
    except sa.exc.IntegrityError:
        if run in session:
            session.expunge(run)
        raise _already_running(session, case, pathway, key) from None
    except PathwayNotRoutable:
        if run in session:
            session.expunge(run)
        raise
    return run


def _already_running(session: Session, case: Case, pathway: str, key: str) -> PathwayAlreadyRunning:
    running = session.exec(select(PathwayRun).where(
        PathwayRun.case_id == case.id, PathwayRun.dedupe_key == key,
        PathwayRun.status.in_([PathwayStatus.starting, PathwayStatus.running]))).first()
    policy = load_policy()
    title = {lang: text.split("（")[0] for lang, text in _titles(policy.pathway(pathway)).items()}
    if key != pathway:  # a service-list referral: name the item
        number = int(key.rsplit(":", 1)[1])
        item = policy.service_item(number)
        title = {lang: gettext("case.refused.item_referral", lang, n=number, service=item.service_in(lang))
                 for lang in LANGUAGES}
    if running is None:
        return PathwayAlreadyRunning(pathway=title)
    return PathwayAlreadyRunning(running, pathway=title, by=running.started_by, at=format_local(running.started_at),
                                 run=running.id.hex[:8])


def _titles(definition) -> dict[str, str]:
    """A pathway's title by language (``{"zh": "监护干预", "en": …}``)."""
    return {"zh": definition.title_zh, "en": definition.title_en}


#: The longest text a start parameter may hold (a note, the conduct reported), in characters.
START_TEXT_MAX_CHARS = 500


def validate_start_parameters(pathway: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The start parameters of ``pathway`` checked against the policy and normalised.

    The pathway's declared ``start_parameters`` are checked by
    :meth:`models.pathways.PathwayDefinition.validate_parameters` (required fields, choices, ``yes``/``no``
    → bool); a text value holds at most :data:`START_TEXT_MAX_CHARS` characters. A pathway with a step routed
    by the place of the emergency (``jurisdiction_basis: emergency_place``, 临时救助 in 急难发生地, 方案 六) also
    needs ``emergency_area_code``: the GB/T 2260 township (9 digits) or village/community (12 digits) code of
    that place, inside a known county.

    Raises:
        models.errors.FieldValueError (a ValueError): naming the field by its label and the value, worded in the
            reader's language.
    """
    definition = load_policy().pathway(pathway)
    values = dict(parameters)
    routing: dict[str, str] = {}
    if any(step.jurisdiction_basis == "emergency_place" for step in definition.steps):
        code = str(values.pop("emergency_area_code", "") or "").strip()
        code = find_area(code) or code  # a township or village typed by name (城厢区霞林街道霞林社区)
        if not code:
            raise FieldValueError("emergency_area_code", "problem.area_required")
        if not code.isdigit() or len(code) not in (9, 12):
            raise FieldValueError("emergency_area_code", "problem.area_code", value=code)
        try:
            get_county(code[:6])
        except UnknownRegion:
            raise FieldValueError("emergency_area_code", "problem.area_unknown_county", value=code) from None
        routing["emergency_area_code"] = code
    labels = {f.name: {"zh": f.label_zh, "en": f.label_en} for f in definition.start_parameters}
    if any(step.jurisdiction_basis == "school_place" for step in definition.steps):
        school = school_area(values.pop("school_area_code", ""), labels.get("school_area_code"))
        if school:
            routing["school_area_code"] = school
    validated = {**definition.validate_parameters(values), **routing}
    for name, value in validated.items():
        if isinstance(value, str) and len(value) > START_TEXT_MAX_CHARS:
            raise FieldValueError(name, "problem.too_long", labels=labels.get(name), n=START_TEXT_MAX_CHARS,
                                  have=len(value))
    if definition.item_steps or pathway == "service_referral":
        referral_item(validated)  # refuse an item outside the provincial list before anything is stored
    return validated


def school_area(value: Any, labels: dict[str, str] | None = None) -> str:
    """The place of a child's school as an area code: a county (6 digits), township (9) or village (12) code, or
    its name (``莆田市城厢区``, ``城厢区霞林街道``); ``""`` when not given. Routes the steps of
    ``jurisdiction_basis: school_place`` (the education bureau of the child's school, 方案 十一).

    Raises:
        models.errors.FieldValueError: of field ``school_area_code`` (by ``labels``, the policy's, e.g. 就读学校所在地),
            naming the value.
    """
    text = str(value or "").strip()
    if not text:
        return ""
    code = find_area(text) or text
    if not code.isdigit():
        try:
            code = get_county(text).code
        except (UnknownRegion, ValueError):
            code = text
    if not code.isdigit() or len(code) not in (6, 9, 12):
        raise FieldValueError("school_area_code", "problem.school_area", labels=labels, value=text)
    try:
        get_county(code[:6])
    except (UnknownRegion, ValueError):
        raise FieldValueError("school_area_code", "problem.area_unknown_county", labels=labels, value=text) from None
    return code


def close_case(session: Session, case_id: uuid.UUID, reason: str, *, actor: str = "careflow",
               now: datetime | None = None, cancel_open_work: bool = False) -> bool:
    """Close an open case with ``reason``; returns whether it closed (False: closed already). The one writer of a
    case's closure (issue #15; ``tests/test_one_writer.py`` fails on any other). A pathway's end never calls it:
    closing is the caseworker's decision (:mod:`careflow.closing`, issue 12); the survey's transfer and age-out
    close with ``cancel_open_work``. A pending close request is cleared with the closure.

    A conditional ``UPDATE case … WHERE id = :id AND status = 'open'`` (of two concurrent closures one is stored),
    audited ``case.closed``; ``close_reason`` is cut to 500 characters (:func:`models.case.clip_text`).
    ``cancel_open_work`` (a child who aged out, 方案 一): first cancel the case's open tasks with ``reason``
    (:func:`careflow.tasks.move_tasks`; outcome ``{"cancel_reason": reason}``) and mark its running pathway runs
    cancelled (audited ``pathway.cancelled``; their Prefect flow runs, if waiting, simply stay waiting: nothing
    will resume them). ``now``: the closing time (default now, UTC). The programme places the child still holds
    are withdrawn and their seats offered to the waiting lists (:func:`careflow.programme_seats.release_case_places`).
    """
    now = now or utcnow()
    if cancel_open_work:
        move_tasks(session, select(AgencyTask.id).where(AgencyTask.case_id == case_id), TaskState.cancelled,
                   actor=actor, reason=reason, from_states=OPEN_STATES, outcome={"cancel_reason": reason}, now=now)
        for run in session.exec(select(PathwayRun).where(
                PathwayRun.case_id == case_id,
                PathwayRun.status.in_([PathwayStatus.starting, PathwayStatus.running]))).all():
            run.status, run.ended_at, run.outcome = PathwayStatus.cancelled, now, clip_text(reason)
            session.add(run)
            record_audit(session, actor=actor, action="pathway.cancelled", entity_type="pathway_run",
                         entity_id=run.id, case_id=case_id, reason=reason)
    session.flush()
    closed = session.execute(
        sa.update(Case).where(Case.id == case_id, Case.status == CaseStatus.open)
        .values(status=CaseStatus.closed, closed_at=now, close_reason=clip_text(reason), close_requested_at=None,
                close_requested_by="", close_request_reason="")
        .execution_options(synchronize_session=False)).rowcount
    case = session.get(Case, case_id)
    if case is not None:
        session.refresh(case)
    if closed != 1:
        return False
    record_audit(session, actor=actor, action="case.closed", entity_type="case", entity_id=case_id,
                 case_id=case_id, reason=reason)
    # a closed case holds no programme place: its seats go to the children waiting (方案 （九）至（十一）)
    release_case_places(session, case_id, actor=actor, reason=reason, now=now)
    return True


#: What a reopening (or closing) reason may hold, in characters (stored in the audit trail and ``close_reason``).
REASON_MAX_CHARS = 500


def checked_reason(reason: str, field: str) -> str:
    """``reason`` stripped; raises :class:`CaseRefused` naming the form field ``field`` (``close_reason``,
    ``refuse_reason``, ``reopen_reason``) when it is empty or longer than :data:`REASON_MAX_CHARS`."""
    reason = (reason or "").strip()
    if not reason:
        raise CaseRefused("case.refused.reason_missing", field=field)
    if len(reason) > REASON_MAX_CHARS:
        raise CaseRefused("case.refused.reason_too_long", field=field, limit=REASON_MAX_CHARS, count=len(reason))
    return reason


def reopen_case(session: Session, case_id: uuid.UUID, *, actor: str, reason: str, now: datetime | None = None) -> bool:
    """Reopen a closed case, explicitly and with a written ``reason`` (issue 12): a conditional
    ``UPDATE case … WHERE status = 'closed'`` (of two concurrent reopenings one is stored), ``reopened_at`` set,
    audited ``case.reopened`` with the reason. Returns whether it reopened (False: it was open already).

    Raises:
        CaseRefused (a ValueError): an empty or too long reason (naming the field 重新开案理由).
    """
    reason = checked_reason(reason, "reopen_reason")
    now = now or utcnow()
    session.flush()
    reopened = session.execute(
        sa.update(Case).where(Case.id == case_id, Case.status == CaseStatus.closed)
        .values(status=CaseStatus.open, closed_at=None, close_reason="", reopened_at=now)
        .execution_options(synchronize_session=False)).rowcount
    case = session.get(Case, case_id)
    if case is not None:
        session.refresh(case)
    if reopened != 1:
        return False
    record_audit(session, actor=actor, action="case.reopened", entity_type="case", entity_id=case_id,
                 case_id=case_id, reason=reason)
    return True
