"""Turning submitted forms into the API's input shapes, and errors into lines a person can read."""
from __future__ import annotations

from starlette.datastructures import FormData

from web.form_errors import FormErrors, form_errors
from web.inputs import ChildCreate, CompleteIn, PathwayStart, ReportCreate


def error_lines(exc: Exception) -> FormErrors:
    """What went wrong with a submitted form (:func:`web.form_errors.form_errors`): worded in the reader's language
    when the page renders (:func:`web.templating.render`), each field by its label, the field marked."""
    return form_errors(exc)


def _text(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def child_create(form: FormData) -> ChildCreate:
    """The registration form: one optional guardian (``guardian_name``, ``guardian_relation``, ``guardian_phone``),
    key care grounds as repeated ``key_care`` checkboxes.

    Raises:
        ValidationError.
    """
    guardians = []
    if _text(form, "guardian_name").strip():
        guardians.append({"full_name": _text(form, "guardian_name"), "relation": _text(form, "guardian_relation"),
                          "phone": _text(form, "guardian_phone")})
    return ChildCreate.model_validate({
        "resident_id": _text(form, "resident_id"), "full_name": _text(form, "full_name"), "sex": _text(form, "sex"),
        "hukou_county": _text(form, "hukou_county"), "residence_county": _text(form, "residence_county"),
        "residence_area_code": _text(form, "residence_area_code"),
        "residence_address": _text(form, "residence_address"),
        "arrival_date": _text(form, "arrival_date") or None,
        "key_care_criteria": [v for v in form.getlist("key_care") if isinstance(v, str)],
        "guardians": guardians,
    })


def report_create(form: FormData) -> ReportCreate:
    """The report form: key care grounds as repeated ``key_care`` checkboxes, as on the registration form."""
    return ReportCreate.model_validate({"summary": _text(form, "summary"), "reported_by": _text(form, "reported_by"),
                                        "mandatory_report": _text(form, "mandatory_report") == "yes",
                                        "key_care_criteria": [v for v in form.getlist("key_care")
                                                              if isinstance(v, str)]})


def prefixed_values(form: FormData, prefix: str) -> dict[str, str]:
    """Non-empty fields named ``<prefix><name>`` as ``{name: value}`` (outcome and start-parameter inputs); a name
    given more than once (the checkboxes of an onward referral's items) joins its values with commas."""
    values: dict[str, str] = {}
    for key, value in form.multi_items():
        if key.startswith(prefix) and isinstance(value, str) and value.strip():
            name = key[len(prefix):]
            values[name] = f"{values[name]},{value}" if name in values else value
    return values


def pathway_start(form: FormData) -> PathwayStart:
    return PathwayStart.model_validate({"pathway": _text(form, "pathway"), "parameters": prefixed_values(form, "p_")})


def complete_in(form: FormData) -> CompleteIn:
    return CompleteIn.model_validate({"outcome": prefixed_values(form, "o_")})
