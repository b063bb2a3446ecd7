"""The printable referral letter (转介单) for agencies that work on paper.

``templates/letters/referral.<lang>.html.j2`` renders one task as an A4 HTML page: sender, receiving
unit, case reference, step, what to do, the deadlines, a receipt to sign and a completion slip with the
step's outcome fields. Like every message it never holds the child's name or ID number: its context is a
:class:`notifications.render.MessageContext` (which has no field for either), and the rendered page is
checked with :func:`notifications.render.assert_no_personal_data` before it is returned.
"""
from __future__ import annotations

import html
import re
from datetime import datetime
from pathlib import Path

import jinja2
from pydantic import BaseModel, ConfigDict
from sqlmodel import Session

from core.paths import PROJECT_ROOT
from core.settings import get_settings
from models.base import utcnow
from models.case import Case
from models.child import Child
from models.deadlines import format_local
from models.task import AgencyTask
from notifications.messages import task_message_context, unit_name
from notifications.render import LANGUAGES, MessageContext, assert_no_personal_data

#: Folder of the letter templates.
LETTER_DIR: Path = PROJECT_ROOT / "templates" / "letters"

_TZ_LABELS = {"zh": {"Asia/Shanghai": "北京时间"}, "en": {"Asia/Shanghai": "Beijing time"}}

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(LETTER_DIR)),
    undefined=jinja2.StrictUndefined,
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


class LetterContext(BaseModel):
    """Everything a referral letter says: the task's message context plus who sends it and when.

    Attributes:
        m: the task's :class:`MessageContext` (event ``task_requested``).
        letter_no: the letter's number, ``"<case reference>-<task ref>"``.
        issued_at_local: when the letter was made, ``"YYYY-MM-DD HH:MM"`` local time.
        issuer: the sending office (the county civil affairs bureau of the case).
        caseworker: the caseworker's login (not the child's data).
    """

    model_config = ConfigDict(extra="forbid")

    m: MessageContext
    letter_no: str
    issued_at_local: str
    issuer: str
    caseworker: str = ""


def render_referral_letter(ctx: LetterContext, lang: str = "zh") -> str:
    """The letter as a complete HTML page (UTF-8 text; values HTML-escaped).

    Raises:
        ValueError: ``lang`` is not one of :data:`notifications.render.LANGUAGES`.
        jinja2.UndefinedError: a template uses a variable the context does not define (a template bug).
    """
    if lang not in LANGUAGES:
        raise ValueError(f"unknown letter language {lang!r}; known: {', '.join(LANGUAGES)}")
    tz = get_settings().timezone
    return _env.get_template(f"referral.{lang}.html.j2").render(
        **ctx.model_dump(exclude={"m"}), m=ctx.m, tz_label=_TZ_LABELS[lang].get(tz, tz))


def page_text(page: str) -> str:
    """The visible text of an HTML page (styles, scripts and tags removed, entities decoded): what a reader of the
    print sees."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def referral_letter(session: Session, task: AgencyTask, *, lang: str = "zh", now: datetime | None = None) -> str:
    """The referral letter of ``task`` as an HTML page, checked for personal data.

    Raises:
        PersonalDataLeak: the page holds the child's name or ID number (nothing is returned).
        ValueError: unknown ``lang``.
    """
    settings = get_settings()
    message = task_message_context(session, task, "task_requested", lang=lang)  # a dated duty's words in lang
    case = session.get(Case, task.case_id) if task.case_id is not None else None
    county = case.county_code if case is not None else task.jurisdiction_code[:6]
    issuer_code = f"civil_affairs-{county}"
    issuer = unit_name(session, issuer_code)
    if issuer == issuer_code:
        issuer = f"{county} 县（市、区）民政局" if lang == "zh" else f"Civil affairs bureau of county {county}"
    ctx = LetterContext(m=message, letter_no=f"{message.case_reference}-{message.task_ref}",
                        issued_at_local=format_local(now or utcnow(), settings.timezone), issuer=issuer,
                        caseworker=case.caseworker if case is not None else "")
    page = render_referral_letter(ctx, lang)
    if case is not None:
        child = session.get(Child, case.child_id)
        for text in (page, page_text(page)):
            assert_no_personal_data(text, child_name=child.full_name, resident_id=child.resident_id)
    return page
