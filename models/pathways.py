"""Referral pathways (DOMAIN.md §4), one per ``policy/pathways/<key>.yaml``: ordered steps, each a task for an
agency type with a deadline and a structured answer.

Source: 闽民童〔2025〕5号 and the laws each step cites (its ``source``). Deadlines are
:class:`models.deadlines.DeadlineRule` values (``24h`` clock hours, ``3d`` calendar days, ``15wd`` working days); a
deadline marked ``*_is_default: true`` is one no law fixes (DOMAIN.md: *default*). :func:`load_pathway` reads one
file and checks it against the agency types and service items (:mod:`models.policy_lists`);
:func:`models.policy.load_policy` reads them all.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from models.deadlines import DeadlineRule
from models.outcome_fields import OutcomeField, unique_names, validate_fields
from models.policy_files import (
    Code, Detail, Level, Located, OptionalRule, PolicyError, PolicyModel, Rule, Text, locate, read_yaml, validate_file,
)
from models.policy_lists import AgencyType, ServiceItem

__all__ = ["FACT_KEYS", "FactKey", "PathwayDefinition", "PathwayStep", "load_pathway"]

#: The facts a step may show its unit (``shows:`` in policy/pathways/*.yaml; computed by :mod:`careflow.facts`):
#: the child's name, sex, age (with the date of birth), address of residence, household registration, key care
#: grounds, guardians with their phones, and the report (the case's summary and the pathway's start parameters).
FactKey = Literal["child_name", "sex", "age", "address", "hukou", "key_care", "guardians", "report"]
FACT_KEYS: tuple[str, ...] = get_args(FactKey)


class PathwayStep(PolicyModel):
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
            (急难发生地), ``registration_place`` (户籍地: the civil affairs of the child's registration county,
            省内通办, with the residence county's unit following the task; :mod:`careflow.registration_place`) or
            ``school_place`` (the county or township of the child's school given as the start parameter
            ``school_area_code``, else the residence; 方案 十一).
        cross_province_steps: for a ``registration_place`` step, the steps taken instead at the residence when the
            registration county has no unit in the directory (outside Fujian, 跨省通办): e.g. the 3-working-day
            forwarding, then the registration place's reply recorded by the residence civil affairs.
        deadline: the time limit (:class:`DeadlineRule`); ``deadline_is_default`` says no law fixes it.
        deadline_from: ``request`` (default: counted from the task's request) or ``pathway_start`` (from the day
            the pathway started: a legal total such as 低保's 30 working days from the application, when a
            forwarding step came first).
        deadline_max: the latest a manager may extend the deadline to, counted like ``deadline`` (低保: 45 working
            days in special cases, with the reason recorded; :func:`careflow.task_manage.extend_deadline`).
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
    jurisdiction_basis: Literal["residence", "emergency_place", "registration_place", "school_place"] = "residence"
    deadline: Rule
    deadline_is_default: bool
    deadline_for: Literal["completion", "start"] = "completion"
    deadline_from: Literal["request", "pathway_start"] = "request"
    deadline_max: OptionalRule = None
    cross_province_steps: list[Code] = Field(default_factory=list)
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
        return unique_names(fields, "outcome")

    @model_validator(mode="after")
    def _consistent(self) -> "PathwayStep":
        if self.explicit_agencies is not None:
            if not self.explicit_agencies:
                raise Located(("agencies",), "an empty list (leave it out, or name at least one agency)")
            if len(set(self.explicit_agencies)) != len(self.explicit_agencies):
                raise Located(("agencies",), f"{self.explicit_agencies} names an agency twice")
            if self.agency != self.explicit_agencies[0]:
                raise Located(("agency",), f"{self.agency!r} must be the first of agencies "
                                            f"{self.explicit_agencies}")
        if self.agency in self.alternative_agencies:
            raise Located(("alternative_agencies",), f"{self.agency!r} is the step's own agency")
        if self.cross_province_steps and self.jurisdiction_basis != "registration_place":
            raise Located(("cross_province_steps",), "only a step with jurisdiction_basis: registration_place "
                                                      "has cross-province steps")
        for rule in ("ack_deadline", "urgent_deadline"):
            if getattr(self, rule) is not None and getattr(self, f"{rule}_is_default") is None:
                raise Located((f"{rule}_is_default",), f"missing: say whether {rule} is a default (true) "
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
        return validate_fields(self.outcome, values, f"step {self.key!r} outcome")


class PathwayDefinition(PolicyModel):
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
        started_by_agencies: the agency types whose officers start the pathway instead of a caseworker (the
            misconduct notice of 方案 十一: ``[police, procuratorate]``); empty: caseworkers start it.
        confidential: its messages carry neither an answer's content nor any start parameter's value, only the
            case reference, the step, the deadline and the link (the notice of 方案 十一: the conduct is read on
            the task page by the units concerned; :func:`notifications.messages.enqueue_task_message` checks it).
    """

    key: Code
    title_zh: Text
    title_en: Text
    source: Text
    service_items: list[int] = Field(default_factory=list)
    start_parameters: list[OutcomeField] = Field(default_factory=list)
    steps: list[PathwayStep] = Field(min_length=1)
    item_steps: dict[int, Code] = Field(default_factory=dict)
    started_by_agencies: list[Code] = Field(default_factory=list)
    confidential: bool = False

    @field_validator("start_parameters")
    @classmethod
    def _parameter_names_unique(cls, fields: list[OutcomeField]) -> list[OutcomeField]:
        return unique_names(fields, "start_parameters")

    @field_validator("steps")
    @classmethod
    def _step_keys_unique(cls, steps: list[PathwayStep]) -> list[PathwayStep]:
        seen: dict[str, int] = {}
        for index, step in enumerate(steps):
            if step.key in seen:
                raise Located((index, "key"), f"duplicate step key {step.key!r} (also steps[{seen[step.key]}])")
            seen[step.key] = index
        return steps

    @model_validator(mode="after")
    def _answers_name_steps(self) -> "PathwayDefinition":
        for index, step in enumerate(self.steps):
            for field in ("shows_answers", "cross_province_steps"):
                for key in getattr(step, field):
                    if key not in self.step_keys or key == step.key:
                        raise Located(("steps", index, field),
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
        return validate_fields(self.start_parameters, values, f"pathway {self.key!r} parameters")

    def step_for_item(self, number: int) -> PathwayStep:
        """The step that refers service-list item ``number``: ``item_steps[number]``, else the first step."""
        key = self.item_steps.get(number)
        return self.step(key) if key else self.steps[0]


def load_pathway(path: Path, base: Path, agencies: dict[str, AgencyType], agencies_rel: str,
                  items: dict[int, ServiceItem]) -> PathwayDefinition:
    """Read and check ``policy/pathways/<key>.yaml`` against the agencies and service items already read: its key is
    its file name, and every agency code and item number it uses exists.

    Raises:
        PolicyError: one line per problem, naming the file, the entry, the field and the value.
    """
    raw, rel = read_yaml(path, base)
    pathway: PathwayDefinition = validate_file(PathwayDefinition, raw, rel)
    problems: list[str] = []
    if pathway.key != path.stem:
        problems.append(locate(rel, raw, ("key",), Detail("policy.problem.key_not_file_name", value=pathway.key,
                                                            stem=path.stem)))
    for number in pathway.service_items:
        if number not in items:
            problems.append(locate(rel, raw, ("service_items",), Detail("policy.problem.not_service_item",
                                                                         value=number)))
    for number, step_key in pathway.item_steps.items():
        if number not in items:
            problems.append(locate(rel, raw, ("item_steps",), Detail("policy.problem.not_service_item",
                                                                      value=number)))
        if step_key not in pathway.step_keys:
            problems.append(locate(rel, raw, ("item_steps",), Detail("policy.problem.not_a_step", number=number,
                                                                      value=step_key, steps=pathway.step_keys)))
    for code in pathway.started_by_agencies:
        if code not in agencies:
            problems.append(locate(rel, raw, ("started_by_agencies",),
                                   Detail("policy.problem.unknown_agency", value=code, agencies=agencies_rel)))
    for index, step in enumerate(pathway.steps):
        fields = [("agency", [step.agency]), ("agencies", step.explicit_agencies or []),
                  ("alternative_agencies", step.alternative_agencies)]
        for field, codes in fields:
            for code in codes:
                if code not in agencies:
                    problems.append(locate(rel, raw, ("steps", index, field),
                                           Detail("policy.problem.unknown_agency", value=code, agencies=agencies_rel)))
    if problems:
        raise PolicyError(problems)
    return pathway
