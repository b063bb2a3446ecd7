"""City lists done right (方案 四, issue 14 item 3): a newer list completes the earlier republication duty and opens
the next; the city's filing is confirmed by the provincial department; a filing overdue reaches the provincial
department. On both database backends, through the same calls the CLI and the web make (``answer_task``).

Each test uses a city of its own (its civil affairs bureau added here), so that no other test's lists of 莆田市
change what it sees."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import yaml
from sqlmodel import select

from typer.testing import CliRunner

from careflow.answers import answer_task
from careflow.city_list import OlderCityList, load_city_list
from careflow.city_list_status import city_list_overview
from careflow.escalation import sweep_deadlines
from careflow.ladder import task_county
from core.db import session_scope
from core.paths import PROJECT_ROOT
from entry.cli import app
from models.agency import AgencyUnit
from models.audit import AuditEvent
from models.city_list import CityServiceList
from models.city_list_version import CityListVersion, FilingState
from models.errors import error_text
from models.notification import Notification
from models.task import AgencyTask, Escalation, TaskState

CITY_NAMES = {"350100": "福州市民政局", "350400": "三明市民政局",
              "350500": "泉州市民政局", "350600": "漳州市民政局", "350700": "南平市民政局", "350900": "宁德市民政局"}


@pytest.fixture
def city_unit(database_url):
    """Add the civil affairs bureau of a city (once per backend) and return the city code's factory."""
    def add(city_code: str) -> str:
        with session_scope() as session:
            if session.get(AgencyUnit, f"civil_affairs-{city_code}") is None:
                session.add(AgencyUnit(code=f"civil_affairs-{city_code}", agency_type="civil_affairs",
                                       jurisdiction_code=city_code, name=CITY_NAMES[city_code]))
        return city_code
    return add


def city_list_data(city_code: str, published_on: date, source: str = "测试清单") -> dict:
    data = yaml.safe_load((PROJECT_ROOT / "policy" / "service_list.yaml").read_text(encoding="utf-8"))
    data.update({"city_code": city_code, "published_on": published_on, "source": source, "title_zh": "测试清单"})
    return data


def city_list(city_code: str, published_on: date, source: str = "测试清单") -> CityServiceList:
    return CityServiceList.model_validate(city_list_data(city_code, published_on, source))


def load(city_code: str, published_on: date, source: str = "测试清单", now: datetime | None = None):
    with session_scope() as session:
        result = load_city_list(session, city_list(city_code, published_on, source), actor="市民政局 陈敏", now=now)
        return {t.step_key: t.id for t in result.duties}, result.version.version, [t.id for t in result.republished]


def task(task_id) -> AgencyTask:
    with session_scope() as session:
        return session.get(AgencyTask, task_id)


def test_loading_a_newer_list_completes_the_earlier_republication_duty_and_opens_the_next(city_unit):
    code = city_unit("350500")
    first, first_version, completed_first = load(code, date(2025, 3, 1), "泉民〔2025〕3号")
    second, second_version, completed = load(code, date(2027, 2, 20), "泉民〔2027〕8号")
    assert (first_version, second_version, completed_first) == (1, 2, [])
    assert completed == [first["city_list_republication"]]
    old, new = task(first["city_list_republication"]), task(second["city_list_republication"])
    assert old.state == TaskState.completed and old.outcome["republished_on"] == "2027-02-20"
    assert new.state == TaskState.requested and new.duty_key == f"city_list_republication:{code}:2027-02-20"
    with session_scope() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.entity_id == str(old.id),
                                                      AuditEvent.action == "task.completed")).one()
        loaded = session.exec(select(AuditEvent).where(AuditEvent.action == "city_list.loaded",
                                                       AuditEvent.entity_id == f"{code}:2027-02-20")).one()
    assert "第 2 版清单（2027-02-20发布，泉民〔2027〕8号）" in event.reason
    assert loaded.detail["version"] == 2 and loaded.detail["republished"] == [old.duty_key]
    # loading the second list again changes nothing: no third version, the new duty still open
    again, version, completed_again = load(code, date(2027, 2, 20), "泉民〔2027〕8号")
    assert (again, version, completed_again) == (second, 2, [])
    assert task(second["city_list_republication"]).state == TaskState.requested


def test_a_list_older_than_the_citys_latest_is_refused_in_chinese(city_unit):
    code = city_unit("350600")
    load(code, date(2026, 5, 1))
    with pytest.raises(OlderCityList) as older:
        load(code, date(2026, 1, 1))
    assert older.value.text("zh").startswith("发布日期：2026-01-01 早于漳州市已载入的第 1 版清单（2026-05-01发布）")
    assert older.value.text("en").startswith(
        "Publication date: 2026-01-01 is earlier than version 1 of 漳州市's list already loaded (published 2026-05-01)")
    with session_scope() as session:
        assert len(session.exec(select(CityListVersion).where(CityListVersion.city_code == code)).all()) == 1


def test_the_city_files_and_only_the_provinces_confirmation_makes_it_filed(city_unit):
    code = city_unit("350700")
    published = date(2026, 11, 2)
    duties, _, _ = load(code, published, now=datetime(2026, 11, 2, 2, tzinfo=timezone.utc))
    filing = task(duties["city_list_filing"])
    assert filing.unit_code == f"civil_affairs-{code}"

    def state(at: datetime) -> FilingState:
        with session_scope() as session:
            return city_list_overview(session, [code], now=at)[0].filing

    before_due = datetime(2026, 11, 5, tzinfo=timezone.utc)
    assert state(before_due) == FilingState.not_filed
    with pytest.raises(ValueError) as not_filed:
        answer_task(filing.short_ref, TaskState.completed, actor="南平市民政局 王芳", outcome={"filed": "否"})
    assert error_text(not_filed.value, "zh").startswith("已报送省民政厅备案：“否”不能办结报备任务；请报送省民政厅后再办结")
    assert error_text(not_filed.value, "en").startswith("Filed with the provincial civil affairs department: “no” "
                                                        "cannot complete the filing duty")
    assert task(filing.id).state == TaskState.requested
    answer_task(filing.short_ref, TaskState.completed, actor="南平市民政局 王芳", unit_code=filing.unit_code,
                outcome={"filed": "是", "note": "已于11月4日报送"}, now=before_due)
    with session_scope() as session:
        receipt = session.exec(select(AgencyTask).where(
            AgencyTask.duty_key == f"city_list_filing_receipt:{code}:2026-11-02")).one()
        message = session.exec(select(Notification).where(Notification.task_id == receipt.id)).one()
    assert (receipt.unit_code, receipt.state, receipt.jurisdiction_code) == (
        "civil_affairs-350000", "requested", "350000")
    assert receipt.deadline_text == "5 working days" and receipt.requested_at == before_due
    assert message.event == "task_requested" and "确认收到市级关爱服务清单备案" in message.subject
    assert "南平市民政局已登记将2026-11-02制定下发" in message.body
    assert state(before_due) == FilingState.awaiting
    assert state(datetime(2026, 12, 30, tzinfo=timezone.utc)) == FilingState.awaiting  # filed: never "overdue"

    answer_task(receipt.short_ref, TaskState.completed, actor="省民政厅 林洁", unit_code="civil_affairs-350000",
                outcome={"received": "是"})
    assert task(receipt.id).state == TaskState.completed and state(before_due) == FilingState.confirmed
    with session_scope() as session:
        actions = [e.action for e in session.exec(select(AuditEvent).where(
            AuditEvent.entity_type == "city_list", AuditEvent.entity_id == f"{code}:2026-11-02")
            .order_by(AuditEvent.id)).all()]
    assert actions == ["city_list.loaded", "city_list.filed", "city_list.filing_confirmed"]


def test_a_province_that_received_nothing_gives_the_city_its_filing_again(city_unit):
    code = city_unit("350900")
    duties, _, _ = load(code, date(2026, 10, 12), now=datetime(2026, 10, 12, 2, tzinfo=timezone.utc))
    filing = task(duties["city_list_filing"])
    answer_task(filing.short_ref, TaskState.completed, actor="宁德市民政局", outcome={"filed": "是"},
                now=datetime(2026, 10, 13, tzinfo=timezone.utc))
    with session_scope() as session:
        receipt = session.exec(select(AgencyTask).where(
            AgencyTask.duty_key == f"city_list_filing_receipt:{code}:2026-10-12")).one()
    answer_task(receipt.short_ref, TaskState.completed, actor="省民政厅", outcome={"received": "否", "note": "未收到"},
                now=datetime(2026, 10, 16, 2, tzinfo=timezone.utc))  # Friday
    with session_scope() as session:
        again = session.exec(select(AgencyTask).where(
            AgencyTask.duty_key == f"city_list_filing:{code}:2026-10-12:r2")).one()
        message = session.exec(select(Notification).where(Notification.task_id == again.id)).one()
        row = city_list_overview(session, [code], now=datetime(2026, 10, 19, tzinfo=timezone.utc))[0]
        late = city_list_overview(session, [code], now=datetime(2026, 10, 24, tzinfo=timezone.utc))[0]
    assert (again.unit_code, again.state, again.deadline_text) == (
        f"civil_affairs-{code}", "requested", "5 working days")
    assert again.due_at == datetime(2026, 10, 23, 15, 59, 59, tzinfo=timezone.utc)  # Friday 23 October, Beijing
    assert "（第 2 次报送）" in message.subject and "省民政厅答复未收到前次报送的备案材料，请重新报送" in message.body
    assert "宁德市流动儿童关爱服务清单（2026-10-12发布）" in message.subject
    assert row.filing == FilingState.not_filed and late.filing == FilingState.overdue
    answer_task(again.short_ref, TaskState.completed, actor="宁德市民政局", outcome={"filed": "是"},
                now=datetime(2026, 10, 20, tzinfo=timezone.utc))
    with session_scope() as session:
        second = session.exec(select(AgencyTask).where(
            AgencyTask.duty_key == f"city_list_filing_receipt:{code}:2026-10-12:r2")).one()
    answer_task(second.short_ref, TaskState.completed, actor="省民政厅", outcome={"received": "是"})
    with session_scope() as session:
        assert city_list_overview(session, [code], now=datetime(2026, 10, 24, tzinfo=timezone.utc))[0].filing \
            == FilingState.confirmed


def test_a_city_units_duty_escalates_to_the_province_and_the_provinces_to_nobody():
    assert task_county(AgencyTask(jurisdiction_code="350300"), None) == "350000"
    assert task_county(AgencyTask(jurisdiction_code="350128"), None) == "350128"  # 平潭: county-level code
    assert task_county(AgencyTask(jurisdiction_code="350302001"), None) == "350302"
    assert task_county(AgencyTask(jurisdiction_code="350000"), None) is None


def test_an_overdue_filing_reaches_the_provincial_department(city_unit):
    code = city_unit("350400")
    duties, _, _ = load(code, date(2026, 11, 2), now=datetime(2026, 11, 2, 2, tzinfo=timezone.utc))
    filing = task(duties["city_list_filing"])
    assert filing.due_at == datetime(2026, 11, 12, 15, 59, 59, tzinfo=timezone.utc)  # Thu 12 November, 24:00 Beijing
    sweep_deadlines(filing.due_at + timedelta(hours=25))  # the overdue rung: 24 h past the deadline
    with session_scope() as session:
        rungs = {e.rung: e.recipients for e in session.exec(select(Escalation).where(
            Escalation.task_id == filing.id)).all()}
        messages = session.exec(select(Notification).where(Notification.task_id == filing.id,
                                                           Notification.event == "task_escalated")).all()
    assert rungs["deadline"] == [[f"civil_affairs-{code}.supervisor", "supervisor"]]
    assert rungs["overdue"] == [["civil_affairs-350000.manager", "manager"]]
    to_province = [m for m in messages if m.unit_code == "civil_affairs-350000.manager"]
    assert len(to_province) == 1 and "请省民政厅督办" in to_province[0].body
    assert to_province[0].body.startswith("福建省民政厅（协调部门）") and "县（市、区）" not in to_province[0].body
    assert task(filing.id).escalation_level == 3


def test_the_load_command_prints_the_version_and_the_republication_it_completed(city_unit, tmp_path):
    code = city_unit("350100")
    paths = []
    for published in (date(2025, 9, 1), date(2027, 8, 30)):
        data = city_list_data(code, published)
        paths.append(tmp_path / f"fuzhou-{published}.yaml")
        paths[-1].write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    first = CliRunner().invoke(app, ["policy", "load-city-list", str(paths[0]), "--as", "福州市民政局"])
    assert first.exit_code == 0, first.output
    assert "版本：第 1 版" in first.output and "已完成上一版清单" not in first.output
    second = CliRunner().invoke(app, ["policy", "load-city-list", str(paths[1]), "--as", "福州市民政局"])
    assert second.exit_code == 0, second.output
    assert "版本：第 2 版" in second.output
    assert "已完成上一版清单的两年更新发布任务" in second.output
    assert f"city_list_republication:{code}:2025-09-01（由本版清单更新发布）" in second.output
    again = CliRunner().invoke(app, ["policy", "load-city-list", str(paths[0])])  # the first list again: nothing new
    assert again.exit_code == 0 and "版本：第 1 版" in again.output and "新生成定期任务 0 项，已有 2 项" in again.output
    paths[0].write_text(paths[0].read_text(encoding="utf-8").replace("2025-09-01", "2025-01-15"), encoding="utf-8")
    older = CliRunner().invoke(app, ["policy", "load-city-list", str(paths[0])])
    assert older.exit_code == 2 and "早于福州市已载入的第 2 版清单（2027-08-30发布）" in older.output


def test_a_duty_for_a_unit_missing_from_the_directory_is_refused_in_the_readers_language(session):
    from careflow.city_list_filing import _open_duty

    with pytest.raises(ValueError) as missing:
        _open_duty(session, "city_list_filing_receipt", "civil_affairs-999999", "350700", "2031-01-06", 1,
                   datetime(2026, 11, 2, 2, tzinfo=timezone.utc), after=None)
    assert error_text(missing.value, "zh") == ("单位名录中没有在用的单位 civil_affairs-999999（省民政厅），无法继续："
                                               "请管理员先在单位名录中添加")
    assert error_text(missing.value, "en") == (
        "the agency directory has no active unit civil_affairs-999999 (provincial civil affairs department), so this "
        "cannot go on: ask an administrator to add it to the directory first")
