"""Branching inputs are typed (issue 12, item 3): amounts in digits, service-list items by number or name."""
from __future__ import annotations

import pytest

from models.field_values import FieldValueError, item_numbers, parse_amount, parse_service_item, parse_service_items
from models.policy import load_policy

ITEMS = {number: item.service for number, item in load_policy().service_items.items()}


@pytest.mark.parametrize("given, stored", [
    ("800", "800"), (800, "800"), ("800.50", "800.5"), ("1,000元", "1000"), ("１０００", "1000"), ("¥ 12.3", "12.3"),
    ("0", "0"), (800.25, "800.25"),
])
def test_an_amount_in_digits_is_read(given, stored):
    assert parse_amount("amount_yuan", given) == stored


@pytest.mark.parametrize("given, key", [
    ("八百", "amount"), ("八百元", "amount"), ("800块", "amount"), ("", "amount"), ("NaN", "amount"), (True, "amount"),
    ("-5", "amount_negative"), ("1.234", "amount_cents"), ("1e9", "amount_too_large"),
])
def test_an_amount_not_in_digits_is_refused_naming_the_field(given, key):
    with pytest.raises(FieldValueError) as refused:
        parse_amount("amount_yuan", given)
    assert refused.value.key == key and refused.value.field == "amount_yuan"
    assert str(refused.value).startswith("字段 amount_yuan：")


def test_a_service_item_by_number_name_or_everyday_name():
    assert parse_service_item("item", 13, ITEMS) == "13"
    assert parse_service_item("item", "第18项", ITEMS) == "18"
    assert parse_service_item("item", "最低生活保障服务", ITEMS) == "13"
    assert parse_service_item("item", "低保", ITEMS) == "13"
    assert parse_service_item("item", "特困", ITEMS) == "14"
    for bad in ("21", "0", "服务", "abc", True):
        with pytest.raises(FieldValueError):
            parse_service_item("item", bad, ITEMS)


def test_onward_referral_items_or_none():
    assert parse_service_items("services", "13、16", ITEMS) == "13,16"
    assert parse_service_items("services", ["16", 13, "16"], ITEMS) == "16,13"
    assert parse_service_items("services", "低保，监护支持干预服务", ITEMS) == "13,16"
    assert parse_service_items("services", "none", ITEMS) == "none"
    assert parse_service_items("services", "无需转介", ITEMS) == "none"
    with pytest.raises(FieldValueError) as both:
        parse_service_items("services", "none,13", ITEMS)
    assert both.value.key == "service_items_none"
    with pytest.raises(FieldValueError):
        parse_service_items("services", "13,99", ITEMS)
    assert item_numbers("13,16") == [13, 16] and item_numbers("none") == []


def test_cash_help_needs_its_amount():
    step = load_policy().pathway("temporary_assistance").step("emergency_help")
    assert step.validate_outcome({"help_given": "goods"}) == {"help_given": "goods"}
    assert step.validate_outcome({"help_given": "cash", "amount_yuan": "800"})["amount_yuan"] == "800"
    with pytest.raises(FieldValueError) as missing:
        step.validate_outcome({"help_given": "several"})
    assert missing.value.key == "required_when" and missing.value.values["other"] == "help_given"
