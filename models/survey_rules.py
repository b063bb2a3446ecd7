"""The survey's pure rules: the migrant-child test of one row, fast, and the words of the 重点关爱情形 column.

:func:`classify` is :func:`models.eligibility.assess_migrant_child` without the explanatory texts: the same tests of
方案 一 in the same order giving the same reason codes, cheap enough for a million-row survey (tests check the two
agree), and the key care test of 一（二）. Dates are calendar dates in Asia/Shanghai.
"""
from __future__ import annotations

import datetime
from functools import lru_cache
from typing import NamedTuple

from models.eligibility import KeyCareCriterion, add_months, aged_16_from, key_care_target
from models.regions import Region

__all__ = ["CRITERION_WORDS", "Classification", "NO_CRITERION_WORDS", "classify"]


class Classification(NamedTuple):
    """The migrant-child test of one row: ``is_migrant`` and the failed reason codes, in the order
    age, place, residence (codes of :class:`models.eligibility.Reason`); ``is_key_care`` per 一（二）."""

    is_migrant: bool
    failed: tuple[str, ...]
    is_key_care: bool


@lru_cache(maxsize=65536)
def _aged_16_from(birth: datetime.date) -> datetime.date:
    return aged_16_from(birth)


@lru_cache(maxsize=65536)
def _six_months_on(start: datetime.date) -> datetime.date:
    return add_months(start, 6)


def classify(
    *,
    birth_date: datetime.date,
    hukou: Region,
    residence: Region,
    arrival_date: datetime.date,
    on: datetime.date,
    criteria: tuple[str, ...] | frozenset[str] = (),
) -> Classification:
    """The migrant-child test of 方案 一 on ``on``, as :func:`models.eligibility.assess_migrant_child` makes it,
    and the key care test of 一（二）.

    Same three tests and reason codes: age (``birth_date_in_future`` | ``aged_out``), place (``same_county`` |
    ``central_districts_same_city``), residence (``arrival_in_future`` | ``resided_under_6_months``); only the
    failed ones are returned. Key care: a migrant child meeting at least one criterion
    (:func:`models.eligibility.key_care_target`). Never raises for valid dates and regions.
    """
    failed: list[str] = []
    if birth_date > on:
        failed.append("birth_date_in_future")
    elif on >= _aged_16_from(birth_date):
        failed.append("aged_out")
    if hukou.code == residence.code:
        failed.append("same_county")
    elif hukou.central and residence.central and hukou.city_code == residence.city_code:
        failed.append("central_districts_same_city")
    start = birth_date if arrival_date < birth_date <= on else arrival_date
    if arrival_date > on:
        failed.append("arrival_in_future")
    elif _six_months_on(start) > on:
        failed.append("resided_under_6_months")
    is_migrant = not failed
    return Classification(is_migrant, tuple(failed), key_care_target(is_migrant, criteria))


#: Criterion codes accepted in a survey's 重点关爱情形 column, by their Chinese wording and common variants.
CRITERION_WORDS: dict[str, KeyCareCriterion] = {
    **{c.value: c for c in KeyCareCriterion},
    **{c.zh: c for c in KeyCareCriterion},
    "家庭困难": KeyCareCriterion.family_hardship,
    "生活困难": KeyCareCriterion.family_hardship,
    "家庭经济困难": KeyCareCriterion.family_hardship,
    "困难家庭": KeyCareCriterion.family_hardship,
    "残疾": KeyCareCriterion.disability,
    "残疾儿童": KeyCareCriterion.disability,
    "缺乏监护": KeyCareCriterion.missing_guardianship,
    "监护人缺失": KeyCareCriterion.missing_guardianship,
    "无人监护": KeyCareCriterion.missing_guardianship,
    "流浪儿童": KeyCareCriterion.vagrancy,
    "心理行为异常": KeyCareCriterion.psychological_behavioural,
    "心理异常": KeyCareCriterion.psychological_behavioural,
    "行为异常": KeyCareCriterion.psychological_behavioural,
    "心理或行为异常": KeyCareCriterion.psychological_behavioural,
    "主动求助": KeyCareCriterion.cross_township_help_request,
    "主动提出救助帮扶需求": KeyCareCriterion.cross_township_help_request,
    "救助帮扶需求": KeyCareCriterion.cross_township_help_request,
    "跨乡镇求助": KeyCareCriterion.cross_township_help_request,
}

#: Values of the 重点关爱情形 column meaning "none".
NO_CRITERION_WORDS = frozenset({"", "无", "否", "没有", "无此情形", "不属于", "/", "-", "--", "—", "——", "n/a", "none"})
