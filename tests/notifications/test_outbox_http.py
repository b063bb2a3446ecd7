"""The outbox against real receivers: a DingTalk/WeCom/Feishu look-alike over HTTP and the SMTP sink.

Retries after a refusal in a 200 answer, a 500 and a timeout; give-up alerts; and no message twice, whether
dispatch is called again, by two dispatchers at once, or after the flow replays its enqueue.
"""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import select

from core.db import session_scope
from models.notification import DeliveryStatus, Notification
from notifications.default_channels import DEFAULT_MAILTO
from notifications.outbox import BACKOFF, MAX_ATTEMPTS, dispatch_notification, due_notifications
from notifications.messages import enqueue_task_message
from notifications.sink import MailSink, read_mailbox
from tests.notifications.conftest import OPENED_AT, token

POLICE = "police-350302"


def sink_url(port: int) -> str:
    return DEFAULT_MAILTO.format(port=port)


@pytest.fixture
def police_task(open_tasks):
    [task] = open_tasks(1)
    assert task.unit_code == POLICE
    return task


def test_a_refusal_in_a_200_answer_is_retried_and_then_delivered_once(session, police_task, channel_file, receiver,
                                                                      port):
    bot = token("ding")
    receiver.script(bot, "refuse", "ok")
    channel_file({"default": [sink_url(port)], "units": {POLICE: [f"dingtalk://{bot}/"]},
                  "endpoints": receiver.endpoints()})
    notification = enqueue_task_message(session, task=police_task, event="task_requested")
    session.flush()

    first = dispatch_notification(session, notification.id, now=OPENED_AT)
    assert first.status is DeliveryStatus.failed and first.attempts == 1
    assert first.next_attempt_at == OPENED_AT + BACKOFF[0]
    [entry] = first.delivery
    assert entry["ok"] is False and entry["error"].startswith("refused with errcode 310000")
    assert bot not in first.last_error and bot not in entry["url"]
    assert "errcode 310000" in first.last_error

    second = dispatch_notification(session, notification.id, now=OPENED_AT + BACKOFF[0])
    assert second.status is DeliveryStatus.sent and second.attempts == 2
    assert dispatch_notification(session, notification.id, now=OPENED_AT + timedelta(hours=1)).attempts == 2
    assert [m.mode for m in receiver.messages(token=bot, accepted_only=False)] == ["refuse", "ok"]
    [shown] = receiver.messages(token=bot)
    assert police_task.short_ref in shown.text


@pytest.mark.parametrize("failure", ["error", "html"])
def test_a_500_or_a_page_that_is_not_json_is_retried(session, police_task, channel_file, receiver, port, failure):
    bot = token("feishu")
    receiver.script(bot, failure, "ok")
    channel_file({"default": [sink_url(port)], "units": {POLICE: [f"feishu://{bot}/"]},
                  "endpoints": receiver.endpoints()})
    notification = enqueue_task_message(session, task=police_task, event="task_requested")
    session.flush()
    assert dispatch_notification(session, notification.id, now=OPENED_AT).status is DeliveryStatus.failed
    assert dispatch_notification(session, notification.id, now=OPENED_AT + BACKOFF[0]).status is DeliveryStatus.sent
    assert len(receiver.messages(token=bot)) == 1


def test_no_answer_in_time_is_recorded_as_uncertain_and_retried(session, police_task, channel_file, receiver, port):
    bot = token("wecom")
    receiver.script(bot, "slow", "ok")
    channel_file({"default": [sink_url(port)], "units": {POLICE: [f"wecombot://{bot}?rto=0.5"]},
                  "endpoints": receiver.endpoints()})
    notification = enqueue_task_message(session, task=police_task, event="task_requested")
    session.flush()
    first = dispatch_notification(session, notification.id, now=OPENED_AT)
    assert first.status is DeliveryStatus.failed
    [entry] = first.delivery
    assert entry["uncertain"] is True and "may have taken the message" in entry["error"]
    second = dispatch_notification(session, notification.id, now=OPENED_AT + BACKOFF[0])
    assert second.status is DeliveryStatus.sent
    [entry] = second.delivery
    assert entry["ok"] and "uncertain" not in entry
    # At least once: the platform may show the slow one as well -- which is why it was marked uncertain.
    assert [m.mode for m in receiver.messages(token=bot, accepted_only=False)] == ["slow", "ok"]


def test_a_chat_channel_refusing_until_given_up_alerts_civil_affairs_by_email(session, police_task, channel_file,
                                                                             receiver, tmp_path, port):
    bot = token("ding")
    receiver.script(bot, "refuse")
    channel_file({"default": [sink_url(port)], "units": {POLICE: [f"dingtalk://{bot}/"]},
                  "endpoints": receiver.endpoints()})
    notification = enqueue_task_message(session, task=police_task, event="task_requested")
    session.flush()
    now = OPENED_AT
    for attempt in range(1, MAX_ATTEMPTS + 1):
        result = dispatch_notification(session, notification.id, now=now)
        assert result.attempts == attempt
        now = result.next_attempt_at or now
    assert result.status is DeliveryStatus.given_up and "errcode 310000" in result.last_error
    assert len(receiver.messages(token=bot, accepted_only=False)) == MAX_ATTEMPTS
    assert receiver.messages(token=bot) == []

    session.flush()
    [alert] = session.exec(select(Notification).where(Notification.task_id == police_task.id,
                                                      Notification.unit_code == "civil_affairs-350302.manager")).all()
    with MailSink(tmp_path / "mailbox", port=port):
        assert dispatch_notification(session, alert.id, now=now).status is DeliveryStatus.sent
    [mail] = read_mailbox(tmp_path / "mailbox")
    assert f"{POLICE} 投递失败 {MAX_ATTEMPTS} 次" in mail.body and police_task.short_ref in mail.body


def test_only_the_failed_channel_is_retried(session, police_task, channel_file, receiver, tmp_path, port):
    bot = token("ding")
    receiver.script(bot, "refuse", "ok")
    channel_file({"default": [sink_url(port)], "units": {POLICE: [f"dingtalk://{bot}/", sink_url(port)]},
                  "endpoints": receiver.endpoints()})
    notification = enqueue_task_message(session, task=police_task, event="task_requested")
    session.flush()
    with MailSink(tmp_path / "mailbox", port=port):
        first = dispatch_notification(session, notification.id, now=OPENED_AT)
        assert first.status is DeliveryStatus.failed
        assert [e["ok"] for e in first.delivery] == [False, True]
        second = dispatch_notification(session, notification.id, now=OPENED_AT + BACKOFF[0])
        assert second.status is DeliveryStatus.sent
    assert len(read_mailbox(tmp_path / "mailbox")) == 1  # the email went once
    assert len(receiver.messages(token=bot)) == 1


def test_two_dispatchers_at_once_send_a_message_once(database_url, session, police_task, channel_file, receiver,
                                                     port):
    bot = token("ding")
    channel_file({"default": [sink_url(port)], "units": {POLICE: [f"dingtalk://{bot}/"]},
                  "endpoints": receiver.endpoints()})
    notification = enqueue_task_message(session, task=police_task, event="task_requested")
    session.commit()
    barrier = threading.Barrier(4)
    statuses = []

    def dispatcher():
        barrier.wait()
        with session_scope(database_url) as own:
            statuses.append(dispatch_notification(own, notification.id, now=OPENED_AT).status)

    threads = [threading.Thread(target=dispatcher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(DeliveryStatus.sent) >= 1
    assert set(statuses) <= {DeliveryStatus.sent, DeliveryStatus.sending}
    assert len(receiver.messages(token=bot)) == 1


def test_a_replayed_enqueue_and_send_produce_no_second_message(session, police_task, channel_file, receiver, port):
    """What a replay does (the message stored again, a dispatcher sending it again): the same row, nothing sent again."""
    bot = token("ding")
    channel_file({"default": [sink_url(port)], "units": {POLICE: [f"dingtalk://{bot}/"]},
                  "endpoints": receiver.endpoints()})
    for _ in range(3):
        notification = enqueue_task_message(session, task=police_task, event="task_requested")
        session.flush()
        dispatch_notification(session, notification.id, now=OPENED_AT)
    rows = session.exec(select(Notification).where(Notification.task_id == police_task.id)).all()
    assert len(rows) == 1 and rows[0].status is DeliveryStatus.sent and rows[0].attempts == 1
    assert len(receiver.messages(token=bot)) == 1
    assert notification.id not in due_notifications(session, OPENED_AT + timedelta(days=1))


def test_event_routing_sends_a_new_task_to_the_supervisor_as_well(session, police_task, channel_file, receiver,
                                                                 port):
    officer, supervisor = token("ding"), token("ding")
    channel_file({"default": [sink_url(port)],
                  "units": {POLICE: {"officer": [f"dingtalk://{officer}/"],
                                     "supervisor": [f"dingtalk://{supervisor}/"]}},
                  "events": {"task_requested": ["supervisor"]}, "endpoints": receiver.endpoints()})
    new = enqueue_task_message(session, task=police_task, event="task_requested")
    reminder = enqueue_task_message(session, task=police_task, event="task_reminder")
    escalated = enqueue_task_message(session, task=police_task, event="task_escalated",
                                     recipient_unit=f"{POLICE}.supervisor", role="supervisor", occasion="deadline")
    session.flush()
    for notification in (new, reminder, escalated):
        assert dispatch_notification(session, notification.id, now=OPENED_AT).status is DeliveryStatus.sent
    assert len(new.delivery) == 2 and len(reminder.delivery) == 1 and len(escalated.delivery) == 1
    officer_got = [m.text for m in receiver.messages(token=officer)]
    assert len(officer_got) == 2
    assert officer_got[0].startswith("【新任务】") and officer_got[1].startswith("【提醒】")
    assert len(receiver.messages(token=supervisor)) == 2  # the new task (by event routing) and the escalation
    assert any("负责同志" in m.text for m in receiver.messages(token=supervisor))
