"""The dispatcher's batches: kept connections, a failure mid-batch, claims, the platforms' limits."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import select

from core.db import session_scope
from models.audit import AuditEvent
from models.notification import DeliveryStatus, Notification
from notifications.claims import claim_rows
from notifications.default_channels import DEFAULT_MAILTO
from notifications.dispatcher import dispatch_due
from notifications.messages import enqueue_task_message
from notifications.outbox import BACKOFF
from notifications.receiver import HttpReceiver
from notifications.send_batch import send_claimed
from notifications.sink import MailSink, read_mailbox
from tests.notifications.conftest import token


def _queue(session, tasks) -> list[Notification]:
    """One ``task_requested`` message per task, committed, oldest first (one second apart)."""
    messages = [enqueue_task_message(session, task=task, event="task_requested") for task in tasks]
    for n, message in enumerate(messages):
        message.created_at = messages[0].created_at + timedelta(seconds=n)
    session.commit()
    return messages


def _refreshed(session, messages: list[Notification]) -> list[Notification]:
    session.expire_all()
    return [session.get(Notification, m.id) for m in messages]


def test_several_mails_to_one_server_go_over_one_connection(database_url, quiet_outbox, session, open_tasks,
                                                            channel_file, tmp_path, port):
    channel_file({"default": [DEFAULT_MAILTO.format(port=port)], "digest": "off"})
    tasks = open_tasks(4) + open_tasks(4, "committee_admonition") + open_tasks(4, "guardianship_assessment")
    assert len({t.unit_code for t in tasks}) == 3
    _queue(session, tasks)
    with MailSink(tmp_path / "mailbox", port=port) as sink:
        counts = dispatch_due(max_workers=1, database_url=database_url)
        connections = sink.connections
    mails = read_mailbox(tmp_path / "mailbox")
    assert counts == {"sent": 12}
    assert len(mails) == 12 and connections == 1  # three recipients, one thread, one SMTP server: one connection
    for task in tasks:
        assert sum(task.short_ref in m.subject or task.short_ref in m.body for m in mails) == 1


def test_several_chat_messages_to_one_bot_go_over_one_connection(database_url, quiet_outbox, session, open_tasks,
                                                                 channel_file, receiver):
    tasks = open_tasks(6)
    bot = token("wecom")
    channel_file({"units": {tasks[0].unit_code: [f"wecombot://{bot}"]}, "endpoints": receiver.endpoints(),
                  "digest": "off"})
    _queue(session, tasks)
    assert dispatch_due(database_url=database_url) == {"sent": 6}
    got = receiver.messages(token=bot)
    assert [next(t.short_ref for t in tasks if t.short_ref in m.text) for m in got] == [t.short_ref for t in tasks]
    assert len({m.peer for m in got}) == 1


def test_a_mail_refused_mid_batch_is_retried_and_the_others_are_sent(database_url, quiet_outbox, session,
                                                                     open_tasks, channel_file, tmp_path, port):
    channel_file({"default": [DEFAULT_MAILTO.format(port=port)], "digest": "off"})
    tasks = open_tasks(5)
    messages = _queue(session, tasks)
    with MailSink(tmp_path / "mailbox", port=port) as sink:
        sink.script("ok", "ok", "refuse", "ok")
        first = dispatch_due(database_url=database_url)
        after_first = _refreshed(session, messages)
        connections = sink.connections
        retry_at = after_first[2].next_attempt_at
        second = dispatch_due(now=retry_at, database_url=database_url)
    assert first == {"sent": 4, "failed": 1}
    assert [m.status for m in after_first] == [DeliveryStatus.sent] * 2 + [DeliveryStatus.failed] + [
        DeliveryStatus.sent] * 2
    refused = after_first[2]
    assert refused.attempts == 1 and refused.last_error and refused.claimed_until is None
    assert refused.sent_at is None and retry_at - after_first[1].sent_at <= BACKOFF[0] + timedelta(seconds=30)
    assert connections == 2  # the connection a send failed on is not reused
    assert second == {"sent": 1}
    final = _refreshed(session, messages)
    assert [(m.status, m.attempts) for m in final] == [(DeliveryStatus.sent, 1)] * 2 + [(DeliveryStatus.sent, 2)] + [
        (DeliveryStatus.sent, 1)] * 2
    mails = read_mailbox(tmp_path / "mailbox")
    assert sorted(next(t.short_ref for t in tasks if t.short_ref in m.subject + m.body) for m in mails) == sorted(
        t.short_ref for t in tasks)
    audited = session.exec(select(AuditEvent.action).where(
        AuditEvent.entity_id.in_([str(m.id) for m in messages]), AuditEvent.action != "notification.queued")).all()
    assert sorted(audited) == ["notification.failed"] + ["notification.sent"] * 5


def test_a_chat_error_mid_batch_is_retried_and_the_others_are_sent(database_url, quiet_outbox, session, open_tasks,
                                                                   channel_file, receiver):
    tasks = open_tasks(4)
    bot = token("ding")
    receiver.script(bot, "ok", "error", "ok")
    channel_file({"units": {tasks[0].unit_code: [f"dingtalk://{bot}/"]}, "endpoints": receiver.endpoints(),
                  "digest": "off"})
    messages = _queue(session, tasks)
    assert dispatch_due(database_url=database_url) == {"sent": 3, "failed": 1}
    failed = _refreshed(session, messages)[1]
    assert (failed.status, failed.attempts) == (DeliveryStatus.failed, 1) and "HTTP 500" in failed.last_error
    assert dispatch_due(now=failed.next_attempt_at, database_url=database_url) == {"sent": 1}
    assert [m.status for m in _refreshed(session, messages)] == [DeliveryStatus.sent] * 4
    assert len(receiver.messages(token=bot)) == 4


def test_a_batch_sends_only_what_still_carries_its_claim(database_url, quiet_outbox, session, open_tasks,
                                                         channel_file, receiver):
    """A dispatcher whose claim on a message was taken over (expired, claimed again by another) neither sends it
    nor overwrites the other dispatcher's record of it."""
    tasks = open_tasks(3)
    bot = token("feishu")
    channel_file({"units": {tasks[0].unit_code: [f"feishu://{bot}/"]}, "endpoints": receiver.endpoints(),
                  "digest": "off"})
    messages = _queue(session, tasks)
    with session_scope(database_url) as other:
        claim, _rows = claim_rows(other, [m.id for m in messages])  # send_claimed reads them again
    assert claim.ids == [m.id for m in messages]
    taken_until = claim.until + timedelta(minutes=1)
    session.execute(sa.update(Notification).where(Notification.id == messages[1].id)
                    .values(claimed_until=taken_until).execution_options(synchronize_session=False))
    session.commit()
    counts, stopped = send_claimed(claim, now=None, max_wait=0.0, send_until=0.0, database_url=database_url)
    assert (counts, stopped) == ({"sent": 2, "skipped": 1}, False)
    taken = _refreshed(session, messages)[1]
    assert (taken.status, taken.claimed_until, taken.attempts) == (DeliveryStatus.sending, taken_until, 0)
    assert len(receiver.messages(token=bot)) == 2


def test_one_pass_keeps_a_bot_within_its_platform_limit(database_url, quiet_outbox, session, open_tasks,
                                                        channel_file):
    """DingTalk's 20 a minute (burst 5) against a receiver that refuses the 21st in a minute, as DingTalk does: one
    pass sends 5 and leaves 3 for later, unclaimed and with no attempt charged; none is refused."""
    tasks = open_tasks(8)
    bot = token("ding")
    with HttpReceiver(enforce_limits=True) as strict:
        channel_file({"units": {tasks[0].unit_code: [f"dingtalk://{bot}/"]}, "endpoints": strict.endpoints(),
                      "digest": "off"})
        messages = _queue(session, tasks)
        counts = dispatch_due(max_wait=0.0, database_url=database_url)
        got = strict.messages(token=bot, accepted_only=False)
    assert counts == {"sent": 5, "pending": 1, "deferred": 2}
    assert [m.mode for m in got] == ["ok"] * 5
    rows = _refreshed(session, messages)
    assert [m.status for m in rows] == [DeliveryStatus.sent] * 5 + [DeliveryStatus.pending] * 3
    assert all(m.attempts == 0 and m.claimed_until is None for m in rows[5:])
    assert rows[5].next_attempt_at is not None


def test_a_kept_mail_connection_the_server_dropped_is_replaced_not_failed(tmp_path, port, monkeypatch):
    """A connection kept from an earlier message is checked (NOOP) before reuse; when the mail server has gone away
    and come back meanwhile, the next message opens a new connection and is delivered."""
    from notifications import connections
    from notifications.deliver import deliver

    monkeypatch.setattr(connections, "IDLE_CHECK", 0.0)  # check every kept connection, however briefly idle
    url = DEFAULT_MAILTO.format(port=port).replace("{unit}", "police-350302")
    with connections.reused_connections() as pool:
        with MailSink(tmp_path / "mailbox", port=port):
            assert deliver([url], "第一封", "正文一").ok
        with MailSink(tmp_path / "mailbox", port=port) as restarted:
            assert deliver([url], "第二封", "正文二").ok
            assert deliver([url], "第三封", "正文三").ok
            assert restarted.connections == 1
        assert pool.smtp_opened == 2
    assert [m.subject for m in read_mailbox(tmp_path / "mailbox")] == ["第一封", "第二封", "第三封"]


def test_chat_messages_to_a_kept_connection_and_after_urllib3_dropped_its_pool():
    """Within a pass, a bot's messages go over one kept-alive connection (its connection pool found once, each request
    copied from the first with its own body), and when urllib3 has closed that pool meanwhile (it keeps pools for a
    few hosts), the next message still arrives."""
    from notifications import connections
    from notifications.deliver import deliver

    bot = token("feishu")
    with HttpReceiver() as receiver, connections.reused_connections() as pool:
        endpoints = receiver.endpoints()
        assert deliver([f"feishu://{bot}/"], "第一条", "正文一", endpoints=endpoints).ok
        assert deliver([f"feishu://{bot}/"], "第二条", "正文二，比第一条长得多" * 20, endpoints=endpoints).ok
        pools = pool.http.get_adapter(endpoints["feishu"]).poolmanager.pools
        evicted = [pools[key] for key in pools.keys()]
        pools.clear()
        for dropped in evicted:
            dropped.close()  # what urllib3 1.x does to the pool it evicts (2.x only forgets it)
        assert deliver([f"feishu://{bot}/"], "第三条", "正文三", endpoints=endpoints).ok
        got = receiver.messages(token=bot)
    assert [m.payload["content"]["text"] for m in got] == ["第一条\r\n正文一", "第二条\r\n" + "正文二，比第一条长得多" * 20,
                                                           "第三条\r\n正文三"]  # each its own body, whole
    assert got[0].peer == got[1].peer != got[2].peer  # one connection for the first two, a new one after the drop


def test_a_claim_returns_its_messages_and_a_second_dispatcher_gets_none_of_them(database_url, quiet_outbox, session,
                                                                               open_tasks):
    """The claim's one UPDATE returns the claimed messages themselves, in the order asked, as claimed; a second
    dispatcher claiming the same messages then gets none (nothing is sent twice)."""
    messages = _queue(session, open_tasks(3))
    asked = [messages[2].id, messages[0].id, messages[1].id]
    with session_scope(database_url) as first:
        claim, rows = claim_rows(first, asked)
    assert claim.ids == asked and [row.id for row in rows] == asked
    assert all(row.status == DeliveryStatus.sending and row.claimed_until == claim.until for row in rows)
    assert rows[0].subject == messages[2].subject  # a whole message, readable after its session closed
    with session_scope(database_url) as second:
        assert claim_rows(second, asked)[0].ids == []
