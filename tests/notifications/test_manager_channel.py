"""Alerts for the county manager reach the manager's channel (``civil_affairs-<county>.manager``), as the README
promises, not the bureau's officers: a step's rejection, like the ladder's overdue rung and a given-up delivery."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import sqlalchemy as sa
import yaml
from sqlmodel import Session, select

from careflow.cases import create_pathway_run, open_case
from core.db import session_scope
from core.settings import get_settings
from careflow.step_tasks import open_step_task
from careflow.reroute import record_rejection
from careflow.tasks import transition_task
from flows import waiting
from flows.steps import TaskAnswer
from models.base import utcnow
from models.notification import DeliveryStatus, Notification
from models.task import RejectionKind, TaskState
from notifications.send_loop import send_pass
from notifications.routing import manager_channel
from notifications.sink import MailSink, read_mailbox
from tests.notifications.support import free_port
from tests.notifications.test_outbox import OPENED, sink_url


def test_manager_channel_is_the_bureau_manager_role():
    assert manager_channel("350302") == "civil_affairs-350302.manager"


def _police_task_rejected(session, register, reason: str):
    """(case, task, flow context) of a new guardianship case whose police step the police rejected with ``reason``."""
    case = open_case(session, child_id=register().child.id, caseworker="test.caseworker")
    run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="test.caseworker")
    session.flush()
    task = open_step_task(session, pathway_run_id=run.id, step_key="police_reprimand", now=OPENED)
    transition_task(session, task, TaskState.rejected, actor="民警 陈强", reason=reason)
    ctx = waiting.PathwayContext(pathway_run_id=str(run.id), pathway="guardianship", case_reference=case.reference,
                                 county_code=case.county_code, caseworker=case.caseworker, parameters={})
    return case, task, ctx


@contextmanager
def _held_a_day():
    """Messages stored inside are held until a day later (the time yielded): the session's served runner
    (tests/flows) has a send loop of its own, woken at once by the messages' NOTIFY on PostgreSQL, which must leave
    them to the test's own pass."""
    later = utcnow() + timedelta(days=1)

    def hold(flushing, _context, _instances):
        for stored in flushing.new:
            if isinstance(stored, Notification):
                stored.next_attempt_at = later

    sa.event.listen(Session, "before_flush", hold)
    try:
        yield later
    finally:
        sa.event.remove(Session, "before_flush", hold)


def test_a_rejection_reaches_the_county_manager_channel_not_the_bureau_officers(database_url, session, register,
                                                                             tmp_path, port, monkeypatch):
    channels = tmp_path / "channels.yaml"
    channels.write_text(yaml.safe_dump({
        "default": [sink_url(port)], "digest": "off",
        "units": {"civil_affairs-350302": {"officer": [sink_url(free_port())],  # nobody listens
                                           "manager": [sink_url(port)]}}}), encoding="utf-8")
    monkeypatch.setenv("CAREFLOW_CHANNELS_FILE", str(channels))
    get_settings.cache_clear()
    case, task, ctx = _police_task_rejected(session, register, "不属于本所辖区")
    task_id = str(task.id)
    session.commit()
    # the flow's tasks without Prefect: their plain functions
    monkeypatch.setattr(waiting, "queue_message", waiting.queue_message.fn)
    answer = TaskAnswer(task_id=task_id, step_key="police_reprimand", agency_type="police", attempt=1,
                        state=TaskState.rejected, rejection_reason="不属于本所辖区")
    with _held_a_day() as later:
        waiting._report_rejection(ctx, answer)  # the flow stores them for the send loop
    with session_scope() as s:
        stored = s.exec(select(Notification).where(Notification.task_id == task.id)).all()
        assert len(stored) == 2 and all(n.next_attempt_at is not None for n in stored)
    with MailSink(tmp_path / "mailbox", port=port):
        # the pass also sends what earlier tests of the session left due within the day: count this case's
        assert send_pass(now=later)["sent"] >= 2
    get_settings.cache_clear()
    with session_scope() as session:
        alerts = session.exec(select(Notification).where(Notification.task_id == task.id,
                                                         Notification.event == "task_rejected")).all()
        assert {(n.unit_code, n.recipient_role) for n in alerts} == {
            ("civil_affairs-350302.manager", "manager"), ("caseworker.test.caseworker", "caseworker")}
        assert all(n.status is DeliveryStatus.sent for n in alerts)
    mails = [m for m in read_mailbox(tmp_path / "mailbox") if case.reference in m.body]
    assert sorted(m.to for m in mails) == ["caseworker.test.caseworker@careflow.local",
                                           "civil_affairs-350302.manager@careflow.local"]
    assert all("不属于本所辖区" in m.body for m in mails)


def test_a_need_more_information_rejection_mails_a_returned_message_without_the_answer_checklist(
        database_url, session, register, tmp_path, port, monkeypatch):
    """The police return 公安机关训诫 as 需补充信息: the caseworker and the county manager receive 【退回】 saying who
    returned which task of which case, the category and the officer's text and what to do now -- not 【督办】, and
    not the police's own checklist (办结时请填写：已予以训诫：是／否)."""
    channels = tmp_path / "channels.yaml"
    channels.write_text(yaml.safe_dump({"default": [sink_url(port)], "digest": "off"}), encoding="utf-8")
    monkeypatch.setenv("CAREFLOW_CHANNELS_FILE", str(channels))
    get_settings.cache_clear()
    case, task, ctx = _police_task_rejected(session, register, "请提供监护人现住址和联系电话")
    record_rejection(session, task, RejectionKind.need_more_information, None, actor="民警 陈强")
    session.commit()
    monkeypatch.setattr(waiting, "queue_message", waiting.queue_message.fn)
    answer = TaskAnswer(task_id=str(task.id), step_key="police_reprimand", agency_type="police", attempt=1,
                        state=TaskState.rejected, rejection_reason=task.rejection_reason,
                        rejection_kind=task.rejection_kind)
    with _held_a_day() as later:
        waiting._report_rejection(ctx, answer)
        waiting._report_rejection(ctx, answer)  # a replayed flow stores nothing twice
    with session_scope() as s:
        stored = s.exec(select(Notification).where(Notification.task_id == task.id)).all()
        assert {(n.event, n.unit_code, n.recipient_role) for n in stored} == {
            ("task_rejected", "caseworker.test.caseworker", "caseworker"),
            ("task_rejected", "civil_affairs-350302.manager", "manager")} and len(stored) == 2
    with MailSink(tmp_path / "mailbox", port=port):
        assert send_pass(now=later)["sent"] >= 2
    get_settings.cache_clear()
    mails = {m.to: m for m in read_mailbox(tmp_path / "mailbox") if case.reference in m.body}
    assert set(mails) == {"caseworker.test.caseworker@careflow.local", "civil_affairs-350302.manager@careflow.local"}
    caseworker = mails["caseworker.test.caseworker@careflow.local"]
    assert caseworker.subject.startswith(f"【退回】{case.reference} ") and caseworker.subject.endswith("：需补充信息")
    assert f"（民警 陈强）退回了案件 {case.reference} 的任务" in caseworker.body
    assert "退回原因类别：需补充信息" in caseworker.body and "退回说明：请提供监护人现住址和联系电话" in caseworker.body
    assert "请您：" in caseworker.body and "补充所需信息" in caseworker.body
    assert "供您掌握和协调" in mails["civil_affairs-350302.manager@careflow.local"].body
    for mail in mails.values():
        for absent in ("督办", "办结时请填写", "已予以训诫", "need_more_information"):
            assert absent not in mail.subject + mail.body, absent
