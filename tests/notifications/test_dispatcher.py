"""The dispatcher: parallel across recipients, in order within one, each message once; the sweeper's task."""
from __future__ import annotations

import threading
import time

import pytest
from sqlmodel import select

from models.notification import DeliveryStatus, Notification
from notifications.default_channels import DEFAULT_MAILTO
from notifications.dispatcher import dispatch_due, due_by_channel
from notifications.messages import enqueue_task_message
from notifications.receiver import HttpReceiver
from notifications.sink import MailSink, read_mailbox
from tests.notifications.conftest import token

#: Steps of the guardianship pathway and the unit each goes to for a child in 城厢区 凤山社区.
STEPS = {"committee_admonition": "village_committee-350302001001", "police_reprimand": "police-350302",
         "guardianship_assessment": "civil_affairs-350302"}


def test_recipients_are_served_in_parallel_and_each_in_order(database_url, quiet_outbox, session, open_tasks,
                                                             channel_file):
    bots = {unit: token("wecom") for unit in STEPS.values()}
    tasks = {unit: open_tasks(3, step) for step, unit in STEPS.items()}
    for unit, unit_tasks in tasks.items():
        assert {t.unit_code for t in unit_tasks} == {unit}
    with HttpReceiver(slow_seconds=0.4) as slow:
        for secret in bots.values():
            slow.script(secret, "slow")  # every answer takes 0.4 s
        channel_file({"units": {unit: [f"wecombot://{bot}?rto=3"] for unit, bot in bots.items()},
                      "endpoints": slow.endpoints(), "digest": "off"})
        for unit_tasks in tasks.values():
            for task in unit_tasks:
                enqueue_task_message(session, task=task, event="task_requested")
        session.commit()
        assert {unit: len(ids) for unit, ids in due_by_channel(database_url=database_url).items()} == {
            unit: 3 for unit in STEPS.values()}
        started = time.monotonic()
        counts = dispatch_due(database_url=database_url)
        elapsed = time.monotonic() - started
        got = {unit: [m.text for m in slow.messages(token=bot)] for unit, bot in bots.items()}
    assert counts == {"sent": 9}
    assert elapsed < 9 * 0.4 * 0.7, elapsed  # one after the other would take 3.6 s; three at a time ~1.2 s
    for unit, texts in got.items():  # each recipient's messages arrive once each, oldest first
        assert [next(t.short_ref for t in tasks[unit] if t.short_ref in text) for text in texts] == [
            t.short_ref for t in tasks[unit]]


def test_concurrent_dispatchers_send_each_message_once(database_url, quiet_outbox, session, open_tasks,
                                                       channel_file, tmp_path, port):
    channel_file({"default": [DEFAULT_MAILTO.format(port=port)], "digest": "off"})
    created = [t for step in STEPS for t in open_tasks(4, step)]
    for task in created:
        enqueue_task_message(session, task=task, event="task_requested")
    session.commit()
    results = []
    with MailSink(tmp_path / "mailbox", port=port):
        barrier = threading.Barrier(3)

        def sweep():
            barrier.wait()
            results.append(dispatch_due(database_url=database_url))

        threads = [threading.Thread(target=sweep) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert_each_sent_once(session, tmp_path / "mailbox", created, results)


def assert_each_sent_once(session, mailbox, created, counts: list[dict]) -> None:
    """Each task of ``created`` has exactly one mail in ``mailbox``, the dispatchers' ``counts`` say so, and every
    message is recorded ``sent``."""
    mails = read_mailbox(mailbox)
    assert len(mails) == len(created)
    for task in created:
        assert sum(task.short_ref in m.subject or task.short_ref in m.body for m in mails) == 1
    assert sum(c.get("sent", 0) for c in counts) == len(created)
    session.expire_all()
    rows = session.exec(select(Notification).where(Notification.task_id.in_([t.id for t in created]))).all()
    assert {r.status for r in rows} == {DeliveryStatus.sent}


def test_the_sweepers_task_runs_the_dispatcher(database_url, quiet_outbox, session, open_tasks, channel_file,
                                              tmp_path, port):
    from flows.sweeper import retry_notifications

    channel_file({"default": [DEFAULT_MAILTO.format(port=port)]})
    [task] = open_tasks(1)
    enqueue_task_message(session, task=task, event="task_requested")
    session.commit()
    with MailSink(tmp_path / "mailbox", port=port):
        assert retry_notifications.fn() == {"sent": 1}
        assert retry_notifications.fn() == {}
    assert len(read_mailbox(tmp_path / "mailbox")) == 1


def test_a_broken_channel_file_sends_nothing_and_says_where(database_url, quiet_outbox, channel_file):
    from notifications.channels import ChannelConfigError

    path = channel_file({"units": {"police-350302": "not a list"}})
    with pytest.raises(ChannelConfigError, match=str(path)):
        dispatch_due(database_url=database_url)
