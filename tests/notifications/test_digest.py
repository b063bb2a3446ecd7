"""Digests: a burst of new tasks for one unit becomes one message; every task still records it was notified.

Real database, real dispatcher, real DingTalk look-alike over HTTP and the SMTP sink.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from core.db import session_scope
from models.audit import AuditEvent
from models.base import utcnow
from models.notification import DeliveryStatus, Notification
from notifications.channels import DigestSettings
from notifications.default_channels import DEFAULT_MAILTO
from notifications.digest import enqueue_daily_digests, form_burst_digests, in_burst, settle_members
from notifications.dispatcher import dispatch_due
from notifications.outbox import CLAIM_FOR, MAX_ATTEMPTS, dispatch_notification, due_notifications
from notifications.messages import enqueue_task_message
from notifications.sink import MailSink, read_mailbox
from tests.notifications.conftest import token

POLICE = "police-350302"


def burst_channels(channel_file, receiver, bot: str, port: int, **digest):
    settings = {"more_than": 3, "within_minutes": 10, **digest}
    channel_file({"default": [DEFAULT_MAILTO.format(port=port)], "units": {POLICE: [f"dingtalk://{bot}/"]},
                  "endpoints": receiver.endpoints(), "digest": settings})


def digest_of(session, member: Notification) -> Notification:
    """The digest that carries ``member``."""
    import uuid

    session.expire_all()
    [entry] = session.get(Notification, member.id).delivery
    return session.get(Notification, uuid.UUID(entry["via_digest"]))


def enqueue_all(session, tasks, event="task_requested"):
    notifications = [enqueue_task_message(session, task=t, event=event) for t in tasks]
    session.commit()
    return notifications


def test_a_burst_becomes_one_digest_and_every_task_records_it(database_url, quiet_outbox, session, open_tasks,
                                                              channel_file, receiver, port):
    bot = token("ding")
    burst_channels(channel_file, receiver, bot, port)
    tasks = open_tasks(6)
    members = enqueue_all(session, tasks)

    counts = dispatch_due(database_url=database_url)
    assert counts == {"digests": 1, "sent": 1}
    [message] = receiver.messages(token=bot)
    assert message.text.startswith("【新任务汇总】莆田市公安局城厢分局 新任务 6 项")
    for task in tasks:
        assert task.short_ref in message.text
    digest = digest_of(session, members[0])
    assert digest.status is DeliveryStatus.sent and digest.task_id is None and digest.event == "daily_digest"
    for member in members:
        stored = session.get(Notification, member.id)
        assert stored.status is DeliveryStatus.sent and stored.sent_at is not None and stored.attempts == 0
        assert stored.delivery == [{"id": "", "via_digest": str(digest.id), "url": "(digest)", "ok": True,
                                    "error": "", "attempt": 1}]
        actions = [a.action for a in session.exec(select(AuditEvent).where(
            AuditEvent.entity_id == str(member.id)).order_by(AuditEvent.id)).all()]
        assert actions == ["notification.queued", "notification.digested", "notification.sent"]

    # Nothing is due any more and a second sweep sends nothing; re-dispatching a member sends nothing either.
    assert dispatch_due(database_url=database_url) == {}
    assert dispatch_notification(session, members[0].id).status is DeliveryStatus.sent
    assert len(receiver.messages(token=bot, accepted_only=False)) == 1


def test_below_the_threshold_each_task_gets_its_own_message(database_url, quiet_outbox, session, open_tasks,
                                                            channel_file, receiver, port):
    bot = token("ding")
    burst_channels(channel_file, receiver, bot, port)
    enqueue_all(session, open_tasks(3))
    assert dispatch_due(database_url=database_url) == {"sent": 3}
    assert [m.text[:5] for m in receiver.messages(token=bot)] == ["【新任务】"] * 3


def test_the_flows_immediate_send_holds_a_message_once_the_unit_is_in_a_burst(database_url, quiet_outbox, session,
                                                                               open_tasks, channel_file, receiver,
                                                                               port):
    bot = token("ding")
    burst_channels(channel_file, receiver, bot, port)
    tasks = open_tasks(6)
    statuses = []
    for task in tasks:  # as flows/steps.py does: store, then send at once
        notification = enqueue_task_message(session, task=task, event="task_requested")
        session.commit()
        statuses.append(dispatch_notification(session, notification.id).status)
    assert statuses == [DeliveryStatus.sent] * 3 + [DeliveryStatus.pending] * 3
    assert len(receiver.messages(token=bot)) == 3
    # The next sweep merges the held ones.
    assert dispatch_due(database_url=database_url) == {"digests": 1, "sent": 1}
    got = receiver.messages(token=bot)
    assert len(got) == 4 and "新任务 3 项" in got[-1].text
    for task in tasks[3:]:
        assert task.short_ref in got[-1].text
    for task in tasks[:3]:
        assert task.short_ref not in got[-1].text


def test_a_large_burst_is_split_by_max_items_and_a_lone_remainder_goes_alone(database_url, quiet_outbox, session,
                                                                             open_tasks, channel_file, receiver,
                                                                             port):
    bot = token("ding")
    burst_channels(channel_file, receiver, bot, port, max_items=3)
    tasks = open_tasks(7)
    enqueue_all(session, tasks)
    assert dispatch_due(database_url=database_url) == {"digests": 2, "sent": 3}
    texts = [m.text for m in receiver.messages(token=bot)]
    assert sum("新任务 3 项" in t for t in texts) == 2 and sum(t.startswith("【新任务】") for t in texts) == 1
    for task in tasks:  # every task in exactly one message
        assert sum(task.short_ref in t for t in texts) == 1


def test_a_digest_that_fails_keeps_its_tasks_parked_then_delivers_them(database_url, quiet_outbox, session,
                                                                       open_tasks, channel_file, receiver, port):
    bot = token("ding")
    receiver.script(bot, "refuse", "ok")
    burst_channels(channel_file, receiver, bot, port)
    members = enqueue_all(session, open_tasks(5))
    assert dispatch_due(database_url=database_url) == {"digests": 1, "failed": 1}
    digest = digest_of(session, members[0])
    assert digest.status is DeliveryStatus.failed and "errcode 310000" in digest.last_error
    for member in members:
        parked = session.get(Notification, member.id)
        assert parked.status is DeliveryStatus.sending and parked.claimed_until is None
    due = due_notifications(session, utcnow() + timedelta(hours=1))
    assert digest.id in due and not {m.id for m in members} & set(due)

    assert dispatch_notification(session, digest.id, now=digest.next_attempt_at).status is DeliveryStatus.sent
    session.commit()
    for member in members:
        assert session.get(Notification, member.id).status is DeliveryStatus.sent
    assert len(receiver.messages(token=bot)) == 1


def test_a_digest_given_up_gives_up_its_tasks_and_alerts_civil_affairs_about_each(database_url, quiet_outbox,
                                                                                 session, open_tasks, channel_file,
                                                                                 receiver, tmp_path, port):
    bot = token("ding")
    receiver.script(bot, "refuse")
    burst_channels(channel_file, receiver, bot, port)
    tasks = open_tasks(4)
    members = enqueue_all(session, tasks)
    dispatch_due(database_url=database_url)
    digest = digest_of(session, members[0])
    while digest.status is not DeliveryStatus.given_up:
        digest = dispatch_notification(session, digest.id, now=digest.next_attempt_at)
    session.commit()
    assert digest.attempts == MAX_ATTEMPTS
    for member in members:
        stored = session.get(Notification, member.id)
        assert stored.status is DeliveryStatus.given_up and str(digest.id) in stored.last_error
    alerts = session.exec(select(Notification).where(Notification.unit_code == "civil_affairs-350302.manager",
                                                     Notification.task_id.in_([t.id for t in tasks]))).all()
    assert len(alerts) == len(tasks)
    with MailSink(tmp_path / "mailbox", port=port):
        for alert in alerts:
            assert dispatch_notification(session, alert.id, hold_bursts=False).status is DeliveryStatus.sent
    mails = read_mailbox(tmp_path / "mailbox")
    assert len(mails) == len(tasks)
    assert all(f"{POLICE} 投递失败 {MAX_ATTEMPTS} 次" in m.body for m in mails)


def test_a_dispatcher_that_crashes_after_claiming_leaves_nothing_lost(database_url, quiet_outbox, session,
                                                                      open_tasks):
    from notifications.digest import _claim_members

    members = enqueue_all(session, open_tasks(4))
    now = utcnow()
    claimed = _claim_members(session, [m.id for m in members], now + CLAIM_FOR)
    assert len(claimed) == 4  # ... and the process dies here, before the digest is stored
    assert not {m.id for m in members} & set(due_notifications(session, now))
    assert {m.id for m in members} <= set(due_notifications(session, now + CLAIM_FOR + timedelta(seconds=1)))


def test_two_dispatchers_merge_a_burst_once(database_url, quiet_outbox, session, open_tasks):
    enqueue_all(session, open_tasks(6))
    settings = DigestSettings(more_than=3)
    now = utcnow()
    with session_scope(database_url) as one, session_scope(database_url) as two:
        made = form_burst_digests(one, settings, now) + form_burst_digests(two, settings, now)
    assert len(made) == 1


def test_in_burst_only_for_new_messages_of_digest_events(quiet_outbox, session, open_tasks):
    tasks = open_tasks(5)
    requested = enqueue_all(session, tasks)
    reminder = enqueue_task_message(session, task=tasks[0], event="task_reminder")
    session.commit()
    settings = DigestSettings(more_than=3)
    now = utcnow()
    assert in_burst(session, requested[-1], settings, now)
    assert not in_burst(session, reminder, settings, now)
    assert not in_burst(session, requested[-1], DigestSettings(enabled=False), now)
    assert not in_burst(session, requested[-1], settings, now + timedelta(hours=1))  # the burst is over
    assert settle_members(session, requested[0], now) == 0  # not a digest: nothing to settle


def test_daily_digest_once_a_day_per_unit_to_the_routed_roles(database_url, quiet_outbox, session, open_tasks,
                                                              channel_file, receiver, port):
    officer, supervisor = token("ding"), token("ding")
    tasks = open_tasks(3)
    channel_file({"default": [DEFAULT_MAILTO.format(port=port)],
                  "units": {POLICE: {"officer": [f"dingtalk://{officer}/"],
                                     "supervisor": [f"dingtalk://{supervisor}/"]}},
                  "events": {"daily_digest": ["supervisor"]}, "endpoints": receiver.endpoints(),
                  "digest": {"daily_at": "08:30"}})
    early = datetime(2026, 11, 30, 0, 15, tzinfo=timezone.utc)  # 08:15 in Shanghai
    from notifications.channels import load_channels
    from core.settings import get_settings

    settings = load_channels(get_settings().resolved_channels_file).digest
    assert enqueue_daily_digests(session, settings, early) == []
    at_nine = early + timedelta(minutes=45)
    stored = enqueue_daily_digests(session, settings, at_nine)
    session.commit()
    police = [d for d in stored if d.unit_code == POLICE]
    assert len(police) == 1 and "2026-11-30" in police[0].subject
    for task in tasks:
        assert task.short_ref in police[0].body
    assert enqueue_daily_digests(session, settings, at_nine + timedelta(hours=3)) == []  # once a day
    with MailSink(tmp_path_of(port), port=port):
        assert dispatch_notification(session, police[0].id, now=at_nine).status is DeliveryStatus.sent
    assert len(receiver.messages(token=officer)) == 1 and len(receiver.messages(token=supervisor)) == 1
    assert receiver.messages(token=supervisor)[0].text.startswith("【每日汇总】")


def tmp_path_of(port: int):
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix=f"mailbox-{port}-"))


@pytest.mark.parametrize("settings", [DigestSettings(enabled=False), DigestSettings(more_than=100)])
def test_no_digest_when_off_or_under_the_threshold(quiet_outbox, session, open_tasks, settings):
    enqueue_all(session, open_tasks(4))
    assert form_burst_digests(session, settings, utcnow()) == []
