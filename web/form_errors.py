"""Form errors a person can act on: in the reader's language, the field named by its label, the bad value quoted,
the field marked (``aria-invalid="true"``) and the message beside it.

A route turns what went wrong into a :class:`FormErrors` (:func:`form_errors`, called by
:func:`web.forms.error_lines`, and by the app for a page request FastAPI refuses): pydantic's
:class:`~pydantic.ValidationError` (``guardians.0.relation`` becomes the
input ``guardian_relation``, 监护人关系), careflow's own ``field 'x': …`` errors, an unknown county
(:class:`models.regions.UnknownRegion`) and a bad resident ID (:class:`models.resident_id.InvalidResidentID`).
Nothing is worded until the page renders: :meth:`FormErrors.localise` picks the language and the labels of the
page's policy fields (an outcome's 救助方式), and :func:`web.templating.render` calls it, so a page gets ``errors``
(lines) and ``field_errors`` (input name → message).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from core.i18n import field_label, gettext, has_message, label as value_label
from models.errors import FieldProblem
from models.field_values import FieldValueError
from models.regions import UnknownRegion
from models.resident_id import InvalidResidentID

#: Known model fields (the last part of an error's location) → (input name, catalogue key of its label).
FIELDS: dict[str, tuple[str, str]] = {
    "full_name": ("full_name", "child.name"), "resident_id": ("resident_id", "child.resident_id"),
    "sex": ("sex", "child.sex"), "hukou_county": ("hukou_county", "child.hukou"),
    "residence_county": ("residence_county", "child.residence"),
    "residence_area_code": ("residence_area_code", "child.area"),
    "residence_address": ("residence_address", "child.address"), "arrival_date": ("arrival_date", "child.arrival"),
    "key_care_criteria": ("key_care", "child.key_care"),
    "summary": ("summary", "report.summary"), "reported_by": ("reported_by", "report.reported_by"),
    "mandatory_report": ("mandatory_report", "report.mandatory"),
    "reason": ("reason", "task.reject_reason"), "pathway": ("pathway", "pathway.start_title"),
    "username": ("username", "admin.username"), "display_name": ("display_name", "admin.display_name"),
    "role": ("role", "admin.role"), "jurisdiction_code": ("jurisdiction_code", "admin.jurisdiction"),
    "unit_code": ("unit_code", "admin.unit"), "password": ("password", "admin.password"),
    "new_password": ("new_password", "account.new_password"),
    "current_password": ("current_password", "account.current_password"),
    "name": ("name", "common.name"), "code": ("code", "common.code"), "agency_type": ("agency_type", "admin.agency_type"),
    "active": ("active", "admin.active"),
}
#: A guardian's fields (``guardians.<n>.<field>``): input name, label key.
GUARDIAN_FIELDS = {"full_name": ("guardian_name", "child.guardian_name"),
                   "relation": ("guardian_relation", "form.label.guardian_relation"),
                   "phone": ("guardian_phone", "form.label.guardian_phone")}
#: Fields whose pattern needs saying in words (catalogue key of the hint).
PATTERN_HINTS = {"residence_area_code": "form.hint_area", "jurisdiction_code": "form.hint_area",
                 "emergency_area_code": "form.hint_area", "username": "form.hint_username",
                 "unit_code": "form.hint_unit", "code": "form.hint_unit"}
#: Checks made by careflow/models with English text, by a stable part of it → catalogue key.
KNOWN_PROBLEMS = [
    (re.compile(r"must not be empty|is required"), "form.required"),
    (re.compile(r"is not yes or no"), "form.yes_or_no"),
    (re.compile(r"is not one of"), "form.choose"),
    (re.compile(r"unknown field"), "form.extra"),
    (re.compile(r"already registered"), "form.duplicate_id"),
    (re.compile(r"is not inside county|outside your jurisdiction"), "form.outside_area"),
    (re.compile(r"not a township \(9 digits\) or village"), "form.hint_area"),
    (re.compile(r"not inside a known county"), "form.unknown_county"),
    (re.compile(r"wrong password"), "form.wrong_password"),
    (re.compile(r"is taken"), "form.taken"),
    (re.compile(r"exists$"), "form.exists"),
    (re.compile(r"area code is required for this role|a manager's jurisdiction is"), "form.area_for_role"),
    (re.compile(r"no agency unit"), "form.no_such_unit"),
    (re.compile(r"is not an agency of"), "form.no_such_agency"),
    (re.compile(r"3–64 characters"), "form.hint_username"),
]
_FIELD_IN_TEXT = re.compile(r"field '([a-z_]+)'(?: \([^)]*\))?:?\s*(.*)", re.S)
_FIELD_IN_CHINESE = re.compile(r"字段 ?([a-z_]+)(?:（((?:[^（）]|（[^（）]*）)*)）)?[：:]\s*(.*)", re.S)
_QUOTED_VALUE = re.compile(r"^'(.{0,200}?)' is\b")
#: pydantic's type tags inside a union's location (``outcome.serious.bool``) that name no field.
_TYPE_TAGS = {"bool", "str", "constrained-str", "function-after[_printable(), constrained-str]",
              "function-after[_one_line(), constrained-str]", "int", "date", "none", "literal"}
#: Resident-ID problems (:class:`models.resident_id.InvalidResidentID` ``code``) → catalogue key.
ID_PROBLEMS = {"type": "form.id_format", "length": "form.id_length", "format": "form.id_format",
               "checksum": "form.id_checksum", "birth_date": "form.id_birth_date",
               "birthplace": "form.id_birthplace"}


@dataclass
class FieldError:
    """One problem: ``input`` (the form's input name, ``""`` when no one field), the label's catalogue key or a
    policy field name (``policy``), the message's key and values, and the value as typed."""

    input: str
    label_key: str = ""
    policy: str = ""
    key: str = "form.invalid"
    values: dict = field(default_factory=dict)
    value: str = ""
    text: str = ""  # a message already in the reader's words (careflow's Chinese checks)
    from_form: bool = False  # quote the value typed in ``input`` (known only when the page renders)
    problem: FieldProblem | None = None  # careflow's own field problem, worded in the page's language
    refusal: Exception | None = None  # a refusal that words itself (``text(lang)``: careflow.cases.CaseRefused)

    def label(self, lang: str, labels: dict[str, str]) -> str:
        """The field's label in ``lang``: the page's (a policy field's), the problem's own, the catalogue's, else
        the policy field's name."""
        own = self.problem.labels.get(lang, "") if self.problem is not None else ""
        return labels.get(self.input) or own or (gettext(self.label_key, lang) if has_message(self.label_key, lang)
                                                 else "") or self.policy


class FormErrors(list):
    """The problems of one submitted form, still unworded; a list so that ``if errors`` and templates work."""

    def localise(self, lang: str, labels: dict[str, str] | None = None,
                 values: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
        """``(lines, {input name: message})`` in ``lang``; ``labels`` maps input names of the page's policy fields
        (``o_help_given``) to their labels, ``values`` what was typed (to find the input of an unknown county or of
        a policy field named by careflow's checks). Each line reads ``<label>：<message>``."""
        labels, values = labels or {}, values or {}
        lines, by_field = [], {}
        colon = gettext("common.colon", lang)
        for e in self:
            if e.input == "?county":
                e.input = next((k for k in ("hukou_county", "residence_county")
                                if str(values.get(k, "")).strip() == e.value.strip()), "hukou_county")
                e.label_key = FIELDS[e.input][1]
            elif e.input.startswith("?"):
                name = e.input[1:]
                e.input = next((c for c in (f"o_{name}", f"p_{name}") if c in labels), name)
            if e.from_form and not e.value:
                e.value = str(values.get(e.input, values.get(e.policy, "")) or "")
            if "password" in e.input:  # never echo a password
                e.value = ""
            label = e.label(lang, labels)
            if e.text:
                message = e.text
            elif e.problem is not None:
                message = e.problem.message(lang)
            elif e.refusal is not None:
                message = e.refusal.text(lang)
            else:
                message = gettext(e.key, lang, **_worded(e.values, lang, labels))
                if e.value:
                    message = gettext("form.value_was", lang, value=e.value[:60]) + message
            line = f"{label}{colon}{message}" if label and not message.startswith(label) else message
            lines.append(line)
            if e.input and e.input not in by_field:
                by_field[e.input] = line
        return lines, by_field


def _worded(values: dict, lang: str, labels: dict[str, str]) -> dict:
    """A message's values in the reader's words: a list (the counties a name matches) joined by the language's
    separator, ``other`` (another field of the answer) by its label, ``when`` (that field's value) by the
    option's label."""
    values = {k: gettext("common.list_sep", lang).join(v) if isinstance(v, tuple) else v for k, v in values.items()}
    if "other" not in values:
        return values
    other = str(values["other"])
    return {**values, "other_label": labels.get(f"o_{other}") or labels.get(f"p_{other}") or field_label(other, lang),
            "when": value_label(values.get("when", ""), f"option.{other}", lang)}


def _target(loc: tuple) -> tuple[str, str, str]:
    """(input name, label key, policy field name) of a pydantic error location."""
    parts = [p for p in loc if p not in ("body", "path", "query", "form") and p not in _TYPE_TAGS
             and not str(p).startswith("function-")]
    if len(parts) >= 3 and parts[0] == "guardians":
        name, key = GUARDIAN_FIELDS.get(str(parts[2]), ("guardian_name", "child.guardian"))
        return name, key, ""
    if len(parts) >= 2 and parts[0] in ("outcome", "parameters"):
        prefix = "o_" if parts[0] == "outcome" else "p_"
        return f"{prefix}{parts[1]}", f"field.{parts[1]}", str(parts[1])
    if parts and str(parts[0]) in FIELDS:
        name, key = FIELDS[str(parts[0])]
        return name, key, ""
    name = str(parts[-1]) if parts else ""
    return name, f"field.{name}" if name else "", name


def _shown(value) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)


def _pydantic(error: dict) -> FieldError:
    name, label_key, policy = _target(tuple(error["loc"]))
    kind, ctx = error["type"], error.get("ctx", {})
    value = _shown(error.get("input"))
    if kind == "value_error" and isinstance(ctx.get("error"), FieldProblem):  # worded in the page's language
        return FieldError(name, label_key, policy, problem=ctx["error"])
    if kind == "value_error" and "error" in ctx:  # our validators' own Chinese messages
        return FieldError(name, label_key, policy, text=str(ctx["error"]))
    if kind in ("missing", "string_too_short") and not value:
        return FieldError(name, label_key, policy, key="form.required")
    simple = {
        "string_too_short": ("form.too_short", {"n": ctx.get("min_length")}),
        "string_too_long": ("form.too_long", {"n": ctx.get("max_length"), "have": len(value)}),
        "too_long": ("form.too_many", {"n": ctx.get("max_length")}),
        "literal_error": ("form.choose", {}), "enum": ("form.choose", {}),
        "bool_parsing": ("form.yes_or_no", {}), "bool_type": ("form.yes_or_no", {}),
        "date_parsing": ("form.date", {}), "date_from_datetime_parsing": ("form.date", {}),
        "date_type": ("form.date", {}), "int_parsing": ("form.number", {}),
        "greater_than_equal": ("form.not_before", {"limit": ctx.get("ge")}),
        "less_than_equal": ("form.not_after", {"limit": ctx.get("le")}),
        "extra_forbidden": ("form.extra", {}),
    }
    if kind == "string_pattern_mismatch":
        hint = PATTERN_HINTS.get(name.removeprefix("p_").removeprefix("o_"), "form.pattern")
        return FieldError(name, label_key, policy, key=hint, value=value)
    key, values = simple.get(kind, ("form.invalid", {}))
    if kind in ("missing",):
        value = ""
    return FieldError(name, label_key, policy, key=key, values=values,
                      value="" if kind == "string_too_long" else value)


def _domain(exc: Exception, form_values: dict[str, str]) -> FieldError:
    if isinstance(exc, FieldValueError):  # a typed policy field (amount, service items): its input is on the page
        return FieldError(f"?{exc.field}", f"field.{exc.field}", exc.field, key=f"form.{exc.key}",
                          values=dict(exc.values), value=exc.value)
    if isinstance(exc, InvalidResidentID):
        future = exc.code == "birth_date" and "today" in exc.values  # later than today: both dates said
        return FieldError("resident_id", "child.resident_id",
                          key="form.id_birth_future" if future else ID_PROBLEMS.get(exc.code, "form.id_format"),
                          values={k: exc.values[k] for k in ("date", "today")} if future else {},
                          from_form=True)  # quoted as typed, like every other field
    if isinstance(exc, UnknownRegion):
        typed = str(exc.value)
        if exc.candidates:
            return FieldError("?county", key="form.county_choose", value=typed,
                              values={"options": tuple(exc.candidates)})
        return FieldError("?county", key="form.unknown_county" if typed.strip() else "form.required", value=typed)
    if isinstance(exc, FieldProblem):  # worded when the page renders, in its language
        target = _target((exc.field,)) if exc.field in FIELDS else (f"?{exc.field}", f"field.{exc.field}", exc.field)
        return FieldError(*(target if exc.field else ("", "", "")), problem=exc)
    if callable(getattr(exc, "text", None)):  # a refusal worded in the page's language, about no one field
        return FieldError("", refusal=exc)
    text = str(exc)
    chinese = _FIELD_IN_CHINESE.search(text)
    if chinese:  # careflow's own Chinese check naming its field: the label instead of the name
        name, said = chinese.group(1), chinese.group(2)
        target = _target((name,)) if name in FIELDS else (f"?{name}", f"field.{name}", said or name)
        return FieldError(*target, text=chinese.group(3))
    match = _FIELD_IN_TEXT.search(text)
    name, rest = (match.group(1), match.group(2)) if match else ("", text)
    if not name:
        target = ("", "", "")
    elif name in FIELDS:
        target = _target((name,))
    else:  # a policy field (an outcome's or a start parameter's): its input is found on the page
        target = (f"?{name}", f"field.{name}", name)
    quoted = _QUOTED_VALUE.match(rest)
    typed = quoted.group(1) if quoted else form_values.get(target[0], "")
    for pattern, key in KNOWN_PROBLEMS:
        if pattern.search(rest):
            return FieldError(*target, key=key, value=typed if key != "form.required" else "",
                              from_form=key != "form.required")
    if re.search(r"[\u4e00-\u9fff]", text):  # already Chinese (careflow's own checks)
        return FieldError(*target, text=rest if match else text)
    return FieldError(*target, key="form.invalid", value=typed, from_form=True)


def form_errors(exc: Exception, form_values: dict[str, str] | None = None) -> FormErrors:
    """What ``exc`` says was wrong with a submitted form, one :class:`FieldError` a problem.

    ``form_values`` (input name → typed text) lets an unknown county be pinned on the input it was typed in.
    """
    form_values = form_values or {}
    if isinstance(exc, (ValidationError, RequestValidationError)):
        return FormErrors(_pydantic(e) for e in exc.errors())
    if isinstance(getattr(exc, "problems", None), list):  # several fields at once (careflow.registration.RegistrationProblems)
        return FormErrors(_domain(problem, form_values) for problem in exc.problems)
    return FormErrors([_domain(exc, form_values)])
