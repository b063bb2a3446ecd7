"""A message given up after its last retry is not lost (issue #16 part 5): it goes out once a later message to the same
channel gets through; the retry schedule is the README's."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import select

from core.paths import PROJECT_ROOT
from models.audit import AuditEvent
from models.notification import DeliveryStatus, Notification
from notifications.default_channels import DEFAULT_MAILTO
from notifications.outbox import BACKOFF, MAX_ATTEMPTS, RETRY_MINUTES, dispatch_notification, due_notifications, requeue_given_up
from notifications.messages import enqueue_task_message
from tests.notifications.conftest import OPENED_AT, token

POLICE = "police-350302"


def test_the_readme_and_the_code_give_the_same_retry_schedule():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    written = re.search(r"retried with backoff \(([\d, ]+) min\) and, after (\d+) failures", readme)
    assert written, "the README no longer states the retry schedule"
    assert tuple(int(m) for m in written.group(1).split(", ")) == RETRY_MINUTES == (2, 4, 8, 16)
    assert int(written.group(2)) == MAX_ATTEMPTS == 5
    assert BACKOFF == [timedelta(minutes=m) for m in (2, 4, 8, 16)]


def test_a_given_up_message_goes_out_once_a_later_message_to_its_channel_succeeds(session, open_tasks, channel_file,
                                                                                   receiver, port):
    first_task, second_task = open_tasks(2)
    bot = token("ding")
    receiver.script(bot, *["error"] * MAX_ATTEMPTS, "ok")  # the channel is down for five sends, then back
    channel_file({"default": [DEFAULT_MAILTO.format(port=port)], "units": {POLICE: [f"dingtalk://{bot}/"]},
                  "endpoints": receiver.endpoints(), "limits": {"dingtalk": {"rate": "600/min", "burst": 20}}})
    lost = enqueue_task_message(session, task=first_task, event="task_requested")
    session.flush()

    now, waits = OPENED_AT, []
    for _ in range(MAX_ATTEMPTS):
        result = dispatch_notification(session, lost.id, now=now)
        if result.next_attempt_at is not None:
            waits.append(result.next_attempt_at - now)
            now = result.next_attempt_at
    assert waits == [timedelta(minutes=m) for m in (2, 4, 8, 16)]
    assert result.status is DeliveryStatus.given_up and result.attempts == MAX_ATTEMPTS
    assert lost.id not in due_notifications(session, now + timedelta(days=1))  # given up: nothing retries it

    later = enqueue_task_message(session, task=second_task, event="task_requested")
    session.flush()
    assert dispatch_notification(session, later.id, now=now + timedelta(hours=1),
                                 hold_bursts=False, max_wait=10).status is DeliveryStatus.sent
    session.expire_all()
    assert session.get(Notification, lost.id).status is DeliveryStatus.pending
    assert lost.id in due_notifications(session, now + timedelta(hours=1))

    delivered = dispatch_notification(session, lost.id, now=now + timedelta(hours=1, minutes=1), max_wait=10)
    assert delivered.status is DeliveryStatus.sent
    texts = [m.text for m in receiver.messages(token=bot)]
    assert len(texts) == 2 and any(first_task.short_ref in t for t in texts)
    requeued = session.exec(select(AuditEvent).where(AuditEvent.action == "notification.requeued",
                                                     AuditEvent.entity_id == POLICE)).all()
    assert requeued and requeued[-1].detail["count"] >= 1


def test_a_requeued_message_that_fails_again_is_given_up_again_at_once(session, open_tasks, channel_file, receiver,
                                                                       port):
    [task] = open_tasks(1)
    bot = token("ding")
    receiver.script(bot, "error")
    channel_file({"default": [DEFAULT_MAILTO.format(port=port)], "units": {POLICE: [f"dingtalk://{bot}/"]},
                  "endpoints": receiver.endpoints(), "limits": {"dingtalk": {"rate": "600/min", "burst": 20}}})
    message = enqueue_task_message(session, task=task, event="task_requested")
    session.flush()
    now = OPENED_AT
    for _ in range(MAX_ATTEMPTS):
        now = dispatch_notification(session, message.id, now=now).next_attempt_at or now
    assert requeue_given_up(session, message.id, actor="admin.test") is True
    assert requeue_given_up(session, message.id, actor="admin.test") is False  # a second click: nothing to do
    session.commit()
    again = dispatch_notification(session, message.id, now=now + timedelta(minutes=1), max_wait=10)
    assert again.status is DeliveryStatus.given_up and again.attempts == MAX_ATTEMPTS + 1
