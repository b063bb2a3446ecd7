"""Tests for models.eligibility: the migrant-child definition and key care targets (policy section 一)."""
from __future__ import annotations

import datetime

import pytest

from models.eligibility import (
    KeyCareCriterion,
    add_months,
    aged_16_from,
    assess_key_care,
    assess_migrant_child,
    is_under_16,
    sixteenth_birthday,
)
from models.regions import UnknownRegion

D = datetime.date
ON = D(2026, 4, 15)


def assess(**overrides):
    params = dict(
        birth_date=D(2015, 3, 15),
        hukou_county="350322",  # 仙游县
        residence_county="350302",  # 城厢区
        arrival_date=D(2025, 1, 10),
        on=ON,
    )
    params.update(overrides)
    return assess_migrant_child(**params)


def codes(assessment):
    return {reason.code: reason.passed for reason in assessment.reasons}


# --- age ---------------------------------------------------------------------------------------------------

def test_fifteen_years_364_days_is_under_16_and_migrant():
    birth = D(2010, 4, 16)
    on = D(2026, 4, 15)  # 16th birthday is tomorrow
    assert (on - birth).days == 16 * 365 + 4 - 1  # four leap days (2012, 2016, 2020, 2024); 15 y 364 d
    assert is_under_16(birth, on)
    result = assess(birth_date=birth, on=on)
    assert result.is_migrant
    assert codes(result)["under_16"] is True


def test_on_the_16th_birthday_still_under_16_next_day_aged_out():
    # 不满十六周岁: 已满 only from the day after the birthday (法释〔2006〕1号 art. 2; 民法典 arts. 201-202).
    birth = D(2010, 4, 15)
    assert sixteenth_birthday(birth) == D(2026, 4, 15)
    assert aged_16_from(birth) == D(2026, 4, 16)
    assert is_under_16(birth, D(2026, 4, 15))
    assert not is_under_16(birth, D(2026, 4, 16))
    assert assess(birth_date=birth, on=D(2026, 4, 15)).is_migrant
    result = assess(birth_date=birth, on=D(2026, 4, 16))
    assert not result.is_migrant
    assert codes(result)["aged_out"] is False
    assert result.turns_16_on == D(2026, 4, 16)
    assert "2026-04-16" in result.reason("aged_out").text_zh


def test_born_29_february_2012_turns_16_on_1_march_2028():
    birth = D(2012, 2, 29)
    assert sixteenth_birthday(birth) == D(2028, 2, 29)  # 2028 is a leap year
    assert aged_16_from(birth) == D(2028, 3, 1)
    assert is_under_16(birth, D(2028, 2, 29))
    assert not is_under_16(birth, D(2028, 3, 1))
    result = assess(birth_date=birth, on=D(2028, 3, 1), arrival_date=D(2020, 1, 1))
    assert result.turns_16_on == D(2028, 3, 1)
    assert codes(result)["aged_out"] is False


def test_born_29_february_non_leap_16th_year():
    birth = D(2084, 2, 29)  # 2100 is not a leap year
    assert sixteenth_birthday(birth) == D(2100, 2, 28)
    assert aged_16_from(birth) == D(2100, 3, 1)


def test_birth_date_in_future_fails():
    result = assess(birth_date=D(2027, 1, 1), arrival_date=D(2025, 1, 1))
    assert not result.is_migrant
    assert codes(result)["birth_date_in_future"] is False


# --- place -------------------------------------------------------------------------------------------------

def test_county_to_central_district_passes():
    result = assess(hukou_county="350322", residence_county="350302")  # 仙游县 -> 城厢区
    assert result.is_migrant
    assert codes(result) == {"under_16": True, "cross_county": True, "resided_6_months": True}


@pytest.mark.parametrize("hukou, residence", [("350302", "350303"), ("鼓楼区", "台江区")])
def test_move_between_central_districts_of_one_city_fails(hukou, residence):
    result = assess(hukou_county=hukou, residence_county=residence)
    assert not result.is_migrant
    assert codes(result)["central_districts_same_city"] is False
    # the other tests are still reported, and pass
    assert codes(result)["under_16"] is True and codes(result)["resided_6_months"] is True
    assert [r.code for r in result.failed] == ["central_districts_same_city"]
    assert "中心城区" in result.reason("central_districts_same_city").text_zh


def test_central_districts_of_different_cities_pass():
    assert assess(hukou_county="350302", residence_county="350102").is_migrant  # 莆田城厢 -> 福州鼓楼


def test_same_county_fails():
    result = assess(hukou_county="350302", residence_county="莆田市城厢区")
    assert not result.is_migrant
    assert codes(result)["same_county"] is False


def test_former_code_of_the_same_county_is_the_same_county():
    result = assess(hukou_county="350182", residence_county="350112")  # 长乐市 (until 2017) -> 长乐区
    assert codes(result)["same_county"] is False


def test_household_registration_in_another_province_passes():
    result = assess(hukou_county="510107", residence_county="350302")  # 四川成都武侯区 -> 莆田城厢区
    assert result.is_migrant
    assert codes(result)["cross_county"] is True
    assert "四川省" in result.reason("cross_county").text_zh
    assert result.hukou_county.province_name == "四川省"


def test_unknown_county_raises():
    with pytest.raises(UnknownRegion):
        assess(hukou_county="999999")


# --- residence ---------------------------------------------------------------------------------------------

def test_exactly_six_months_passes_one_day_short_fails():
    arrival = D(2025, 10, 15)
    assert assess(arrival_date=arrival, on=D(2026, 4, 15)).is_migrant
    short = assess(arrival_date=arrival, on=D(2026, 4, 14))
    assert not short.is_migrant
    assert codes(short)["resided_under_6_months"] is False
    assert short.six_months_on == D(2026, 4, 15)


def test_six_months_month_end_clipping():
    assert add_months(D(2025, 8, 31), 6) == D(2026, 2, 28)
    assert add_months(D(2023, 8, 31), 6) == D(2024, 2, 29)
    assert add_months(D(2025, 3, 31), 6) == D(2025, 9, 30)
    result = assess(arrival_date=D(2025, 8, 31), on=D(2026, 2, 28))
    assert result.six_months_on == D(2026, 2, 28)
    assert result.is_migrant
    assert not assess(arrival_date=D(2025, 8, 31), on=D(2026, 2, 27)).is_migrant


def test_arrival_in_future_fails():
    result = assess(arrival_date=D(2026, 5, 1))
    assert not result.is_migrant
    assert codes(result)["arrival_in_future"] is False


def test_child_born_after_arrival_counts_residence_from_birth():
    result = assess(birth_date=D(2025, 12, 1), arrival_date=D(2020, 1, 1), on=D(2026, 5, 31))
    assert codes(result)["residence_from_birth"] is True
    assert result.six_months_on == D(2026, 6, 1)
    assert codes(result)["resided_under_6_months"] is False


def test_all_failures_reported_together_with_texts():
    result = assess(birth_date=D(2009, 1, 1), hukou_county="350302", residence_county="350302",
                    arrival_date=D(2026, 3, 1))
    assert codes(result) == {"aged_out": False, "same_county": False, "resided_under_6_months": False}
    for reason in result.reasons:
        assert reason.text_zh and reason.text_en


# --- key care ----------------------------------------------------------------------------------------------

def test_key_care_criteria_labels():
    assert len(KeyCareCriterion) == 6
    assert KeyCareCriterion.family_hardship.zh == "家庭生活困难"
    assert KeyCareCriterion.psychological_behavioural.zh == "心理和行为异常"
    assert KeyCareCriterion("vagrancy") is KeyCareCriterion.vagrancy
    assert KeyCareCriterion.disability == "disability"


def test_assess_key_care():
    assert assess_key_care({KeyCareCriterion.disability}, True)
    assert assess_key_care({"cross_township_help_request"}, True)
    assert not assess_key_care(set(), True)
    assert not assess_key_care({KeyCareCriterion.disability}, False)
    with pytest.raises(ValueError):
        assess_key_care({"not_a_criterion"}, True)
