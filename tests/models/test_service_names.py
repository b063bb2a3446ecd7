"""The service list's items read in the reader's language: every item has an English service and target group
(policy/service_list.yaml), and every place that words an item by its number uses it."""
from __future__ import annotations

import re

from core.i18n import label
from core.outcome import Outcome
from models.policy import load_policy

CHINESE = re.compile(r"[\u4e00-\u9fff]")


def test_every_item_has_english_words_and_chinese_ones():
    items = load_policy().service_items
    assert sorted(items) == list(range(1, 21))
    for number, item in items.items():
        assert item.service_en and not CHINESE.search(item.service_en), number
        assert item.target_group_en and not CHINESE.search(item.target_group_en), number
        assert item.service_in("zh") == item.service and CHINESE.search(item.service), number


def test_an_item_named_by_its_number_reads_in_the_readers_language():
    assert label("13", "option.item", "zh") == "第13项 最低生活保障服务"
    assert label("13", "option.item", "en") == "Item 13 Minimum living allowance"
    assert label("13,16", "option.services", "en") == ("Item 13 Minimum living allowance; "
                                                       "Item 16 Guardianship support and intervention")
    outcome = Outcome().add("link.started", item=13, service=13, pathway="service_referral")
    assert outcome.text("en").startswith("Item 13 Minimum living allowance: pathway")
    assert outcome.text("zh").startswith("第13项最低生活保障服务")
