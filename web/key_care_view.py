"""The key care section of a child's page (方案 一（二）, 七): the file (一人一档), its contact and visit duties, and the
family guardianship assessments it opened (:mod:`careflow.key_care`), as plain rows for ``_key_care.html``.

Read only; the child's page itself is audited (``child.viewed``). Duties and assessments show their unit by name
and their state by its label in the template (never a raw value).
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlmodel import Session, select

from careflow.key_care import assessments_of
from careflow.survey.duties import file_duties
from models.agency import AgencyUnit
from models.child import Child
from models.key_care_files import KeyCareFile
from models.task import AgencyTask
from web.duty_words import duty_title
from web.i18n import Translator


@dataclass
class TaskRow:
    """A duty or assessment as the child's page lists it (times UTC-aware, shown in Asia/Shanghai)."""

    task_id: uuid.UUID
    title: str
    unit_name: str
    state: str
    requested_at: dt.datetime
    due_at: dt.datetime
    answered_at: dt.datetime | None
    kind: str = ""


@dataclass
class KeyCareSection:
    """``file`` (None when the child has none), its open duties (soonest first) and the assessments (newest
    first)."""

    file: KeyCareFile | None
    duties: list[TaskRow] = field(default_factory=list)
    assessments: list[TaskRow] = field(default_factory=list)


def key_care_section(session: Session, child: Child, t: Translator) -> KeyCareSection:
    """The child's file, its open contact and visit duties and every family guardianship assessment opened for
    the child (:func:`careflow.key_care.assessments_of`), titled in ``t``'s language
    (:func:`web.duty_words.duty_title`)."""
    file = session.exec(select(KeyCareFile).where(KeyCareFile.child_id == child.id)).first()
    section = KeyCareSection(file=file)
    names: dict[str, str] = {}

    def row(task: AgencyTask, kind: str = "") -> TaskRow:
        if task.unit_code not in names:
            unit = session.get(AgencyUnit, task.unit_code)
            names[task.unit_code] = unit.name if unit else task.unit_code
        return TaskRow(task_id=task.id, title=duty_title(task.title, task.duty_key or "", t),
                       unit_name=names[task.unit_code], state=str(task.state), requested_at=task.requested_at,
                       due_at=task.due_at, answered_at=task.answered_at, kind=kind)

    if file is not None:
        section.duties = [row(task, duty.kind) for task, duty in file_duties(session, file.id)]
    section.assessments = [row(task) for task in assessments_of(session, child.id)]
    return section
