"""Claims handled at the child's registration place (户籍地; 清单 items 10, 13, 14; issue 13 item 5), without Prefect:
where each step goes, who follows it, the legal totals and their extension, the typed reply, on both databases."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlmodel import select

from careflow.cases import create_pathway_run, open_case
from careflow.ladder import due_rungs, load_ladder
from careflow.registration_place import registration_route
from careflow.step_tasks import open_step_task
from careflow.task_manage import extend_deadline, latest_deadline, redirect_task
from careflow.tasks import transition_task
from models.audit import AuditEvent
from models.errors import error_text
from models.case import PathwayRun
from models.field_values import FieldValueError
from models.task import AgencyTask, TaskState

# Monday 2 March 2026, 10:00 in Shanghai.
REFERRED = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)
SHANGHANG = "350823"  # 龙岩市上杭县: in the demo directory (civil_affairs-350823)
XIANYOU = "350322"  # 莆田市仙游县: in Fujian, but the demo directory has no county unit for it
NANBU = "511321"  # 四川省南充市南部县: outside Fujian


def end_of_day(y, m, d) -> datetime:
    """24:00 of a day in Shanghai, as UTC (a working-day deadline ends then)."""
    return datetime(y, m, d, 15, 59, 59, tzinfo=timezone.utc)


@pytest.fixture
def referral(session, register):
    """A service referral of ``item`` for a child registered in ``hukou`` living in 城厢区, started at REFERRED."""
    def _start(item: int, hukou: str) -> PathwayRun:
        case = open_case(session, child_id=register(hukou_county=hukou).child.id, caseworker="test.caseworker")
        run = create_pathway_run(session, case_id=case.id, pathway="service_referral", actor="test.caseworker",
                                 parameters={"item": item, "eligibility_override": "条件待户籍地核实"})
        run.started_at = REFERRED
        session.add(run)
        session.flush()
        return run

    return _start


@pytest.mark.parametrize("item, step_key", [(10, "basic_living_referral"), (13, "minimum_living_referral"),
                                            (14, "special_hardship_referral")])
def test_within_fujian_the_registration_county_decides_and_the_residence_county_follows(session, referral, item,
                                                                                       step_key):
    run = referral(item, SHANGHANG)
    assert registration_route(session, run.id, step_key) == "registration_place"
    task = open_step_task(session, pathway_run_id=run.id, step_key=step_key, agency_type="civil_affairs",
                          now=REFERRED)
    assert (task.unit_code, task.follower_unit_code) == ("civil_affairs-350823", "civil_affairs-350302")
    requested = session.exec(select(AuditEvent).where(AuditEvent.entity_id == str(task.id),
                                                      AuditEvent.action == "task.requested")).one()
    assert requested.detail["follower"] == "civil_affairs-350302"


def test_a_step_not_taken_at_the_registration_place_is_refused_in_the_readers_language(session, referral):
    with pytest.raises(ValueError) as refused:
        registration_route(session, referral(13, SHANGHANG).id, "service_referral")
    assert error_text(refused.value, "zh") == "步骤 service_referral（关爱服务清单转介）不在户籍地办理"
    assert error_text(refused.value, "en") == ("step service_referral (Referral of a service-list item) is not taken "
                                               "at the registration place")


def test_the_legal_totals_within_fujian(session, referral):
    minimum = open_step_task(session, pathway_run_id=referral(13, SHANGHANG).id, step_key="minimum_living_referral",
                             agency_type="civil_affairs", now=REFERRED)
    # 30 working days: Tuesday 14 April 2026 (Qingming, 4-6 April, does not count)
    assert minimum.deadline_text == "30 working days" and minimum.due_at == end_of_day(2026, 4, 14)
    recognition = open_step_task(session, pathway_run_id=referral(10, SHANGHANG).id,
                                 step_key="basic_living_referral", agency_type="civil_affairs", now=REFERRED)
    assert recognition.deadline_text == "30 working days"  # 事实无人抚养儿童认定: 15 (township) + 15 (county)


@pytest.mark.parametrize("hukou", [NANBU, XIANYOU])
def test_a_registration_county_outside_the_directory_takes_the_cross_province_steps(session, referral, hukou):
    run = referral(13, hukou)
    assert registration_route(session, run.id, "minimum_living_referral") == "cross_province"
    forward = open_step_task(session, pathway_run_id=run.id, step_key="registration_forwarding",
                             agency_type="civil_affairs", now=REFERRED)
    assert (forward.unit_code, forward.follower_unit_code) == ("civil_affairs-350302", None)
    assert forward.deadline_text == "3 working days" and forward.due_at == end_of_day(2026, 3, 5)
    # the reply, opened a week later, is still due 30 working days after the referral started
    reply = open_step_task(session, pathway_run_id=run.id, step_key="minimum_living_reply",
                           agency_type="civil_affairs", now=REFERRED + timedelta(days=7))
    assert reply.unit_code == "civil_affairs-350302" and reply.due_at == end_of_day(2026, 4, 14)


def test_the_reply_is_recorded_with_its_date_and_a_bad_date_is_refused_in_chinese(session, referral):
    run = referral(13, NANBU)
    reply = open_step_task(session, pathway_run_id=run.id, step_key="minimum_living_reply",
                           agency_type="civil_affairs", now=REFERRED)
    with pytest.raises(FieldValueError, match="字段 replied_on：不是有效日期"):
        transition_task(session, reply, TaskState.completed, actor="城厢区民政局 林芳",
                        outcome={"decision": "approved", "replied_on": "四月一日"})
    with pytest.raises(FieldValueError, match="字段 replied_on：日期不能晚于今天"):
        transition_task(session, reply, TaskState.completed, actor="城厢区民政局 林芳",
                        outcome={"decision": "approved", "replied_on": (date.today() + timedelta(days=3)).isoformat()})
    with pytest.raises(ValueError, match="replied_on"):
        transition_task(session, reply, TaskState.completed, actor="城厢区民政局 林芳", outcome={"decision": "approved"})
    transition_task(session, reply, TaskState.completed, actor="城厢区民政局 林芳",
                    outcome={"decision": "approved", "replied_on": "2026年4月1日"})
    assert reply.outcome == {"decision": "approved", "replied_on": "2026-04-01"}


def test_minimum_living_allowance_extends_to_45_working_days_with_a_reason_and_no_further(session, referral):
    task = open_step_task(session, pathway_run_id=referral(13, SHANGHANG).id, step_key="minimum_living_referral",
                          agency_type="civil_affairs", now=REFERRED)
    latest, rule = latest_deadline(session, task)
    assert rule == "45个工作日" and latest == end_of_day(2026, 5, 8)  # 45 working days (Labour Day 1-5 May skipped)
    now = end_of_day(2026, 4, 10)
    with pytest.raises(ValueError) as past:
        extend_deadline(session, task, actor="manager.350302", due_at=latest + timedelta(days=1),
                        reason="家庭经济状况核对需延长", now=now)
    assert error_text(past.value, "zh") == ("新截止时间：“2026-05-09 23:59”超过法定最长期限 45个工作日"
                                           "（至 2026-05-08 23:59，北京时间），不能再延长")
    assert error_text(past.value, "en") == ("New deadline: “2026-05-09 23:59” is past the legal maximum of 45 working "
                                           "days (until 2026-05-08 23:59, Beijing time); it cannot be extended further")
    with pytest.raises(ValueError) as missing:
        extend_deadline(session, task, actor="manager.350302", due_at=latest, reason="", now=now)
    assert error_text(missing.value, "zh") == "延期理由：请填写"
    extend_deadline(session, task, actor="manager.350302", due_at=latest, reason="家庭经济状况核对需延长", now=now)
    assert task.due_at == latest
    extended = session.exec(select(AuditEvent).where(AuditEvent.entity_id == str(task.id),
                                                     AuditEvent.action == "task.deadline_extended")).one()
    assert extended.reason == "家庭经济状况核对需延长"


def test_a_step_without_a_legal_maximum_extends_freely(session, referral):
    task = open_step_task(session, pathway_run_id=referral(14, SHANGHANG).id, step_key="special_hardship_referral",
                          agency_type="civil_affairs", now=REFERRED)
    assert latest_deadline(session, task) is None


def test_the_deadline_rung_reaches_the_following_residence_unit_and_the_overdue_rung_its_manager(session, referral):
    task = open_step_task(session, pathway_run_id=referral(13, SHANGHANG).id, step_key="minimum_living_referral",
                          agency_type="civil_affairs", now=REFERRED)
    rungs = {r.name: r.recipients for r in due_rungs(task, now=task.due_at + timedelta(days=3), county_code="350302",
                                                     caseworker="test.caseworker", ladder=load_ladder())}
    assert rungs["deadline"] == (("civil_affairs-350823.supervisor", "supervisor"),
                                 ("caseworker.test.caseworker", "caseworker"),
                                 ("civil_affairs-350302", "follower"))
    assert rungs["overdue"] == (("civil_affairs-350302.manager", "manager"),)


def test_a_redirect_keeps_the_follower(session, referral):
    task = open_step_task(session, pathway_run_id=referral(13, SHANGHANG).id, step_key="minimum_living_referral",
                          agency_type="civil_affairs", now=REFERRED)
    new = redirect_task(session, task, actor="manager.350302", unit_code="civil_affairs-350300",
                        reason="请市局协调户籍地办理")
    assert (new.unit_code, new.follower_unit_code) == ("civil_affairs-350300", "civil_affairs-350302")
    assert session.get(AgencyTask, task.id).state == TaskState.redirected


def test_the_residence_unit_lists_the_tasks_it_follows_on_the_command_line(session, referral):
    from typer.testing import CliRunner

    from entry.cli import app

    task = open_step_task(session, pathway_run_id=referral(13, SHANGHANG).id, step_key="minimum_living_referral",
                          agency_type="civil_affairs")
    session.commit()
    runner = CliRunner()
    followed = runner.invoke(app, ["task", "list", "--unit", "civil_affairs-350302", "--follow", "--limit", "1000"])
    assert followed.exit_code == 0, followed.output
    assert task.short_ref in followed.output and "civil_affairs-350302 跟进的户籍地办理未办结任务共" in followed.output
    own = runner.invoke(app, ["task", "list", "--unit", "civil_affairs-350302", "--limit", "1000"])
    assert task.short_ref not in own.output  # answered by 上杭县民政局, not by the residence unit
    assert task.short_ref in runner.invoke(app, ["task", "list", "--unit", "civil_affairs-350823",
                                                 "--limit", "1000"]).output
