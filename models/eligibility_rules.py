"""Target groups (服务对象) of the service list as rules careflow evaluates on a child.

Policy: the annex of 闽民童〔2025〕5号 (``policy/service_list.yaml``), each item's ``target_group``; every item is
for migrant children (section 一, :func:`models.eligibility.assess_migrant_child`). Each item lists its rules in
``eligibility``; all must hold. A rule is written as one of::

    - migrant_child                      # 流动儿童 (always checked, also when not written)
    - age: {min: 3, under: 7}            # 已满3周岁、未满7周岁 ("3-6岁"); min and under in whole years, either optional
    - school_stage: compulsory           # compulsory | senior_high | secondary_vocational
    - disability                         # a recorded fact (models.child_facts.FACTS) that must be "yes"
    - any_of: [orphan, hiv_affected, de_facto_unsupported]   # one of them is enough

Each rule yields ``met`` | ``not_met`` | ``unknown`` with a reason in Chinese and in English (:class:`RuleResult`;
:meth:`ItemEligibility.reasons` in the reader's language).

Dates (calendar dates, Asia/Shanghai):

* **Age in 周岁.** As for the age of 16 (:mod:`models.eligibility`: 法释〔2006〕1号 art. 2; 民法典 arts. 201-202), a
  child is 已满 N 周岁 from the day *after* the N-th birthday (:func:`aged_from`). So "0-6岁" (``under: 7``) holds
  up to and including the 7th birthday; "3-6岁" (``min: 3``) starts the day after the 3rd birthday.
* **School stage.** A child who is six by 31 August enters primary school on 1 September of that year
  (born on or before 31 August: the year of the 6th birthday; born from 1 September: the year after). School
  year 1-9 is compulsory education (义务教育), 10-12 senior secondary (普通高中 or 中等职业教育, the same ages)
  (:func:`school_year`). A recorded enrolment in a school stage (fact ``school_enrolment``) decides instead
  of the birth date; ``not_enrolled``/``preschool`` leave it to the birth date (a child of compulsory age not in
  school is in item 3's target group).

Pure: no database. Parsing errors are Chinese ``ValueError`` naming the item and the field.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from models.child_facts import BOOL_VALUES, ENROLMENT_OPTIONS, FACT_SOURCES, FACTS
from models.eligibility import add_months, assess_migrant_child, last_start_within
from models.errors import wording

__all__ = ["ChildProfile", "ItemEligibility", "KnownFact", "Rule", "RuleResult", "RULE_NAMES", "SCHOOL_STAGES",
           "age_birth_bounds", "age_in_years", "aged_by", "aged_from", "evaluate_item", "evaluate_rule", "parse_rules",
           "school_stage_births", "school_year"]

Status = Literal["met", "not_met", "unknown"]

#: School stages a rule may name (Chinese label).
SCHOOL_STAGES: dict[str, str] = {"compulsory": "义务教育阶段", "senior_high": "普通高中教育阶段",
                                 "secondary_vocational": "中等职业教育阶段"}

#: Fact rules are the yes/no facts of :data:`models.child_facts.FACTS`.
FACT_RULES = tuple(key for key, fact in FACTS.items() if fact.options is BOOL_VALUES)

#: Every rule name the YAML may use.
RULE_NAMES = ("migrant_child", "age", "school_stage", "any_of", *FACT_RULES)

STATUS_ZH = {"met": "符合", "not_met": "不符合", "unknown": "待核实"}
STATUS_EN = {"met": "met", "not_met": "not met", "unknown": "to be verified"}
SCHOOL_STAGES_EN: dict[str, str] = {"compulsory": "compulsory education", "senior_high": "general senior high school",
                                    "secondary_vocational": "secondary vocational education"}


def _label(value: str, kind: str, lang: str, chinese: str) -> str:
    """A fact's, a source's or an enrolment's label in ``lang`` from the catalogues (``chinese`` before they load)."""
    word = wording("option")
    return word(value, kind, lang) if word and lang == "en" else chinese


@dataclass(frozen=True)
class Rule:
    """One parsed rule. ``name`` is a :data:`RULE_NAMES` entry; ``min_years``/``under_years`` for ``age``,
    ``stage`` for ``school_stage``, ``any_of`` for ``any_of``."""

    name: str
    min_years: int | None = None
    under_years: int | None = None
    stage: str = ""
    any_of: tuple["Rule", ...] = ()

    def label(self, lang: str) -> str:
        """What the rule requires, in ``lang`` (``zh``: :attr:`label_zh`; ``en``: ``age: 3-6 (aged 3, under 7)``)."""
        if lang != "en":
            return self.label_zh
        if self.name == "migrant_child":
            return "migrant child"
        if self.name == "age":
            parts = ([f"aged {self.min_years}"] if self.min_years else []) + \
                    ([f"under {self.under_years}"] if self.under_years is not None else [])
            band = (f"{self.min_years or 0}-{self.under_years - 1}" if self.under_years is not None
                    else f"{self.min_years} and over")
            return f"age: {band} ({', '.join(parts)})"
        if self.name == "school_stage":
            return f"school stage: {SCHOOL_STAGES_EN[self.stage]}"
        if self.name == "any_of":
            return "one of: " + ", ".join(r.label("en") for r in self.any_of)
        return _label(self.name, "child_fact", "en", FACTS[self.name].label_zh)

    @property
    def label_zh(self) -> str:
        """What the rule requires, in Chinese, e.g. ``年龄：已满3周岁、未满7周岁``."""
        if self.name == "migrant_child":
            return "流动儿童"
        if self.name == "age":
            parts = ([f"已满{self.min_years}周岁"] if self.min_years else []) + \
                    ([f"未满{self.under_years}周岁"] if self.under_years is not None else [])
            band = (f"{self.min_years or 0}-{self.under_years - 1}岁" if self.under_years is not None
                    else f"{self.min_years}岁以上")
            return f"年龄：{band}（{'、'.join(parts)}）"
        if self.name == "school_stage":
            return f"学段：{SCHOOL_STAGES[self.stage]}"
        if self.name == "any_of":
            return "以下之一：" + "、".join(r.label_zh for r in self.any_of)
        return FACTS[self.name].label_zh


@dataclass(frozen=True)
class KnownFact:
    """The latest recorded value of a fact: ``value`` code, ``source`` (:data:`FACT_SOURCES` key or
    ``key_care``: the key care ground recorded at registration or by the survey), date and detail."""

    value: str
    source: str
    established_on: dt.date | None = None
    source_detail: str = ""

    @property
    def where_zh(self) -> str:
        """``（工作人员核实，2026-12-01）``."""
        source = FACT_SOURCES.get(self.source, "重点关爱对象认定" if self.source == "key_care" else self.source)
        if self.source_detail:
            source += f"：{self.source_detail}"
        return f"（{source}，{self.established_on}）" if self.established_on else f"（{source}）"

    @property
    def where_en(self) -> str:
        """`` (caseworker's check, 2026-12-01)``."""
        source = ("key care designation" if self.source == "key_care" else
                  _label(self.source, "child_fact.source", "en", FACT_SOURCES.get(self.source, self.source)))
        if self.source_detail:
            source += f": {self.source_detail}"
        return f" ({source}, {self.established_on})" if self.established_on else f" ({source})"


@dataclass(frozen=True)
class ChildProfile:
    """What the rules read of a registered child (:class:`models.child.Child`) and its recorded facts."""

    birth_date: dt.date
    hukou_county_code: str
    residence_county_code: str
    arrival_date: dt.date
    key_care_criteria: tuple[str, ...] = ()
    facts: Mapping[str, KnownFact] = field(default_factory=dict)

    def fact(self, key: str) -> KnownFact | None:
        """The latest record of ``key``; a key care ground ``disability`` counts as a recorded disability."""
        found = self.facts.get(key)
        if found is None and key == "disability" and "disability" in self.key_care_criteria:
            return KnownFact("yes", "key_care", None, "自身残疾")
        return found


@dataclass(frozen=True)
class RuleResult:
    """A rule's outcome on a child: ``status`` and the Chinese ``reason`` (with dates and sources), ``reason_en``
    the same in English."""

    rule: Rule
    status: Status
    reason: str
    reason_en: str = ""

    @property
    def text(self) -> str:
        """``流动儿童：符合。……``."""
        return f"{self.rule.label_zh}：{STATUS_ZH[self.status]}。{self.reason}"

    def text_in(self, lang: str) -> str:
        """:attr:`text` in ``lang``: ``migrant child: not met. …`` in English."""
        if lang != "en":
            return self.text
        return f"{self.rule.label('en')}: {STATUS_EN[self.status]}. {self.reason_en or self.reason}"


@dataclass(frozen=True)
class ItemEligibility:
    """An item's rules on a child: ``status`` is ``not_met`` if any rule is not met, else ``unknown`` if any is
    unknown, else ``met``; ``results`` in the order of the rules (the migrant-child rule first)."""

    item: int
    status: Status
    results: tuple[RuleResult, ...]

    def with_status(self, status: Status) -> list[RuleResult]:
        """The results with ``status``."""
        return [r for r in self.results if r.status == status]

    def reasons_zh(self, status: Status | None = None) -> str:
        """The results (of ``status``, default all) joined with ``；``."""
        return self.reasons("zh", status)

    def reasons(self, lang: str, status: Status | None = None) -> str:
        """The results (of ``status``, default all) in ``lang``, joined with ``；`` (``; `` in English)."""
        return ("; " if lang == "en" else "；").join(r.text_in(lang) for r in self.results
                                                    if status is None or r.status == status)


# ------------------------------------------------------------------------------------------ parsing


def _years(value: Any, where: str, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 18:
        raise ValueError(f"{where}：age 的 {key} 应为 0-18 的整数周岁，而不是 {value!r}")
    return value


def _parse_one(raw: Any, where: str) -> Rule:
    known = "、".join(RULE_NAMES)
    if isinstance(raw, str):
        if raw in ("migrant_child", *FACT_RULES):
            return Rule(raw)
        if raw in ("age", "school_stage", "any_of"):
            raise ValueError(f"{where}：规则 {raw!r} 需要取值（如 age: {{min: 3, under: 7}}）")
        raise ValueError(f"{where}：未知的规则名 {raw!r}（可用的规则：{known}）")
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ValueError(f"{where}：每条规则应为一个规则名或“规则名: 取值”，而不是 {raw!r}")
    (name, value), = raw.items()
    if name == "age":
        if not isinstance(value, dict) or not value or set(value) - {"min", "under"}:
            raise ValueError(f"{where}：age 应写作 {{min: 周岁, under: 周岁}}，而不是 {value!r}")
        low, high = _years(value.get("min"), where, "min"), _years(value.get("under"), where, "under")
        if low is not None and high is not None and low >= high:
            raise ValueError(f"{where}：age 的 min（{low}）应小于 under（{high}）")
        return Rule("age", min_years=low, under_years=high)
    if name == "school_stage":
        if value not in SCHOOL_STAGES:
            raise ValueError(f"{where}：未知的学段 {value!r}（可用：{'、'.join(SCHOOL_STAGES)}）")
        return Rule("school_stage", stage=value)
    if name == "any_of":
        if not isinstance(value, list) or len(value) < 2:
            raise ValueError(f"{where}：any_of 应列出至少两条规则")
        return Rule("any_of", any_of=tuple(_parse_one(r, where) for r in value))
    raise ValueError(f"{where}：未知的规则名 {name!r}（可用的规则：{known}）")


def parse_rules(raw: Any, *, item: int | str = "?") -> tuple[Rule, ...]:
    """The rules of item ``item`` from its YAML ``eligibility`` list (or already parsed :class:`Rule` objects).

    Raises:
        ValueError: in Chinese, naming the item and the field, e.g.
            ``清单第11项 字段 eligibility（服务对象规则）：未知的规则名 'disabilty'（可用的规则：…）``.
    """
    where = f"清单第{item}项 字段 eligibility（服务对象规则）"
    if raw is None:
        return ()
    if not isinstance(raw, (list, tuple)):
        raise ValueError(f"{where}：应为规则列表，而不是 {raw!r}")
    return tuple(r if isinstance(r, Rule) else _parse_one(r, where) for r in raw)


# ------------------------------------------------------------------------------------------ evaluation


def aged_from(birth_date: dt.date, years: int) -> dt.date:
    """First day on which a child born on ``birth_date`` is 已满 ``years`` 周岁 (the day after that birthday;
    ``years`` 0: the birth date)."""
    if years == 0:
        return birth_date
    return add_months(birth_date, 12 * years) + dt.timedelta(days=1)


def age_in_years(birth_date: dt.date, on: dt.date) -> int:
    """The child's age in 周岁 on ``on``: the most ``years`` with ``aged_from(birth_date, years) <= on`` (0 before the
    first birthday's next day, and for a birth date after ``on``)."""
    years = max(on.year - birth_date.year, 0)
    while years > 0 and aged_from(birth_date, years) > on:
        years -= 1
    return years


def aged_by(on: dt.date, years: int) -> dt.date:
    """The latest birth date of a child who is 已满 ``years`` 周岁 on ``on``: ``aged_from(b, years) <= on`` exactly
    for ``b <= aged_by(on, years)`` (``years`` > 0: ``add_months(b, 12 * years) <= on - 1 day``)."""
    if years == 0:
        return on
    return last_start_within(12 * years, on - dt.timedelta(days=1))


def age_birth_bounds(rule: Rule, on: dt.date) -> tuple[dt.date | None, dt.date | None]:
    """``(born_after, born_by)``: the ``age`` rule is met on ``on`` exactly when ``born_after < birth_date <=
    born_by`` (either None: no bound) — the bounds of :func:`_age` (``min``: 已满; ``under``: not yet 已满)."""
    born_by = aged_by(on, rule.min_years) if rule.min_years is not None else None
    born_after = aged_by(on, rule.under_years) if rule.under_years is not None else None
    return born_after, born_by


def school_stage_births(stage: str, on: dt.date) -> tuple[dt.date, dt.date]:
    """``(first, last)``: the birth dates (both included) that the 1 September rule (:func:`school_year`) puts in
    ``stage``'s school years on ``on`` — 1-9 for ``compulsory``, 10-12 for the senior stages. A child entering
    school in year E was born from 1 September of E - 7 to 31 August of E - 6, and the entry year grows with the
    birth date, so the school years ``low..high`` are one range of birth dates."""
    low, high = (1, 9) if stage == "compulsory" else (10, 12)
    starts = on.year if on.month >= 9 else on.year - 1  # the school year ``on`` falls in began on 1 September
    first_entry, last_entry = starts - high + 1, starts - low + 1
    return dt.date(first_entry - 7, 9, 1), dt.date(last_entry - 6, 8, 31)


def school_year(birth_date: dt.date, on: dt.date) -> tuple[int, int]:
    """``(entry year, school year on on)``: the year the child enters primary school (born by 31 August: the year
    of the 6th birthday, else the next) and which school year (1 = first grade) the date ``on`` falls in; 0 or
    less before school, 1-9 compulsory, 10-12 senior secondary."""
    entry = birth_date.year + (6 if (birth_date.month, birth_date.day) <= (8, 31) else 7)
    starts = on.year if on.month >= 9 else on.year - 1
    return entry, starts - entry + 1


def _stage_of(grade: int) -> str:
    if grade < 1:
        return "preschool"
    if grade <= 9:
        return "compulsory"
    return "senior" if grade <= 12 else "beyond"


_COMPUTED_ZH = {"preschool": "学龄前", "compulsory": "义务教育阶段", "senior": "高中阶段（普通高中或中等职业教育）",
                "beyond": "已超过高中阶段"}


_COMPUTED_EN = {"preschool": "before school age", "compulsory": "compulsory education",
                "senior": "senior secondary (general or vocational)", "beyond": "past senior secondary"}


def _enrolment_en(value: str) -> str:
    return _label(value, "child_fact.value", "en", ENROLMENT_OPTIONS.get(value, value))


def _school_stage(rule: Rule, child: ChildProfile, on: dt.date) -> RuleResult:
    recorded = child.fact("school_enrolment")
    if recorded is not None and recorded.value in SCHOOL_STAGES:
        said = f"已记录{ENROLMENT_OPTIONS[recorded.value]}{recorded.where_zh}"
        said_en = f"recorded: {_enrolment_en(recorded.value)}{recorded.where_en}"
        return RuleResult(rule, "met" if recorded.value == rule.stage else "not_met", said, said_en)
    entry, grade = school_year(child.birth_date, on)
    stage = _stage_of(grade)
    cutoff = "8月31日及以前" if (child.birth_date.month, child.birth_date.day) <= (8, 31) else "9月1日及以后"
    year = f"为第{grade}学年" if grade >= 1 else "尚未入学"  # grade ≤ 0: the years before primary school
    why = (f"出生日期 {child.birth_date}（当年{cutoff}出生），按9月1日入学规定 {entry}年9月入小学，"
           f"{on} {year}，属{_COMPUTED_ZH[stage]}")
    why_en = (f"born {child.birth_date} ({'by 31 August' if cutoff.startswith('8') else 'from 1 September'}), "
              f"enters primary school in September {entry} under the 1 September rule; on {on} "
              f"{f'in school year {grade}' if grade >= 1 else 'not yet in school'}, {_COMPUTED_EN[stage]}")
    if recorded is not None:
        why = f"已记录{ENROLMENT_OPTIONS.get(recorded.value, recorded.value)}{recorded.where_zh}；" + why
        why_en = f"recorded: {_enrolment_en(recorded.value)}{recorded.where_en}; " + why_en
    wanted = "compulsory" if rule.stage == "compulsory" else "senior"
    return RuleResult(rule, "met" if stage == wanted else "not_met", why, why_en)


def _age(rule: Rule, child: ChildProfile, on: dt.date) -> RuleResult:
    birth = child.birth_date
    if rule.min_years is not None and on < aged_from(birth, rule.min_years):
        return RuleResult(rule, "not_met", f"出生日期 {birth}，{on} 未满{rule.min_years}周岁"
                                           f"（{aged_from(birth, rule.min_years)} 起年满{rule.min_years}周岁）",
                          f"born {birth}: not yet aged {rule.min_years} on {on} (aged {rule.min_years} from "
                          f"{aged_from(birth, rule.min_years)})")
    if rule.under_years is not None and on >= aged_from(birth, rule.under_years):
        return RuleResult(rule, "not_met", f"出生日期 {birth}，{aged_from(birth, rule.under_years)} 起已满"
                                           f"{rule.under_years}周岁",
                          f"born {birth}: aged {rule.under_years} since {aged_from(birth, rule.under_years)}")
    return RuleResult(rule, "met", f"出生日期 {birth}，{on} 在该年龄段内", f"born {birth}: within the ages on {on}")


def _fact(rule: Rule, child: ChildProfile) -> RuleResult:
    label, en = FACTS[rule.name].label_zh, rule.label("en")
    known = child.fact(rule.name)
    if known is None:
        return RuleResult(rule, "unknown", f"儿童档案未记录“{label}”，请核实后记录",
                          f"the child's record does not say “{en}”: verify and record it")
    if known.value == "yes":
        return RuleResult(rule, "met", f"已记录“{label}”：是{known.where_zh}", f"recorded “{en}”: yes{known.where_en}")
    if known.value == "no":
        return RuleResult(rule, "not_met", f"已记录“{label}”：否{known.where_zh}",
                          f"recorded “{en}”: no{known.where_en}")
    return RuleResult(rule, "unknown", f"“{label}”记录为待核实{known.where_zh}",
                      f"“{en}” is recorded as to be verified{known.where_en}")


def evaluate_rule(rule: Rule, child: ChildProfile, on: dt.date) -> RuleResult:
    """``rule`` on ``child`` on the date ``on``."""
    if rule.name == "migrant_child":
        assessment = assess_migrant_child(birth_date=child.birth_date, hukou_county=child.hukou_county_code,
                                          residence_county=child.residence_county_code,
                                          arrival_date=child.arrival_date, on=on)
        if assessment.is_migrant:
            return RuleResult(rule, "met", "；".join(r.text_zh for r in assessment.reasons),
                              "; ".join(r.text_en for r in assessment.reasons))
        return RuleResult(rule, "not_met", "；".join(r.text_zh for r in assessment.failed),
                          "; ".join(r.text_en for r in assessment.failed))
    if rule.name == "age":
        return _age(rule, child, on)
    if rule.name == "school_stage":
        return _school_stage(rule, child, on)
    if rule.name == "any_of":
        results = [evaluate_rule(r, child, on) for r in rule.any_of]
        status: Status = ("met" if any(r.status == "met" for r in results)
                          else "not_met" if all(r.status == "not_met" for r in results) else "unknown")
        return RuleResult(rule, status, "；".join(f"{r.rule.label_zh}：{r.reason}" for r in results),
                          "; ".join(f"{r.rule.label('en')}: {r.reason_en or r.reason}" for r in results))
    return _fact(rule, child)


def evaluate_item(item: int, rules: tuple[Rule, ...], child: ChildProfile, on: dt.date) -> ItemEligibility:
    """Every rule of item ``item`` on ``child`` on ``on``, the migrant-child rule first (added when not written)."""
    ordered = tuple(rules) if any(r.name == "migrant_child" for r in rules) else (Rule("migrant_child"), *rules)
    results = tuple(evaluate_rule(r, child, on) for r in ordered)
    statuses = {r.status for r in results}
    status: Status = "not_met" if "not_met" in statuses else "unknown" if "unknown" in statuses else "met"
    return ItemEligibility(item=item, status=status, results=results)
