"""The fields of a structured answer: what an agency records when it completes a step, and a pathway's start
parameters (and a dated duty's answer), as written in ``policy/pathways/*.yaml``.

:class:`OutcomeField` declares one field (``bool``, ``text``, ``choice`` with its options, and the typed ``amount``,
``service_item``, ``service_items``, ``date`` read by :mod:`models.field_values`, checked against the service list in force:
:func:`models.policy_lists.service_names`); :func:`validate_fields` checks a whole answer against its fields. Errors
name the field and the value.
"""
from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, model_validator

from models import field_values
from models.errors import FieldValueError, raise_problems
from models.policy_files import Code, Located, PolicyModel, Text
from models.policy_lists import service_names

__all__ = ["OutcomeField", "unique_names", "validate_fields"]

#: Field types read by :mod:`models.field_values` (never free text: they change what a pathway does).
_TYPED = ("amount", "service_item", "service_items", "date")
_TRUE = {"yes", "y", "true", "1", "是"}
_FALSE = {"no", "n", "false", "0", "否"}


class OutcomeField(PolicyModel):
    """One field of the structured answer an agency gives when it completes a step (or of a pathway's start).

    Attributes:
        name: snake_case name, used on the command line (``--outcome serious=yes``) and in stored outcomes.
        type: ``bool`` | ``text`` | ``choice`` (a choice needs ``options``) | ``amount`` (yuan, in digits) |
            ``service_item`` (one item of the service list) | ``service_items`` (items referred onward, or none) |
            ``date`` (a day, not after today: the registration place's reply); these four are read by :mod:`models.field_values`; ``area`` (a township or village by name or
            code) is the place of an emergency (careflow.cases.validate_start_parameters).
        label_zh / label_en: what the form shows.
        required: the answer is incomplete without it.
        required_when: required when another field of the same answer has one of these values, e.g.
            ``{help_given: [cash, several]}`` (the amount of cash help decides the small-amount step).
        options: the allowed values of a ``choice`` (empty for other types).
    """

    name: Code
    type: Literal["bool", "text", "choice", "amount", "service_item", "service_items", "area", "date"]
    label_zh: Text
    label_en: Text
    required: bool = False
    required_when: dict[Code, list[Code]] = Field(default_factory=dict)
    options: list[Code] = Field(default_factory=list)

    @model_validator(mode="after")
    def _options_match_type(self) -> "OutcomeField":
        if self.type == "choice" and not self.options:
            raise Located(("options",), f"choice field {self.name!r} needs options (e.g. options: [yes, no])")
        if self.type != "choice" and self.options:
            raise Located(("options",), f"only a choice field has options; {self.name!r} is {self.type}")
        if len(set(self.options)) != len(self.options):
            raise Located(("options",), f"duplicate option in {self.options}")
        return self

    def coerce(self, raw: str) -> bool | str:
        """Turn command-line text into this field's value.

        bool: ``yes/no``, ``true/false``, ``是/否``, ``1/0`` (also ``y/n``, any case) → ``True``/``False``;
        choice: the text must be one of ``options``; text: the text, stripped.

        Raises:
            ValueError: naming the field and the value.
        """
        text = str(raw).strip()
        if self.type == "bool":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise FieldValueError(self.name, "problem.not_yes_no", labels=self._labels, value=raw)
        if self.type == "choice":
            if text not in self.options:
                raise FieldValueError(self.name, "problem.not_an_option", labels=self._labels, value=raw,
                                      options=list(self.options))
            return text
        if self.type in _TYPED:
            return self._typed(raw)
        return text

    def _typed(self, value: Any) -> str:
        try:
            if self.type == "amount":
                return field_values.parse_amount(self.name, value)
            if self.type == "date":
                return field_values.parse_date(self.name, value)
            items = service_names()
            if self.type == "service_item":
                return field_values.parse_service_item(self.name, value, items)
            return field_values.parse_service_items(self.name, value, items)
        except field_values.FieldValueError as exc:  # named by the policy's label wherever it is shown
            exc.labels = {**self._labels, **exc.labels}
            raise

    def check(self, value: Any) -> bool | str:
        """A stored or submitted ``value`` checked against the type (text is coerced as by :meth:`coerce`).

        Raises:
            ValueError: naming the field and the value.
        """
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, (str, int)):
                return self.coerce(str(value))
            if isinstance(value, Decimal) and value in (0, 1):  # a JSON 0/1 read as a number
                return bool(value)
        elif self.type == "choice":
            if isinstance(value, str):
                return self.coerce(value)
        elif self.type in _TYPED:
            return self._typed(value)
        elif isinstance(value, str):
            return value.strip()
        elif isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            return str(value)
        raise FieldValueError(self.name, "problem.wrong_type", labels=self._labels, value=value, kind=self.type)

    @property
    def _labels(self) -> dict[str, str]:
        return {"zh": self.label_zh, "en": self.label_en}


def validate_fields(fields: list[OutcomeField] | tuple[OutcomeField, ...], values: Mapping[str, Any],
                     what: str) -> dict[str, Any]:
    """``values`` (name → value) checked against ``fields``: the typed values of the fields given, blank optional
    ones left out.

    Raises:
        ValueError: naming the field (:class:`models.errors.FieldValueError`, worded in the reader's language) — not
            a mapping (field ``what``), an unknown field, a required field missing, a value of the wrong type
            (:class:`models.field_values.FieldValueError` for a field required by another's value, and for an
            amount or a service item); :class:`models.errors.FieldValueProblems` when several fields are wrong
            (each one's error in ``problems``), so that a form marks them all at once.
    """
    if not isinstance(values, Mapping):
        raise FieldValueError(what, "problem.not_name_value_pairs", value=values)
    known = {f.name: f for f in fields}
    unknown = [name for name in values if name not in known]
    if unknown:
        kind = "parameters" if what.endswith("parameters") else "outcome"  # an answer's, or a start's
        raise FieldValueError(kind, "problem.unknown_field", value=unknown[0], where=what,
                              known=", ".join(known) or "—")
    result: dict[str, Any] = {}
    problems: list[ValueError] = []  # every field's problem at once: a form marks them all
    for field in fields:
        value = values.get(field.name)
        if value is None or (isinstance(value, str) and not value.strip()) or value == []:
            if field.required:
                problems.append(FieldValueError(field.name, "problem.required", labels=field._labels))
                continue
            for other, when in field.required_when.items():
                if str(values.get(other, "")).strip() in when:
                    given = str(values.get(other)).strip()
                    problem = field_values.FieldValueError(field.name, "required_when", "", other=other, when=given,
                                                           other_label=known[other].label_zh if other in known
                                                           else other)
                    problem.labels = {**field._labels, **({"other_zh": known[other].label_zh,
                                                           "other_en": known[other].label_en} if other in known else {})}
                    problems.append(problem)
                    break
            continue
        try:
            result[field.name] = field.check(value)
        except ValueError as exc:
            problems.append(exc)
    raise_problems(problems)
    return result


def unique_names(fields: list[OutcomeField], list_name: str) -> list[OutcomeField]:
    """``fields`` unchanged, or :class:`models.policy_files.Located` at the second use of a name in ``list_name``."""
    seen: dict[str, int] = {}
    for index, field in enumerate(fields):
        if field.name in seen:
            raise Located((index, "name"),
                           f"duplicate field name {field.name!r} (also {list_name}[{seen[field.name]}])")
        seen[field.name] = index
    return fields
