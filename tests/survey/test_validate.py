"""Pure rules of the survey: dates in every form, the fast ID check, classification, headers, criteria."""
from __future__ import annotations

import datetime
import random

import pytest

from careflow.survey.columns import find_header
from careflow.survey.cells import DateProblem, fast_resident_id, parse_criteria, parse_date
from careflow.survey.validate import RowValidator
from models.eligibility import assess_key_care, assess_migrant_child
from models.regions import get_county, load_regions
from models.resident_id import InvalidResidentID, check_character, normalize_resident_id
from models.survey_rules import classify

D = datetime.date


@pytest.mark.parametrize("value, expected", [
    ("2015-03-15", D(2015, 3, 15)), ("2015/3/15", D(2015, 3, 15)), ("2015.3.15", D(2015, 3, 15)),
    ("20150315", D(2015, 3, 15)), ("2015年3月15日", D(2015, 3, 15)), ("2015年03月15号", D(2015, 3, 15)),
    (" 2015-03-15 00:00:00 ", D(2015, 3, 15)), ("２０１５－０３－１５", D(2015, 3, 15)), ("42078", D(2015, 3, 15)),
    (42078, D(2015, 3, 15)), (42078.5, D(2015, 3, 15)), (20150315, D(2015, 3, 15)),
    (datetime.datetime(2015, 3, 15, 8, 30), D(2015, 3, 15)), (D(2015, 3, 15), D(2015, 3, 15)),
    ("2015-02-30", "invalid_date"), ("2023年8月", "incomplete_date"), ("2023-08", "incomplete_date"),
    ("15/3/15", "invalid_date"), ("昨天", "invalid_date"), ("", "required"), (None, "required"), (30, "invalid_date"),
])
def test_dates_in_every_form(value, expected):
    parsed = parse_date(value)
    assert (parsed.code if isinstance(parsed, DateProblem) else parsed) == expected


def test_the_fast_id_check_never_accepts_what_the_full_check_rejects():
    rng = random.Random(11643)
    codes = [r.code for r in load_regions().counties] + ["511321", "350182", "999999", "350100", "110101"]
    today = D(2026, 11, 29)
    for _ in range(4000):
        birth = D(1990, 1, 1) + datetime.timedelta(days=rng.randrange(14000))
        first17 = f"{rng.choice(codes)}{birth:%Y%m%d}{rng.randrange(1000):03d}"
        number = first17 + check_character(first17)
        for candidate in (number, number[:17] + rng.choice("0123456789X"), number[:10] + "13" + number[12:]):
            fast = fast_resident_id(candidate, today)
            try:
                full = normalize_resident_id(candidate)
            except InvalidResidentID:
                full = None
            if fast is not None:
                assert fast == full, candidate
            elif full is not None:
                assert birth > today or full != candidate, candidate  # only a future birth date differs


def test_classify_agrees_with_the_eligibility_rules():
    rng = random.Random(2025)
    counties = [r.code for r in load_regions().counties] + ["511321", "360731"]
    on = D(2026, 10, 31)
    for _ in range(3000):
        birth = on - datetime.timedelta(days=rng.randrange(-30, 17 * 366))
        arrival = birth + datetime.timedelta(days=rng.randrange(-400, 6000))
        hukou, residence = get_county(rng.choice(counties)), get_county(rng.choice(counties[:30]))
        criteria = tuple(rng.sample(["disability", "vagrancy", "family_hardship"], rng.randrange(3)))
        fast = classify(birth_date=birth, hukou=hukou, residence=residence, arrival_date=arrival, on=on,
                        criteria=criteria)
        full = assess_migrant_child(birth_date=birth, hukou_county=hukou, residence_county=residence,
                                    arrival_date=arrival, on=on)
        assert fast.is_migrant == full.is_migrant
        assert fast.failed == tuple(r.code for r in full.failed)
        assert fast.is_key_care == assess_key_care(criteria, full.is_migrant)


def test_key_care_words():
    assert parse_criteria("家庭生活困难、自身残疾") == (("disability", "family_hardship"), None)
    assert parse_criteria("心理行为异常；主动求助") == (("cross_township_help_request", "psychological_behavioural"), None)
    assert parse_criteria("主动提出救助帮扶需求的跨乡镇（街道）流动儿童") == (("cross_township_help_request",), None)
    assert parse_criteria("无") == ((), None) and parse_criteria("") == ((), None)
    assert parse_criteria("残疾, 单亲") == ((), "单亲")


def test_headers_under_a_title_and_in_two_rows():
    title = ["城厢区流动儿童监测摸排表", None, None, None]
    one = find_header([title, ["序号", "儿童姓名", "身份证号码", "户籍所在地", "来本地居住时间", "备注"]])
    assert (one.row_index, one.columns, one.ignored) == (
        1, {"full_name": 1, "resident_id": 2, "hukou_county": 3, "arrival_date": 4}, ["序号", "备注"])
    two = find_header([title, ["姓名", "身份证号", "户籍地", "居住地", None, "监护人", None],
                       [None, None, None, "县区", "村居代码", "姓名", "电话"]])
    assert two.row_index == 2
    assert two.columns == {"full_name": 0, "resident_id": 1, "hukou_county": 2, "residence_county": 3,
                           "residence_area_code": 4, "guardian_name": 5, "guardian_phone": 6}
    per_criterion = find_header([["姓名", "身份证号", "户籍地", "来本地日期", "家庭生活困难", "自身残疾"]])
    assert per_criterion.has_key_care and per_criterion.missing() == []
    validator = RowValidator(per_criterion, get_county("350302"), D(2026, 10, 31), today=D(2026, 11, 2))
    number = "511321201503150" + "01"
    number += check_character(number)
    result = validator.validate(2, ["张三", number, "511321", "2020-01-01", "是", "否"])
    assert result.row.criteria == "family_hardship" and result.row.is_key_care
    bad = validator.validate(3, ["张三", number, "511321", "2020-01-01", "也许", ""])
    assert [(i.field, i.code) for i in bad.issues] == [("kc:family_hardship", "invalid")]
    assert find_header([["a", "b"], ["c", "d"]]) is None
