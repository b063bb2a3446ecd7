"""The joint meeting of 方案 十一 (定期会商): one dated duty per county and period, opened once, escalated when
overdue, completed with its minutes and agreed measures. On both database backends."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from careflow.answers import answer_task
from careflow.escalation import escalate_overdue_tasks
from careflow.joint_meeting import open_meeting_duties
from core.db import session_scope
from models.joint_meeting import load_joint_meeting_policy, meeting_period
from models.notification import Notification
from models.task import AgencyTask, TaskState

SHANGHAI = timezone(timedelta(hours=8))
MINUTES = {"held_on": "2026-12-15", "participants": "区检察院、城厢公安分局、区民政局、区教育局",
           "minutes": "通报本季度3名流动儿童严重不良行为情况，研判校园周边风险", "measures": "开展校园周边联合巡查；每月互通信息"}


def at(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def meeting(key: str) -> AgencyTask:
    with session_scope() as session:
        return session.exec(select(AgencyTask).where(AgencyTask.duty_key == key)).one()


def test_the_period_is_quarterly_by_default_and_configurable():
    assert load_joint_meeting_policy().every_months == 3
    assert meeting_period(date(2026, 11, 20), 3) == (date(2026, 10, 1), date(2026, 12, 31))
    assert meeting_period(date(2026, 11, 20), 6) == (date(2026, 7, 1), date(2026, 12, 31))
    assert meeting_period(date(2026, 2, 3), 1).label == "2026-02"


def test_each_county_with_a_procuratorate_gets_one_duty_a_quarter(database_url):
    """Each test its own quarter: the database is shared by the tests of a session."""
    with session_scope() as session:
        first = open_meeting_duties(session, today=date(2025, 10, 1), now=at(2025, 10, 1, 7, 10))
    assert first.period == "2025-10" and first.due_on == date(2025, 12, 31)
    assert "joint_meeting:350302:2025-10" in first.opened and "joint_meeting:350823:2025-10" in first.opened
    assert "350302" not in first.no_unit and "350303" in first.no_unit  # 涵江区 has no procuratorate unit in the demo
    with session_scope() as session:  # again the same quarter: nothing new
        assert open_meeting_duties(session, today=date(2025, 11, 20)).opened == []
    task = meeting("joint_meeting:350302:2025-10")
    assert (task.unit_code, task.jurisdiction_code, task.state) == ("procuratorate-350302", "350302",
                                                                    TaskState.requested)
    assert task.due_at == at(2025, 12, 31, 23, 59, 59)
    with session_scope() as session:
        requested = session.exec(select(Notification).where(Notification.task_id == task.id)).one()
    assert "定期会商" in requested.subject and "会商纪要" in requested.body
    with session_scope() as session:  # the next quarter opens the next duty
        assert "joint_meeting:350302:2026-01" in open_meeting_duties(session, today=date(2026, 1, 4)).opened


def test_an_overdue_meeting_reaches_the_county_manager(database_url):
    with session_scope() as session:
        open_meeting_duties(session, today=date(2025, 7, 1), now=at(2025, 7, 1, 7, 10))
    task = meeting("joint_meeting:350302:2025-07")
    assert [rung for tid, rung in escalate_overdue_tasks(at(2025, 9, 30, 12)) if tid == task.id] == ["reminder"]
    fired = [rung for tid, rung in escalate_overdue_tasks(at(2025, 10, 1, 0, 0, 30)) if tid == task.id]
    assert fired == ["deadline"]
    fired = [rung for tid, rung in escalate_overdue_tasks(at(2025, 10, 2, 0, 0, 30)) if tid == task.id]
    assert fired == ["overdue"]
    with session_scope() as session:
        escalated = {n.unit_code for n in session.exec(select(Notification).where(
            Notification.task_id == task.id, Notification.event == "task_escalated")).all()}
    assert "civil_affairs-350302.manager" in escalated and "procuratorate-350302.supervisor" in escalated


def test_completing_the_meeting_records_its_minutes_and_measures(database_url):
    with session_scope() as session:
        open_meeting_duties(session, today=date(2025, 4, 1), now=at(2025, 4, 1, 7, 10))
    task = meeting("joint_meeting:350302:2025-04")
    with pytest.raises(ValueError, match="minutes"):
        answer_task(task.short_ref, TaskState.completed, actor="检察官林", unit_code=task.unit_code,
                    outcome={k: v for k, v in MINUTES.items() if k != "minutes"}, resume_wait_seconds=0)
    answer_task(task.short_ref, TaskState.completed, actor="检察官林", unit_code=task.unit_code, outcome=MINUTES,
                resume_wait_seconds=0)
    done = meeting("joint_meeting:350302:2025-04")
    assert done.state == TaskState.completed and done.outcome == MINUTES


def test_the_command_opens_the_duties(database_url):
    from entry.cli import app

    result = CliRunner().invoke(app, ["notice", "meetings"])
    assert result.exit_code == 0, result.output
    assert "定期会商" in result.output and "截止" in result.output
