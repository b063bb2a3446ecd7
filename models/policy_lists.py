"""The policy's two lists: agency types (``policy/agencies.yaml``) and the annex's service items
(``policy/service_list.yaml``), read and cross-checked.

Source: 闽民童〔2025〕5号 and its annex 《福建省流动儿童在居住地享有关爱服务基础清单》 (20 items; a city's list may add
items but never drop one, 实施方案 四、工作要求); DOMAIN.md §3. :func:`load_lists` reads both, once per folder;
:func:`models.policy.load_policy` builds the whole policy on them, and :func:`service_names` gives the service list
in force to the fields that name an item (:mod:`models.outcome_fields`). Problems raise
:class:`models.policy_files.PolicyError` naming the file, the entry, the field and the value.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import Field, field_validator

from models.eligibility_rules import Rule as EligibilityRule, parse_rules
from models.policy_files import (
    Code, Detail, Level, PolicyError, PolicyModel, Text, default_policy_dir, locate, read_yaml, validate_file,
)

__all__ = ["AgencyType", "Area", "PROVINCIAL_LIST_SIZE", "PolicyLists", "ServiceItem", "load_lists", "service_names"]

#: The provincial list has 20 items; a city's list may add items but never drop one (实施方案 四、工作要求).
PROVINCIAL_LIST_SIZE = 20

#: The annex's six areas, in its order.
Area = Literal["幼有所育", "学有所教", "病有所医", "住有所居", "弱有所扶", "发展保障"]


class AgencyType(PolicyModel):
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


class ServiceItem(PolicyModel):
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
        service_en, target_group_en: the same in English (careflow's translation; :meth:`service_in`).
        delivery: ``referral`` — a referral opens one task per department; ``programme`` — the departments
            organise activities for many children (方案 （九）（十）（十一）: items 18-20), so a referral invites the
            child to a programme of the item or puts the child on its waiting list (:mod:`careflow.programmes`).
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
    delivery: Literal["referral", "programme"] = "referral"
    service_en: str = ""
    target_group_en: str = ""

    def service_in(self, lang: str) -> str:
        """The item's service (服务项目) in ``lang`` (``zh`` or ``en``; the Chinese where no English is given)."""
        return self.service_en if lang == "en" and self.service_en else self.service

    def target_group_in(self, lang: str) -> str:
        """The item's target group (服务对象) in ``lang``, as :meth:`service_in`."""
        return self.target_group_en if lang == "en" and self.target_group_en else self.target_group

    @field_validator("eligibility", mode="before")
    @classmethod
    def _rules(cls, value: Any, info) -> tuple[EligibilityRule, ...]:
        return parse_rules(value, item=info.data.get("number", "?"))


class _AgencyFile(PolicyModel):
    source: str = ""
    agencies: list[AgencyType] = Field(min_length=1)


class _ServiceListFile(PolicyModel):
    source: Text
    title_zh: str = ""
    items: list[ServiceItem] = Field(min_length=1)


def _load_agencies(policy_dir: Path, base: Path) -> tuple[dict[str, AgencyType], str]:
    raw, rel = read_yaml(policy_dir / "agencies.yaml", base)
    parsed: _AgencyFile = validate_file(_AgencyFile, raw, rel)
    problems: list[str] = []
    by_code: dict[str, AgencyType] = {}
    first: dict[str, int] = {}
    names: dict[str, int] = {}
    for index, agency in enumerate(parsed.agencies):
        if agency.code in first:
            problems.append(locate(rel, raw, ("agencies", index, "code"),
                                    f"duplicate agency code {agency.code!r} (also agencies[{first[agency.code]}])"))
            continue
        first[agency.code] = index
        by_code[agency.code] = agency
        name = agency.provincial_name_zh
        if name:
            if name in names:
                problems.append(locate(rel, raw, ("agencies", index, "provincial_name_zh"),
                                        f"{name!r} is also agencies[{names[name]}]'s"))
            names[name] = index
    if problems:
        raise PolicyError(problems)
    return by_code, rel


def _load_service_list(policy_dir: Path, base: Path, agencies: dict[str, AgencyType],
                       agencies_rel: str) -> tuple[dict[int, ServiceItem], str]:
    raw, rel = read_yaml(policy_dir / "service_list.yaml", base)
    parsed: _ServiceListFile = validate_file(_ServiceListFile, raw, rel)
    by_name = {a.provincial_name_zh: code for code, a in agencies.items() if a.provincial_name_zh}
    problems: list[str] = []
    items: dict[int, ServiceItem] = {}
    index_of: dict[int, int] = {}
    for index, item in enumerate(parsed.items):
        where = ("items", index)
        if item.number in index_of:
            problems.append(locate(rel, raw, where + ("number",),
                                    f"duplicate item number {item.number} (also items[{index_of[item.number]}])"))
            continue
        index_of[item.number] = index
        items[item.number] = item
        if not item.eligibility:
            problems.append(locate(rel, raw, where + ("eligibility",), f"清单第{item.number}项 字段 eligibility"
                                    "（服务对象规则）：缺少规则（对所有流动儿童开放的项目写 [migrant_child]）"))
        unknown_codes = [code for code in item.departments if code not in agencies]
        for code in unknown_codes:
            problems.append(locate(rel, raw, where + ("departments",),
                                   Detail("policy.problem.unknown_agency", value=code, agencies=agencies_rel)))
        if len(set(item.departments)) != len(item.departments):
            problems.append(locate(rel, raw, where + ("departments",), f"{item.departments} names a department twice"))
        if item.departments_zh.strip() and not unknown_codes:
            written = [name.strip() for name in item.departments_zh.split("、")]
            unknown = [name for name in written if name not in by_name]
            if unknown:
                problems.append(locate(rel, raw, where + ("departments_zh",),
                                        f"{unknown[0]!r} is no agency's provincial_name_zh in {agencies_rel}"))
            elif [by_name[name] for name in written] != list(item.departments):
                problems.append(locate(rel, raw, where + ("departments",),
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


class PolicyLists(NamedTuple):
    """What :func:`load_lists` read: agency types by code, the file that names them (for messages), the service
    items by number and the service list's source."""

    agencies: dict[str, AgencyType]
    agencies_rel: str
    service_items: dict[int, ServiceItem]
    service_list_source: str


@functools.lru_cache(maxsize=8)
def load_lists(policy_dir: Path) -> PolicyLists:
    """Read and cross-check ``agencies.yaml`` and ``service_list.yaml`` of the resolved folder ``policy_dir``; cached
    per folder (:func:`models.policy.load_policy`'s ``cache_clear`` clears it too).

    Raises:
        PolicyError: one line per problem (file, entry, field, value); agency problems first, alone.
    """
    base = policy_dir.parent
    agencies, agencies_rel = _load_agencies(policy_dir, base)
    items, source = _load_service_list(policy_dir, base, agencies, agencies_rel)
    return PolicyLists(agencies, agencies_rel, items, source)


def service_names() -> dict[int, str]:
    """The service list in force (the default policy folder's): item number → service name (服务项目)."""
    return {number: item.service for number, item in load_lists(default_policy_dir()).service_items.items()}
