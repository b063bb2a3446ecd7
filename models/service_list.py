"""Service lists (关爱服务清单): the provincial list's referral item, city lists and their check, dated duties.

Policy: 闽民童〔2025〕5号, section 四（工作要求）: each 设区市 (and 平潭综合实验区) publishes its own list of
the services migrant children enjoy, "明确具体服务对象、项目、内容等，覆盖范围和实现程度不得低于省级关爱服务清单";
the list is republished every two years (每两年更新发布一次) and filed with the provincial civil affairs
department within 10 days of its publication (制定下发后10日内报送省民政厅备案). The provincial list is the
annex (``policy/service_list.yaml``, :class:`models.policy.ServiceItem`).

Public API
----------
* :func:`referral_item` — the provincial item a ``service_referral`` pathway run refers (parameter ``item``).
* :func:`referral_text` — the item's service, target group, content and departments, for a message.
* :class:`CityServiceList`, :func:`read_city_list` — a city's own list: the provincial YAML shape plus
  ``city_code`` and ``published_on``.
* :class:`Difference`, :func:`check_city_list`, :func:`is_accepted` — is a city list narrower than the province's?
* :data:`DUTY_KINDS`, :func:`duty_key`, :func:`describe_duty` — the city list's two dated duties (filing,
  republication) as data, and what a message about one says.

Pure: no database here (``careflow.city_list`` stores the duties).
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from models.policy import (
    OutcomeField, Policy, PolicyError, ServiceItem, _locate, _read_yaml, _validate, load_policy,
)

__all__ = [
    "CityServiceList", "Difference", "DifferenceKind", "DutyDescription", "DutyKind", "DUTY_KINDS",
    "check_city_list", "content_clauses", "describe_duty", "duty_key", "is_accepted", "normalise_text",
    "read_city_list", "referral_item", "referral_text",
]

# ------------------------------------------------------------------------------------------ referral item


def referral_item(parameters: Mapping[str, Any], policy: Policy | None = None) -> ServiceItem:
    """The provincial service-list item a referral pathway run is started for.

    ``parameters`` is the pathway run's parameters, e.g. ``{"item": 18}``; the number may be an int or
    digits as text (``"18"``). Only the provincial list's items 1..20 can be referred (a city's extra
    items are not in ``policy/service_list.yaml``).

    Raises:
        ValueError: ``field 'item': ...`` — missing, not a whole number, or not an item of the provincial list.
    """
    policy = policy or load_policy()
    raw = parameters.get("item") if isinstance(parameters, Mapping) else None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise ValueError("field 'item': missing; give the number of a service-list item (1-20)")
    if isinstance(raw, bool) or not (isinstance(raw, int) or (isinstance(raw, str) and raw.strip().isdigit())):
        raise ValueError(f"field 'item': {raw!r} is not an item number (1-20)")
    number = int(raw)
    if number not in policy.service_items:
        raise ValueError(f"field 'item': {number} is not an item of the provincial service list "
                         f"(items 1-{len(policy.service_items)})")
    return policy.service_items[number]


def referral_text(item: ServiceItem, policy: Policy | None = None) -> str:
    """The item as the agency reads it in a referral message (Chinese, several lines)::

        清单第18项（发展保障）：精神文化生活服务
        服务对象：流动儿童
        服务内容：在学校、幼儿园和……
        责任部门：网信办、教育、……（各部门均须答复）
    """
    policy = policy or load_policy()
    names = "、".join(policy.agency(code).name_zh for code in item.departments)
    rule = "各部门均须答复" if item.completion == "all" else "任一部门办结即可"
    return (f"清单第{item.number}项（{item.area}）：{item.service}\n服务对象：{item.target_group}\n"
            f"服务内容：{item.content}\n责任部门：{names}（{rule}）")


# ------------------------------------------------------------------------------------------ city lists


class CityServiceList(BaseModel):
    """A city's own service list (方案 四): the shape of ``policy/service_list.yaml`` plus the city and date.

    Attributes:
        city_code: the 设区市's GB/T 2260 code (``350300`` 莆田市), or ``350128`` for 平潭综合实验区.
        published_on: the date the list was issued (制定下发); the filing and republication dates count from it.
        source / title_zh: the city's document (e.g. ``莆民〔2025〕12号``) and the list's title.
        items: the city's items, each a :class:`models.policy.ServiceItem` (numbers unique; the provincial
            items are matched by number and, where the city renumbered, by service name).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    city_code: str = Field(pattern=r"^\d{6}$")
    published_on: date
    source: str = Field(min_length=1)
    title_zh: str = ""
    items: list[ServiceItem] = Field(min_length=1)

    @field_validator("city_code", mode="before")
    @classmethod
    def _code_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @property
    def city_name(self) -> str:
        """The city's name from ``policy/regions.yaml`` (the code itself if unknown)."""
        from models.regions import load_regions

        return load_regions().cities.get(self.city_code, self.city_code)


def read_city_list(path: str | Path, policy: Policy | None = None) -> CityServiceList:
    """Read and validate a city list file.

    Checks the shape (every item a service item of the provincial YAML's shape), that ``city_code`` is one
    of the 9 设区市 or 平潭综合实验区 (``policy/regions.yaml``), that item numbers are unique and that every
    department is an agency code of ``policy/agencies.yaml``. ``departments_zh`` is not checked against the
    provincial names (a city list names its own bodies, 市民政局 …). Whether the list is narrower than the
    province's is :func:`check_city_list`'s question, not a reading error.

    Raises:
        PolicyError: one line per problem, naming the file, the entry (``item 18``), the field and the value.
    """
    from models.regions import load_regions

    policy = policy or load_policy()
    path = Path(path)
    raw, rel = _read_yaml(path, path.parent)
    city_list: CityServiceList = _validate(CityServiceList, raw, rel)
    problems: list[str] = []
    cities = load_regions().cities
    if city_list.city_code not in cities:
        problems.append(_locate(rel, raw, ("city_code",), f"{city_list.city_code!r} is not a city of Fujian "
                                                          f"(one of {', '.join(sorted(cities))})"))
    seen: dict[int, int] = {}
    for index, item in enumerate(city_list.items):
        where = ("items", index)
        if item.number in seen:
            problems.append(_locate(rel, raw, where + ("number",),
                                    f"duplicate item number {item.number} (also items[{seen[item.number]}])"))
        seen.setdefault(item.number, index)
        for code in item.departments:
            if code not in policy.agencies:
                problems.append(_locate(rel, raw, where + ("departments",),
                                        f"unknown agency code {code!r} (not in policy/agencies.yaml)"))
    if problems:
        raise PolicyError(problems)
    return city_list


DifferenceKind = Literal[
    # narrower (the list is refused): 覆盖范围和实现程度不得低于省级关爱服务清单
    "missing_item", "fewer_departments", "narrower_target_group", "dropped_clause", "weaker_completion",
    # additions and harmless changes (reported as information)
    "added_item", "added_departments", "broader_target_group", "extended_content", "renamed_service",
]

NARROWER_KINDS: frozenset[str] = frozenset(
    {"missing_item", "fewer_departments", "narrower_target_group", "dropped_clause", "weaker_completion"})


@dataclass(frozen=True)
class Difference:
    """One way a city list differs from the provincial list.

    Attributes:
        item: the provincial item's number (for ``added_item``: the city item's number).
        kind: see :data:`DifferenceKind`; ``narrower`` tells whether it makes the list narrower.
        detail: what differs, naming the field and the values (Chinese text quoted as written).
        city_item: the number of the city item compared (``None`` when the provincial item is missing).
    """

    item: int
    kind: DifferenceKind
    detail: str
    city_item: int | None = None

    @property
    def narrower(self) -> bool:
        """True when this difference makes the city list narrower than the provincial one (not allowed)."""
        return self.kind in NARROWER_KINDS

    def __str__(self) -> str:
        label = "NARROWER" if self.narrower else "info"
        return f"{label}: item {self.item}: {self.kind}: {self.detail}"


_CLAUSE_SPLIT = re.compile(r"[；;。]")


def normalise_text(text: str) -> str:
    """``text`` for comparison: NFKC (full-width → half-width), without whitespace, punctuation or symbols.

    ``"免除学杂费，免费提供教科书"`` and ``"免除学杂费,免费提供 教科书"`` normalise alike.
    """
    folded = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in "LN")


def content_clauses(content: str) -> list[str]:
    """The clauses of a 服务内容 text: split on ``；`` ``;`` ``。``, stripped, empty ones dropped."""
    return [part.strip() for part in _CLAUSE_SPLIT.split(unicodedata.normalize("NFKC", content)) if part.strip()]


def _as_items(items: Mapping[int, ServiceItem] | Iterable[ServiceItem]) -> list[ServiceItem]:
    values = items.values() if isinstance(items, Mapping) else items
    return sorted(values, key=lambda item: item.number)


_WIDER = re.compile(r"^(及|和|与|或|以及|、|,)")


def _target_group_difference(province: ServiceItem, city: ServiceItem) -> Difference | None:
    if normalise_text(city.target_group) == normalise_text(province.target_group):
        return None
    ours = re.sub(r"\s", "", unicodedata.normalize("NFKC", province.target_group))
    theirs = re.sub(r"\s", "", unicodedata.normalize("NFKC", city.target_group))
    if theirs.startswith(ours) and _WIDER.match(theirs[len(ours):]):
        return Difference(province.number, "broader_target_group",
                          f"field 'target_group': {city.target_group!r} adds to the provincial "
                          f"{province.target_group!r}", city.number)
    return Difference(province.number, "narrower_target_group",
                      f"field 'target_group': {city.target_group!r} instead of the provincial "
                      f"{province.target_group!r} (a changed group counts as narrower; keep the provincial "
                      "group and add others, e.g. '…及…', or in an item of its own)", city.number)


def _compare(province: ServiceItem, city: ServiceItem, policy: Policy) -> list[Difference]:
    found: list[Difference] = []
    name = lambda code: policy.agencies[code].name_zh if code in policy.agencies else code  # noqa: E731
    if normalise_text(city.service) != normalise_text(province.service):
        found.append(Difference(province.number, "renamed_service",
                                f"field 'service': {city.service!r} instead of {province.service!r}", city.number))
    dropped = [code for code in province.departments if code not in city.departments]
    if dropped:
        found.append(Difference(province.number, "fewer_departments",
                                f"field 'departments': {', '.join(f'{c} ({name(c)})' for c in dropped)} "
                                f"missing (provincial: {', '.join(province.departments)})", city.number))
    added = [code for code in city.departments if code not in province.departments]
    if added:
        found.append(Difference(province.number, "added_departments",
                                f"field 'departments': {', '.join(f'{c} ({name(c)})' for c in added)} added",
                                city.number))
    group = _target_group_difference(province, city)
    if group:
        found.append(group)
    theirs = normalise_text(city.content)
    missing = [clause for clause in content_clauses(province.content) if normalise_text(clause) not in theirs]
    for clause in missing:
        found.append(Difference(province.number, "dropped_clause",
                                f"field 'content': the clause {clause!r} of the provincial content is missing",
                                city.number))
    if not missing and theirs != normalise_text(province.content):
        found.append(Difference(province.number, "extended_content",
                                "field 'content': every provincial clause is there, with more", city.number))
    if province.completion == "all" and city.completion == "any":
        found.append(Difference(province.number, "weaker_completion",
                                "field 'completion': 'any' (one department is enough) where the province "
                                "requires every department ('all')", city.number))
    return found


def check_city_list(city_items: Mapping[int, ServiceItem] | Iterable[ServiceItem],
                    provincial_items: Mapping[int, ServiceItem] | Iterable[ServiceItem] | None = None,
                    policy: Policy | None = None) -> list[Difference]:
    """Every difference between a city's service list and the provincial list (方案 四).

    ``city_items`` / ``provincial_items``: the items, as a mapping number → :class:`ServiceItem` (e.g.
    ``load_policy().service_items``, the default for ``provincial_items``) or an iterable of items.

    Each provincial item is matched with the city item of the same number, or — where the city renumbered —
    with the city item of the same service name (names compared by :func:`normalise_text`). Then:

    * no match → ``missing_item``;
    * a provincial department (agency code) not among the city item's → ``fewer_departments``;
    * a target group that differs → ``narrower_target_group`` (a machine cannot show a changed group is
      wider, so it counts as narrower), unless it is the provincial group followed by 及/和/与/或/以及/、 and
      more (``broader_target_group``, information);
    * a clause of the provincial content (split on ；;。) not found in the city content, punctuation and
      white space ignored → ``dropped_clause``, one per clause;
    * ``completion: any`` where the province says ``all`` → ``weaker_completion``.

    Those make the list narrower (:attr:`Difference.narrower`), which the policy forbids
    ("覆盖范围和实现程度不得低于省级关爱服务清单"). City items matching no provincial item (``added_item``),
    extra departments, longer content and a renamed service are reported as information.

    Returns:
        The differences, ordered by provincial item number (added items last); empty for an identical list.
    """
    policy = policy or load_policy()
    province = _as_items(policy.service_items if provincial_items is None else provincial_items)
    city = _as_items(city_items)
    city_by_number = {item.number: item for item in city}
    city_by_service = {normalise_text(item.service): item for item in city}
    provincial_services = {normalise_text(item.service) for item in province}
    used: set[int] = set()
    found: list[Difference] = []
    for ours in province:
        service = normalise_text(ours.service)
        theirs = city_by_number.get(ours.number)
        if theirs is None or normalise_text(theirs.service) != service:
            theirs = city_by_service.get(service) or (
                theirs if theirs is not None and normalise_text(theirs.service) not in provincial_services
                and theirs.number not in used else None)
        if theirs is None or theirs.number in used:
            found.append(Difference(ours.number, "missing_item",
                                    f"item {ours.number} {ours.service!r} ({ours.target_group}) is not in the city list"))
            continue
        used.add(theirs.number)
        found.extend(_compare(ours, theirs, policy))
    for extra in city:
        if extra.number not in used:
            found.append(Difference(extra.number, "added_item",
                                    f"city item {extra.number} {extra.service!r} ({extra.target_group}) added",
                                    extra.number))
    return found


def is_accepted(differences: Iterable[Difference]) -> bool:
    """True when none of ``differences`` makes the list narrower (additions are fine)."""
    return not any(d.narrower for d in differences)


# ------------------------------------------------------------------------------------------ dated duties


@dataclass(frozen=True)
class DutyKind:
    """A dated duty of a city list, as data.

    Attributes:
        kind: the duty key's prefix (``city_list_filing``), also the task's ``step_key``.
        title_zh: the task title.
        period_days / period_years: when it is due, counted from the publication date in calendar days
            (民法典 第二百零一条-第二百零三条: the day of publication is not counted; a last day that is a rest
            day moves to the next working day); exactly one is set.
        source: the policy's words.
        instructions_zh: what the city's civil affairs bureau must do (``{city}``, ``{published}`` filled in).
        outcome: the fields of the answer.
    """

    kind: str
    title_zh: str
    period_days: int | None
    period_years: int | None
    source: str
    instructions_zh: str
    outcome: tuple[OutcomeField, ...]


#: The two duties a published city list creates (闽民童〔2025〕5号 四、工作要求).
DUTY_KINDS: dict[str, DutyKind] = {
    "city_list_filing": DutyKind(
        kind="city_list_filing", title_zh="关爱服务清单报送省民政厅备案", period_days=10, period_years=None,
        source="闽民童〔2025〕5号 四：各地市关爱服务清单……于制定下发后10日内报送省民政厅备案",
        instructions_zh="{city}流动儿童关爱服务清单已于{published}制定下发。请于制定下发后10日内报送省民政厅备案"
                        "（闽民童〔2025〕5号 四、工作要求）。",
        outcome=(
            OutcomeField(name="filed", type="bool", label_zh="已报送省民政厅备案", label_en="Filed with the "
                         "provincial civil affairs department", required=True),
            OutcomeField(name="note", type="text", label_zh="情况说明", label_en="Note"),
        ),
    ),
    "city_list_republication": DutyKind(
        kind="city_list_republication", title_zh="关爱服务清单两年更新发布", period_days=None, period_years=2,
        source="闽民童〔2025〕5号 四：各地市关爱服务清单应每两年更新发布一次",
        instructions_zh="{city}流动儿童关爱服务清单于{published}发布，应每两年更新发布一次：请在截止日期前会同相关部门"
                        "更新发布，覆盖范围和实现程度不得低于省级关爱服务清单，并于制定下发后10日内报送省民政厅备案。",
        outcome=(
            OutcomeField(name="republished_on", type="text", label_zh="更新发布日期", label_en="Date republished",
                         required=True),
            OutcomeField(name="note", type="text", label_zh="情况说明", label_en="Note"),
        ),
    ),
}


#: What a child director answers when completing a key care target's contact or visit duty as a task
#: (:func:`careflow.survey.care_files.complete_duty`): the day it happened (default today) and a note.
KEY_CARE_DUTY_OUTCOME: tuple[OutcomeField, ...] = (
    OutcomeField(name="contact_on", type="text", label_zh="联系/走访日期（YYYY-MM-DD，不填为今天）",
                 label_en="Date of the contact or visit (YYYY-MM-DD; default today)"),
    OutcomeField(name="note", type="text", label_zh="情况说明", label_en="Note"),
)


def duty_key(kind: str, city_code: str, published_on: date) -> str:
    """``"<kind>:<city code>:<publication date>"``, e.g. ``city_list_filing:350300:2025-03-01``: one duty each."""
    if kind not in DUTY_KINDS:
        raise KeyError(f"unknown duty kind {kind!r}; known: {sorted(DUTY_KINDS)}")
    return f"{kind}:{city_code}:{published_on.isoformat()}"


@dataclass(frozen=True)
class DutyDescription:
    """What a message about a dated duty says in place of a case and a pathway step.

    ``subject`` stands where a case reference would (e.g. ``莆田市流动儿童关爱服务清单（2025-03-01发布）``).
    """

    subject: str
    pathway_title: str
    step_title: str
    instructions: str
    outcome: tuple[OutcomeField, ...]


def describe_duty(key: str, title: str = "") -> DutyDescription:
    """The subject, titles, instructions and answer fields of the duty with ``duty_key`` ``key``.

    An unknown kind (a duty some other part of careflow created) is described by its key and ``title``.
    """
    from models.regions import load_regions
    from models.survey import is_contact_duty_key  # the survey's tables: not for a flow-run process

    kind, _, rest = key.partition(":")
    city_code, _, published = rest.partition(":")
    duty = DUTY_KINDS.get(kind)
    if duty is None or not published:
        return DutyDescription(subject=key, pathway_title="法定定期事项", step_title=title or key,
                               instructions=title or key,
                               outcome=KEY_CARE_DUTY_OUTCOME if is_contact_duty_key(key) else ())
    city = load_regions().cities.get(city_code, city_code)
    return DutyDescription(
        subject=f"{city}流动儿童关爱服务清单（{published}发布）", pathway_title="流动儿童关爱服务清单法定事项",
        step_title=duty.title_zh, instructions=duty.instructions_zh.format(city=city, published=published),
        outcome=duty.outcome,
    )
