"""One bad task never stops the deadline sweep (careflow.sweep_guard): a task whose message cannot be rendered, or
whose writes the database refuses, is set aside for an hour while every other due task fires; the county manager
is told once, in Chinese, without personal data; the sweep counts it and the dashboard line says so."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from core.db import get_engine, session_scope
from careflow.escalation import sweep_deadlines
from careflow.sweep_runs import last_sweep
from careflow.sweep_guard import ALERT_EVENT, FAILED_ACTION, RETRY_AFTER
from models.agency import AgencyUnit
from models.audit import AuditEvent
from models.notification import Notification
from models.sweep import SweepRun
from models.task import AgencyTask, Escalation
from notifications import outbox_batch
from tests.careflow.test_sweep import NOW, due_tasks, fired_rows

MANAGER = "civil_affairs-350302.manager"


def _audits(task_id) -> list[AuditEvent]:
    with session_scope() as session:
        return session.exec(select(AuditEvent).where(AuditEvent.entity_id == str(task_id),
                                                     AuditEvent.action == FAILED_ACTION)).all()


def _alerts(task_id) -> list[Notification]:
    with session_scope() as session:
        return session.exec(select(Notification).where(Notification.task_id == task_id,
                                                       Notification.event == ALERT_EVENT)).all()


def _next_rung_at(task_id):
    with session_scope() as session:
        return session.get(AgencyTask, task_id).next_rung_at


def _assert_set_aside_and_others_fired(report, bad, good, at, stage):
    assert report.failed == [bad]
    mine = {(i, rung) for i, rung in report.fired if i in set(good) | {bad}}
    assert mine == {(i, rung) for i in good for rung in ("deadline", "overdue")}  # the 50 others all fired
    assert fired_rows([bad]) == {}  # nothing half-fired for the bad one
    assert _next_rung_at(bad) == at + RETRY_AFTER
    [audit] = _audits(bad)
    assert audit.detail["stage"] == stage and audit.detail["rungs"] == ["deadline", "overdue"]
    assert audit.reason == {"render": "生成通知内容失败", "write": "数据库拒绝写入"}[stage] + "，已暂缓，1 小时后重试"
    [alert] = _alerts(bad)
    assert (alert.unit_code, alert.recipient_role) == (MANAGER, "manager")
    assert str(bad)[:8] in alert.subject and "升级失败" in alert.subject
    assert "到期未办结、逾期督办" in alert.body and "其他任务不受影响" in alert.body
    assert "Error" not in alert.body and "Traceback" not in alert.body  # the error text stays in the audit log
    with session_scope() as session:
        run = session.exec(select(SweepRun).order_by(SweepRun.id.desc()).limit(1)).one()
        assert run.failed == 1 and run.fired == report.fired_count == len(report.fired)
        shown = last_sweep(session)
    assert shown.failed >= 1
    assert re.fullmatch(r"\d+ 项任务升级失败（已暂缓，1 小时后自动重试；详见审计日志）", shown.describe_failed())


def test_a_task_whose_message_cannot_be_rendered_is_set_aside_while_50_others_fire(database_url, monkeypatch):
    sweep_deadlines(NOW)  # whatever other tests left due at this time
    ids = due_tasks(51)
    bad, good = ids[25], ids[:25] + ids[26:]
    real = outbox_batch.render_message

    def render(ctx, *args, **kwargs):
        if ctx.task_ref == bad.hex[:8]:
            raise KeyError("step0")  # e.g. a step no longer in the policy
        return real(ctx, *args, **kwargs)

    monkeypatch.setattr(outbox_batch, "render_message", render)
    report = sweep_deadlines(NOW, batch_size=20, keep_fired=True)
    _assert_set_aside_and_others_fired(report, bad, good, NOW, "render")
    assert "KeyError" in _audits(bad)[0].detail["error"]

    # an hour later, still broken: tried again, set aside again, the manager is not told twice
    later = NOW + RETRY_AFTER + timedelta(minutes=1)
    assert sweep_deadlines(later - timedelta(minutes=2)).failed == []  # not before its hour is up
    again = sweep_deadlines(later)
    assert again.failed == [bad] and len(_audits(bad)) == 2 and len(_alerts(bad)) == 1
    assert _next_rung_at(bad) == later + RETRY_AFTER
    # fixed: its rungs fire at the next try
    monkeypatch.setattr(outbox_batch, "render_message", real)
    fixed = sweep_deadlines(later + RETRY_AFTER, keep_fired=True)
    assert fixed.failed == [] and sorted(rung for i, rung in fixed.fired if i == bad) == ["deadline", "overdue"]


@pytest.fixture
def long_unit(database_url):
    """A unit whose code is 60 characters: its supervisor's channel key (71) does not fit ``notification.unit_code``
    (64). PostgreSQL refuses it (value too long); SQLite stores any length, so a trigger refuses it the same way."""
    code = "police-350302-" + "x" * 46
    with session_scope() as session:
        if session.get(AgencyUnit, code) is None:
            session.add(AgencyUnit(code=code, agency_type="police", jurisdiction_code="350302", name="超长编码测试单位"))
    sqlite = database_url.startswith("sqlite")
    if sqlite:
        with get_engine(database_url).begin() as conn:
            conn.execute(sa.text("CREATE TRIGGER IF NOT EXISTS refuse_long_unit BEFORE INSERT ON notification "
                                 "WHEN length(NEW.unit_code) > 64 "
                                 "BEGIN SELECT RAISE(ABORT, 'value too long for type character varying(64)'); END"))
    yield code
    if sqlite:
        with get_engine(database_url).begin() as conn:
            conn.execute(sa.text("DROP TRIGGER refuse_long_unit"))


def test_a_task_whose_write_the_database_refuses_is_set_aside_while_50_others_fire(database_url, long_unit):
    sweep_deadlines(NOW)
    ids = due_tasks(50)
    [bad] = due_tasks(1, county_unit=(long_unit, "350302"))
    report = sweep_deadlines(NOW, keep_fired=True)  # one batch: refused, then redone task by task
    _assert_set_aside_and_others_fired(report, bad, ids, NOW, "write")
    assert "too long" in _audits(bad)[0].detail["error"]
    with session_scope() as session:  # the 50 others' messages are all stored, once each
        stored = session.exec(select(Notification.task_id).where(Notification.task_id.in_(ids))).all()
        assert len(stored) == 2 * len(ids)
        assert session.exec(select(Escalation).where(Escalation.task_id == bad)).all() == []


def test_a_task_answered_meanwhile_is_not_moved(database_url):
    """The set-aside UPDATE is conditional: a task whose next_rung_at changed since the sweep read it is left as is."""
    from careflow.sweep_guard import Failure, set_aside

    [task_id] = due_tasks(1)
    with session_scope() as session:
        task = session.get(AgencyTask, task_id)
        session.expunge(task)
    stale = AgencyTask(**{**task.model_dump(), "next_rung_at": NOW - timedelta(days=3)})
    with session_scope() as session:
        assert set_aside(session, [Failure(stale, "350302", ("deadline",), "render", KeyError("x"))], NOW) == []
    assert _next_rung_at(task_id) == task.next_rung_at and _audits(task_id) == [] and _alerts(task_id) == []
    with session_scope() as session:
        assert set_aside(session, [Failure(task, "350302", ("deadline",), "render", KeyError("x"))], NOW) == [task_id]
    assert _next_rung_at(task_id) == NOW + RETRY_AFTER and len(_alerts(task_id)) == 1
