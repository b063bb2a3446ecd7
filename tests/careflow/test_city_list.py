"""Loading a city's service list: its check, its two dated duties (方案 四: file within 10 days, republish every
two years), their messages, and the ``careflow policy`` commands. On both database backends."""
from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import yaml
from sqlmodel import select
from typer.testing import CliRunner

from core.paths import PROJECT_ROOT
from careflow.city_list import NarrowerCityList, duty_deadline, load_city_list
from entry.cli import app
from core.db import session_scope
from models.audit import AuditEvent
from models.city_list import CityServiceList, read_city_list
from models.dated_duties import DUTY_KINDS
from models.notification import Notification
from models.task import AgencyTask, TaskState
from tests.careflow.test_cli_errors import english

runner = CliRunner()
LOADED_AT = datetime(2025, 3, 3, 2, 0, tzinfo=timezone.utc)


def city_list_data(published_on: date, city_code: str = "350300") -> dict:
    data = yaml.safe_load((PROJECT_ROOT / "policy" / "service_list.yaml").read_text(encoding="utf-8"))
    data.update({"city_code": city_code, "published_on": published_on, "source": "莆民〔2025〕12号",
                 "title_zh": "莆田市流动儿童在居住地享有关爱服务清单"})
    return data


def city_list(published_on: date, narrower: bool = False) -> CityServiceList:
    data = city_list_data(published_on)
    if narrower:
        data["items"] = [item for item in data["items"] if item["number"] != 7]
    return CityServiceList.model_validate(data)


def write(tmp_path: Path, data: dict, name: str = "putian.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def duties(session, city_code: str, published_on: date) -> list[AgencyTask]:
    suffix = f":{city_code}:{published_on.isoformat()}"
    rows = session.exec(select(AgencyTask).where(AgencyTask.duty_key.like(f"%{suffix}"))).all()
    return sorted(rows, key=lambda t: t.due_at)


def local(task: AgencyTask) -> str:
    import pendulum

    return pendulum.instance(task.due_at).in_timezone("Asia/Shanghai").format("YYYY-MM-DD HH:mm:ss")


def test_loading_creates_the_filing_and_republication_duties(session):
    published = date(2025, 3, 1)  # a Saturday
    result = load_city_list(session, city_list(published), actor="莆田市民政局 陈敏", now=LOADED_AT)
    assert result.created == 2 and not result.forced and result.differences == []
    filing, republication = duties(session, "350300", published)
    assert [t.duty_key for t in (filing, republication)] == [
        "city_list_filing:350300:2025-03-01", "city_list_republication:350300:2025-03-01"]
    for task in (filing, republication):
        assert task.case_id is None and task.pathway_run_id is None
        assert (task.unit_code, task.agency_type, task.jurisdiction_code) == ("civil_affairs-350300", "civil_affairs", "350300")
        assert task.state == TaskState.requested and task.requested_at == LOADED_AT
    # 10 calendar days, the day of publication not counted: Tuesday 11 March 2025, to 24:00
    assert local(filing) == "2025-03-11 23:59:59" and not filing.due_provisional
    assert filing.deadline_text == "10 days"
    # two years on: Monday 1 March 2027; 2027's holiday arrangement is not published yet
    assert local(republication) == "2027-03-01 23:59:59" and republication.due_provisional
    assert republication.deadline_text == "730 days"


def test_a_filing_period_ending_on_a_holiday_moves_to_the_next_working_day():
    # published 22 September 2025: day 10 is 2 October, inside the National Day holiday (1-8 October 2025)
    deadline = duty_deadline(DUTY_KINDS["city_list_filing"], date(2025, 9, 22))
    assert deadline.due_at.date() == date(2025, 10, 9)


def test_loading_the_same_list_twice_creates_no_duplicates(session):
    published = date(2025, 4, 10)
    first = load_city_list(session, city_list(published), actor="省民政厅管理员")
    again = load_city_list(session, city_list(published), actor="省民政厅管理员")
    assert (first.created, again.created) == (2, 0)
    assert [t.id for t in again.duties] == [t.id for t in first.duties]
    assert [n.id for n in again.notifications] == [n.id for n in first.notifications]
    assert len(duties(session, "350300", published)) == 2
    keys = [n.idempotency_key for n in session.exec(select(Notification)).all()]
    assert len(keys) == len(set(keys))


def test_each_duty_gets_a_task_requested_message_without_a_case(session):
    published = date(2025, 5, 6)
    result = load_city_list(session, city_list(published), actor="省民政厅管理员")
    filing_message, republication_message = result.notifications
    for message, task in zip(result.notifications, result.duties):
        assert message.event == "task_requested" and message.case_id is None and message.task_id == task.id
        assert message.unit_code == "civil_affairs-350300"
        assert "莆田市流动儿童关爱服务清单（2025-05-06发布）" in message.subject
        assert "莆田市民政局" in message.body
        assert f"/tasks/{task.id}" in message.body and "careflow task" not in message.body  # a web unit
    assert "关爱服务清单报送省民政厅备案" in filing_message.subject and "截止 2025-05-16 23:59" in filing_message.subject
    assert "10日内报送省民政厅备案" in filing_message.body
    assert "每两年更新发布一次" in republication_message.body and "（暂定）" in republication_message.subject


def test_a_duty_message_rendered_in_english_reads_the_duty_in_english(session):
    """A message about a city list duty rendered for an English reader said the duty's subject, title, instructions
    and answer fields in Chinese; with ``lang="en"`` they are the duty's English words. The stored (Chinese) message
    and a context asked without a language are as before."""
    from notifications.messages import task_message_context
    from notifications.render import render_message

    from notifications.messages import enqueue_task_message

    # the duty alone, opened as careflow.city_list does (a list version of 2033 would refuse later tests' lists)
    filing = AgencyTask(case_id=None, pathway_run_id=None, duty_key="city_list_filing:350300:2033-01-10",
                        step_key="city_list_filing", agency_type="civil_affairs", unit_code="civil_affairs-350300",
                        jurisdiction_code="350300", title="关爱服务清单报送省民政厅备案（莆田市，2033-01-10发布）",
                        requested_at=LOADED_AT, due_at=datetime(2033, 1, 20, 15, 59, tzinfo=timezone.utc),
                        deadline_text="10 days")
    session.add(filing)
    session.flush()
    stored = enqueue_task_message(session, task=filing, event="task_requested")
    english = render_message(task_message_context(session, filing, "task_requested", lang="en"), "en")
    assert "Care service list for migrant children of 莆田市 (published 2033-01-10)" in english.subject
    assert "File the city care service list with the provincial civil affairs department" in english.subject
    assert "Please file it with the provincial civil affairs department within 10 days of its issue" in english.body
    assert "Filed with the provincial civil affairs department" in english.body and "10日" not in english.body
    assert "报送省民政厅备案" not in english.subject + english.body and "情况说明" not in english.body
    chinese = render_message(task_message_context(session, filing, "task_requested"), "zh")
    assert (chinese.subject, chinese.body) == (stored.subject, stored.body)
    assert "关爱服务清单报送省民政厅备案" in chinese.subject and "已报送省民政厅备案" in chinese.body


def test_a_narrower_list_is_refused_and_nothing_is_stored(session):
    published = date(2025, 6, 2)
    with pytest.raises(NarrowerCityList, match=r"narrower .* in 1 way\(s\)[\s\S]*item 7: missing_item") as refused:
        load_city_list(session, city_list(published, narrower=True), actor="省民政厅管理员")
    assert [d.item for d in refused.value.differences] == [7]
    assert duties(session, "350300", published) == []


def test_force_loads_a_narrower_list_and_records_the_differences(session):
    published = date(2025, 6, 3)
    result = load_city_list(session, city_list(published, narrower=True), actor="省民政厅管理员", force=True)
    assert result.forced and result.created == 2
    event = session.exec(select(AuditEvent).where(
        AuditEvent.action == "city_list.loaded", AuditEvent.entity_id == "350300:2025-06-03")).one()
    assert event.detail["forced"] is True and event.actor == "省民政厅管理员"
    assert event.detail["differences"] == [{"item": 7, "kind": "missing_item", "narrower": True,
                                            "detail": result.differences[0].detail}]


def test_a_city_without_its_civil_affairs_unit_is_named(session):
    data = city_list_data(date(2025, 7, 1), city_code="350800")
    with pytest.raises(LookupError, match="field 'city_code': no active unit 'civil_affairs-350800'"):
        load_city_list(session, CityServiceList.model_validate(data), actor="省民政厅管理员")


# ------------------------------------------------------------------------------------------ the commands


def test_check_city_list_command_accepts_the_provincial_content(tmp_path, database_url):
    result = runner.invoke(app, ["policy", "check-city-list", str(write(tmp_path, city_list_data(date(2025, 3, 1))))])
    assert result.exit_code == 0, result.output
    assert "与省级清单差异 0 处" in result.output and "通过：涵盖省级清单的全部项目" in result.output


def test_check_city_list_command_exits_1_and_prints_the_differences(tmp_path, database_url):
    data = city_list_data(date(2025, 3, 1))
    items = {item["number"]: item for item in data["items"]}
    items[18]["departments"].remove("publishing_group")
    data["items"].append({**items[17], "number": 21, "service": "儿童友好空间服务"})
    path = write(tmp_path, data)
    result = runner.invoke(app, ["policy", "check-city-list", str(path)])
    assert result.exit_code == 1
    lines = [line.strip() for line in result.output.splitlines()]
    assert ("低于省级：第 18 项：责任部门减少：责任部门：缺少海峡出版发行集团（新华书店）（省级清单：网信办、教育、民政、广电、"
            "团委、妇联、海峡出版发行集团（新华书店））") in lines
    assert "提示：第 21 项：增加项目：市级清单新增第 21 项「儿童友好空间服务」（流动儿童）" in lines
    assert "不予通过：有 1 处低于省级关爱服务清单" in result.output
    assert "field" not in result.output and "item" not in result.output  # was 「field 'departments': …」
    en = english("policy", "check-city-list", path)
    assert en.returncode == 1
    assert ("NARROWER: item 18: fewer_departments: field 'departments': Straits publishing group and Xinhua "
            "bookstores missing (provincial: Cyberspace affairs office, Education") in en.stdout
    assert "info: item 21: added_item: city item 21 '儿童友好空间服务' (流动儿童) added" in en.stdout


def test_check_city_list_command_names_a_malformed_file(tmp_path, database_url):
    data = city_list_data(date(2025, 3, 1))
    data["published_on"] = "2025-02-30"
    data["items"][3]["departments"].append("cyber")
    result = runner.invoke(app, ["policy", "check-city-list", str(write(tmp_path, data))])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [  # was 「错误：putian.yaml: field 'published_on': …」
        "错误：putian.yaml：字段 published_on：'2025-02-30' 不是日期（格式为 YYYY-MM-DD）"]
    data["published_on"] = date(2025, 3, 1)
    path = write(tmp_path, data)
    result = runner.invoke(app, ["policy", "check-city-list", str(path)])
    assert result.exit_code == 2 and result.output.strip() == (
        "错误：putian.yaml：第 4 项：字段 departments：「cyber」不是 policy/agencies.yaml 中的部门代码")
    en = english("policy", "check-city-list", path)
    assert en.returncode == 2 and en.stderr.strip() == (
        "error: putian.yaml: item 4: field 'departments': unknown agency code 'cyber' (not in policy/agencies.yaml)")


def test_load_city_list_command_refuses_then_forces_then_finds_the_duties(tmp_path, database_url):
    data = city_list_data(date(2025, 8, 1))
    data["items"] = [item for item in data["items"] if item["number"] != 20]
    path = write(tmp_path, data)
    refused = runner.invoke(app, ["policy", "load-city-list", str(path)])
    assert refused.exit_code == 1 and "--force" in refused.output
    assert "低于省级：第 20 项：缺少项目：省级清单第 20 项「法治安全教育服务」（流动儿童）不在市级清单中" in refused.output
    assert "is not in the city list" not in refused.output
    assert "不予载入：有 1 处低于省级关爱服务清单" in refused.output
    forced = runner.invoke(app, ["policy", "load-city-list", str(path), "--force", "--as", "市民政局 陈敏"])
    assert forced.exit_code == 0, forced.output
    assert "已强制载入（--force）" in forced.output and "新生成定期任务 2 项" in forced.output
    assert "低于省级：第 20 项：缺少项目" in forced.output
    assert "city_list_filing:350300:2025-08-01：civil_affairs-350300，截止 2025-08-11 23:59" in forced.output
    again = runner.invoke(app, ["policy", "load-city-list", str(path), "--force"])
    assert again.exit_code == 0 and "新生成定期任务 0 项，已有 2 项" in again.output
    with session_scope() as session:
        assert len(duties(session, "350300", date(2025, 8, 1))) == 2
        messages = session.exec(select(Notification).where(Notification.unit_code == "civil_affairs-350300",
                                                           Notification.case_id.is_(None))).all()
        assert sum("2025-08-01发布" in m.subject for m in messages) == 2
    assert read_city_list(path).city_name == "莆田市"


def test_the_city_bureau_answers_its_duties_and_nothing_waits_on_a_flow(session):
    from careflow.task_lookup import list_open_tasks
    from careflow.tasks import transition_task
    from models.task import TaskState

    published = date(2026, 4, 1)
    load_city_list(session, city_list(published), actor="省民政厅管理员")
    filing, republication = sorted(duties(session, "350300", published), key=lambda t: t.due_at)
    open_ids = [t.id for t in list_open_tasks(session, "civil_affairs-350300")]
    assert open_ids.index(filing.id) < open_ids.index(republication.id)  # soonest deadline first
    with pytest.raises(ValueError, match="filed"):
        transition_task(session, filing, TaskState.completed, actor="莆田市民政局 陈敏", outcome={})
    transition_task(session, filing, TaskState.completed, actor="莆田市民政局 陈敏", outcome={"filed": "是"})
    assert filing.state == TaskState.completed and filing.outcome == {"filed": True}
    transition_task(session, republication, TaskState.rejected, actor="莆田市民政局 陈敏", reason="已并入新清单")
    assert republication.state == TaskState.rejected
