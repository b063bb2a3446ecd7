"""City service lists (关爱服务清单): a city's own list, read and checked against the provincial list.

Policy: 闽民童〔2025〕5号, section 四（工作要求）: each 设区市 (and 平潭综合实验区) publishes its own list of
the services migrant children enjoy, "明确具体服务对象、项目、内容等，覆盖范围和实现程度不得低于省级关爱服务清单";
the list is republished every two years (每两年更新发布一次) and filed with the provincial civil affairs
department within 10 days of its publication (制定下发后10日内报送省民政厅备案): those two duties are
:mod:`models.dated_duties`. The provincial list is the annex (``policy/service_list.yaml``,
:class:`models.policy_lists.ServiceItem`).

Public API
----------
* :class:`CityServiceList`, :func:`read_city_list` — a city's own list: the provincial YAML shape plus
  ``city_code`` and ``published_on``.
* :class:`Difference`, :func:`check_city_list`, :func:`is_accepted` — is a city list narrower than the province's?

Pure: no database here (``careflow.city_list`` stores a list and its duties).
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from models.errors import FieldFileError, FieldProblem, FieldProblems, FieldValueError
from models.policy import Policy, load_policy
from models.policy_files import SAFE_LOADER, PolicyError, locate
from models.policy_lists import ServiceItem
from models.regions import load_regions

__all__ = [
    "CityListProblems", "CityServiceList", "Difference", "DifferenceKind", "check_city_list", "content_clauses",
    "is_accepted", "normalise_text", "read_city_list",
]


class CityServiceList(BaseModel):
    """A city's own service list (方案 四): the shape of ``policy/service_list.yaml`` plus the city and date.

    Attributes:
        city_code: the 设区市's GB/T 2260 code (``350300`` 莆田市), or ``350128`` for 平潭综合实验区.
        published_on: the date the list was issued (制定下发); the filing and republication dates count from it.
        source / title_zh: the city's document (e.g. ``莆民〔2025〕12号``) and the list's title.
        items: the city's items, each a :class:`models.policy_lists.ServiceItem` (numbers unique; the provincial
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
        return load_regions().cities.get(self.city_code, self.city_code)


class CityListProblems(FieldProblems, PolicyError):
    """A malformed city list file: ``problems`` holds one :class:`models.errors.FieldValueError` per problem, each
    labelled with its place in the file (``putian.yaml：第 18 项：字段 departments`` /
    ``putian.yaml: item 18: field 'departments'``). :meth:`text` words them in the reader's language, one a line;
    ``str()`` is the English lines."""

    def __init__(self, problems: list[FieldProblem]):
        Exception.__init__(self, problems)
        self.problems = problems

    def __str__(self) -> str:  # worded when shown (core.i18n lends the words once it is loaded)
        return self.text("en")

    def text(self, lang: str) -> str:
        """Each problem in ``lang``, one a line."""
        return "\n".join(p.text(lang) for p in self.problems)


def _place(rel: str, raw: Any, loc: tuple[Any, ...]) -> dict[str, str]:
    """The place ``loc`` in the file ``rel`` by language: ``{"zh": "putian.yaml：第 18 项：字段 departments",
    "en": "putian.yaml: item 18: field 'departments'"}`` (an item by its number, else its position)."""
    zh = [rel]
    parts = list(loc)
    if len(parts) >= 2 and parts[0] == "items" and isinstance(parts[1], int):
        items = raw.get("items") if isinstance(raw, dict) else None
        item = items[parts[1]] if isinstance(items, list) and 0 <= parts[1] < len(items) else None
        number = item.get("number") if isinstance(item, dict) else None
        zh.append(f"第 {number} 项" if number is not None else f"第 {parts[1] + 1} 条")
        parts = parts[2:]
    names = [str(p) for p in parts if isinstance(p, str) and re.match(r"^[A-Za-z_]\w*$", p)]
    if names:
        zh.append(f"字段 {'.'.join(names)}")
    return {"zh": "：".join(zh), "en": locate(rel, raw, tuple(loc), "").removesuffix(": ")}


def _problem(rel: str, raw: Any, loc: tuple[Any, ...], key: str, **values) -> FieldValueError:
    """A problem at ``loc`` of the file, worded by ``key`` (``problem.…``)."""
    return FieldValueError(".".join(str(p) for p in loc) or "file", key, labels=_place(rel, raw, loc), **values)


def _shape_problem(rel: str, raw: Any, error: dict[str, Any]) -> FieldValueError:
    """A pydantic validation error of the file as a worded problem (a missing or unknown field, a bad date …); the
    validator's own English message, quoted, where careflow has no words for it."""
    loc, kind, value = tuple(error["loc"]), error["type"], error.get("input")
    if kind == "missing" or (kind in ("too_short", "string_too_short") and not value):
        return _problem(rel, raw, loc, "problem.required")
    if kind == "extra_forbidden":
        return _problem(rel, raw, loc, "problem.city_list_extra_field", value=value)
    if kind.startswith("date"):
        return _problem(rel, raw, loc, "problem.not_a_date", value=str(value))
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return _problem(rel, raw, loc, "problem.city_list_not_integer", value=str(value))
    if kind == "literal_error":
        return _problem(rel, raw, loc, "problem.city_list_not_option", value=str(value),
                        expected=(error.get("ctx") or {}).get("expected", ""))
    if loc == ("city_code",):
        return _problem(rel, raw, loc, "problem.city_list_city_code", value=str(value), **_cities())
    detail = error["msg"].removeprefix("Value error, ")
    return _problem(rel, raw, loc, "problem.city_list_invalid", value=str(value), detail=detail)


def _cities() -> dict[str, str]:
    """The cities a list may be of, as the Chinese (``cities_zh``) and English (``cities_en``) messages list them."""
    cities = sorted(load_regions().cities.items())
    return {"cities_zh": "、".join(f"{name}（{code}）" for code, name in cities),
            "cities_en": ", ".join(f"{code} ({name})" for code, name in cities)}


def _read_yaml(path: Path) -> tuple[dict[str, Any], str]:
    """The mapping in the file and its name as errors give it; :class:`CityListProblems` if it is not one (what
    :func:`models.policy_files.read_yaml` checks, with the problems worded for the city's officer)."""
    rel = path.name
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)  # noqa: S506 (a SafeLoader)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CityListProblems([_problem(rel, None, (), "problem.city_list_not_yaml",
                                         detail=" ".join(str(exc).split()))]) from None
    if not isinstance(data, dict):
        raise CityListProblems([_problem(rel, None, (), "problem.city_list_not_mapping")])
    return data, rel


def read_city_list(path: str | Path, policy: Policy | None = None) -> CityServiceList:
    """Read and validate a city list file.

    Checks the shape (every item a service item of the provincial YAML's shape), that ``city_code`` is one
    of the 9 设区市 or 平潭综合实验区 (``policy/regions.yaml``), that item numbers are unique and that every
    department is an agency code of ``policy/agencies.yaml``. ``departments_zh`` is not checked against the
    provincial names (a city list names its own bodies, 市民政局 …). Whether the list is narrower than the
    province's is :func:`check_city_list`'s question, not a reading error.

    Raises:
        FieldFileError: field ``file``: no such file, or a folder.
        CityListProblems: (a PolicyError) one problem per line, in the reader's language, naming the file, the
            entry (``第 18 项`` / ``item 18``), the field and the value.
    """
    policy = policy or load_policy()
    path = Path(path)
    if not path.is_file():  # what the user typed: worded in their language (the policy's own files stay English)
        raise FieldFileError("file", "problem.file_is_folder" if path.is_dir() else "problem.file_missing",
                             path=str(path))
    raw, rel = _read_yaml(path)
    try:
        city_list = CityServiceList.model_validate(raw)
    except ValidationError as exc:
        raise CityListProblems([_shape_problem(rel, raw, e) for e in exc.errors()]) from None
    problems: list[FieldProblem] = []
    if city_list.city_code not in load_regions().cities:
        problems.append(_problem(rel, raw, ("city_code",), "problem.city_list_city_code", value=city_list.city_code,
                                 **_cities()))
    seen: dict[int, int] = {}
    for index, item in enumerate(city_list.items):
        where = ("items", index)
        if item.number in seen:
            problems.append(_problem(rel, raw, where + ("number",), "problem.city_list_duplicate_number",
                                     value=item.number, index=seen[item.number],
                                     position=seen[item.number] + 1))
        seen.setdefault(item.number, index)
        for code in item.departments:
            if code not in policy.agencies:
                problems.append(_problem(rel, raw, where + ("departments",), "problem.city_list_unknown_agency",
                                         value=code))
    if problems:
        raise CityListProblems(problems)
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
        values: what :attr:`detail` quotes, for wording it in the reader's language (catalogue key
            ``city_list.diff.<kind>``; agency codes as tuples): worded by the command line (``entry.policy_cli``).
    """

    item: int
    kind: DifferenceKind
    detail: str
    city_item: int | None = None
    values: dict[str, Any] = field(default_factory=dict, compare=False)

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
                          f"{province.target_group!r}", city.number,
                          {"city": city.target_group, "province": province.target_group})
    return Difference(province.number, "narrower_target_group",
                      f"field 'target_group': {city.target_group!r} instead of the provincial "
                      f"{province.target_group!r} (a changed group counts as narrower; keep the provincial "
                      "group and add others, e.g. '…及…', or in an item of its own)", city.number,
                      {"city": city.target_group, "province": province.target_group})


def _compare(province: ServiceItem, city: ServiceItem, policy: Policy) -> list[Difference]:
    found: list[Difference] = []
    name = lambda code: policy.agencies[code].name_zh if code in policy.agencies else code  # noqa: E731
    if normalise_text(city.service) != normalise_text(province.service):
        found.append(Difference(province.number, "renamed_service",
                                f"field 'service': {city.service!r} instead of {province.service!r}", city.number,
                                {"city": city.service, "province": province.service}))
    dropped = [code for code in province.departments if code not in city.departments]
    if dropped:
        found.append(Difference(province.number, "fewer_departments",
                                f"field 'departments': {', '.join(f'{c} ({name(c)})' for c in dropped)} "
                                f"missing (provincial: {', '.join(province.departments)})", city.number,
                                {"departments": tuple(dropped), "provincial": tuple(province.departments)}))
    added = [code for code in city.departments if code not in province.departments]
    if added:
        found.append(Difference(province.number, "added_departments",
                                f"field 'departments': {', '.join(f'{c} ({name(c)})' for c in added)} added",
                                city.number, {"departments": tuple(added)}))
    group = _target_group_difference(province, city)
    if group:
        found.append(group)
    theirs = normalise_text(city.content)
    missing = [clause for clause in content_clauses(province.content) if normalise_text(clause) not in theirs]
    for clause in missing:
        found.append(Difference(province.number, "dropped_clause",
                                f"field 'content': the clause {clause!r} of the provincial content is missing",
                                city.number, {"clause": clause}))
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
                                    f"item {ours.number} {ours.service!r} ({ours.target_group}) is not in the city list",
                                    values={"number": ours.number, "service": ours.service,
                                            "target_group": ours.target_group}))
            continue
        used.add(theirs.number)
        found.extend(_compare(ours, theirs, policy))
    for extra in city:
        if extra.number not in used:
            found.append(Difference(extra.number, "added_item",
                                    f"city item {extra.number} {extra.service!r} ({extra.target_group}) added",
                                    extra.number, {"number": extra.number, "service": extra.service,
                                                   "target_group": extra.target_group}))
    return found


def is_accepted(differences: Iterable[Difference]) -> bool:
    """True when none of ``differences`` makes the list narrower (additions are fine)."""
    return not any(d.narrower for d in differences)
