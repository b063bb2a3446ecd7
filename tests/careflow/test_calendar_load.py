"""Loading a year's holiday arrangement moves the provisional deadlines it settles, and tells people once.

The 2027 file used here is a TEST fixture (tests/careflow/fixtures/TEST_holidays_2027_not_official.yaml), not the
State Council's arrangement: its Spring Festival holiday is Fri 5 – Thu 11 Feb 2027 and Sat 20 Feb is worked.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select
from typer.testing import CliRunner

from careflow.cases import create_pathway_run, open_case

from careflow.registration import register_child
from core.db import session_scope
from careflow.escalation import escalate_overdue_tasks
from careflow.holiday_warning import check_next_year_calendar
from careflow.holidays import load_arrangement_file
from core.db import forget_stored_calendar
from careflow.step_tasks import open_step_task
from models.audit import AuditEvent
from models.base import utcnow
from models.deadlines import format_local
from models.holidays import HolidayArrangement
from models.notification import Notification
from models.task import AgencyTask
from tests.factories import make_resident_id

SHANGHAI = timezone(timedelta(hours=8))
TEST_2027 = Path(__file__).parent / "fixtures" / "TEST_holidays_2027_not_official.yaml"


def at(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def no_2027(database_url):
    """The session's database without a 2027 arrangement before and after the test (other tests expect 2027
    to be provisional)."""
    def clear():
        with session_scope() as session:
            session.execute(sa.delete(HolidayArrangement).where(HolidayArrangement.year == 2027))
        forget_stored_calendar()

    clear()
    yield
    clear()


@pytest.fixture
def spring_festival_task(no_2027):
    """A police reprimand (3 working days) requested Thu 2027-02-04 10:00, the day before the TEST Spring Festival
    holiday. Counted Monday–Friday it is due Tue 9 Feb (Fri 5, Mon 8, Tue 9): provisional."""
    with session_scope() as session:
        child = register_child(session, resident_id=make_resident_id(), full_name="春节测试", hukou_county="511321",
                               residence_county="350302", residence_area_code="350302001001",
                               arrival_date=date(2023, 8, 20), actor="cal.caseworker").child
        case = open_case(session, child_id=child.id, caseworker="cal.caseworker")
        run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="cal.caseworker")
        session.flush()
        task = open_step_task(session, pathway_run_id=run.id, step_key="police_reprimand", now=at(2027, 2, 4, 10))
    return task.id


def changed_messages(task_id):
    with session_scope() as session:
        return sorted((n.unit_code, n.recipient_role, n.subject, n.body) for n in session.exec(
            select(Notification).where(Notification.task_id == task_id, Notification.event == "deadline_changed")))


def test_loading_2027_moves_a_provisional_deadline_across_the_spring_festival_and_tells_once(spring_festival_task):
    with session_scope() as session:
        task = session.get(AgencyTask, spring_festival_task)
        assert (format_local(task.due_at), task.due_provisional) == ("2027-02-09 23:59", True)

    started = utcnow()  # the calendar page's tests may have loaded 2027 before, in the same database
    first = load_arrangement_file(TEST_2027, actor="province.admin")
    assert first.stored and first.moved >= 1

    with session_scope() as session:
        task = session.get(AgencyTask, spring_festival_task)
        # 5–11 Feb off: Fri 12, Mon 15, Tue 16
        assert (format_local(task.due_at), task.due_provisional) == ("2027-02-16 23:59", False)
        audit = session.exec(select(AuditEvent).where(AuditEvent.entity_id == str(task.id),
                                                      AuditEvent.action == "task.deadline_recomputed")).one()
        assert audit.detail["old_due_at"].startswith("2027-02-09T15:59:59")  # 23:59:59 Beijing time, in UTC
        assert audit.detail["new_due_at"].startswith("2027-02-16T15:59:59")
        loaded = session.exec(select(AuditEvent).where(AuditEvent.action == "calendar.arrangement_loaded",
                                                       AuditEvent.entity_id == "2027",
                                                       AuditEvent.at >= started)).all()
        assert [e.actor for e in loaded] == ["province.admin"]
        assert session.get(HolidayArrangement, 2027).recomputed_at is not None

    messages = changed_messages(spring_festival_task)
    assert [(unit, role) for unit, role, *_ in messages] == [("caseworker.cal.caseworker", "caseworker"),
                                                              ("police-350302", "officer")]
    subject, body = messages[1][2], messages[1][3]
    assert "截止时间调整" in subject and "2027-02-16 23:59" in subject and "暂定" not in subject
    assert "原截止时间 2027-02-09 23:59（暂定）调整为 2027-02-16 23:59" in body
    assert "测试用节假日安排" in body and "春节测试" not in body

    # the sweeper escalates at the new deadline, not at the old one
    fired = lambda now: sorted(r for t, r in escalate_overdue_tasks(now) if t == spring_festival_task)  # noqa: E731
    assert "deadline" not in fired(at(2027, 2, 10, 0, 0, 30))
    assert fired(at(2027, 2, 17, 0, 0, 30)) == ["deadline"]

    again = load_arrangement_file(TEST_2027, actor="province.admin")
    assert (again.stored, again.moved, again.messages) == (False, 0, 0)
    assert changed_messages(spring_festival_task) == messages  # nobody told twice


def test_new_tasks_after_the_load_count_the_loaded_holidays(no_2027):
    load_arrangement_file(TEST_2027, actor="province.admin")
    from models.deadlines import DeadlineRule, compute_deadline

    d = compute_deadline(at(2027, 2, 4, 10), DeadlineRule.parse("3wd"))
    assert (format_local(d), d.provisional) == ("2027-02-16 23:59", False)
    d = compute_deadline(at(2027, 2, 18, 10), DeadlineRule.parse("2wd"))
    assert format_local(d) == "2027-02-20 23:59"  # Fri 19, Sat 20 worked (调休)


@pytest.mark.parametrize(("change", "field", "value"), [
    (("- 2027-02-20", "- 2027-02-17"), "working_days", "2027-02-17"),   # a Wednesday
    (("- 2027-02-09", "- 2027-02-30"), "holidays", "2027-02-30"),        # no such date
    (("  - 2027-10-02\n", ""), "holidays", "2027-10-02"),              # a fixed statutory holiday left out
    (('source: "测试用节假日安排（非官方，仅供自动化测试）"', 'source: ""'), "source", ""),
    (("year: 2027", "year: 二〇二七"), "year", "二〇二七"),
])
def test_bad_file_names_field_and_value_in_chinese_and_writes_nothing(spring_festival_task, tmp_path, change, field,
                                                                      value):
    from entry.cli import app

    bad = tmp_path / "2027.yaml"
    bad.write_text(TEST_2027.read_text(encoding="utf-8").replace(*change), encoding="utf-8")
    result = CliRunner().invoke(app, ["calendar", "load", str(bad), "--as", "province.admin"])
    assert result.exit_code == 2
    assert f"字段 {field}" in result.stderr and (value in result.stderr) and str(bad) in result.stderr
    with session_scope() as session:
        assert session.get(HolidayArrangement, 2027) is None
        task = session.get(AgencyTask, spring_festival_task)
        assert (format_local(task.due_at), task.due_provisional) == ("2027-02-09 23:59", True)
    assert changed_messages(spring_festival_task) == []


def test_bad_file_is_named_in_english_on_request(no_2027, tmp_path, monkeypatch):
    """``CAREFLOW_LANG=en``: the admin reads the file, the field and the value in English; nothing is written."""
    from core.i18n import cli_language
    from entry.cli import app

    bad = tmp_path / "2027.yaml"
    bad.write_text(TEST_2027.read_text(encoding="utf-8").replace("- 2027-02-20", "- 2027-02-17"), encoding="utf-8")
    monkeypatch.setenv("CAREFLOW_LANG", "en")
    cli_language.cache_clear()
    try:
        result = CliRunner().invoke(app, ["calendar", "load", str(bad), "--as", "province.admin"])
    finally:
        monkeypatch.delenv("CAREFLOW_LANG")
        cli_language.cache_clear()
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f'error: holiday arrangement file {bad}: field working_days (adjusted working days), value "2027-02-17": '
        "is a Wednesday: an adjusted working day can only be a Saturday or a Sunday")
    chinese = CliRunner().invoke(app, ["calendar", "load", str(bad), "--as", "province.admin"])
    assert chinese.exit_code == 2 and chinese.stderr.strip() == (
        f"错误：节假日安排文件 {bad}：字段 working_days（调休上班日期） 的值 “2027-02-17” 是星期三，"
        "调休上班日只能是星期六或星期日")
    with session_scope() as session:
        assert session.get(HolidayArrangement, 2027) is None


def test_recomputing_a_year_not_loaded_or_not_readable_is_refused_in_both_languages(database_url, tmp_path):
    from careflow.holidays import ArrangementMissing, CalendarUnreadable, recompute_provisional
    from models.holidays import Arrangement
    from models.working_days import WorkingDayCalendar

    with pytest.raises(CalendarUnreadable) as unreadable:
        recompute_provisional(2031, calendar=WorkingDayCalendar(tmp_path))
    assert isinstance(unreadable.value, RuntimeError)
    assert str(unreadable.value) == "2031年节假日安排无法从数据库读出，未重新计算任何期限（数据库恢复后请重新载入该文件）"
    assert unreadable.value.text("en").startswith("the 2031 holiday arrangement is not readable from the database")
    only_in_memory = Arrangement(year=2031, source="TEST", holidays=frozenset({date(2031, 1, 1)}),
                                 working_days=frozenset())
    with pytest.raises(ArrangementMissing) as missing:
        recompute_provisional(2031, calendar=WorkingDayCalendar(tmp_path, arrangements=[only_in_memory]))
    assert isinstance(missing.value, LookupError)
    assert str(missing.value) == "字段 year（年份）的值 “2031”：该年度节假日安排尚未载入"
    assert missing.value.text("en") == 'field year, value "2031": the year\'s holiday arrangement is not loaded'


def test_cli_load_reports_in_chinese(no_2027):
    from entry.cli import app

    result = CliRunner().invoke(app, ["calendar", "load", str(TEST_2027), "--as", "province.admin"])
    assert result.exit_code == 0, result.output
    assert "2027年节假日安排已载入：测试用节假日安排" in result.stdout
    result = CliRunner().invoke(app, ["calendar", "load", str(TEST_2027), "--as", "province.admin"])
    assert "此前已载入，内容相同" in result.stdout and "截止时间调整 0 项" in result.stdout


def test_missing_next_year_warns_the_province_once_a_week_from_november(no_2027):
    def warnings():
        with session_scope() as session:
            return session.exec(select(Notification.idempotency_key, Notification.unit_code).where(
                Notification.event == "calendar_missing",
                Notification.idempotency_key.like("calendar_missing:2027:%"))).all()

    before = set(warnings())
    assert check_next_year_calendar(at(2026, 10, 31, 12)) is None          # before 1 November: nothing
    key = check_next_year_calendar(at(2026, 11, 2, 9))
    assert key == "calendar_missing:2027:2026-W45"
    assert check_next_year_calendar(at(2026, 11, 6, 9)) is None             # same week
    assert check_next_year_calendar(at(2026, 11, 9, 9)) == "calendar_missing:2027:2026-W46"  # next week
    assert set(warnings()) - before == {("calendar_missing:2027:2026-W45", "civil_affairs-350000.manager"),
                                        ("calendar_missing:2027:2026-W46", "civil_affairs-350000.manager")}
    with session_scope() as session:
        body = session.exec(select(Notification.body).where(
            Notification.idempotency_key == "calendar_missing:2027:2026-W45")).one()
    assert "2027年的国务院节假日安排尚未载入" in body and "careflow calendar load" in body
    with session_scope() as session:  # a message about no task goes through the outbox like any other
        from notifications.outbox import dispatch_notification

        warning = session.exec(select(Notification).where(
            Notification.idempotency_key == "calendar_missing:2027:2026-W46")).one()
        assert dispatch_notification(session, warning.id).status.value in ("sent", "failed")

    load_arrangement_file(TEST_2027, actor="province.admin")
    assert check_next_year_calendar(at(2026, 11, 16, 9)) is None            # loaded: no more warnings


def test_a_city_lists_republication_duty_counted_from_its_publication_moves_off_the_holiday(no_2027):
    """A city list published Wed 2025-02-05 is due for republication two years on, Fri 2027-02-05 — in the TEST
    arrangement a Spring Festival holiday, so the last day moves to Fri 12 Feb (民法典 第二百零三条)."""
    import yaml

    from core.paths import PROJECT_ROOT
    from careflow.city_list import load_city_list
    from models.city_list import CityServiceList

    data = yaml.safe_load((PROJECT_ROOT / "policy" / "service_list.yaml").read_text(encoding="utf-8"))
    data.update({"city_code": "350300", "published_on": date(2025, 2, 5), "source": "测试清单",
                 "title_zh": "莆田市流动儿童在居住地享有关爱服务清单"})
    with session_scope() as session:
        result = load_city_list(session, CityServiceList.model_validate(data), actor="test",
                                now=datetime(2025, 2, 6, tzinfo=timezone.utc))
        duty = next(t for t in result.duties if t.step_key == "city_list_republication")
        duty_id = duty.id
        assert (format_local(duty.due_at), duty.due_provisional) == ("2027-02-05 23:59", True)

    load_arrangement_file(TEST_2027, actor="province.admin")
    with session_scope() as session:
        duty = session.get(AgencyTask, duty_id)
        assert (format_local(duty.due_at), duty.due_provisional) == ("2027-02-12 23:59", False)
    assert [(unit, role) for unit, role, *_ in changed_messages(duty_id)] == [("civil_affairs-350300", "officer")]


def test_the_provisional_page_is_an_index_range_scan(database_url):
    """Among many open tasks that are not provisional, the recomputation's page query reads only the partial index
    of open provisional tasks (PostgreSQL plan, in a private database so that its rows and statistics do not touch
    other tests' plans; SQLite: a SEARCH by that index, in index order)."""
    import uuid

    from core.db import get_engine, migrate
    from careflow.holidays import provisional_page
    from tests.conftest import _create_pg_database, _drop_pg_database

    lo = at(2027, 1, 1)
    pg = database_url.startswith("postgresql")
    url = _create_pg_database() if pg else database_url
    try:
        if pg:
            migrate(url)
            with get_engine(url).begin() as conn:
                conn.exec_driver_sql("""
                    INSERT INTO agency_unit (code, agency_type, jurisdiction_code, name, active)
                    VALUES ('police-350302', 'police', '350302', '城厢区公安分局', true)""")
                conn.exec_driver_sql("""
                    INSERT INTO agency_task (id, step_key, attempt, agency_type, unit_code, jurisdiction_code, title,
                        state, requested_at, due_at, due_provisional, deadline_text, escalation_level, answered_by,
                        outcome, rejection_reason)
                    SELECT gen_random_uuid(), 's', 1, 'police', 'police-350302', '350302', 'plan', 'requested',
                           now(), TIMESTAMPTZ '2027-01-02' + mod(n, 300) * interval '1 day', mod(n, 200) = 0,
                           '3 working days', 0, '', '{}', ''
                    FROM generate_series(1, 40000) AS n""")
            with get_engine(url).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE agency_task")
        with get_engine(url).connect() as conn:
            for name, after in (("first", None), ("next", (lo, uuid.uuid4()))):
                query = provisional_page(lo, dialect=conn.dialect.name, after=after, lock_rows=True)
                compiled = query.compile(dialect=conn.dialect)
                params = {k: (v.astimezone(timezone.utc).replace(tzinfo=None) if isinstance(v, datetime) and not pg
                              else v.hex if isinstance(v, uuid.UUID) and not pg else v)
                          for k, v in compiled.params.items()}
                if pg:
                    plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + compiled.string, params).scalars())
                    assert "Seq Scan on agency_task" not in plan, f"{name}:\n{plan}"
                    assert "ix_agency_task_provisional_open" in plan, f"{name}:\n{plan}"
                else:
                    steps = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled.string,
                                                                     tuple(params[k] for k in compiled.positiontup))]
                    assert all("INDEX ix_agency_task_provisional_open" in s for s in steps if "agency_task" in s), steps
                    assert not any("TEMP B-TREE" in step for step in steps), steps
    finally:
        if pg:
            _drop_pg_database(url)


def test_an_arrangement_contradicting_the_stored_neighbouring_year_is_refused(no_2027, tmp_path):
    """A (TEST) 2027 arrangement stored with Sun 2027-12-26 off; a (TEST) 2028 file that lists that Sunday as an
    adjusted working day contradicts it: refused in Chinese, naming the field and the date, nothing stored."""
    from models.holidays import ArrangementError

    text_2027 = TEST_2027.read_text(encoding="utf-8").replace("  - 2027-10-07\n", "  - 2027-10-07\n  - 2027-12-26\n")
    (tmp_path / "2027.yaml").write_text(text_2027, encoding="utf-8")
    load_arrangement_file(tmp_path / "2027.yaml", actor="province.admin")
    text_2028 = ('year: 2028\nsource: "测试用2028年安排（非官方）"\nholidays: [2028-01-01, 2028-05-01, 2028-05-02, '
                 '2028-10-01, 2028-10-02, 2028-10-03]\nworking_days: [2027-12-26]\n')
    (tmp_path / "2028.yaml").write_text(text_2028, encoding="utf-8")
    try:
        with pytest.raises(ArrangementError) as refused:
            load_arrangement_file(tmp_path / "2028.yaml", actor="province.admin")
        assert "字段 working_days 的值 “2027-12-26” 与已载入的2027年安排" in str(refused.value)
        assert "放假日" in str(refused.value)
        assert ('field working_days, value "2027-12-26" contradicts the loaded 2027 arrangement'
                in refused.value.text("en")) and "that day is a day off" in refused.value.text("en")
        with session_scope() as session:
            assert session.get(HolidayArrangement, 2028) is None
    finally:
        with session_scope() as session:
            session.execute(sa.delete(HolidayArrangement).where(HolidayArrangement.year == 2028))
