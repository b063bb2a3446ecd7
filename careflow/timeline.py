"""A case's timeline: every task of every pathway on the case, in order, with answers and messages."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, select

from core.audit import record_audit
from core.i18n import deadline_text, gettext, label, normalise_language, outcome_text
from core.outcome import shown_outcome
from core.settings import get_settings
from models.agency import AgencyUnit
from models.case import Case, PathwayRun, case_reference
from models.deadlines import format_local
from models.errors import FieldLookupError
from models.notification import Notification
from models.policy import Policy, load_policy
from models.task import AgencyTask


@dataclass
class TimelineRow:
    """One task as a manager reads it. Times are UTC-aware; :func:`format_timeline` shows them locally."""

    pathway: str
    step_key: str
    title: str
    attempt: int
    unit_code: str
    unit_name: str
    requested_at: datetime
    due_at: datetime
    due_provisional: bool
    deadline_text: str
    state: str
    answered_at: datetime | None
    answered_by: str
    outcome: dict
    rejection_reason: str
    on_time: bool | None
    rejection_kind: str = ""  # a models.task.RejectionKind value, "" when not given
    notifications: list[tuple[str, str, str]] = field(default_factory=list)  # (event, unit, status)
    task_id: object = None  # the task's id (uuid.UUID): the case page marks and anchors each task by it


@dataclass
class CaseTimeline:
    reference: str
    status: str
    pathways: list[tuple[str, str, str]]  # (pathway, status, outcome as recorded, in Chinese)
    rows: list[TimelineRow]
    unit_names: dict[str, str] = field(default_factory=dict)  # unit code -> name, for the messages' recipients
    outcome_phrases: list[list | None] = field(default_factory=list)  # each pathway's outcome phrases (core.outcome)

    def outcome(self, n: int, lang: str = "zh") -> str:
        """Pathway ``n``'s outcome (``-1``: the last) in ``lang`` (:func:`core.outcome.shown_outcome`)."""
        phrases = self.outcome_phrases[n] if -len(self.outcome_phrases) <= n < len(self.outcome_phrases) else None
        return shown_outcome(self.pathways[n][2], phrases, lang)


def case_timeline(session: Session, reference: str, *, actor: str) -> CaseTimeline:
    """The timeline of the case ``reference`` across all its pathways (the read is audited).

    Raises:
        LookupError: no such case.
    """
    case = session.exec(select(Case).where(Case.reference == case_reference(reference))).first()
    if case is None:
        raise FieldLookupError("case", "problem.no_case", case=repr(reference))
    record_audit(session, actor=actor, action="case.timeline_read", entity_type="case", entity_id=case.id,
                 case_id=case.id)
    runs = {r.id: r for r in session.exec(select(PathwayRun).where(PathwayRun.case_id == case.id)).all()}
    tasks = session.exec(select(AgencyTask).where(AgencyTask.case_id == case.id).order_by(AgencyTask.requested_at)).all()
    messages = session.exec(select(Notification).where(Notification.case_id == case.id).order_by(Notification.created_at)).all()
    rows = []
    unit_names: dict[str, str] = {}
    for code in {t.unit_code for t in tasks} | {m.unit_code for m in messages}:
        unit = session.get(AgencyUnit, code)
        if unit is not None:
            unit_names[code] = unit.name
    for t in tasks:
        unit = session.get(AgencyUnit, t.unit_code)
        rows.append(TimelineRow(
            pathway=runs[t.pathway_run_id].pathway, step_key=t.step_key, title=t.title, attempt=t.attempt,
            unit_code=t.unit_code, unit_name=unit.name if unit else t.unit_code, requested_at=t.requested_at,
            due_at=t.due_at, due_provisional=t.due_provisional, deadline_text=t.deadline_text, state=t.state,
            answered_at=t.answered_at, answered_by=t.answered_by, outcome=t.outcome,
            rejection_reason=t.rejection_reason, rejection_kind=t.rejection_kind,
            on_time=(t.answered_at <= t.due_at) if t.answered_at else None,
            notifications=[(m.event, m.unit_code, m.status) for m in messages if m.task_id == t.id], task_id=t.id,
        ))
    ordered = sorted(runs.values(), key=lambda r: r.started_at)
    return CaseTimeline(
        reference=case.reference, status=case.status, pathways=[(r.pathway, r.status, r.outcome) for r in ordered],
        rows=rows, unit_names=unit_names, outcome_phrases=[r.outcome_phrases for r in ordered],
    )


def format_timeline(timeline: CaseTimeline, lang: str = "zh") -> str:
    """The timeline as text for a terminal, in ``lang`` (Chinese by default, ``en`` on request), times in the
    configured zone (Asia/Shanghai).

    Everything a person reads is labelled (:func:`core.i18n.label`): pathway and step titles from the policy,
    states, yes/no and choices; units by name; answers as ``label：value``. No step keys, unit codes or field names.
    """
    words = _Words.for_reader(lang)
    lines = _case_lines(timeline, words)
    lines.append(gettext("case.timeline", words.lang) + words.colon.rstrip())
    if not timeline.rows:
        lines.append("  " + gettext("cli.empty", words.lang))
    for n, row in enumerate(timeline.rows, 1):
        lines += _task_lines(n, row, timeline.unit_names, words)
    return "\n".join(lines)


@dataclass(frozen=True)
class _Words:
    """How a printed timeline is worded for one reader: the language, its separators and brackets, the time zone, and
    the policy's titles and labels in that language (Chinese where the policy has none)."""

    lang: str
    tz: str
    policy: Policy
    sep: str
    colon: str

    @classmethod
    def for_reader(cls, lang: str) -> _Words:
        lang = normalise_language(lang)
        sep, colon = ("；", "：") if lang == "zh" else ("; ", ": ")
        return cls(lang=lang, tz=get_settings().timezone, policy=load_policy(), sep=sep, colon=colon)

    def bracket(self, text: str) -> str:
        return f"（{text}）" if self.lang == "zh" else f" ({text})"

    def pick(self, obj, name: str, fallback: str) -> str:
        """``obj``'s ``<name>_<lang>`` (e.g. ``title_en``), else its ``<name>_zh``, else ``fallback``."""
        if not obj:
            return fallback
        return getattr(obj, f"{name}_{self.lang}", "") or getattr(obj, f"{name}_zh", "") or fallback

    def step(self, pathway: str, key: str):
        """The policy's step ``key`` of ``pathway``, or None when the policy no longer has it."""
        definition = self.policy.pathways.get(pathway)
        try:
            return definition.step(key) if definition else None
        except KeyError:
            return None


def _case_lines(timeline: CaseTimeline, words: _Words) -> list[str]:
    """The case's reference and status, then each pathway on it with its status and outcome."""
    lang, colon = words.lang, words.colon
    lines = [gettext("cli.timeline_title", lang, reference=timeline.reference)
             + words.bracket(label(timeline.status, "case.status", lang))]
    if timeline.pathways:
        lines.append(gettext("case.pathways", lang) + colon.rstrip())
    for n, (pathway, status, _) in enumerate(timeline.pathways):
        title = words.pick(words.policy.pathways.get(pathway), "title", pathway)
        outcome = timeline.outcome(n, lang)
        lines.append(f"  {title}{colon}{label(status, 'pathway.status', lang)}" + (f" — {outcome}" if outcome else ""))
    return lines


def _task_lines(n: int, row: TimelineRow, unit_names: dict[str, str], words: _Words) -> list[str]:
    """Task ``n``: its step (and attempt), unit, request and deadline, state and answer, outcome, rejection reason
    and messages."""
    lang, sep, colon, tz = words.lang, words.sep, words.colon, words.tz
    step = words.step(row.pathway, row.step_key)
    attempt = words.bracket(gettext("task.attempt", lang, n=row.attempt)) if row.attempt > 1 else ""
    due = format_local(row.due_at, tz)
    if row.due_provisional:
        due += words.bracket(gettext("task.provisional", lang))
    lines = [f"{n:>2}. {words.pick(step, 'title', row.title)}{attempt}",
             f"    {gettext('task.unit', lang)}{colon}{row.unit_name}",
             f"    {gettext('task.requested', lang)}{colon}{format_local(row.requested_at, tz)}{sep}"
             f"{gettext('task.due', lang)}{colon}{due}" + words.bracket(deadline_text(row.deadline_text, lang))]
    answer = label(row.state, "state", lang)
    if row.answered_at:
        timing = gettext("task.on_time" if row.on_time else "task.late", lang)
        answer += f"{sep}{gettext('export.answered_at', lang)}{colon}{format_local(row.answered_at, tz)}{sep}" \
                  f"{gettext('task.answered_by', lang)}{colon}{row.answered_by}{sep}{timing}"
    lines.append(f"    {gettext('task.state', lang)}{colon}{answer}")
    if row.outcome:
        labels = {f.name: words.pick(f, "label", f.name) for f in step.outcome} if step else {}
        lines.append(f"    {gettext('task.outcome', lang)}{colon}{outcome_text(row.outcome, labels, lang)}")
    if row.rejection_reason:
        kind = f"{label(row.rejection_kind, 'rejection_kind', lang)}{'——' if lang == 'zh' else ' — '}" \
            if row.rejection_kind else ""
        lines.append(f"    {gettext('task.reject_reason', lang)}{colon}{kind}{row.rejection_reason}")
    for event, unit, status in row.notifications:
        lines.append(f"    {gettext('cli.messages', lang)}{colon}{label(event, 'event', lang)} → "
                     f"{unit_names.get(unit, unit)}{colon}{label(status, 'delivery', lang)}")
    return lines
