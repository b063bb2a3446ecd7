"""The outbox end to end: stored once, sent once per channel, retried with backoff, given up loudly.

Real database (SQLite and PostgreSQL), real apprise ``mailto://`` delivery into real local SMTP servers
(:class:`notifications.sink.MailSink`); what is checked is what a user would look at: the mailboxes,
the stored notification and the audit trail.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from careflow.cases import create_pathway_run, open_case
from core.db import session_scope
from core.settings import get_settings
from careflow.step_tasks import open_step_task
from careflow.tasks import transition_task
from models.audit import AuditEvent
from models.child import Child
from models.notification import DeliveryStatus, Notification
from models.task import TaskState
from notifications.default_channels import DEFAULT_MAILTO
from notifications.outbox import BACKOFF, MAX_ATTEMPTS, dispatch_notification, due_notifications
from notifications.messages import enqueue_task_message
from notifications.render import assert_no_personal_data
from notifications.sink import MailSink, read_mailbox
from tests.notifications.support import free_port

# Wednesday 30 September 2026, 10:00 in Shanghai (the police must acknowledge by 12:00).
OPENED = datetime(2026, 9, 30, 2, 0, tzinfo=timezone.utc)
POLICE = "police-350302"
CIVIL_AFFAIRS = "civil_affairs-350302"
#: The county manager's channel (README: alerts go to ``civil_affairs-<county>.manager``, not the bureau's officers).
MANAGER = "civil_affairs-350302.manager"


def sink_url(port: int) -> str:
    """The local mail sink on ``port`` as a channel URL (``{unit}`` left for the channel file to fill in)."""
    return DEFAULT_MAILTO.format(port=port)


@pytest.fixture
def channels(tmp_path, monkeypatch):
    """Write the channel file careflow reads: ``channels(default=[...], units={unit: [...]})``."""
    path = tmp_path / "channels.yaml"
    monkeypatch.setenv("CAREFLOW_CHANNELS_FILE", str(path))
    get_settings.cache_clear()

    def write(*, default: list[str], units: dict[str, list[str]] | None = None) -> Path:
        path.write_text(yaml.safe_dump({"default": default, "units": units or {}}, allow_unicode=True),
                        encoding="utf-8")
        assert get_settings().resolved_channels_file == path
        return path

    yield write
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def child(register) -> Child:
    return register().child


@pytest.fixture
def police_task(session, child):
    """The police step of a guardianship pathway, opened on the eve of National Day (2 h to acknowledge)."""
    case = open_case(session, child_id=child.id, caseworker="test.caseworker")
    run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="test.caseworker")
    session.flush()
    task = open_step_task(session, pathway_run_id=run.id, step_key="police_reprimand", now=OPENED)
    session.flush()
    assert task.unit_code == POLICE and task.ack_due_at is not None
    return task


def audit_actions(session, notification_id) -> list[str]:
    rows = session.exec(select(AuditEvent).where(AuditEvent.entity_id == str(notification_id))
                        .order_by(AuditEvent.id)).all()
    return [row.action for row in rows]


def test_a_message_is_stored_once_and_delivered_once(database_url, session, police_task, channels, tmp_path, port):
    channels(default=[sink_url(port)])
    first = enqueue_task_message(session, task=police_task, event="task_requested")
    again = enqueue_task_message(session, task=police_task, event="task_requested")
    assert again.id == first.id
    rows = session.exec(select(Notification).where(Notification.task_id == police_task.id,
                                                   Notification.event == "task_requested")).all()
    assert len(rows) == 1
    assert rows[0].status is DeliveryStatus.pending

    with MailSink(tmp_path / "mailbox", port=port):
        sent = dispatch_notification(session, first.id, now=OPENED)
        assert sent.status is DeliveryStatus.sent
        session.commit()
        # Read back from the database in a fresh session: the status is the enum, not a bare string.
        with session_scope(database_url) as fresh:
            stored = fresh.get(Notification, first.id)
            assert type(stored.status) is DeliveryStatus and stored.status is DeliveryStatus.sent
            assert stored.attempts == 1 and stored.sent_at == OPENED and stored.next_attempt_at is None
            assert first.id not in due_notifications(fresh, OPENED + timedelta(days=1))
            second = dispatch_notification(fresh, first.id, now=OPENED + timedelta(minutes=5))
            assert type(second.status) is DeliveryStatus and second.status is DeliveryStatus.sent
            assert second.attempts == 1

    messages = read_mailbox(tmp_path / "mailbox")
    assert len(messages) == 1
    [message] = messages
    assert message.to == f"{POLICE}@careflow.local"
    assert message.subject == first.subject
    body = message.body.replace("\r\n", "\n")
    assert "签收时限：2026-09-30 12:00 前签收（北京时间）" in body
    assert police_task.short_ref in body
    session.expire_all()
    assert audit_actions(session, first.id) == ["notification.queued", "notification.sent"]
    [entry] = session.get(Notification, first.id).delivery
    assert entry["ok"] is True and entry["error"] == "" and entry["attempt"] == 1
    assert f":{port}" in entry["url"]
    assert re.fullmatch(r"[0-9a-f]{64}", entry["id"])


def test_no_message_carries_the_childs_name_or_id_number(session, child, police_task, channels, tmp_path, port):
    channels(default=[sink_url(port)])
    committee = open_step_task(session, pathway_run_id=police_task.pathway_run_id, step_key="committee_admonition",
                               now=OPENED)
    session.flush()
    notifications = [
        enqueue_task_message(session, task=police_task, event="task_requested"),
        enqueue_task_message(session, task=committee, event="task_requested"),
        enqueue_task_message(session, task=police_task, event="task_reminder"),
    ]
    session.flush()
    with MailSink(tmp_path / "mailbox", port=port):
        for notification in notifications:
            assert dispatch_notification(session, notification.id, now=OPENED).status is DeliveryStatus.sent

    messages = read_mailbox(tmp_path / "mailbox")
    assert len(messages) == 3
    compact_id = child.resident_id
    for message in messages:
        for text in (message.subject, message.body):
            assert child.full_name not in text
            assert compact_id not in text and compact_id[:17] not in text
            assert_no_personal_data(text, child_name=child.full_name, resident_id=child.resident_id)
    # The committee's step has no acknowledgement deadline: its message has no such line.
    by_to = {m.to: m for m in messages if "【新任务】" in m.subject}
    assert "签收时限" in by_to[f"{POLICE}@careflow.local"].body
    assert "签收时限" not in by_to[f"{committee.unit_code}@careflow.local"].body


def test_a_reminder_after_acknowledgement_leaves_the_acknowledgement_deadline_out(session, police_task, channels,
                                                                                  tmp_path, port):
    channels(default=[sink_url(port)])
    transition_task(session, police_task, TaskState.acknowledged, actor="城厢分局 陈警官")
    reminder = enqueue_task_message(session, task=police_task, event="task_reminder")
    session.flush()
    with MailSink(tmp_path / "mailbox", port=port):
        dispatch_notification(session, reminder.id, now=OPENED)
    [message] = read_mailbox(tmp_path / "mailbox")
    assert message.subject.startswith("【提醒】")
    assert "签收时限" not in message.body


def test_a_retry_sends_only_to_the_channel_that_failed(session, police_task, channels, tmp_path, port):
    closed = free_port()  # nothing listens there yet
    channels(default=[sink_url(port)], units={POLICE: [sink_url(port), sink_url(closed)]})
    notification = enqueue_task_message(session, task=police_task, event="task_requested")
    session.flush()

    with MailSink(tmp_path / "mailbox-a", port=port):
        first = dispatch_notification(session, notification.id, now=OPENED)
        assert first.status is DeliveryStatus.failed
        assert first.attempts == 1
        assert first.next_attempt_at == OPENED + BACKOFF[0]
        assert f":{closed}" in first.last_error and f":{port}" not in first.last_error
        working, failing = first.delivery
        assert (working["ok"], working["attempt"]) == (True, 1)
        assert (failing["ok"], failing["attempt"]) == (False, 1) and failing["error"]
        assert f":{port}" in working["url"] and f":{closed}" in failing["url"]
        assert working["id"] != failing["id"]
        assert len(read_mailbox(tmp_path / "mailbox-a")) == 1

        # Not due before its backoff is over.
        assert notification.id not in due_notifications(session, OPENED + BACKOFF[0] - timedelta(seconds=1))
        assert notification.id in due_notifications(session, OPENED + BACKOFF[0])

        # The second channel comes back.
        with MailSink(tmp_path / "mailbox-b", port=closed):
            retry = dispatch_notification(session, notification.id, now=OPENED + BACKOFF[0])
            assert retry.status is DeliveryStatus.sent
            assert retry.attempts == 2 and retry.last_error == "" and retry.next_attempt_at is None
            assert retry.sent_at == OPENED + BACKOFF[0]
            again = dispatch_notification(session, notification.id, now=OPENED + timedelta(hours=1))
            assert again.status is DeliveryStatus.sent and again.attempts == 2

    for box in ("mailbox-a", "mailbox-b"):
        messages = read_mailbox(tmp_path / box)
        assert len(messages) == 1, box
        assert messages[0].to == f"{POLICE}@careflow.local"
        assert messages[0].subject == notification.subject
    session.flush()
    session.expire_all()
    stored = session.get(Notification, notification.id)
    assert stored.status is DeliveryStatus.sent
    # The channel that worked first keeps its first attempt; ids are stable across attempts.
    assert [(e["id"], e["ok"], e["attempt"]) for e in stored.delivery] == [
        (working["id"], True, 1), (failing["id"], True, 2),
    ]
    assert all(e["error"] == "" for e in stored.delivery)
    assert audit_actions(session, notification.id) == [
        "notification.queued", "notification.failed", "notification.sent",
    ]


def test_a_channel_that_keeps_failing_is_given_up_and_civil_affairs_is_alerted(session, police_task, channels,
                                                                               tmp_path, port):
    closed = free_port()
    channels(default=[sink_url(port)], units={POLICE: [sink_url(closed)]})
    notification = enqueue_task_message(session, task=police_task, event="task_requested")
    session.flush()
    assert notification.id in due_notifications(session, OPENED)  # pending: due at once

    now = OPENED
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert notification.id in due_notifications(session, now)
        result = dispatch_notification(session, notification.id, now=now)
        assert result.attempts == attempt
        [entry] = result.delivery
        assert (entry["ok"], entry["attempt"]) == (False, attempt) and f":{closed}" in entry["url"]
        if attempt < MAX_ATTEMPTS:
            assert result.status is DeliveryStatus.failed
            assert result.next_attempt_at == now + BACKOFF[attempt - 1]
            assert notification.id not in due_notifications(session, result.next_attempt_at - timedelta(seconds=1))
            now = result.next_attempt_at
    assert result.status is DeliveryStatus.given_up
    assert result.next_attempt_at is None and result.sent_at is None
    assert f":{closed}" in result.last_error
    assert notification.id not in due_notifications(session, now + timedelta(days=30))
    # Given up stays given up: a further call sends nothing and counts nothing.
    assert dispatch_notification(session, notification.id, now=now + timedelta(hours=1)).attempts == MAX_ATTEMPTS
    assert audit_actions(session, notification.id) == (
        ["notification.queued"] + ["notification.failed"] * (MAX_ATTEMPTS - 1) + ["notification.given_up"]
    )

    session.flush()
    [alert] = session.exec(select(Notification).where(Notification.task_id == police_task.id,
                                                      Notification.unit_code == MANAGER)).all()
    assert alert.event == "task_escalated" and alert.recipient_role == "manager"
    assert alert.status is DeliveryStatus.pending
    assert alert.id in due_notifications(session, now)
    with MailSink(tmp_path / "mailbox", port=port):
        assert dispatch_notification(session, alert.id, now=now).status is DeliveryStatus.sent
    [message] = read_mailbox(tmp_path / "mailbox")
    assert message.to == f"{MANAGER}@careflow.local"  # the manager's channel, not the bureau's officers
    assert f"{POLICE} 投递失败 {MAX_ATTEMPTS} 次" in message.body
    assert police_task.short_ref in message.body
    session.expire_all()
    stored = session.get(Notification, notification.id)
    assert type(stored.status) is DeliveryStatus and stored.status is DeliveryStatus.given_up
    assert stored.attempts == MAX_ATTEMPTS
