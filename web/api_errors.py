"""The JSON API's 422 in the caller's language (issue 12: every validation error names the field by its label).

FastAPI answers a body it refuses with pydantic's English messages and internal paths (``outcome.amount_yuan``);
careflow's own checks raise ``ValueError`` texts. Both become the same list, Chinese unless the caller asks for
English (``?lang=en``, ``Accept-Language: en``; :func:`web.i18n.pick_language`)::

    {"detail": [{"loc": ["body", "outcome", "amount_yuan"], "type": "amount",
                 "field": "救助金额（元）", "message": "「八百」请用阿拉伯数字填写金额（元），如 800 或 800.50",
                 "msg": "救助金额（元）：「八百」请用阿拉伯数字填写金额（元），如 800 或 800.50"}]}

``field`` is the label, ``message`` what is wrong, ``msg`` the two together (FastAPI's key, so existing clients
read words instead of English); ``loc`` and ``type`` keep FastAPI's shape. The wording is
:mod:`web.form_errors`' (one place for every form and the API).
"""
from __future__ import annotations

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import Request

from core.i18n import gettext
from web.form_errors import FormErrors, form_errors
from web.i18n import pick_language


def api_problems(exc: Exception, lang: str, labels: dict[str, str] | None = None) -> list[dict]:
    """Each problem of ``exc`` as ``{loc, type, field, message, msg}`` in ``lang``; ``labels`` maps the input names
    of policy fields (``o_amount_yuan``, ``p_item``) to their labels."""
    labels = labels or {}
    raw = exc.errors() if isinstance(exc, (ValidationError, RequestValidationError)) else None
    problems = []
    for index, error in enumerate(form_errors(exc)):
        lines, _ = FormErrors([error]).localise(lang, labels)
        label = error.label(lang, labels)
        line = lines[0] if lines else ""
        colon = gettext("common.colon", lang)
        message = line[len(label) + len(colon):] if label and line.startswith(label + colon) else line
        if raw is not None:
            loc, kind = list(raw[index]["loc"]), raw[index]["type"]
        else:
            loc = ["body", *(["outcome"] if error.input.startswith("o_") else ["parameters"]
                             if error.input.startswith("p_") else []), error.policy or error.input]
            kind = error.key.removeprefix("form.") if not error.text else "value_error"
        problems.append({"loc": [p for p in loc if p != ""], "type": kind, "field": label, "message": message,
                         "msg": line})
    return problems


def api_invalid(request: Request, exc: Exception, labels: dict[str, str] | None = None) -> HTTPException:
    """A 422 whose ``detail`` is :func:`api_problems` in the caller's language (raise it)."""
    return HTTPException(422, api_problems(exc, pick_language(request), labels))
