"""City service lists against the provincial list (闽民童〔2025〕5号 四: 覆盖范围和实现程度不得低于省级关爱服务清单),
the referral item of a service-referral run, and the service-referral pathway's data."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import yaml

import core.i18n  # noqa: F401  (lends the catalogues' words to the problems models raise)
from core.paths import PROJECT_ROOT
from models.city_list import check_city_list, content_clauses, is_accepted, normalise_text, read_city_list
from models.dated_duties import DUTY_KINDS, describe_duty, duty_key
from models.policy import load_policy
from models.policy_files import PolicyError
from models.policy_lists import ServiceItem
from models.service_list import referral_item, referral_text

PROVINCIAL_YAML = PROJECT_ROOT / "policy" / "service_list.yaml"


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def city_list_data(**extra) -> dict:
    """The provincial list as 莆田市's own list, published 2025-03-01."""
    data = yaml.safe_load(PROVINCIAL_YAML.read_text(encoding="utf-8"))
    data.update({"city_code": "350300", "published_on": date(2025, 3, 1), "source": "莆民〔2025〕12号",
                 "title_zh": "莆田市流动儿童在居住地享有关爱服务清单", **extra})
    return data


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "putian.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def narrower_copy() -> dict:
    """One item removed (7), a department dropped from item 18, a clause dropped from item 3, a narrower
    target group (item 6)."""
    data = city_list_data()
    items = {item["number"]: item for item in data["items"]}
    data["items"] = [item for item in data["items"] if item["number"] != 7]
    items[18]["departments"] = [d for d in items[18]["departments"] if d != "publishing_group"]
    items[3]["content"] = items[3]["content"].rsplit(";", 1)[0]   # drops 符合条件的随迁子女在居住地参加中考
    items[6]["target_group"] = "流动儿童中的低收入家庭儿童"
    return data


def items_of(data: dict) -> list[ServiceItem]:
    return [ServiceItem.model_validate(item) for item in data["items"]]


# ------------------------------------------------------------------------------------------ check_city_list


def test_the_provincial_list_itself_is_accepted(policy):
    assert check_city_list(policy.service_items, policy.service_items) == []
    assert check_city_list(list(policy.service_items.values())) == []


def test_a_city_copy_with_full_width_punctuation_and_spaces_is_the_same_list(policy):
    data = city_list_data()
    for item in data["items"]:
        item["content"] = item["content"].replace(",", "，").replace(";", "； ")
    assert check_city_list(items_of(data)) == []


def test_narrower_copy_reports_exactly_the_four_differences(policy):
    differences = check_city_list(items_of(narrower_copy()), policy.service_items)
    assert [(d.item, d.kind) for d in differences] == [
        (3, "dropped_clause"), (6, "narrower_target_group"), (7, "missing_item"), (18, "fewer_departments"),
    ]
    assert all(d.narrower for d in differences) and not is_accepted(differences)
    by_kind = {d.kind: d for d in differences}
    assert "符合条件的随迁子女在居住地参加中考" in by_kind["dropped_clause"].detail
    assert "publishing_group" in by_kind["fewer_departments"].detail
    assert "'流动儿童中的低收入家庭儿童'" in by_kind["narrower_target_group"].detail
    assert "医疗保障服务" in by_kind["missing_item"].detail and by_kind["missing_item"].city_item is None
    assert str(by_kind["missing_item"]).startswith("NARROWER: item 7: missing_item: ")


def test_additions_are_information_not_narrowing(policy):
    data = city_list_data()
    items = {item["number"]: item for item in data["items"]}
    items[2]["content"] += "；为流动儿童家庭提供入园政策咨询"
    items[19]["departments"].append("transport")
    items[6]["target_group"] = "流动儿童及其随迁家庭成员"
    data["items"].append({
        "number": 21, "area": "发展保障", "target_group": "流动儿童", "service": "公交出行便利服务",
        "content": "在公交线路布局、学生公交卡办理等方面为流动儿童提供便利", "departments_zh": "市交通运输局",
        "departments": ["transport"], "completion": "all"})
    differences = check_city_list(items_of(data))
    assert [(d.item, d.kind) for d in differences] == [
        (2, "extended_content"), (6, "broader_target_group"), (19, "added_departments"), (21, "added_item")]
    assert is_accepted(differences)


def test_a_renumbered_city_list_is_matched_by_service_name(policy):
    data = city_list_data()
    data["items"] = [item for item in data["items"] if item["number"] != 7]
    for item in data["items"]:
        if item["number"] > 7:
            item["number"] -= 1
    differences = check_city_list(items_of(data))
    assert [(d.item, d.kind) for d in differences] == [(7, "missing_item")]


def test_one_department_enough_is_weaker_than_all(policy):
    data = city_list_data()
    data["items"][17]["completion"] = "any"
    assert [(d.item, d.kind) for d in check_city_list(items_of(data))] == [(18, "weaker_completion")]


def test_clauses_split_on_both_semicolons_and_full_stop():
    assert content_clauses("甲,乙;丙；丁。") == ["甲,乙", "丙", "丁"]
    assert normalise_text("免除学杂费， 免费提供“教科书”") == normalise_text("免除学杂费,免费提供教科书")


# ------------------------------------------------------------------------------------------ reading a city list


def test_read_city_list_file(tmp_path):
    city_list = read_city_list(write(tmp_path, city_list_data()))
    assert city_list.city_code == "350300" and city_list.city_name == "莆田市"
    assert city_list.published_on == date(2025, 3, 1) and len(city_list.items) == 20


def test_read_city_list_names_file_entry_field_and_value(tmp_path):
    data = city_list_data(city_code="350302")
    data["items"][17]["departments"][0] = "cyber"
    data["items"][2]["number"] = 2
    with pytest.raises(PolicyError) as error:
        read_city_list(write(tmp_path, data))
    problems = [p.text("en") for p in error.value.problems]
    assert problems[0].startswith("putian.yaml: field 'city_code': '350302' is not a city of Fujian")
    assert "putian.yaml: item 2: field 'number': duplicate item number 2 (also items[1])" in problems
    assert "putian.yaml: item 18: field 'departments': unknown agency code 'cyber' (not in policy/agencies.yaml)" \
        in problems
    # the same lines in Chinese, as the command line prints them by default
    chinese = error.value.text("zh").splitlines()
    assert chinese[0].startswith("putian.yaml：字段 city_code：「350302」不是福建省的设区市（可填：福州市（350100）、")
    assert chinese[1:] == ["putian.yaml：第 2 项：字段 number：项目编号 2 重复（第 2 条已用）",
                           "putian.yaml：第 18 项：字段 departments：「cyber」不是 policy/agencies.yaml 中的部门代码"]


def test_read_city_list_missing_fields(tmp_path):
    data = city_list_data()
    del data["published_on"]
    data["published"] = "2025-03-01"
    data["items"][0]["number"] = "一"
    data["items"][1]["completion"] = "some"
    with pytest.raises(PolicyError, match="putian.yaml: field 'published_on': required") as error:
        read_city_list(write(tmp_path, data))
    assert error.value.text("zh").splitlines() == [
        "putian.yaml：字段 published_on：请填写", "putian.yaml：第 一 项：字段 number：「一」不是整数",
        "putian.yaml：第 2 项：字段 completion：「some」不是可填的值（可填：'all' or 'any'）",
        "putian.yaml：字段 published：没有这一字段（值为「2025-03-01」），请检查拼写"]


# ------------------------------------------------------------------------------------------ referral item


@pytest.mark.parametrize("raw", [18, "18", " 18 "])
def test_referral_item_accepts_the_number(raw, policy):
    assert referral_item({"item": raw}).number == 18


@pytest.mark.parametrize("parameters, message", [
    ({}, "field 'item': missing"),
    ({"item": 0}, "field 'item': 0 is not an item of the provincial service list"),
    ({"item": 21}, "field 'item': 21 is not an item of the provincial service list"),
    ({"item": "十八"}, "field 'item': '十八' is not an item number"),
    ({"item": True}, "field 'item': True is not an item number"),
    ({"item": 1.5}, "field 'item': 1.5 is not an item number"),
])
def test_referral_item_errors_name_the_field(parameters, message):
    with pytest.raises(ValueError, match=message):
        referral_item(parameters)


def test_referral_text_carries_service_target_group_content_and_departments(policy):
    text = referral_text(policy.service_item(18))
    assert text.startswith("清单第18项（发展保障）：精神文化生活服务\n服务对象：流动儿童\n服务内容：在学校、幼儿园")
    assert "责任部门：网信办、教育、民政、广电、团委、妇联、海峡出版发行集团（新华书店）（各部门均须答复）" in text


def test_service_referral_pathway_deadlines_are_data(policy):
    pathway = policy.pathway("service_referral")
    default = pathway.step_for_item(18)
    assert (default.key, str(default.deadline), default.deadline_is_default) == ("service_referral", "10 working days", True)
    basic = pathway.step_for_item(10)  # 事实无人抚养儿童认定 15 + 15 working days, at the registration place
    assert (str(basic.deadline), basic.deadline_is_default, basic.jurisdiction_basis) == \
        ("30 working days", False, "registration_place")
    forward, reply = (pathway.step(key) for key in basic.cross_province_steps)  # 跨省通办: 3 + 15 + 15 in all
    assert (str(forward.deadline), str(reply.deadline), reply.deadline_from) == \
        ("3 working days", "33 working days", "pathway_start")
    minimum = pathway.step_for_item(13)  # 低保 whole process, 45 working days in special cases
    assert (str(minimum.deadline), str(minimum.deadline_max), minimum.deadline_is_default) == \
        ("30 working days", "45 working days", False)
    assert [pathway.step_for_item(n).jurisdiction_basis for n in (10, 13, 14)] == ["registration_place"] * 3
    every = {d for item in policy.service_items.values() for d in item.departments}
    assert every <= set(policy.agencies)


def test_cross_province_steps_must_be_steps_of_a_registration_place_step(tmp_path, policy):
    import shutil

    copy = tmp_path / "policy"
    shutil.copytree(PROJECT_ROOT / "policy", copy)
    path = copy / "pathways" / "service_referral.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("[registration_forwarding, minimum_living_reply]", "[registration_forwarding, reply]"),
                    encoding="utf-8")
    with pytest.raises(PolicyError, match=r"cross_province_steps.*'reply' is not another step of the pathway"):
        load_policy(copy)
    path.write_text(text.replace("    deadline: 3wd\n", "    deadline: 3wd\n    cross_province_steps: [minimum_living_reply]\n"),
                    encoding="utf-8")
    with pytest.raises(PolicyError, match=r"only a step with jurisdiction_basis: registration_place"):
        load_policy(copy)


def test_item_steps_must_name_a_step(tmp_path, policy):
    import shutil

    copy = tmp_path / "policy"
    shutil.copytree(PROJECT_ROOT / "policy", copy)
    path = copy / "pathways" / "service_referral.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("13: minimum_living_referral", "13: minimum_living"),
                    encoding="utf-8")
    with pytest.raises(PolicyError, match=r"service_referral.yaml：字段 item_steps：第 13 项：'minimum_living' "
                                          r"不是本流程的步骤") as refused:
        load_policy(copy)
    assert ("service_referral.yaml: field 'item_steps': item 13: 'minimum_living' is not a step of this pathway"
            in refused.value.text("en"))


# ------------------------------------------------------------------------------------------ duties as data


def test_duty_keys_and_descriptions():
    key = duty_key("city_list_filing", "350300", date(2025, 3, 1))
    assert key == "city_list_filing:350300:2025-03-01"
    duty = describe_duty(key)
    assert duty.subject == "莆田市流动儿童关爱服务清单（2025-03-01发布）"
    assert "10日内报送省民政厅备案" in duty.instructions and [f.name for f in duty.outcome] == ["filed", "note"]
    assert DUTY_KINDS["city_list_republication"].period_years == 2
    assert describe_duty("survey:350302:2025-04", "监测摸排").subject == "survey:350302:2025-04"
    with pytest.raises(KeyError, match="unknown duty kind"):
        duty_key("city_list_fling", "350300", date(2025, 3, 1))


#: Chinese characters and punctuation: none in a duty's English words but a place's name.
_CHINESE = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


@pytest.mark.parametrize("key, title", [
    ("city_list_filing:350300:2025-03-01", ""), ("city_list_filing:350300:2025-03-01:r2", ""),
    ("city_list_republication:350300:2025-03-01", ""), ("city_list_filing_receipt:350300:2025-03-01", ""),
    ("programme_report:2026Q4:education-350302", "2026年第四季度关爱服务活动报告"),
    ("joint_meeting:350302:2026-10", "流动儿童涉罪和严重不良行为防范定期会商（城厢区，2026-10起）"),
    ("guardianship_assessment:7:2026-11-02", ""),
])
def test_a_dated_duty_reads_in_english_on_request(key, title):
    """Its subject, titles and instructions in English (the place's name as the regions file writes it), the same
    answer fields; Chinese by default and for a language careflow does not speak."""
    english = describe_duty(key, title, "en")
    for text in (english.subject, english.pathway_title, english.step_title, english.instructions):
        assert text and not _CHINESE.search(text.replace("莆田市城厢区", "").replace("莆田市", "")), text
    assert english.outcome == describe_duty(key, title).outcome
    assert describe_duty(key, title, "fr") == describe_duty(key, title, "zh") == describe_duty(key, title)


def test_a_duty_s_english_words_are_its_own():
    filing = describe_duty("city_list_filing:350300:2025-03-01:r2", lang="en")
    assert filing.step_title == DUTY_KINDS["city_list_filing"].title_en + " (filing no. 2)"
    assert "did not receive the earlier filing" in filing.instructions
    assert describe_duty("programme_report:2026Q4:education-350302", "x", "en").subject.endswith("Q4 2026")
    assert describe_duty("joint_meeting:350302:2026-10", "", "en").step_title == "Joint meeting (Q4 2026)"
    zh = describe_duty("city_list_filing:350300:2025-03-01:r2")
    assert zh.step_title == "关爱服务清单报送省民政厅备案（第 2 次报送）" and zh.instructions.endswith("注明报送方式和日期。")
