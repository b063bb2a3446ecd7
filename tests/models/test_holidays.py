"""The one reader of an official holiday arrangement (models.holidays.parse_arrangement)."""
from __future__ import annotations

from pathlib import Path

import pytest

import core.i18n  # noqa: F401 (lends models their words, as every command and page has it loaded)
from models.holidays import ArrangementError, Phrase, parse_arrangement
from models.working_days import WorkingDayCalendar


@pytest.mark.parametrize("text", ["year: 0b_\n", "year: 2027\nsource: 0x_\n"])
def test_a_malformed_number_is_an_arrangement_error_not_a_crash(text):
    """YAML reads ``0b_`` as a binary number and fails with a bare ValueError; the admin page and ``careflow calendar
    load`` catch only ArrangementError, so this was a 500 page and a traceback."""
    with pytest.raises(ArrangementError, match="x.yaml：不是有效的 YAML"):
        parse_arrangement(text, where="x.yaml")


TEST_2027 = (Path(__file__).parents[1] / "careflow" / "fixtures" / "TEST_holidays_2027_not_official.yaml")


def test_a_bad_value_is_named_in_chinese_and_in_english_on_request():
    """An admin reads the field and the value in their language: Chinese by default (``str()``, what logs keep),
    English when asked (``text("en")``)."""
    bad = TEST_2027.read_text(encoding="utf-8").replace("- 2027-02-20", "- 2027-02-17")  # a Wednesday
    with pytest.raises(ArrangementError) as refused:
        parse_arrangement(bad, where=Phrase("holidays.where.file", path="x.yaml"))
    assert str(refused.value) == refused.value.text("zh") == (
        "节假日安排文件 x.yaml：字段 working_days（调休上班日期） 的值 “2027-02-17” 是星期三，调休上班日只能是星期六或星期日")
    assert refused.value.text("en") == (
        'holiday arrangement file x.yaml: field working_days (adjusted working days), value "2027-02-17": '
        "is a Wednesday: an adjusted working day can only be a Saturday or a Sunday")


def test_a_calendar_file_misnamed_or_read_twice_is_named_in_both_languages(tmp_path):
    (tmp_path / "next-year.yaml").write_text(TEST_2027.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ArrangementError) as refused:
        WorkingDayCalendar(tmp_path)
    where = tmp_path / "next-year.yaml"
    assert str(refused.value) == f"日历文件 {where}：文件名 “next-year.yaml” 应为 <年份>.yaml，例如 2027.yaml"
    assert refused.value.text("en") == (
        f"calendar file {where}: the file name “next-year.yaml” should be <year>.yaml, e.g. 2027.yaml")
    (tmp_path / "next-year.yaml").rename(tmp_path / "2027.yaml")
    stored = parse_arrangement(TEST_2027.read_text(encoding="utf-8"))
    with pytest.raises(ArrangementError) as refused:
        WorkingDayCalendar(tmp_path, arrangements=[stored])._read_file(tmp_path / "2027.yaml")
    assert "字段 year（年份） 的值 “2027” 已从 数据库：" in str(refused.value)
    assert 'field year, value "2027": was already read from the database: ' in refused.value.text("en")
