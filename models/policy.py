"""The policy as data: agency types, the service list and the referral pathways, validated on load.

Source: 闽民童〔2025〕5号 (the Fujian implementation plan for migrant-child care and protection) and its
annex 《福建省流动儿童在居住地享有关爱服务基础清单》; DOMAIN.md §3-§4. The data lives in ``policy/``::

    policy/agencies.yaml          agency types (民政, 公安, 村（居）委会 …) by snake_case code
    policy/service_list.yaml      the annex's 20 items
    policy/pathways/<key>.yaml    one referral pathway per file (guardianship, psychological_screening, …)

:func:`load_policy` reads and validates all of it, once per folder. Any problem raises :class:`PolicyError`
whose message names the file (relative path), the entry, the field and the bad value, e.g.::

    policy/pathways/guardianship.yaml: steps[1] (police_reprimand): field 'deadline': '3xd' is not a
    deadline (write e.g. 24h, 3d or 15wd)

Deadlines are :class:`models.deadlines.DeadlineRule` values (``24h`` clock hours, ``3d`` calendar days,
``15wd`` working days). A deadline marked ``*_is_default: true`` is one no law fixes (DOMAIN.md: *default*).
"""
from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from policy import POLICY_DIR
from models import field_values
from models.deadlines import DeadlineRule
from models.eligibility_rules import Rule as EligibilityRule, parse_rules

__all__ = [
    "AgencyType", "OutcomeField", "PathwayDefinition", "PathwayStep", "Policy", "PolicyError",
    "ServiceItem", "load_policy", "PROVINCIAL_LIST_SIZE",
]

#: The provincial list has 20 items; a city's list may add items but never drop one (实施方案 四、工作要求).
PROVINCIAL_LIST_SIZE = 20

#: Jurisdiction levels an agency's local units sit at (DOMAIN.md §1: province → city → county → township → village).
Level = Literal["village", "township", "county", "city"]

#: The annex's six areas, in its order.
Area = Literal["幼有所育", "学有所教", "病有所医", "住有所居", "弱有所扶", "发展保障"]

_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
#: Field types read by :mod:`models.field_values` (never free text: they change what a pathway does).
_TYPED = ("amount", "service_item", "service_items")
_TRUE = {"yes", "y", "true", "1", "是"}
_FALSE = {"no", "n", "false", "0", "否"}


class PolicyError(ValueError):
    """The policy data is malformed. The message names the file, the entry, the field and the bad value.

    ``problems`` holds one line per problem found (the message joins them with newlines).
    """

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class _Located(ValueError):
    """Raised inside validators to point at a place below the model being validated (e.g. ``steps[3].key``)."""

    def __init__(self, loc: tuple[str | int, ...], message: str):
        self.loc = loc
        self.message = message
        super().__init__(message)


def _check_code(value: str) -> str:
    if not _CODE.match(value):
        raise ValueError(f"{value!r} is not a snake_case code (lower-case letters, digits and _)")
    return value


def _to_rule(value: Any) -> Any:
    if value is None or isinstance(value, DeadlineRule):
        return value
    return DeadlineRule.parse(value)  # ValueError naming the value


Code = Annotated[str, AfterValidator(_check_code)]

#: The facts a step may show its unit (``shows:`` in policy/pathways/*.yaml; computed by :mod:`careflow.facts`):
#: the child's name, sex, age (with the date of birth), address of residence, household registration, key care
#: grounds, guardians with their phones, and the report (the case's summary and the pathway's start parameters).
FactKey = Literal["child_name", "sex", "age", "address", "hukou", "key_care", "guardians", "report"]
FACT_KEYS: tuple[str, ...] = get_args(FactKey)
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Rule = Annotated[DeadlineRule, BeforeValidator(_to_rule)]
OptionalRule = Annotated[DeadlineRule | None, BeforeValidator(_to_rule)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AgencyType(_Frozen):
    """An agency type the policy names (DOMAIN.md §3), e.g. ``police`` 公安 / 省公安厅.

    Attributes:
        code: snake_case key used by steps, service items, tasks and units (``civil_affairs``).
        name_zh / name_en: the type's name (``公安`` / ``Police (public security)``).
        category: ``provincial_signatory`` (one of the plan's 23 signatories, with city/county counterparts)
            or ``grass_roots`` (村（居）委会, 乡镇（街道）工作站, 救助保护机构, schools, hospitals, …).
        level: the jurisdiction level its local units usually sit at: village | township | county | city.
        provincial_name_zh: the provincial body as the annex and section brackets write it (``省公安厅``);
            ``None`` for grass-roots types.
        provincial_full_name_zh: the provincial body as the signature block names it (``福建省公安厅``).
    """

    code: Code
    name_zh: Text
    name_en: Text
    category: Literal["provincial_signatory", "grass_roots"]
    level: Level
    provincial_name_zh: str | None = None
    provincial_full_name_zh: str | None = None


class OutcomeField(_Frozen):
    """One field of the structured answer an agency gives when it completes a step (or of a pathway's start).

    Attributes:
        name: snake_case name, used on the command line (``--outcome serious=yes``) and in stored outcomes.
        type: ``bool`` | ``text`` | ``choice`` (a choice needs ``options``) | ``amount`` (yuan, in digits) |
            ``service_item`` (one item of the service list) | ``service_items`` (items referred onward, or none);
            the last three are read by :mod:`models.field_values`; ``area`` (a township or village by name or
            code) is the place of an emergency (careflow.cases.validate_start_parameters).
        label_zh / label_en: what the form shows.
        required: the answer is incomplete without it.
        required_when: required when another field of the same answer has one of these values, e.g.
            ``{help_given: [cash, several]}`` (the amount of cash help decides the small-amount step).
        options: the allowed values of a ``choice`` (empty for other types).
    """

    name: Code
    type: Literal["bool", "text", "choice", "amount", "service_item", "service_items", "area"]
    label_zh: Text
    label_en: Text
    required: bool = False
    required_when: dict[Code, list[Code]] = Field(default_factory=dict)
    options: list[Code] = Field(default_factory=list)

    @model_validator(mode="after")
    def _options_match_type(self) -> "OutcomeField":
        if self.type == "choice" and not self.options:
            raise _Located(("options",), f"choice field {self.name!r} needs options (e.g. options: [yes, no])")
        if self.type != "choice" and self.options:
            raise _Located(("options",), f"only a choice field has options; {self.name!r} is {self.type}")
        if len(set(self.options)) != len(self.options):
            raise _Located(("options",), f"duplicate option in {self.options}")
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
            raise ValueError(f"outcome field {self.name!r}: {raw!r} is not yes or no "
                             "(write yes/no, true/false, 是/否 or 1/0)")
        if self.type == "choice":
            if text not in self.options:
                raise ValueError(f"outcome field {self.name!r}: {raw!r} is not one of {', '.join(self.options)}")
            return text
        if self.type in _TYPED:
            return self._typed(raw)
        return text

    def _typed(self, value: Any) -> str:
        if self.type == "amount":
            return field_values.parse_amount(self.name, value)
        items = {number: item.service for number, item in load_policy().service_items.items()}
        if self.type == "service_item":
            return field_values.parse_service_item(self.name, value, items)
        return field_values.parse_service_items(self.name, value, items)

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
        raise ValueError(f"outcome field {self.name!r}: {value!r} is not a {self.type} value")


def _validate_fields(fields: list[OutcomeField], values: Mapping[str, Any], what: str) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        raise ValueError(f"{what}: expected name=value pairs, got {values!r}")
    known = {f.name: f for f in fields}
    unknown = [name for name in values if name not in known]
    if unknown:
        raise ValueError(f"{what}: unknown field {unknown[0]!r} (fields: {', '.join(known) or 'none'})")
    result: dict[str, Any] = {}
    for field in fields:
        value = values.get(field.name)
        if value is None or (isinstance(value, str) and not value.strip()) or value == []:
            if field.required:
                raise ValueError(f"{what}: field {field.name!r} ({field.label_zh}) is required")
            for other, when in field.required_when.items():
                if str(values.get(other, "")).strip() in when:
                    given = str(values.get(other)).strip()
                    raise field_values.FieldValueError(field.name, "required_when", "", other=other, when=given,
                                                       other_label=known[other].label_zh if other in known else other)
            continue
        result[field.name] = field.check(value)
    return result


def _unique_names(fields: list[OutcomeField], list_name: str) -> list[OutcomeField]:
    seen: dict[str, int] = {}
    for index, field in enumerate(fields):
        if field.name in seen:
            raise _Located((index, "name"),
                           f"duplicate field name {field.name!r} (also {list_name}[{seen[field.name]}])")
        seen[field.name] = index
    return fields


class PathwayStep(_Frozen):
    """One step of a pathway: a task for an agency type, with a deadline and a structured outcome.

    Attributes:
        key: snake_case key, unique in the pathway; the flow code uses it (``police_reprimand``).
        title_zh / title_en: the step's name (``训诫``).
        agency: the lead agency code (the first of ``agencies`` when the file gives a list).
        alternative_agencies: other codes that may take the step instead (e.g. ``education`` for
            family-education guidance).
        level: the jurisdiction level of the unit that takes the step when it differs from the agency's
            usual level (e.g. ``township`` civil affairs for temporary assistance); ``None`` = the agency's.
        jurisdiction_basis: which place the task is routed by: ``residence`` (default), ``emergency_place``
            (急难发生地) or ``registration_place`` (户籍地).
        deadline: the time limit (:class:`DeadlineRule`); ``deadline_is_default`` says no law fixes it.
        deadline_for: ``completion`` (default) or ``start`` — the action must *start* within the deadline.
        ack_deadline: optional time to acknowledge (e.g. 2 h for the police), with ``ack_deadline_is_default``.
        urgent_deadline: optional shorter deadline for an urgent case (e.g. 24 h medical referral of a
            high-risk screening), with ``urgent_deadline_is_default``.
        source: where the step comes from (section of the plan, article of law).
        instructions_zh / instructions_en: what the agency must do, in the policy's own words.
        note: anything else a reader needs (e.g. the procuratorate may support the suit).
        outcome: the fields of the agency's answer.
        shows: the facts of the child and the case the acting unit sees on its task page and letter (need to
            know, DOMAIN.md §8; one of :data:`FACT_KEYS`); the caseworker's name and phone are always shown.
        shows_answers: keys of earlier steps whose answers the unit sees (checked against the pathway's steps).
    """

    key: Code
    title_zh: Text
    title_en: Text
    agency: Code
    explicit_agencies: list[Code] | None = Field(default=None, alias="agencies")
    alternative_agencies: list[Code] = Field(default_factory=list)
    level: Level | None = None
    jurisdiction_basis: Literal["residence", "emergency_place", "registration_place"] = "residence"
    deadline: Rule
    deadline_is_default: bool
    deadline_for: Literal["completion", "start"] = "completion"
    ack_deadline: OptionalRule = None
    ack_deadline_is_default: bool | None = None
    urgent_deadline: OptionalRule = None
    urgent_deadline_is_default: bool | None = None
    source: Text
    instructions_zh: Text
    instructions_en: Text
    note: str = ""
    outcome: list[OutcomeField] = Field(default_factory=list)
    shows: list[FactKey] = Field(default_factory=list)
    shows_answers: list[Code] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _lead_agency_from_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("agency") is None and isinstance(data.get("agencies"), list) \
                and data["agencies"]:
            data = {**data, "agency": data["agencies"][0]}
        return data

    @field_validator("outcome")
    @classmethod
    def _outcome_names_unique(cls, fields: list[OutcomeField]) -> list[OutcomeField]:
        return _unique_names(fields, "outcome")

    @model_validator(mode="after")
    def _consistent(self) -> "PathwayStep":
        if self.explicit_agencies is not None:
            if not self.explicit_agencies:
                raise _Located(("agencies",), "an empty list (leave it out, or name at least one agency)")
            if len(set(self.explicit_agencies)) != len(self.explicit_agencies):
                raise _Located(("agencies",), f"{self.explicit_agencies} names an agency twice")
            if self.agency != self.explicit_agencies[0]:
                raise _Located(("agency",), f"{self.agency!r} must be the first of agencies "
                                            f"{self.explicit_agencies}")
        if self.agency in self.alternative_agencies:
            raise _Located(("alternative_agencies",), f"{self.agency!r} is the step's own agency")
        for rule in ("ack_deadline", "urgent_deadline"):
            if getattr(self, rule) is not None and getattr(self, f"{rule}_is_default") is None:
                raise _Located((f"{rule}_is_default",), f"missing: say whether {rule} is a default (true) "
                                                         "or fixed by law (false)")
        return self

    @property
    def agencies(self) -> list[str]:
        """The agency codes that each get one task for this step: ``[agency]`` or the file's ``agencies``."""
        return list(self.explicit_agencies) if self.explicit_agencies else [self.agency]

    @property
    def outcome_field_names(self) -> list[str]:
        """The names of the outcome fields, in order."""
        return [field.name for field in self.outcome]

    def deadline_rule(self, urgent: bool = False) -> DeadlineRule:
        """``urgent_deadline`` when ``urgent`` and the step has one, else ``deadline``."""
        return self.urgent_deadline if urgent and self.urgent_deadline else self.deadline

    def outcome_field(self, name: str) -> OutcomeField:
        """The outcome field ``name`` (KeyError naming the step, the field and the known fields)."""
        for field in self.outcome:
            if field.name == name:
                return field
        raise KeyError(f"step {self.key!r} has no outcome field {name!r}; fields: {self.outcome_field_names}")

    def validate_outcome(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Check an agency's answer and return it normalised.

        ``values`` maps field names to values; command-line text is accepted (``"yes"`` → ``True``,
        see :meth:`OutcomeField.coerce`). The result holds every field given, with its typed value
        (bool or str); optional fields left out or blank are omitted.

        Raises:
            ValueError: an unknown field, a missing required field, or a value of the wrong type;
                the message names the step and the field.
        """
        return _validate_fields(self.outcome, values, f"step {self.key!r} outcome")


class PathwayDefinition(_Frozen):
    """A referral pathway (DOMAIN.md §4): ordered steps, each a task for an agency with a deadline.

    Attributes:
        key: the pathway's key, also its file name (``guardianship`` ↔ ``policy/pathways/guardianship.yaml``).
        title_zh / title_en / source: name and legal basis.
        service_items: numbers of the service-list items the pathway delivers (e.g. ``[16]``).
        start_parameters: fields the caseworker records when starting it (e.g. the screening result).
        steps: the steps in the order the policy reaches them (keys unique).
        item_steps: for a pathway that refers one service-list item (``service_referral``): item number →
            the key of the step whose deadline applies to that item's referral (e.g. ``13:
            minimum_living_referral``, 30 working days); an item not listed takes the first step
            (:meth:`step_for_item`). Empty for the other pathways.
    """

    key: Code
    title_zh: Text
    title_en: Text
    source: Text
    service_items: list[int] = Field(default_factory=list)
    start_parameters: list[OutcomeField] = Field(default_factory=list)
    steps: list[PathwayStep] = Field(min_length=1)
    item_steps: dict[int, Code] = Field(default_factory=dict)

    @field_validator("start_parameters")
    @classmethod
    def _parameter_names_unique(cls, fields: list[OutcomeField]) -> list[OutcomeField]:
        return _unique_names(fields, "start_parameters")

    @field_validator("steps")
    @classmethod
    def _step_keys_unique(cls, steps: list[PathwayStep]) -> list[PathwayStep]:
        seen: dict[str, int] = {}
        for index, step in enumerate(steps):
            if step.key in seen:
                raise _Located((index, "key"), f"duplicate step key {step.key!r} (also steps[{seen[step.key]}])")
            seen[step.key] = index
        return steps

    @model_validator(mode="after")
    def _answers_name_steps(self) -> "PathwayDefinition":
        for index, step in enumerate(self.steps):
            for key in step.shows_answers:
                if key not in self.step_keys or key == step.key:
                    raise _Located(("steps", index, "shows_answers"),
                                   f"{key!r} is not another step of the pathway; steps: {self.step_keys}")
        return self

    @property
    def step_keys(self) -> list[str]:
        """The step keys in order."""
        return [step.key for step in self.steps]

    def step(self, key: str) -> PathwayStep:
        """The step ``key``.

        Raises:
            KeyError: naming the pathway, the key and the pathway's steps.
        """
        for step in self.steps:
            if step.key == key:
                return step
        raise KeyError(f"pathway {self.key!r} has no step {key!r}; steps: {self.step_keys}")

    def validate_parameters(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Check the start parameters as :meth:`PathwayStep.validate_outcome` checks an outcome."""
        return _validate_fields(self.start_parameters, values, f"pathway {self.key!r} parameters")

    def step_for_item(self, number: int) -> PathwayStep:
        """The step that refers service-list item ``number``: ``item_steps[number]``, else the first step."""
        key = self.item_steps.get(number)
        return self.step(key) if key else self.steps[0]


class ServiceItem(_Frozen):
    """One item of the annex 《福建省流动儿童在居住地享有关爱服务基础清单》.

    Attributes:
        number: 1..20 as in the annex.
        area: 幼有所育 | 学有所教 | 病有所医 | 住有所居 | 弱有所扶 | 发展保障.
        target_group: 服务对象 (merged cells filled in).
        service: 服务项目.  content: 服务内容, verbatim.
        departments_zh: 责任部门 as the annex writes it ("" where the extracted cell is empty).
        departments: the same as agency codes; a referral for the item goes to each of them.
        completion: ``all`` — every department must answer; ``any`` — one answer completes the referral.
        note: where the data departs from the extracted text, and why.
        eligibility: the target group as rules careflow checks on the child (:mod:`models.eligibility_rules`);
            refused in Chinese, naming the item and the field, when a rule name is unknown.
    """

    number: int = Field(ge=1)
    area: Area
    target_group: Text
    service: Text
    content: Text
    departments_zh: str = ""
    departments: list[Code] = Field(min_length=1)
    completion: Literal["all", "any"] = "all"
    note: str = ""
    eligibility: tuple[EligibilityRule, ...] = ()

    @field_validator("eligibility", mode="before")
    @classmethod
    def _rules(cls, value: Any, info) -> tuple[EligibilityRule, ...]:
        return parse_rules(value, item=info.data.get("number", "?"))


class Policy(_Frozen):
    """The whole policy, validated: agency types by code, service items by number, pathways by key.

    Returned by :func:`load_policy`; cached per folder, so treat it as read-only.
    """

    policy_dir: Path
    agencies: dict[str, AgencyType]
    service_items: dict[int, ServiceItem]
    pathways: dict[str, PathwayDefinition]
    service_list_source: str = ""

    def agency(self, code: str) -> AgencyType:
        """The agency type ``code`` (KeyError naming the code)."""
        try:
            return self.agencies[code]
        except KeyError:
            raise KeyError(f"unknown agency code {code!r}; known: {sorted(self.agencies)}") from None

    def service_item(self, number: int) -> ServiceItem:
        """Service-list item ``number`` (KeyError naming the number)."""
        try:
            return self.service_items[number]
        except KeyError:
            raise KeyError(f"the service list has no item {number!r} (items 1..{len(self.service_items)})") from None

    def pathway(self, key: str) -> PathwayDefinition:
        """The pathway ``key`` (KeyError naming the key and the known pathways)."""
        try:
            return self.pathways[key]
        except KeyError:
            raise KeyError(f"no pathway {key!r}; pathways: {sorted(self.pathways)}") from None


# --------------------------------------------------------------------------------------------- loading


class _AgencyFile(_Frozen):
    source: str = ""
    agencies: list[AgencyType] = Field(min_length=1)


class _ServiceListFile(_Frozen):
    source: Text
    title_zh: str = ""
    items: list[ServiceItem] = Field(min_length=1)


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _entry_label(list_name: str, index: int, raw: Any) -> str:
    if isinstance(raw, dict):
        if list_name == "items" and raw.get("number") is not None:
            return f"item {raw['number']}"
        for key in ("key", "code", "name"):
            if raw.get(key) is not None:
                return f"{list_name}[{index}] ({raw[key]})"
    return f"{list_name}[{index}]"


def _locate(rel: str, raw: Any, loc: tuple[Any, ...], detail: str) -> str:
    """``rel: entry, sub-entry: field 'name': detail`` for a location inside the raw YAML data."""
    entries: list[str] = []
    field: list[str] = []
    node = raw
    parts = [p for p in loc if isinstance(p, int) or (isinstance(p, str) and _IDENTIFIER.match(p))]
    i = 0
    while i < len(parts):
        part = parts[i]
        following = parts[i + 1] if i + 1 < len(parts) else None
        child = node.get(part) if isinstance(node, dict) and isinstance(part, str) else None
        if isinstance(part, str) and isinstance(following, int):
            item = child[following] if isinstance(child, list) and 0 <= following < len(child) else None
            entries.append(_entry_label(part, following, item))
            node, field, i = item, [], i + 2
            continue
        field.append(str(part))
        node, i = child, i + 1
    text = rel + ": "
    if entries:
        text += ", ".join(entries) + ": "
    if field:
        text += f"field {'.'.join(field)!r}: "
    return text + detail


def _describe(error: dict[str, Any]) -> tuple[tuple[Any, ...], str]:
    loc = tuple(error["loc"])
    original = (error.get("ctx") or {}).get("error")
    if isinstance(original, _Located):
        return loc + original.loc, original.message
    message = error["msg"]
    if message.startswith("Value error, "):
        return loc, message[len("Value error, "):]
    value = error.get("input")
    if error["type"] == "missing":
        return loc, "missing (required)"
    if error["type"] == "extra_forbidden":
        return loc, f"unknown field (value {value!r}); check the spelling"
    if repr(value) in message:
        return loc, message
    return loc, f"{value!r}: {message}"


def _validate(model: type[BaseModel], data: Any, rel: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc, detail = _describe(error)
            problems.append(_locate(rel, data, loc, detail))
        raise PolicyError(problems) from None


def _read_yaml(path: Path, base: Path) -> tuple[dict[str, Any], str]:
    rel = path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)
    if not path.is_file():
        raise PolicyError(f"{rel}: file missing")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PolicyError(f"{rel}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{rel}: expected a mapping at the top of the file, got {type(data).__name__}")
    return data, rel


def _load_agencies(policy_dir: Path, base: Path) -> tuple[dict[str, AgencyType], str]:
    raw, rel = _read_yaml(policy_dir / "agencies.yaml", base)
    parsed: _AgencyFile = _validate(_AgencyFile, raw, rel)
    problems: list[str] = []
    by_code: dict[str, AgencyType] = {}
    first: dict[str, int] = {}
    names: dict[str, int] = {}
    for index, agency in enumerate(parsed.agencies):
        if agency.code in first:
            problems.append(_locate(rel, raw, ("agencies", index, "code"),
                                    f"duplicate agency code {agency.code!r} (also agencies[{first[agency.code]}])"))
            continue
        first[agency.code] = index
        by_code[agency.code] = agency
        name = agency.provincial_name_zh
        if name:
            if name in names:
                problems.append(_locate(rel, raw, ("agencies", index, "provincial_name_zh"),
                                        f"{name!r} is also agencies[{names[name]}]'s"))
            names[name] = index
    if problems:
        raise PolicyError(problems)
    return by_code, rel


def _load_service_list(policy_dir: Path, base: Path, agencies: dict[str, AgencyType],
                       agencies_rel: str) -> tuple[dict[int, ServiceItem], str]:
    raw, rel = _read_yaml(policy_dir / "service_list.yaml", base)
    parsed: _ServiceListFile = _validate(_ServiceListFile, raw, rel)
    by_name = {a.provincial_name_zh: code for code, a in agencies.items() if a.provincial_name_zh}
    problems: list[str] = []
    items: dict[int, ServiceItem] = {}
    index_of: dict[int, int] = {}
    for index, item in enumerate(parsed.items):
        where = ("items", index)
        if item.number in index_of:
            problems.append(_locate(rel, raw, where + ("number",),
                                    f"duplicate item number {item.number} (also items[{index_of[item.number]}])"))
            continue
        index_of[item.number] = index
        items[item.number] = item
        if not item.eligibility:
            problems.append(_locate(rel, raw, where + ("eligibility",), f"清单第{item.number}项 字段 eligibility"
                                    "（服务对象规则）：缺少规则（对所有流动儿童开放的项目写 [migrant_child]）"))
        unknown_codes = [code for code in item.departments if code not in agencies]
        for code in unknown_codes:
            problems.append(_locate(rel, raw, where + ("departments",),
                                    f"unknown agency code {code!r} (not in {agencies_rel})"))
        if len(set(item.departments)) != len(item.departments):
            problems.append(_locate(rel, raw, where + ("departments",), f"{item.departments} names a department twice"))
        if item.departments_zh.strip() and not unknown_codes:
            written = [name.strip() for name in item.departments_zh.split("、")]
            unknown = [name for name in written if name not in by_name]
            if unknown:
                problems.append(_locate(rel, raw, where + ("departments_zh",),
                                        f"{unknown[0]!r} is no agency's provincial_name_zh in {agencies_rel}"))
            elif [by_name[name] for name in written] != list(item.departments):
                problems.append(_locate(rel, raw, where + ("departments",),
                                        f"{item.departments} does not match departments_zh "
                                        f"{item.departments_zh!r} ({[by_name[n] for n in written]})"))
    expected = range(1, max([PROVINCIAL_LIST_SIZE, *items]) + 1)
    for number in expected:
        if number not in items:
            problems.append(f"{rel}: item {number}: field 'number': item {number} is missing (items must be "
                            f"numbered 1..{expected[-1]} without gaps; the provincial list has "
                            f"{PROVINCIAL_LIST_SIZE} items and a city list may not drop any)")
    if problems:
        raise PolicyError(problems)
    return dict(sorted(items.items())), parsed.source


def _load_pathway(path: Path, base: Path, agencies: dict[str, AgencyType], agencies_rel: str,
                  items: dict[int, ServiceItem]) -> PathwayDefinition:
    raw, rel = _read_yaml(path, base)
    pathway: PathwayDefinition = _validate(PathwayDefinition, raw, rel)
    problems: list[str] = []
    if pathway.key != path.stem:
        problems.append(_locate(rel, raw, ("key",), f"{pathway.key!r} must match the file name ({path.stem!r})"))
    for number in pathway.service_items:
        if number not in items:
            problems.append(_locate(rel, raw, ("service_items",), f"{number!r} is not a service-list item"))
    for number, step_key in pathway.item_steps.items():
        if number not in items:
            problems.append(_locate(rel, raw, ("item_steps",), f"{number!r} is not a service-list item"))
        if step_key not in pathway.step_keys:
            problems.append(_locate(rel, raw, ("item_steps",),
                                    f"item {number}: {step_key!r} is not a step of this pathway ({pathway.step_keys})"))
    for index, step in enumerate(pathway.steps):
        fields = [("agency", [step.agency]), ("agencies", step.explicit_agencies or []),
                  ("alternative_agencies", step.alternative_agencies)]
        for field, codes in fields:
            for code in codes:
                if code not in agencies:
                    problems.append(_locate(rel, raw, ("steps", index, field),
                                            f"unknown agency code {code!r} (not in {agencies_rel})"))
    if problems:
        raise PolicyError(problems)
    return pathway


@functools.lru_cache(maxsize=8)
def _load_policy_cached(policy_dir: Path) -> Policy:
    base = policy_dir.parent
    agencies, agencies_rel = _load_agencies(policy_dir, base)
    items, source = _load_service_list(policy_dir, base, agencies, agencies_rel)
    pathway_dir = policy_dir / "pathways"
    files = sorted(pathway_dir.glob("*.yaml")) if pathway_dir.is_dir() else []
    if not files:
        raise PolicyError(f"{pathway_dir.relative_to(base).as_posix()}: no pathway files (*.yaml)")
    problems: list[str] = []
    pathways: dict[str, PathwayDefinition] = {}
    for path in files:
        try:
            pathway = _load_pathway(path, base, agencies, agencies_rel, items)
        except PolicyError as exc:
            problems.extend(exc.problems)
            continue
        pathways[pathway.key] = pathway
    if problems:
        raise PolicyError(problems)
    return Policy(policy_dir=policy_dir, agencies=agencies, service_items=items, pathways=pathways,
                  service_list_source=source)


def load_policy(policy_dir: Path | None = None) -> Policy:
    """Load and validate the policy folder (default :data:`policy.POLICY_DIR`); cached per folder.

    Reads ``agencies.yaml``, ``service_list.yaml`` and every ``pathways/*.yaml``, and cross-checks them:
    every agency code a step or an item uses exists; step keys are unique in a pathway and a pathway's
    key is its file name; items are numbered 1..20 (or more) without gaps; outcome field names are
    unique; choice fields have options; each item's codes match its 责任部门 text; a pathway's
    ``item_steps`` name service-list items and steps of that pathway.
    Call ``load_policy.cache_clear()`` after editing the files in a running process.

    Raises:
        PolicyError: one line per problem, each naming the file (relative to the policy folder's parent,
            e.g. ``policy/pathways/guardianship.yaml``), the entry (``steps[1] (police_reprimand)``,
            ``item 18``), the field and the bad value.
    """
    if policy_dir is None:  # the common call: the default folder, resolved once (pages call this per row)
        return _load_policy_cached(_default_folder())
    return _load_policy_cached(Path(policy_dir).resolve())


@functools.lru_cache(maxsize=1)
def _default_folder() -> Path:
    return POLICY_DIR.resolve()


load_policy.cache_clear = _load_policy_cached.cache_clear  # type: ignore[attr-defined]
