"""What a person types into an answer to a task, checked before it is stored (issue #16, "input that cannot hurt").

:func:`check_answer_text` bounds each text, refuses control characters and a child's name or ID number;
:func:`validate_answer` checks a completed task's outcome against its step's (or dated duty's) fields. Used by
:func:`careflow.tasks.transition_task`, the one writer of a task's state.
"""
from __future__ import annotations

import re

from sqlmodel import Session

from core.i18n import LANGUAGES, field_label, gettext
from models.case import Case, PathwayRun
from models.child import Child
from models.outcome_fields import validate_fields
from models.policy import load_policy
from models.dated_duties import describe_duty
from models.errors import FieldValueError
from models.task import AgencyTask
from notifications.render import PersonalDataLeak, assert_no_personal_data

#: Longest text a person may give: a rejection reason (``agency_task.rejection_reason``, ``audit_event.reason``)
#: and one text value of an outcome (a pathway's whole outcome is at most 500 characters, ``PathwayRun.outcome``).
REASON_MAX_CHARS = 1000
OUTCOME_TEXT_MAX_CHARS = 500
ACTOR_MAX_CHARS = 64

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _step_of(pathway: str, step_key: str):
    return load_policy().pathways[pathway].step(step_key)


def validate_answer(session: Session, task: AgencyTask, outcome: dict) -> dict:
    """The outcome checked against the step's fields, or for a dated duty against the duty's fields."""
    if task.pathway_run_id is not None:
        run = session.get(PathwayRun, task.pathway_run_id)
        return _step_of(run.pathway, task.step_key).validate_outcome(outcome)
    fields = describe_duty(task.duty_key or "", task.title).outcome
    if not fields:  # a duty with free-form notes (e.g. a child director's contact)
        return {k: str(v) for k, v in outcome.items()}
    return validate_fields(fields, outcome, f"duty {task.step_key!r} outcome")


def _field_labels(session: Session, task: AgencyTask) -> dict[str, dict[str, str]]:
    """Outcome field name → its label by language (``note`` → ``{"zh": "情况说明", "en": "Note"}``), for errors."""
    labels = {"note": {lang: field_label("note", lang) for lang in LANGUAGES}}
    try:
        if task.pathway_run_id is not None:
            run = session.get(PathwayRun, task.pathway_run_id)
            fields = _step_of(run.pathway, task.step_key).outcome
        else:
            fields = describe_duty(task.duty_key or "", task.title).outcome
    except (KeyError, ValueError):
        return labels
    labels.update({f.name: {"zh": f.label_zh, "en": f.label_en} for f in fields})
    return labels


def check_answer_text(session: Session, task: AgencyTask, *, reason: str = "", outcome: dict | None = None) -> None:
    """Check what a person typed into an answer before it is stored (issue #16, "input that cannot hurt").

    Every text of the answer — the rejection ``reason`` and each text value of ``outcome`` — must be at most
    :data:`REASON_MAX_CHARS` / :data:`OUTCOME_TEXT_MAX_CHARS` characters, hold no control character, and hold
    neither the child's full name nor ID number. The last is the very check every message is put through
    (:func:`notifications.render.assert_no_personal_data`): the answer's texts go into the messages of the next
    steps (the caseworker's notice quotes the outcome and the reason), and a message that fails it is blocked,
    which stopped the pathway's flow. The text is refused, not masked, for the same reason the message check
    blocks rather than rewrites: a masked name (``张*明``) still identifies a child in a small village, a
    short name that is also an ordinary word would garble the note, and a silently rewritten record is not
    what the officer wrote. The officer is told which field to change (DOMAIN.md §7-§8: messages carry a case
    reference, never a child's name or ID number).

    Raises:
        models.errors.FieldValueError (a ValueError) naming the field (``reason`` or the outcome field, by its
        label), worded in the reader's language: e.g. 「情况说明：不能出现儿童姓名或身份证号…」.
    """
    labels = _field_labels(session, task)
    texts: list[tuple[str, str, int, dict | None]] = []
    if reason:
        texts.append(("reason", reason, REASON_MAX_CHARS,
                      {lang: gettext("task.reject_reason", lang) for lang in LANGUAGES}))
    for name, value in (outcome or {}).items():
        if isinstance(value, str) and value:
            texts.append((name, value, OUTCOME_TEXT_MAX_CHARS, labels.get(name)))
    child = None
    if task.case_id is not None:
        case = session.get(Case, task.case_id)
        child = session.get(Child, case.child_id) if case else None
    for name, text, limit, label in texts:
        if len(text) > limit:
            raise FieldValueError(name, "problem.too_long", labels=label, n=limit, have=len(text))
        bad = _CONTROL.search(text)
        if bad:
            raise FieldValueError(name, "problem.control_character", labels=label,
                                  code=f"U+{ord(bad.group()):04X}", position=bad.start() + 1)
        if child is None:
            continue
        try:
            assert_no_personal_data(text, child_name=child.full_name, resident_id=child.resident_id)
        except PersonalDataLeak:  # the text is not quoted: it holds the child's name or ID number
            raise FieldValueError(name, "problem.names_the_child", labels=label) from None
