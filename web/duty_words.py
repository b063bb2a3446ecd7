"""A key care file's duties in the reader's language: the title and the 「what to do」 of a child director's monthly
contact, home visit (方案 一（二）) and the family guardianship assessment (方案 七).

Their tasks are stored with a Chinese title (``重点关爱儿童每月联系（KF-0000001，2026-12）``,
:data:`careflow.survey.duty_calendar.TITLES`), and :func:`models.dated_duties.describe_duty` describes a contact by
that title again; a fresh user read the Chinese title twice on an English page, once as the title and once as what
to do. Here the title is worded from the duty key (the kind and the period) and the file reference in the stored
title, the instructions from the catalogue (``duty.contact.*``, ``duty.visit.*``) or, for the assessment, from the
guardianship pathway's ``guardianship_assessment`` step (``title_en``, ``instructions_en``). Other dated duties
keep the words :func:`models.dated_duties.describe_duty` gives in the reader's language (``title`` and
``instructions`` passed in).
"""
from __future__ import annotations

import re

from models.dated_duties import ASSESSMENT_DUTY, ContactKind
from models.policy import load_policy
from web.i18n import Translator

_FILE_REFERENCE = re.compile(r"KF-\d+")


def _kind(duty_key: str) -> str:
    return (duty_key or "").partition(":")[0]


def duty_title(title: str, duty_key: str, t: Translator) -> str:
    """The title of a key care duty in ``t``'s language, from the duty key and the file reference in ``title`` (its
    stored, Chinese title); ``title`` unchanged for any other duty or a Chinese reader."""
    kind = _kind(duty_key)
    if t.lang == "zh" or kind not in (*ContactKind._value2member_map_, ASSESSMENT_DUTY):
        return title
    found = _FILE_REFERENCE.search(title or "")
    reference = found.group(0) if found else ""
    if kind == ASSESSMENT_DUTY:
        step = load_policy().pathway("guardianship").step(ASSESSMENT_DUTY)
        return t.pick(step, "title") + (t.paren(reference) if reference else "")
    period = duty_key.rsplit(":", 1)[-1]
    return t(f"duty.{kind}.title", file=reference, period=period)


def duty_instructions(duty_key: str, instructions: str, t: Translator) -> str:
    """What to do on a key care duty in ``t``'s language: a contact or visit its own instructions (never its
    title again), the assessment its step's; ``instructions`` for any other duty."""
    kind = _kind(duty_key)
    if kind in ContactKind._value2member_map_:
        return t(f"duty.{kind}.instructions")
    if kind == ASSESSMENT_DUTY:
        return t.pick(load_policy().pathway("guardianship").step(ASSESSMENT_DUTY), "instructions")
    return instructions


__all__ = ["duty_instructions", "duty_title"]
