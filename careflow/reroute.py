"""Redirect instead of re-issue (issue 12 item 5): a rejection says why, and the next attempt goes where it should.

A rejection carries a kind (:class:`models.task.RejectionKind`) besides its free-text reason:

* ``not_ours`` (非本单位职责) and ``wrong_area`` (不属本辖区): the rejecting officer may name the right unit
  (``reroute_unit_code``). When they do not, the caseworker of the case (or the county manager) chooses one
  (:func:`settle_reroute`) and the pathway's flow waits for that choice before re-issuing the step
  (:func:`needs_followup`, :func:`flows.waiting.await_reroute`).
* ``need_more_information`` (需补充信息): the same unit gets the step again, once the caseworker has added the
  information (``reroute_note``, :func:`settle_reroute`); the flow waits for it.
* ``other`` (其他) and a rejection without a kind (the CLI, older API clients): re-issued at once to the unit the
  child's area routes to, as before.

The next attempt's unit is decided by :func:`next_attempt_unit` from the previous attempt's task, inside
:func:`careflow.step_tasks.open_step_task`, so a resumed or restarted flow finds the same answer in the database.

A named or chosen unit must be an active unit of the task's agency type, or of one of the step's
``alternative_agencies`` (policy), and not the rejecting unit itself (:func:`check_reroute_unit`); otherwise a
:class:`~models.errors.FieldValueError` (``problem.reroute_*``, worded in the reader's language) names the field
(``reroute_unit``) and the value.

Every write is conditional (the expected state in the ``UPDATE``) and audited in the caller's transaction.
"""
from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from careflow.routing import jurisdiction_prefix
from core.audit import record_audit
import core.i18n  # noqa: F401  (the catalogues the errors raised here are worded from)
from models.agency import AgencyUnit
from models.base import utcnow
from models.case import Case, PathwayRun
from models.errors import FieldValueError, Labels
from models.policy import load_policy
from models.task import AgencyTask, RejectionKind, TaskState

#: The kinds of rejection that send the next attempt to another unit.
REROUTE_KINDS = frozenset({RejectionKind.not_ours, RejectionKind.wrong_area})
#: The field names used in errors and forms.
UNIT_FIELD, KIND_FIELD, NOTE_FIELD = "reroute_unit", "rejection_kind", "reroute_note"
NOTE_MAX_CHARS = 1000


def parse_kind(value: str | None) -> RejectionKind | None:
    """The :class:`RejectionKind` of a submitted value; ``None`` for an empty one.

    Raises:
        ValueError: an unknown kind (a FieldValueError naming the field ``rejection_kind``).
    """
    text = (value or "").strip()
    if not text:
        return None
    try:
        return RejectionKind(text)
    except ValueError:
        raise FieldValueError(KIND_FIELD, "problem.rejection_kind", value=text[:40],
                              choices=Labels(list(RejectionKind), "rejection_kind")) from None


def allowed_agency_types(session: Session, task: AgencyTask) -> list[str]:
    """The agency types whose units may take ``task``'s step: its own, then the step's ``alternative_agencies``."""
    types = [task.agency_type]
    run = session.get(PathwayRun, task.pathway_run_id) if task.pathway_run_id is not None else None
    if run is not None:
        try:
            step = load_policy().pathways[run.pathway].step(task.step_key)
        except KeyError:
            return types
        types += [a for a in step.alternative_agencies if a not in types]
    return types


def candidate_units(session: Session, task: AgencyTask) -> list[AgencyUnit]:
    """The active units ``task`` may be sent to instead of its own, of the allowed agency types: what the reject,
    reroute and redirect forms offer, by name. First the units whose jurisdiction covers the child's county or lies
    inside it (the usual answer), then those of other places (a child who lives elsewhere: 不属本辖区); each part by
    agency type, area and name."""
    types = allowed_agency_types(session, task)
    units = session.exec(select(AgencyUnit).where(
        AgencyUnit.agency_type.in_(types), AgencyUnit.active == True,  # noqa: E712
        AgencyUnit.code != task.unit_code)).all()
    case = session.get(Case, task.case_id) if task.case_id is not None else None
    county = case.county_code if case is not None else task.jurisdiction_code[:6]

    def elsewhere(unit: AgencyUnit) -> bool:
        prefix = jurisdiction_prefix(unit.jurisdiction_code)
        return not (county.startswith(prefix) or prefix.startswith(county))

    return sorted(units, key=lambda u: (elsewhere(u), types.index(u.agency_type), u.jurisdiction_code, u.name))


def check_reroute_unit(session: Session, task: AgencyTask, unit_code: str, *, field: str = UNIT_FIELD) -> AgencyUnit:
    """The unit ``unit_code`` if ``task``'s step may go there (see the module's rule).

    Raises:
        ValueError: unknown or inactive, of another agency type, or the task's own unit
            (FieldValueError), naming the field and the value.
    """
    code = (unit_code or "").strip()
    if not code:
        raise FieldValueError(field, "problem.reroute_unit_missing")
    unit = session.get(AgencyUnit, code)
    types = allowed_agency_types(session, task)
    kinds = Labels(types, "agency", sep="or")
    if unit is None or not unit.active:
        raise FieldValueError(field, "problem.reroute_unit_unknown", value=code[:64], kinds=kinds)
    if unit.agency_type not in types:
        raise FieldValueError(field, "problem.reroute_unit_other_agency", name=unit.name, kinds=kinds,
                              agency=Labels([unit.agency_type], "agency"))
    if unit.code == task.unit_code:
        raise FieldValueError(field, "problem.reroute_unit_same", name=unit.name)
    return unit


def check_rejection(session: Session, task: AgencyTask, kind: RejectionKind | None, unit_code: str | None) -> None:
    """Check a rejection's kind and named unit before anything is stored (a unit only for not_ours/wrong_area).

    Raises:
        ValueError: see :func:`check_reroute_unit`; a unit named with another kind (field ``reroute_unit``).
    """
    if not (unit_code or "").strip():
        return
    if kind not in REROUTE_KINDS:
        raise FieldValueError(UNIT_FIELD, "problem.reroute_unit_not_for_kind",
                              kinds=Labels(sorted(REROUTE_KINDS), "rejection_kind", sep="or"))
    check_reroute_unit(session, task, unit_code)


def record_rejection(session: Session, task: AgencyTask, kind: RejectionKind | None, unit_code: str | None, *,
                     actor: str, now: datetime | None = None) -> None:
    """Store the kind and the named unit of ``task``'s rejection (just stored by ``transition_task``).

    Conditional: ``UPDATE … WHERE id = :id AND state = 'rejected' AND rejection_kind = ''`` -- a replayed answer
    keeps the first. A named unit settles where the next attempt goes (``rerouted_at``); audit
    ``task.reroute_named``.
    """
    if kind is None:
        return
    now = now or utcnow()
    values: dict = {"rejection_kind": kind.value}
    code = (unit_code or "").strip()
    if code:
        values.update(reroute_unit_code=code, rerouted_by=actor[:64], rerouted_at=now)
    changed = session.execute(
        sa.update(AgencyTask).where(AgencyTask.id == task.id, AgencyTask.state == TaskState.rejected.value,
                                    AgencyTask.rejection_kind == "")
        .values(values).execution_options(synchronize_session=False)).rowcount
    session.refresh(task)
    if changed and code:
        record_audit(session, actor=actor, action="task.reroute_named", entity_type="task", entity_id=task.id,
                     case_id=task.case_id, reason=task.rejection_reason,
                     detail={"kind": kind.value, "unit": code, "from_unit": task.unit_code})


def needs_followup(task) -> bool:
    """Whether the caseworker must act before ``task``'s step is issued again: a ``not_ours``/``wrong_area``
    rejection naming no unit, or a ``need_more_information`` one whose information is not added yet.
    ``task``: an :class:`AgencyTask` or anything with its fields (``state``, ``rejection_kind``, ``rerouted_at``)."""
    if TaskState(task.state) != TaskState.rejected or task.rerouted_at is not None:
        return False
    return task.rejection_kind in (RejectionKind.not_ours, RejectionKind.wrong_area,
                                   RejectionKind.need_more_information)


def settle_reroute(session: Session, task: AgencyTask, *, actor: str, unit_code: str = "", note: str = "",
                   now: datetime | None = None) -> AgencyTask:
    """The caseworker (or county manager) says where ``task``'s step goes next: a unit for a ``not_ours`` /
    ``wrong_area`` rejection, the added information (``note``) for ``need_more_information``.

    Conditional ``UPDATE … WHERE id AND state = 'rejected' AND rerouted_at IS NULL``; the pathway run is then marked
    ``resume_pending`` with ``answer_seq + 1`` (in SQL), so the waiting flow is resumed (by the caller, or the
    sweeper). The same choice again is a replay (nothing written); audit ``task.reroute_chosen``.

    Raises:
        ValueError: nothing to settle, or settled differently already; a missing or invalid unit or note (naming the
            field); all worded from the catalogues (``problem.reroute_*``).
    """
    now = now or utcnow()
    note = (note or "").strip()
    kind = task.rejection_kind
    if TaskState(task.state) != TaskState.rejected or kind not in {k.value for k in REROUTE_KINDS} | {
            RejectionKind.need_more_information.value}:
        raise FieldValueError("", "problem.reroute_nothing_to_settle")
    if len(note) > NOTE_MAX_CHARS:
        raise FieldValueError(NOTE_FIELD, "problem.reroute_note_too_long", most=NOTE_MAX_CHARS, n=len(note))
    if kind == RejectionKind.need_more_information:
        if not note:
            raise FieldValueError(NOTE_FIELD, "problem.reroute_note_missing")
        values: dict = {"reroute_note": note}
        code = ""
    else:
        code = check_reroute_unit(session, task, unit_code).code
        values = {"reroute_unit_code": code, "reroute_note": note}
    if task.rerouted_at is not None:
        if (task.reroute_unit_code or "") == code and task.reroute_note == note:
            return task  # a double submit
        raise FieldValueError("", "problem.reroute_settled", actor=task.rerouted_by)
    changed = session.execute(
        sa.update(AgencyTask).where(AgencyTask.id == task.id, AgencyTask.state == TaskState.rejected.value,
                                    AgencyTask.rerouted_at.is_(None))
        .values({**values, "rerouted_by": actor[:64], "rerouted_at": now})
        .execution_options(synchronize_session=False)).rowcount
    session.refresh(task)
    if not changed:
        raise FieldValueError("", "problem.reroute_settled", actor=task.rerouted_by)
    if task.pathway_run_id is not None:
        session.execute(
            sa.update(PathwayRun).where(PathwayRun.id == task.pathway_run_id)
            .values(resume_pending=True, answer_seq=PathwayRun.answer_seq + 1)
            .execution_options(synchronize_session=False))
        run = session.get(PathwayRun, task.pathway_run_id)
        session.expire(run, ["resume_pending", "answer_seq"])
    record_audit(session, actor=actor, action="task.reroute_chosen", entity_type="task", entity_id=task.id,
                 case_id=task.case_id, reason=note,
                 detail={"kind": kind, "unit": code or task.unit_code, "from_unit": task.unit_code})
    return task


def previous_attempt(session: Session, pathway_run_id: uuid.UUID, step_key: str, agency_type: str,
                     attempt: int) -> AgencyTask | None:
    """The latest task of the same step and agency type before ``attempt`` (a redirect may skip numbers)."""
    return session.exec(select(AgencyTask).where(
        AgencyTask.pathway_run_id == pathway_run_id, AgencyTask.step_key == step_key,
        AgencyTask.agency_type == agency_type, AgencyTask.attempt < attempt)
        .order_by(AgencyTask.attempt.desc()).limit(1)).first()


def next_attempt_unit(previous: AgencyTask | None) -> str | None:
    """The unit the next attempt goes to after ``previous`` was rejected: the named or chosen unit, the same unit
    for ``need_more_information``; ``None``: route by the child's area as for a first attempt."""
    if previous is None or TaskState(previous.state) != TaskState.rejected:
        return None
    if previous.reroute_unit_code:
        return previous.reroute_unit_code
    if previous.rejection_kind == RejectionKind.need_more_information:
        return previous.unit_code
    return None


def follow_redirects(session: Session, task_ids: list[str]) -> list[str]:
    """Each task id replaced by the task a manager's redirect opened in its place (followed to the end), so that a
    flow waiting for a redirected task waits for the new one."""
    out = []
    for task_id in task_ids:
        current = uuid.UUID(task_id)
        for _ in range(50):  # a chain of redirects is short; never loop forever
            successor = session.exec(select(AgencyTask.redirected_to_id).where(AgencyTask.id == current)).first()
            if successor is None:
                break
            current = successor
        out.append(str(current))
    return out
