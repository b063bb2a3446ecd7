"""Target groups of the 20 service-list items as rules (models/eligibility_rules.py): every item has rules and the
shipped YAML validates; a bad rule name is refused in Chinese naming the item and field; the age bands at their
boundaries (the day a child turns 3, 6, 7 and 16); the school-year cut-off (born 31 August vs 1 September)."""
from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

import core.i18n  # noqa: F401  (lends the catalogues' words to the problems models raise)
from core.paths import PROJECT_ROOT
from models.eligibility_rules import ChildProfile, KnownFact, age_in_years, evaluate_item, parse_rules, school_year
from models.policy import load_policy
from models.policy_files import PolicyError

HUKOU, RESIDENCE = "511321", "350302"  # 四川 → 城厢区: across a county boundary


def child(birth: date, **facts: str) -> ChildProfile:
    """A child living in 城厢区 since birth (so resident six months once six months old) with ``facts`` (yes/no)."""
    return ChildProfile(birth_date=birth, hukou_county_code=HUKOU, residence_county_code=RESIDENCE,
                        arrival_date=birth, facts={k: KnownFact(v, "caseworker", date(2026, 1, 5)) for k, v in
                                                   facts.items()})


def status(number: int, profile: ChildProfile, on: date) -> str:
    return evaluate_item(number, load_policy().service_item(number).eligibility, profile, on).status


def test_every_item_has_rules_and_the_shipped_yaml_validates():
    items = load_policy().service_items
    assert sorted(items) == list(range(1, 21))
    for number, item in items.items():
        assert item.eligibility, number
        assert item.eligibility[0].name == "migrant_child", number
    assert [r.name for r in items[11].eligibility] == ["migrant_child", "disability"]
    assert items[10].eligibility[1].label_zh == "以下之一：孤儿、艾滋病病毒感染儿童、事实无人抚养儿童"
    assert items[1].eligibility[1].label_zh == "年龄：0-6岁（未满7周岁）"


@pytest.fixture()
def policy_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policy"
    shutil.copytree(PROJECT_ROOT / "policy", target)
    return target


def test_an_unknown_rule_name_in_the_yaml_is_refused_in_chinese_naming_item_and_field(policy_copy):
    path = policy_copy / "service_list.yaml"
    text = path.read_text(encoding="utf-8")
    old = "    eligibility: [migrant_child, disability]\n"
    assert text.count(old) == 2
    path.write_text(text.replace(old, "    eligibility: [migrant_child, disabilty]\n", 1), encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(policy_copy)
    message = str(caught.value)
    assert "policy/service_list.yaml：第 11 项：字段 eligibility" in message
    assert "policy/service_list.yaml: item 11: field 'eligibility'" in caught.value.text("en")
    assert "清单第11项 字段 eligibility（服务对象规则）：未知的规则名 'disabilty'" in message


def test_an_item_without_rules_and_bad_rule_values_are_refused(policy_copy):
    path = policy_copy / "service_list.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("    eligibility: [migrant_child, housing_hardship]\n", "", 1), encoding="utf-8")
    with pytest.raises(PolicyError, match="清单第9项 字段 eligibility（服务对象规则）：缺少规则"):
        load_policy(policy_copy)
    with pytest.raises(ValueError, match="清单第2项 字段 eligibility（服务对象规则）：未知的学段 'college'"):
        parse_rules([{"school_stage": "college"}], item=2)
    with pytest.raises(ValueError, match="age 的 min（7）应小于 under（3）"):
        parse_rules([{"age": {"min": 7, "under": 3}}], item=1)


def test_a_fifteen_year_old_is_outside_items_1_and_2_with_chinese_reasons():
    teen = child(date(2011, 3, 15))
    on = date(2026, 12, 5)
    for number in (1, 2):
        result = evaluate_item(number, load_policy().service_item(number).eligibility, teen, on)
        assert result.status == "not_met"
        assert "2018-03-16 起已满7周岁" in result.reasons_zh("not_met")
    assert status(6, teen, on) == "met"  # open to every migrant child


@pytest.mark.parametrize("on, item1, item2", [
    (date(2023, 6, 1), "met", "not_met"),    # 3rd birthday: still under 3 (周岁 from the next day)
    (date(2023, 6, 2), "met", "met"),        # the day after: 已满3周岁
    (date(2026, 6, 1), "met", "met"),        # 6th birthday: "3-6岁" still
    (date(2027, 6, 1), "met", "met"),        # 7th birthday: still 6 周岁
    (date(2027, 6, 2), "not_met", "not_met"),  # 已满7周岁: outside "0-6岁"
])
def test_age_bands_at_the_birthdays(on, item1, item2):
    toddler = child(date(2020, 6, 1))
    assert (status(1, toddler, on), status(2, toddler, on)) == (item1, item2)


def test_a_child_on_the_16th_birthday_is_still_a_migrant_child_and_the_next_day_is_not():
    teen = child(date(2010, 12, 5))
    assert status(6, teen, date(2026, 12, 5)) == "met"
    result = evaluate_item(6, load_policy().service_item(6).eligibility, teen, date(2026, 12, 6))
    assert result.status == "not_met" and "已满十六周岁" in result.reasons_zh()


def test_the_school_year_cut_off_is_1_september():
    assert school_year(date(2019, 8, 31), date(2025, 9, 1)) == (2025, 1)
    assert school_year(date(2019, 9, 1), date(2025, 9, 1)) == (2026, 0)
    on = date(2025, 9, 1)
    august, september = child(date(2019, 8, 31)), child(date(2019, 9, 1))
    assert status(3, august, on) == "met"
    result = evaluate_item(3, load_policy().service_item(3).eligibility, september, on)
    assert result.status == "not_met"
    assert "出生日期 2019-09-01（当年9月1日及以后出生），按9月1日入学规定 2026年9月入小学" in result.reasons_zh()
    # school year 0 (and below, a four-year-old) is no school year: the reason says so, never 第0学年 or 第-1学年
    assert "2025-09-01 尚未入学，属学龄前" in result.reasons_zh() and "第0学年" not in result.reasons_zh()
    younger = evaluate_item(3, load_policy().service_item(3).eligibility, child(date(2022, 3, 1)), date(2026, 12, 7))
    assert "2026-12-07 尚未入学，属学龄前" in younger.reasons_zh() and "第-" not in younger.reasons_zh()
    assert "为第1学年，属义务教育阶段" in evaluate_item(3, load_policy().service_item(3).eligibility, august,
                                                   on).reasons_zh()
    assert status(3, september, date(2026, 9, 1)) == "met"
    # nine school years later: senior secondary by age (普通高中 or 中职), compulsory no more
    assert (status(3, august, date(2034, 9, 1)), status(4, august, date(2034, 9, 1))) == ("not_met", "met")


def test_a_recorded_enrolment_decides_the_school_stage():
    on = date(2026, 12, 5)
    vocational = child(date(2011, 3, 15), school_enrolment="secondary_vocational")
    assert (status(4, vocational, on), status(5, vocational, on)) == ("not_met", "met")
    held_back = child(date(2011, 3, 15), school_enrolment="compulsory")
    assert status(3, held_back, on) == "met"
    out_of_school = child(date(2015, 3, 15), school_enrolment="not_enrolled")
    assert status(3, out_of_school, on) == "met"  # compulsory age, not in school: item 3's target group


def test_facts_met_not_met_unknown_and_any_of():
    on = date(2026, 12, 5)
    born = date(2015, 3, 15)
    assert status(11, child(born), on) == "unknown"
    assert status(11, child(born, disability="no"), on) == "not_met"
    assert status(11, child(born, disability="yes"), on) == "met"
    assert status(11, child(born, disability="unknown"), on) == "unknown"
    key_care = ChildProfile(birth_date=born, hukou_county_code=HUKOU, residence_county_code=RESIDENCE,
                            arrival_date=born, key_care_criteria=("disability",))
    assert status(11, key_care, on) == "met"  # the key care ground 自身残疾 (registration or survey) counts
    assert status(10, child(born, orphan="no", hiv_affected="no", de_facto_unsupported="yes"), on) == "met"
    assert status(10, child(born, orphan="no", hiv_affected="no", de_facto_unsupported="no"), on) == "not_met"
    assert status(10, child(born, orphan="no"), on) == "unknown"


def test_a_child_who_is_no_migrant_child_is_outside_every_item():
    on = date(2026, 12, 5)
    local = ChildProfile(birth_date=date(2015, 3, 15), hukou_county_code=RESIDENCE,
                         residence_county_code=RESIDENCE, arrival_date=date(2015, 3, 15),
                         facts={"disability": KnownFact("yes", "caseworker", on)})
    result = evaluate_item(11, load_policy().service_item(11).eligibility, local, on)
    assert result.status == "not_met"
    assert "流动儿童：不符合。户籍地与居住地同为" in result.reasons_zh("not_met")


def test_the_readme_table_shows_each_items_target_group_rules_departments_and_where_it_is_routed():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    policy = load_policy()
    pathway = policy.pathway("service_referral")
    at_registration = ("户籍地县级民政（省内通办），居住地县级民政跟进；"
                       "户籍地不在名录（省外）：居住地县级民政转递（跨省通办）")
    for number, item in policy.service_items.items():
        rules = "；".join(r.label_zh for r in item.eligibility)
        departments = "、".join(policy.agency(c).name_zh for c in item.departments)
        step = pathway.step_for_item(number)
        where = at_registration if step.jurisdiction_basis == "registration_place" else "居住地县级单位"
        row = f"| {number} | {item.service} | {item.target_group} | {rules} | {departments} | {where} | "
        assert row in readme, number
        limit = readme.split(row, 1)[1].split(" |", 1)[0]
        assert limit.startswith(f"{step.deadline.amount}个工作日"), (number, limit)
        if step.deadline_max:
            assert f"可延长至{step.deadline_max.amount}个工作日" in limit, number
        for key in step.cross_province_steps:
            assert f"{pathway.step(key).deadline.amount}个工作日" in limit, (number, key)


FACT_ITEMS = {8: "severe_mental_disorder", 9: "housing_hardship", 11: "disability", 12: "disability",
              13: "minimum_living_allowance", 14: "extreme_poverty", 15: "temporary_assistance"}
OPEN_ITEMS = (6, 7, 16, 17, 18, 19, 20)


@pytest.mark.parametrize("number", range(1, 21))
def test_every_item_takes_its_group_and_refuses_others(number):
    on = date(2026, 12, 5)
    toddler, pupil, teen = date(2022, 3, 1), date(2015, 3, 15), date(2011, 3, 15)
    everything = {key: "yes" for key in ("disability", "orphan", "hiv_affected", "de_facto_unsupported",
                                         "minimum_living_allowance", "extreme_poverty", "severe_mental_disorder",
                                         "housing_hardship", "temporary_assistance")}
    nothing = {key: "no" for key in everything}
    expected_in = {1: toddler, 2: toddler, 3: pupil, 4: teen, 5: teen}.get(number, pupil)
    assert status(number, child(expected_in, **everything), on) == "met"
    if number in (1, 2):
        assert status(number, child(pupil, **everything), on) == "not_met"
    elif number in (3, 4, 5):
        assert status(number, child(toddler, **everything), on) == "not_met"
    elif number in OPEN_ITEMS:
        assert status(number, child(pupil, **nothing), on) == "met"
    else:  # a fact: unknown until recorded, refused when recorded "no"
        assert status(number, child(pupil), on) == "unknown"
        assert status(number, child(pupil, **nothing), on) == "not_met"
        if number in FACT_ITEMS:
            only = child(pupil, **{FACT_ITEMS[number]: "yes"})
            assert status(number, only, on) == "met"


def test_an_age_in_years_counts_from_the_day_after_the_birthday():
    """周岁 as the law counts it (法释〔2006〕1号 art. 2): the one rule the task page's age, the departments' school-age
    export and the needs list all use; on the 10th birthday a child is still 9."""
    born = date(2016, 12, 6)
    assert [age_in_years(born, date(2026, 12, d)) for d in (5, 6, 7)] == [9, 9, 10]
    assert age_in_years(date(2016, 2, 29), date(2026, 3, 1)) == 10 and age_in_years(born, date(2016, 1, 1)) == 0
