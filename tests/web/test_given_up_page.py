"""The admin's page of messages given up after their last retry: listed a page at a time, in Chinese, and re-sent on
request (audited); the next dispatch delivers it."""
from __future__ import annotations

import re
import uuid

import sqlalchemy as sa
from sqlmodel import select

from core.db import session_scope
from models.audit import AuditEvent
from models.notification import DeliveryStatus, Notification
from models.task import AgencyTask
from core.settings import get_settings
from notifications.default_channels import DEFAULT_MAILTO
from notifications.outbox import dispatch_notification
from notifications.messages import enqueue_task_message
from notifications.sink import MailSink, read_mailbox
from tests.web.conftest import free_port


def _give_up(task_id: uuid.UUID, occasion: str) -> uuid.UUID:
    with session_scope() as session:
        message = enqueue_task_message(session, task=session.get(AgencyTask, task_id), event="task_reminder",
                                       occasion=occasion)
        session.flush()
        session.execute(sa.update(Notification).where(Notification.id == message.id).values(
            status=DeliveryStatus.given_up, attempts=5, last_error="mailto://***: connection refused"))
        return message.id


def test_an_admin_lists_and_resends_given_up_messages(web_app, world, clients, tmp_path, monkeypatch):
    task_id = world.places["A1"].tasks["village_committee-350302001001"]
    ids = [_give_up(task_id, f"given-up-{uuid.uuid4().hex[:8]}") for _ in range(3)]
    admin = clients["admin"]
    page = admin.get("/admin/notifications")
    assert page.status_code == 200
    assert "投递失败的通知" in page.text and "重新发送" in page.text and "到期提醒" in page.text
    assert "task_reminder" not in page.text and "given_up" not in page.text  # no raw codes on a Chinese page
    assert all(f"/admin/notifications/{i}/resend" in page.text for i in ids)
    total = int(re.search(r"（(\d+) 条）", page.text).group(1))
    assert total >= 3
    far = admin.get("/admin/notifications?page=9999")  # past the end: the last page
    assert far.status_code == 200 and ("上一页" in far.text) == (total > 50)

    response = admin.post(f"/admin/notifications/{ids[0]}/resend", data={"csrf_token": admin.csrf})
    assert response.status_code == 303 and response.headers["location"] == "/admin/notifications?done=resent"
    again = admin.post(f"/admin/notifications/{ids[0]}/resend", data={"csrf_token": admin.csrf})
    assert again.headers["location"] == "/admin/notifications?done=not_given_up"
    assert f"/admin/notifications/{ids[0]}/resend" not in admin.get("/admin/notifications").text
    with session_scope() as session:
        assert session.get(Notification, ids[0]).status is DeliveryStatus.pending
        [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "notification.resend_requested",
                                                        AuditEvent.entity_id == str(ids[0]))).all()
        assert event.actor == world.person("admin").username

    port = free_port()  # the channel is back: a mail sink of this test's own
    channels = tmp_path / "channels.yaml"
    channels.write_text(f"default:\n  - {DEFAULT_MAILTO.format(port=port)}\ndigest: off\n", encoding="utf-8")
    monkeypatch.setenv("CAREFLOW_CHANNELS_FILE", str(channels))
    get_settings.cache_clear()
    try:
        with MailSink(tmp_path / "mailbox", port=port), session_scope() as session:
            sent = dispatch_notification(session, ids[0], hold_bursts=False, max_wait=5)
            assert sent.status is DeliveryStatus.sent
    finally:
        monkeypatch.delenv("CAREFLOW_CHANNELS_FILE")
        get_settings.cache_clear()
    [mail] = read_mailbox(tmp_path / "mailbox")
    assert world.places["A1"].reference in mail.subject


def test_only_an_admin_may_resend(web_app, world, clients):
    task_id = world.places["A1"].tasks["village_committee-350302001001"]
    message = _give_up(task_id, f"given-up-{uuid.uuid4().hex[:8]}")
    officer = clients["off_vc_a1"]
    assert officer.post(f"/admin/notifications/{message}/resend", data={"csrf_token": officer.csrf}).status_code == 403
    with session_scope() as session:
        assert session.get(Notification, message).status is DeliveryStatus.given_up
