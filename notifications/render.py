"""Render notification messages from Jinja2 templates, and check them for personal data.

Templates live in ``templates/messages/<event>.<lang>.j2``; each defines ``{% block subject %}`` (one
line) and ``{% block body %}`` (plain text). A message carries only what DOMAIN.md §7 allows: the case
reference, the step, the deadline, how to answer and a link -- never a child's name or ID number.
:class:`MessageContext` therefore has no field for either, and :func:`assert_no_personal_data` is the
last check the sending layer runs on every rendered text.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import jinja2
from pydantic import BaseModel, ConfigDict, Field

from core.paths import PROJECT_ROOT
from core.settings import get_settings

#: Folder of the message templates.
TEMPLATE_DIR: Path = PROJECT_ROOT / "templates" / "messages"

#: Event types about one task, rendered from a :class:`MessageContext` (a template in every language).
EVENTS: tuple[str, ...] = ("task_requested", "task_reminder", "task_escalated", "task_answered", "pathway_closed",
                          "deadline_changed", "task_followed", "task_rejected")  # deadline_changed: careflow.holidays;
# task_followed: the residence county's unit follows a task handled at the registration place (careflow.registration_place);
# task_rejected (【退回】): a unit returned a task, told to the caseworker and the county manager (flows.waiting)

#: The digest event: many tasks of one unit in one message (:class:`DigestContext`, :func:`render_digest`).
DIGEST_EVENT = "daily_digest"

#: Every event type that has a template and can be routed (``events:`` in the channel file).
ALL_EVENTS: tuple[str, ...] = EVENTS + (DIGEST_EVENT,)

#: Languages that have templates.
LANGUAGES: tuple[str, ...] = ("zh", "en")

#: How the deadline's time zone is named to readers, by IANA name; other zones are shown by their IANA name.
_TZ_LABELS = {"zh": {"Asia/Shanghai": "北京时间"}, "en": {"Asia/Shanghai": "Beijing time"}}


class OutcomeField(BaseModel):
    """One field the agency fills in when completing a task: ``name`` (used on the command line), ``label`` and,
    for a choice or yes/no, ``choices``: each value (typed on the command line) → its Chinese label (是, 高风险 …)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    label: str
    choices: dict[str, str] = Field(default_factory=dict)


class MessageContext(BaseModel):
    """Everything a message may say. Deliberately has NO child name and NO resident ID field.

    Attributes:
        event: one of :data:`EVENTS`.
        case_reference: the case's reference (e.g. ``"FJ-350302-2026-0042"``).
        pathway_title: the referral pathway's title.
        step_title: the step's title.
        agency_unit_name: the name of the agency unit the task is assigned to.
        task_ref: short task reference used in commands (e.g. ``"a1b2c3d4"``).
        due_at_local: the deadline, already formatted in local time, ``"YYYY-MM-DD HH:MM"``.
        ack_due_at_local: the acknowledgement deadline (签收时限, e.g. the police step's 2 hours), formatted
            like ``due_at_local``; "" when the step has none or it no longer applies. Shown in
            ``task_requested`` and ``task_reminder`` only when set.
        deadline_text: the time limit as a rule (e.g. ``"3个工作日"``).
        provisional: the deadline is provisional because the year's official holiday arrangement
            is not loaded yet; messages then mark it "（暂定）" / "(provisional)".
        instructions: what the agency has to do.
        outcome_fields: the fields to fill in when completing (list of ``{"name", "label"}``).
        answer_commands: how to answer, keyed ``acknowledge``/``reject``/``complete`` (command lines);
            missing keys are simply not shown.
        link: URL of the case or run in careflow.
        escalation_level: 0 for a first request; n > 0 after n escalations or re-issues.
        recipient_role: ``"officer"`` (the agency's officer), ``"caseworker"``, ``"manager"`` or ``"follower"`` (the
            residence county's unit following a task handled at the registration place).
        manager_level: whose manager a ``"manager"`` recipient is: ``"county"`` (县（市、区）民政局), or ``"province"``
            (省民政厅: a city-level duty's escalation, :func:`models.areas.overdue_area`).
        outcome_summary: free text for answers, escalation reasons and closing summaries ("" if none).
        rejected_by: who returned the task (``task_rejected``: the answering officer as recorded).
        rejection_kind: why, a :class:`models.task.RejectionKind` value ("" when not given); templates get its
            label in the message's language as ``rejection_kind_label``, never the code.
        rejection_reason: the officer's own words.
        reroute_unit_name: the unit the officer named to take the task instead ("" when none).
        blocked: the step has been returned as often as a pathway allows (:data:`flows.waiting.MAX_ATTEMPTS`): it
            is not re-issued, the pathway stops.
    """

    model_config = ConfigDict(extra="forbid")

    event: str
    case_reference: str
    pathway_title: str
    step_title: str
    agency_unit_name: str
    task_ref: str
    due_at_local: str
    ack_due_at_local: str = ""
    deadline_text: str
    provisional: bool
    instructions: str
    outcome_fields: list[OutcomeField] = Field(default_factory=list)
    answer_commands: dict[str, str] = Field(default_factory=dict)
    link: str
    escalation_level: int = 0
    recipient_role: str = "officer"
    outcome_summary: str = ""
    manager_level: str = "county"
    rejected_by: str = ""
    rejection_kind: str = ""
    rejection_reason: str = ""
    reroute_unit_name: str = ""
    blocked: bool = False


class DigestItem(BaseModel):
    """One task in a digest: what a message about it may say, in short.

    Attributes:
        case_reference: the case's reference.
        step_title: the step's title.
        task_ref: short task reference used in commands.
        due_at_local: the deadline, ``"YYYY-MM-DD HH:MM"`` local time.
        provisional: the deadline is provisional (marked like in single messages).
        ack_due_at_local: the acknowledgement deadline while acknowledging is outstanding, else "".
        state: the task's state (``requested``, ``acknowledged``, ``in_progress``), shown in daily digests.
    """

    model_config = ConfigDict(extra="forbid")

    case_reference: str
    step_title: str
    task_ref: str
    due_at_local: str
    provisional: bool = False
    ack_due_at_local: str = ""
    state: str = "requested"


class DigestContext(BaseModel):
    """Everything a digest may say. Like :class:`MessageContext`, no field for a child's name or ID.

    Attributes:
        kind: ``"burst"`` (many new tasks at once, sent instead of one message each) or ``"daily"``
            (the unit's open tasks, once a day).
        agency_unit_name: the recipient unit's name.
        unit_code: the recipient unit's code (used in the commands shown).
        items: the tasks, soonest deadline first.
        window_minutes: for a burst, the window the tasks arrived in.
        date_local: for a daily digest, the local date ``"YYYY-MM-DD"``.
        link: URL of careflow.
        recipient_role: ``"officer"``, ``"supervisor"`` or ``"manager"``.
    """

    model_config = ConfigDict(extra="forbid")

    event: str = DIGEST_EVENT
    kind: str
    agency_unit_name: str
    unit_code: str
    items: list[DigestItem]
    window_minutes: int = 0
    date_local: str = ""
    link: str
    recipient_role: str = "officer"


class RenderedMessage(NamedTuple):
    """A rendered message: ``subject`` (one line, no surrounding blanks) and plain-text ``body``."""

    subject: str
    body: str


class PersonalDataLeak(ValueError):
    """A rendered text contains a child's full name or ID number.

    The message names what leaked (name or ID form), never the value itself, so it is safe to log.
    """


class _InliningLoader(jinja2.FileSystemLoader):
    """Reads ``templates/messages``, with each ``{% include "_partial…j2" %}`` replaced by the partial's own text.

    The same output as Jinja's include (the partials set no variables and define no blocks; ``tests/notifications/
    test_render.py`` renders every template both ways), without a template look-up and a new context per include
    per message: five per message, a quarter of the rendering time when the sweep fires thousands of rungs.
    """

    _INCLUDE = re.compile(r'^\{% include "(_[\w.]+\.j2)" %\}$', re.MULTILINE)

    def get_source(self, environment, template):
        source, filename, uptodate = super().get_source(environment, template)

        def inline(match: re.Match) -> str:
            partial = super(_InliningLoader, self).get_source(environment, match.group(1))[0]
            return partial[:-1] if partial.endswith("\n") else partial

        return self._INCLUDE.sub(inline, source), filename, uptodate


_env = jinja2.Environment(
    loader=_InliningLoader(str(TEMPLATE_DIR)),
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,  # so an included partial ends its last line
    # Templates are read once per process: no stat() of the file and its partials on every message (the
    # sweep renders thousands per batch). A changed template takes effect at the next start.
    auto_reload=False,
)


def _tz_label(lang: str) -> str:
    try:
        tz = get_settings().timezone
    except Exception:  # settings unreadable: messages still name the default zone
        tz = "Asia/Shanghai"
    return _TZ_LABELS[lang].get(tz, tz)


def render_message(ctx: MessageContext, lang: str = "zh") -> RenderedMessage:
    """Render the message for ``ctx.event`` in ``lang`` from ``templates/messages/<event>.<lang>.j2``.

    The subject is collapsed to one line; the body has trailing blanks removed from each line and at
    most one empty line in a row.

    Raises:
        ValueError: ``ctx.event`` is not one of :data:`EVENTS` or ``lang`` not one of :data:`LANGUAGES`
            (the message names the unknown value).
        jinja2.UndefinedError: a template uses a variable the context does not define (a template bug).
    """
    if ctx.event not in EVENTS:
        raise ValueError(f"unknown notification event {ctx.event!r}; known: {', '.join(EVENTS)}")
    if lang not in LANGUAGES:
        raise ValueError(f"unknown message language {lang!r}; known: {', '.join(LANGUAGES)}")
    template = _env.get_template(f"{ctx.event}.{lang}.j2")
    variables = ctx.model_dump()
    variables["tz_label"] = _tz_label(lang)
    variables["rejection_kind_label"] = _rejection_kind_label(ctx.rejection_kind, lang)
    context = template.new_context(variables)
    subject = "".join(template.blocks["subject"](context))
    body = "".join(template.blocks["body"](context))
    return RenderedMessage(subject=" ".join(subject.split()), body=_tidy(body))


def _rejection_kind_label(kind: str, lang: str) -> str:
    """The label of a rejection kind in ``lang`` (需补充信息 / More information needed), "" for none."""
    if not kind:
        return ""
    from core.i18n import label  # start-up: Babel's catalogues, only for a message about a rejection

    return label(kind, "rejection_kind", lang)


def render_digest(ctx: DigestContext, lang: str = "zh") -> RenderedMessage:
    """Render a digest from ``templates/messages/daily_digest.<lang>.j2`` (tidied like :func:`render_message`).

    Raises:
        ValueError: ``ctx.kind`` is not ``burst``/``daily``, ``ctx.items`` is empty, or ``lang`` is unknown.
    """
    if ctx.kind not in ("burst", "daily"):
        raise ValueError(f"unknown digest kind {ctx.kind!r}; known: burst, daily")
    if not ctx.items:
        raise ValueError("a digest needs at least one task")
    if lang not in LANGUAGES:
        raise ValueError(f"unknown message language {lang!r}; known: {', '.join(LANGUAGES)}")
    template = _env.get_template(f"{DIGEST_EVENT}.{lang}.j2")
    variables = ctx.model_dump()
    variables["tz_label"] = _tz_label(lang)
    variables["earliest_due"] = min(item.due_at_local for item in ctx.items)
    context = template.new_context(variables)
    subject = "".join(template.blocks["subject"](context))
    body = "".join(template.blocks["body"](context))
    return RenderedMessage(subject=" ".join(subject.split()), body=_tidy(body))


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip() + "\n"


def _id_forms(resident_id: str) -> dict[str, str]:
    """The forms in which an ID number may appear: 18-digit, its 17-digit body and the old 15-digit form."""
    rid = re.sub(r"\s", "", resident_id).upper()
    forms: dict[str, str] = {}
    if len(rid) == 18:
        forms["ID number (17-digit body)"] = rid[:17]  # also covers the full 18-character number
        forms["ID number (15-digit form)"] = rid[:6] + rid[8:17]
    elif rid:
        forms["ID number"] = rid
    return forms


def assert_no_personal_data(text: str, *, child_name: str | None, resident_id: str | None) -> None:
    """Check that ``text`` contains neither ``child_name`` nor ``resident_id``.

    The name is matched in full, ignoring white space (``"张 小明"`` counts). The ID number is matched,
    ignoring white space and the case of a final ``X``, as the 18-character number, its 17-digit body
    (without check digit) and its old 15-digit form (first-generation IDs: no century digits, no check
    digit). Empty or None ``child_name``/``resident_id`` are not checked (a child may have no ID number). A short name that is also an ordinary
    word makes a false alarm possible: the message is then blocked, not sent.

    Raises:
        PersonalDataLeak: the text contains one of them (the error names which, not the value).
    """
    compact = re.sub(r"\s", "", text).upper()
    name = re.sub(r"\s", "", child_name or "")
    if name and name.upper() in compact:
        raise PersonalDataLeak("message text contains the child's full name")
    for what, form in _id_forms(resident_id or "").items():
        if form in compact:
            raise PersonalDataLeak(f"message text contains the child's {what}")
