"""Deadlines as a caseworker would check them: exact due dates around Chinese holidays and 调休 weekends.

2026 facts (State Council arrangement, as shipped in chinese_calendar 1.11):
Sun 2026-09-20 is an adjusted working day; 2026-09-25..27 Mid-autumn; 2026-10-01..07 National Day;
Sat 2026-10-10 is an adjusted working day. 2027 has no official arrangement in the library.
"""
from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pendulum
import pytest

from models.deadlines import Deadline, DeadlineRule, compute_deadline, format_local, is_overdue
from models.holidays import ArrangementError
from models.working_days import CalendarDay, WorkingDayCalendar

SH = "Asia/Shanghai"

#: A made-up 2027 arrangement for tests only (NOT the official one): Fri 1 Jan and Tue 5 Jan off, Sat 9 Jan worked,
#: and the fixed-date statutory holidays every arrangement lists (1–2 May, 1–3 October).
FAKE_2027 = """\
year: 2027
source: "TEST FIXTURE — not the official 国务院办公厅 notice"
holidays:
  - 2027-01-01
  - 2027-01-05
  - 2027-05-01
  - 2027-05-02
  - 2027-10-01
  - 2027-10-02
  - 2027-10-03
working_days:
  - 2027-01-09
"""
#: The fixed-date statutory holidays of 2026 and 2027 after 1 January, as a calendar file lists them.
FIXED_2026 = "2026-05-01, 2026-05-02, 2026-10-01, 2026-10-02, 2026-10-03"
FIXED_2027 = "2027-05-01, 2027-05-02, 2027-10-01, 2027-10-02, 2027-10-03"


def at(text: str) -> pendulum.DateTime:
    """Shanghai local time, e.g. at("2026-09-18 15:00")."""
    return pendulum.parse(text, tz=SH)


def end_of(day: str) -> pendulum.DateTime:
    return pendulum.parse(f"{day} 23:59:59", tz=SH)


@pytest.fixture()
def empty_calendar(tmp_path: Path) -> WorkingDayCalendar:
    """Library data only: no policy/calendar files (independent of the repository's folder)."""
    folder = tmp_path / "calendar"
    folder.mkdir()
    (folder / ".gitkeep").touch()
    return WorkingDayCalendar(folder)


@pytest.fixture()
def calendar_2027(tmp_path: Path) -> WorkingDayCalendar:
    folder = tmp_path / "calendar"
    folder.mkdir()
    (folder / "2027.yaml").write_text(FAKE_2027, encoding="utf-8")
    return WorkingDayCalendar(folder)


def wd(n: int) -> DeadlineRule:
    return DeadlineRule(amount=n, unit="working_days")


# --- the calendar ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        ("2026-09-19", False),  # Saturday
        ("2026-09-20", True),   # Sunday, adjusted working day
        ("2026-09-25", False),  # Mid-autumn, Friday
        ("2026-09-27", False),  # Mid-autumn, Sunday
        ("2026-10-01", False),  # National Day
        ("2026-10-07", False),  # National Day, Wednesday
        ("2026-10-08", True),
        ("2026-10-10", True),   # Saturday, adjusted working day
        ("2026-10-11", False),  # ordinary Sunday
    ],
)
def test_2026_working_days_from_library(empty_calendar, day, working):
    d = dt.date.fromisoformat(day)
    assert empty_calendar.is_working_day(d) is working
    assert empty_calendar.is_provisional(d) is False
    assert empty_calendar.day(d).source.startswith("chinese_calendar")


@pytest.mark.parametrize(
    ("day", "working"),
    [("2027-01-04", True), ("2027-01-09", False), ("2030-02-01", True), ("2027-02-05", True), ("2003-05-06", True)],
)
def test_years_without_data_fall_back_to_weekdays_without_raising(empty_calendar, day, working):
    # 2027-02-05 is the Spring Festival's eve (除夕): a lunar date, unknown without the arrangement
    d = dt.date.fromisoformat(day)
    assert empty_calendar.day(d) == CalendarDay(working=working, provisional=True,
                                                source="weekday fallback (provisional)")


@pytest.mark.parametrize("day", ["2027-01-01", "2027-05-03", "2028-05-01", "2028-05-02",
                                 "2027-10-01", "2027-10-03", "2030-01-01", "2003-05-01"])
def test_fallback_skips_fixed_date_statutory_holidays_and_stays_provisional(empty_calendar, day):
    """《全国年节及纪念日放假办法》第二条 (2025 text): 1 Jan, 1–2 May, 1–3 Oct are days off whatever the arrangement."""
    d = dt.date.fromisoformat(day)
    answer = empty_calendar.day(d)
    if day == "2027-05-03":  # a Monday after 1–2 May (Sat, Sun): not a fixed holiday, counted as a weekday
        assert answer == CalendarDay(True, True, "weekday fallback (provisional)")
        return
    assert answer.working is False and answer.provisional is True
    assert "全国年节及纪念日放假办法" in answer.source


def test_provisional_deadline_in_2028_skips_fixed_holidays(empty_calendar):
    # Fri 2028-04-28 + 3 working days: Mon 1 May and Tue 2 May are statutory holidays -> Wed 3, Thu 4, Fri 5
    d = compute_deadline(at("2028-04-28 10:00"), wd(3), empty_calendar)
    assert d.due_at == end_of("2028-05-05")
    assert d.provisional is True and "2028" in d.note


def test_pendulum_date_accepted_and_datetime_rejected(empty_calendar):
    assert empty_calendar.is_working_day(pendulum.date(2026, 9, 20)) is True
    with pytest.raises(TypeError):
        empty_calendar.is_working_day(dt.datetime(2026, 9, 20, 12, 0))


def test_default_calendar_folder_is_policy_calendar_and_loads():
    from core.paths import PROJECT_ROOT

    cal = WorkingDayCalendar()
    assert cal.calendar_dir == PROJECT_ROOT / "policy" / "calendar"
    assert cal.is_working_day(dt.date(2026, 10, 10)) is True
    assert cal.is_working_day(dt.date(2026, 10, 1)) is False


def test_explicit_missing_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        WorkingDayCalendar(tmp_path / "nope")


def test_official_file_overrides_fallback(calendar_2027):
    assert calendar_2027.official_years == (2027,)
    assert calendar_2027.day(dt.date(2027, 1, 5)) == CalendarDay(
        False, False, "2027.yaml: TEST FIXTURE — not the official 国务院办公厅 notice")
    assert calendar_2027.is_working_day(dt.date(2027, 1, 9)) is True       # listed Saturday
    assert calendar_2027.is_working_day(dt.date(2027, 1, 6)) is True       # ordinary Wednesday
    assert calendar_2027.is_working_day(dt.date(2027, 1, 10)) is False     # ordinary Sunday
    assert calendar_2027.is_provisional(dt.date(2027, 6, 1)) is False      # whole year covered
    assert calendar_2027.is_provisional(dt.date(2028, 1, 3)) is True


def test_file_overrides_library_for_covered_year(tmp_path):
    (tmp_path / "2026.yaml").write_text(
        f'year: 2026\nsource: "TEST FIXTURE"\nholidays: [2026-01-01, {FIXED_2026}, 2026-10-08]\nworking_days: []\n',
        encoding="utf-8")
    cal = WorkingDayCalendar(tmp_path)
    assert cal.is_working_day(dt.date(2026, 10, 8)) is False
    assert cal.is_working_day(dt.date(2026, 10, 10)) is False  # file has no 调休: ordinary Saturday
    assert cal.is_working_day(dt.date(2026, 10, 6)) is True     # file's word, not the library's (国庆节 to 7 Oct)


def test_dates_may_be_quoted_strings_and_new_year_may_straddle(tmp_path):
    (tmp_path / "2027.yaml").write_text(
        f'year: 2027\nsource: "TEST FIXTURE"\nholidays: ["2026-12-31", "2027-01-01", {FIXED_2027}]\n'
        'working_days: ["2027-01-02"]\n',
        encoding="utf-8")
    cal = WorkingDayCalendar(tmp_path)
    assert cal.day(dt.date(2026, 12, 31)) == CalendarDay(False, False, "2027.yaml: TEST FIXTURE")
    assert cal.is_working_day(dt.date(2027, 1, 2)) is True


# --- malformed calendar files ---------------------------------------------------------------------------------------

GOOD = {"year": "2027", "source": '"TEST FIXTURE"', "holidays": f"[2027-01-01, {FIXED_2027}]",
        "working_days": "[2027-01-09]"}
# Each case replaces one field of GOOD; the error (Chinese, models.holidays.parse_arrangement's: the one reader of an
# arrangement) must name the file, the field and the offending value.


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("year", "2028", ["year（年份）", "2028", "不符"]),
        ("year", '"twenty"', ["year（年份）", "twenty"]),
        ("holidays", "[2027-13-01]", ["holidays（放假日期）", "2027-13-01", "不是有效日期"]),
        ("holidays", '["1 Jan"]', ["holidays（放假日期）", "1 Jan"]),
        ("holidays", "2027-01-01", ["holidays（放假日期）", "2027-01-01", "日期列表"]),
        ("holidays", "[2029-01-01]", ["holidays（放假日期）", "2029-01-01", "不在 2027 年安排的范围内"]),
        ("holidays", "[2027-01-01 09:00:00]", ["holidays（放假日期）", "2027-01-01 09:00"]),
        ("holidays", "[]", ["holidays（放假日期）", "没有列出任何放假日期"]),
        ("working_days", "[2027-01-06]", ["working_days（调休上班日期）", "2027-01-06", "星期三"]),
        ("holidays", "[2027-01-01, 2027-01-09]", ["working_days（调休上班日期）", "2027-01-09", "同时列在"]),
        ("source", '""', ["source（通知名称）"]),
        # as the database's arrangements: every fixed-date statutory holiday listed, no date twice
        ("holidays", "[2027-01-01]", ["holidays（放假日期）", "缺少法定节日 2027-05-01（劳动节"]),
        ("holidays", f"[2027-01-01, 2027-01-01, {FIXED_2027}]", ["holidays（放假日期）", "2027-01-01", "重复列出"]),
    ],
)
def test_malformed_file_names_file_field_and_value(tmp_path, field, value, expected):
    fields = dict(GOOD, **{field: value})
    path = tmp_path / "2027.yaml"
    path.write_text("".join(f"{k}: {v}\n" for k, v in fields.items()), encoding="utf-8")
    with pytest.raises(ArrangementError) as err:
        WorkingDayCalendar(tmp_path)
    message = str(err.value)
    assert str(path) in message
    for part in expected:
        assert part in message


def test_a_calendar_file_is_read_as_careflow_calendar_load_reads_it(tmp_path):
    """One reader: a file the calendar accepts is the arrangement ``careflow calendar load`` would store (note too)."""
    from models.holidays import parse_arrangement

    text = FAKE_2027 + 'note: "测试用"\n'
    (tmp_path / "2027.yaml").write_text(text, encoding="utf-8")
    calendar = WorkingDayCalendar(tmp_path)
    arrangement = parse_arrangement(text)
    assert calendar.official_years == (2027,)
    for day in arrangement.holidays:
        assert calendar.day(day) == CalendarDay(False, False, f"2027.yaml: {arrangement.source}")
    for day in arrangement.working_days:
        assert calendar.day(day) == CalendarDay(True, False, f"2027.yaml: {arrangement.source}")


def test_missing_and_unknown_fields(tmp_path):
    path = tmp_path / "2027.yaml"
    path.write_text('year: 2027\nsource: "x"\nholidays: [2027-01-01]\n', encoding="utf-8")
    with pytest.raises(ArrangementError, match=r"2027\.yaml：缺少字段 working_days（调休上班日期）"):
        WorkingDayCalendar(tmp_path)
    path.write_text('year: 2027\nsource: "x"\nholiday: [2027-01-01]\nholidays: [2027-01-01]\nworking_days: []\n',
                    encoding="utf-8")
    with pytest.raises(ArrangementError, match=r"2027\.yaml：字段 holiday .*未知字段"):
        WorkingDayCalendar(tmp_path)


def test_badly_named_or_unparseable_file(tmp_path):
    (tmp_path / "next-year.yaml").write_text(FAKE_2027, encoding="utf-8")
    with pytest.raises(ArrangementError, match=r"next-year\.yaml.*<年份>\.yaml"):
        WorkingDayCalendar(tmp_path)
    (tmp_path / "next-year.yaml").unlink()
    (tmp_path / "2027.yaml").write_text("year: [2027\n", encoding="utf-8")
    with pytest.raises(ArrangementError, match=r"2027\.yaml：不是有效的 YAML"):
        WorkingDayCalendar(tmp_path)


def test_a_year_in_two_files(tmp_path):
    (tmp_path / "2027.yaml").write_text(FAKE_2027, encoding="utf-8")
    (tmp_path / "2027.yml").write_text(FAKE_2027, encoding="utf-8")
    with pytest.raises(ArrangementError, match=r"2027\.yml：字段 year（年份） 的值 “2027” 已从 2027\.yaml: TEST"):
        WorkingDayCalendar(tmp_path)


def test_contradicting_files(tmp_path):
    (tmp_path / "2027.yaml").write_text(f'year: 2027\nsource: "B"\nholidays: [2027-01-01, {FIXED_2027}]\n'
                                        'working_days: [2026-12-27]\n', encoding="utf-8")
    (tmp_path / "2026.yaml").write_text(f'year: 2026\nsource: "A"\nholidays: [2026-01-01, {FIXED_2026}, 2026-12-27]\n'
                                        'working_days: []\n', encoding="utf-8")
    with pytest.raises(ArrangementError, match=r"2027\.yaml：字段 working_days（调休上班日期） 的值 2026-12-27 与 2026\.yaml"):
        WorkingDayCalendar(tmp_path)


# --- DeadlineRule ---------------------------------------------------------------------------------------------------


def test_rule_parse():
    assert DeadlineRule.parse("15wd") == DeadlineRule(amount=15, unit="working_days")
    assert DeadlineRule.parse("24h") == DeadlineRule(amount=24, unit="hours")
    assert DeadlineRule.parse("3d") == DeadlineRule(amount=3, unit="calendar_days")
    with pytest.raises(ValueError, match="3xd"):
        DeadlineRule.parse("3xd")


# --- compute_deadline: working days ---------------------------------------------------------------------------------


def test_3wd_from_friday_counts_adjusted_sunday(empty_calendar):
    d = compute_deadline(at("2026-09-18 15:00"), wd(3), empty_calendar)
    assert d.due_at == end_of("2026-09-22")  # Sun 20 (调休), Mon 21, Tue 22
    assert d.due_at.timezone_name == SH
    assert (d.provisional, d.note) == (False, "")
    assert d.rule == wd(3)


def test_3wd_before_national_day_ends_on_adjusted_saturday(empty_calendar):
    d = compute_deadline(at("2026-09-30 10:00"), wd(3), empty_calendar)
    assert d.due_at == end_of("2026-10-10")  # Thu 8, Fri 9, Sat 10 (调休)
    assert format_local(d) == "2026-10-10 23:59"
    assert d.provisional is False


def test_10wd_across_national_day(empty_calendar):
    d = compute_deadline(at("2026-09-30 10:00"), wd(10), empty_calendar)
    # 8, 9, 10(Sat 调休), 12, 13, 14, 15, 16, 19, 20
    assert d.due_at == end_of("2026-10-20")


def test_3wd_across_mid_autumn(empty_calendar):
    d = compute_deadline(at("2026-09-23 09:00"), wd(3), empty_calendar)
    assert d.due_at == end_of("2026-09-29")  # Thu 24, (25–27 off), Mon 28, Tue 29


def test_start_day_not_counted_even_if_start_is_early_morning(empty_calendar):
    d = compute_deadline(at("2026-09-21 00:01"), wd(1), empty_calendar)
    assert d.due_at == end_of("2026-09-22")


def test_start_on_holiday(empty_calendar):
    d = compute_deadline(at("2026-10-03 11:00"), wd(1), empty_calendar)
    assert d.due_at == end_of("2026-10-08")


# --- compute_deadline: hours and calendar days ----------------------------------------------------------------------


def test_24h_runs_through_holiday(empty_calendar):
    d = compute_deadline(at("2026-09-30 18:00"), DeadlineRule.parse("24h"), empty_calendar)
    assert d.due_at == at("2026-10-01 18:00")
    assert (d.provisional, d.note) == (False, "")


def test_hours_never_provisional_even_in_2027(empty_calendar):
    d = compute_deadline(at("2027-01-04 09:30"), DeadlineRule.parse("72h"), empty_calendar)
    assert d.due_at == at("2027-01-07 09:30")
    assert d.provisional is False


def test_utc_start_converted_to_shanghai(empty_calendar):
    start = dt.datetime(2026, 9, 30, 2, 0, tzinfo=dt.timezone.utc)
    d = compute_deadline(start, DeadlineRule.parse("24h"), empty_calendar)
    assert d.due_at == at("2026-10-01 10:00")
    assert d.due_at.timezone_name == SH
    assert format_local(d) == "2026-10-01 10:00"
    assert d.due_at_utc() == pendulum.datetime(2026, 10, 1, 2, 0, tz="UTC")
    assert d.due_at_utc().timezone_name == "UTC"


def test_utc_start_counts_from_shanghai_date(empty_calendar):
    # 17:00 UTC on Thu 17 Sep is 01:00 on Fri 18 Sep in Shanghai: the period starts on the 18th.
    start = dt.datetime(2026, 9, 17, 17, 0, tzinfo=ZoneInfo("UTC"))
    assert compute_deadline(start, wd(3), empty_calendar).due_at == end_of("2026-09-22")


def test_3d_landing_in_national_day_moves_to_first_working_day(empty_calendar):
    d = compute_deadline(at("2026-09-30 10:00"), DeadlineRule.parse("3d"), empty_calendar)
    assert d.due_at == end_of("2026-10-08")  # last day Sat 3 Oct is a holiday -> Thu 8 Oct


def test_calendar_days_on_ordinary_weekend_and_on_adjusted_saturday(empty_calendar):
    assert compute_deadline(at("2026-11-11 10:00"), DeadlineRule.parse("3d"), empty_calendar).due_at == end_of(
        "2026-11-16")  # Sat 14 -> Mon 16
    assert compute_deadline(at("2026-10-07 10:00"), DeadlineRule.parse("3d"), empty_calendar).due_at == end_of(
        "2026-10-10")  # Sat 10 is a working day: stays


def test_calendar_days_ending_on_working_day(empty_calendar):
    d = compute_deadline(at("2026-09-14 16:00"), DeadlineRule.parse("2d"), empty_calendar)
    assert d.due_at == end_of("2026-09-16")


# --- provisional (2027) ---------------------------------------------------------------------------------------------


def test_2027_deadline_is_weekday_and_provisional(empty_calendar):
    d = compute_deadline(at("2027-01-04 09:00"), wd(4), empty_calendar)
    assert d.due_at == end_of("2027-01-08")  # Tue 5 .. Fri 8, Mon–Fri
    assert d.provisional is True
    assert "2027" in d.note and "2026" not in d.note


def test_2026_to_2027_crossing_is_provisional(empty_calendar):
    d = compute_deadline(at("2026-12-30 14:00"), wd(5), empty_calendar)
    assert d.due_at == end_of("2027-01-07")  # Thu 31 Dec, (Fri 1 Jan 新年 off), then Mon 4 .. Thu 7
    assert d.provisional is True
    assert "2027" in d.note


def test_calendar_days_ending_in_2027_provisional(empty_calendar):
    d = compute_deadline(at("2026-12-29 14:00"), DeadlineRule.parse("3d"), empty_calendar)
    assert d.due_at == end_of("2027-01-04")  # last day Fri 1 Jan is 新年: moved over the weekend to Mon 4
    assert d.provisional is True and "2027" in d.note


def test_within_2026_not_provisional_even_near_year_end(empty_calendar):
    d = compute_deadline(at("2026-12-29 14:00"), DeadlineRule.parse("2d"), empty_calendar)
    assert d.due_at == end_of("2026-12-31")
    assert (d.provisional, d.note) == (False, "")


def test_loaded_2027_file_makes_deadline_official(calendar_2027):
    d = compute_deadline(at("2027-01-04 09:00"), wd(4), calendar_2027)
    assert d.due_at == end_of("2027-01-09")  # Tue 5 off, Wed 6, Thu 7, Fri 8, Sat 9 (调休)
    assert (d.provisional, d.note) == (False, "")


def test_loaded_2027_file_for_year_crossing(calendar_2027):
    d = compute_deadline(at("2026-12-30 14:00"), wd(5), calendar_2027)
    assert d.due_at == end_of("2027-01-08")  # 31 Dec, (1 Jan off), 4, (5 off), 6, 7, 8
    assert d.provisional is False


def test_years_named_in_note_when_several_missing(empty_calendar):
    d = compute_deadline(at("2027-12-20 09:00"), wd(15), empty_calendar)
    assert d.provisional is True
    assert "2027" in d.note and "2028" in d.note


# --- errors ---------------------------------------------------------------------------------------------------------


def test_naive_start_rejected(empty_calendar):
    with pytest.raises(ValueError, match="start must be timezone-aware, got"):
        compute_deadline(dt.datetime(2026, 9, 30, 10, 0), wd(3), empty_calendar)


def test_date_start_rejected(empty_calendar):
    with pytest.raises(TypeError):
        compute_deadline(dt.date(2026, 9, 30), wd(3), empty_calendar)


def test_invalid_time_zone(empty_calendar):
    with pytest.raises(ValueError):
        compute_deadline(at("2026-09-30 10:00"), wd(3), empty_calendar, tz="Mars/Olympus")


def test_deadline_is_frozen_and_rejects_naive():
    d = Deadline(due_at=at("2026-10-10 23:59:59"), provisional=False, rule=wd(3), note="")
    with pytest.raises(AttributeError):
        d.provisional = True  # type: ignore[misc]
    with pytest.raises(ValueError):
        Deadline(due_at=dt.datetime(2026, 10, 10), provisional=False, rule=wd(3), note="")


def test_default_calendar_used_when_none():
    d = compute_deadline(at("2026-09-30 10:00"), wd(3))
    assert d.due_at == end_of("2026-10-10")


# --- helpers --------------------------------------------------------------------------------------------------------


def test_is_overdue_day_deadline_runs_to_midnight(empty_calendar):
    d = compute_deadline(at("2026-09-30 10:00"), wd(3), empty_calendar)  # 2026-10-10 24:00
    assert is_overdue(d, at("2026-10-10 23:59:59").add(microseconds=999_999)) is False
    assert is_overdue(d, at("2026-10-11 00:00:00")) is True
    assert is_overdue(d.due_at, at("2026-10-09 12:00")) is False
    # any aware zone for "now": 2026-10-10 16:00 UTC == 2026-10-11 00:00 Shanghai
    assert is_overdue(d, dt.datetime(2026, 10, 10, 16, 0, tzinfo=dt.timezone.utc)) is True


def test_is_overdue_hour_deadline(empty_calendar):
    d = compute_deadline(at("2026-09-30 18:00"), DeadlineRule.parse("24h"), empty_calendar)
    assert is_overdue(d, at("2026-10-01 18:00:00")) is False
    assert is_overdue(d, at("2026-10-01 18:00:01")) is True


def test_is_overdue_rejects_naive_now(empty_calendar):
    d = compute_deadline(at("2026-09-30 18:00"), DeadlineRule.parse("24h"), empty_calendar)
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        is_overdue(d, dt.datetime(2026, 10, 2))


def test_format_local():
    assert format_local(end_of("2026-10-10")) == "2026-10-10 23:59"
    assert format_local(dt.datetime(2026, 10, 1, 2, 0, tzinfo=dt.timezone.utc)) == "2026-10-01 10:00"
    assert format_local(dt.datetime(2026, 10, 1, 2, 0, tzinfo=dt.timezone.utc), tz="UTC") == "2026-10-01 02:00"
    with pytest.raises(ValueError):
        format_local(dt.datetime(2026, 10, 1, 2, 0))


# --- speed ----------------------------------------------------------------------------------------------------------


def test_100k_deadlines_are_fast(empty_calendar):
    base = at("2026-01-01 09:00")
    starts = [base.add(hours=7 * i) for i in range(2000)]  # ~1.6 years of start times, into 2027
    rules = [wd(3), wd(15), DeadlineRule.parse("3d"), DeadlineRule.parse("24h"), wd(30)]
    t0 = time.perf_counter()
    n = 0
    for _ in range(10):
        for start in starts:
            for rule in rules:
                compute_deadline(start, rule, empty_calendar)
                n += 1
    elapsed = time.perf_counter() - t0
    assert n == 100_000
    print(f"100k deadlines computed in {elapsed:.2f}s")  # a figure, not a timed assertion (noisy machine)
