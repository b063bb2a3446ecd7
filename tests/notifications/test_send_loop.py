"""The send loop: what a flow queued with ``send_now`` goes out at once; nothing else, and nothing twice.

The session's served runner (tests/flows) may be up against the same database, with its own send loop and the session's
mail sink. So the passes here run at a later time (``LATER``) on messages held until then (``next_attempt_at``, as a
rate limit holds one), which a loop at the real time leaves alone; a running loop's test counts deliveries in both
mail sinks.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from notifications.claims import send_soon
from notifications.default_channels import DEFAULT_MAILTO
from notifications.messages import enqueue_task_message
from notifications.send_loop import SendLoop, _WakeUps, send_now_groups, send_pass
from notifications.sink import MailSink, read_mailbox
from core.paths import PROJECT_ROOT
from core.settings import get_settings
from models.base import utcnow
from models.notification import DeliveryStatus, Notification


def _statuses(session, messages) -> list[DeliveryStatus]:
    session.expire_all()
    return [session.get(Notification, m.id).status for m in messages]


LATER = utcnow() + timedelta(days=1)


def _held(session, messages):
    """Hold the messages until :data:`LATER` (only this test's passes see them) and commit."""
    for message in messages:
        message.next_attempt_at = LATER
    session.commit()
    return messages


def _deliveries(tmp_path) -> Counter[str]:
    """Subjects delivered, in this test's mail sink and the session's (a served runner's send loop)."""
    return Counter(m.subject for box in (tmp_path / "mailbox", get_settings().mailbox_dir)
                   for m in read_mailbox(box))


def test_a_pass_sends_what_flows_queued_to_go_now_and_leaves_the_rest_to_the_sweeper(
        database_url, quiet_outbox, session, open_tasks, channel_file, tmp_path, port):
    channel_file({"default": [DEFAULT_MAILTO.format(port=port)], "digest": "off"})
    now_tasks, later_tasks = open_tasks(3), open_tasks(2, "committee_admonition")
    now = [enqueue_task_message(session, task=t, event="task_requested", send_now=True) for t in now_tasks]
    later = [enqueue_task_message(session, task=t, event="task_requested") for t in later_tasks]
    _held(session, now + later)
    groups = send_now_groups(database_url, now=LATER)
    assert {m.id for m in now} <= {i for ids in groups.values() for i in ids}
    assert not {m.id for m in later} & {i for ids in groups.values() for i in ids}
    before = _deliveries(tmp_path)
    with MailSink(tmp_path / "mailbox", port=port):
        assert send_pass(database_url, now=LATER)["sent"] >= 3
        assert send_pass(database_url, now=LATER).get("sent", 0) == 0  # nothing left to send now
    assert _statuses(session, now) == [DeliveryStatus.sent] * 3
    assert _statuses(session, later) == [DeliveryStatus.pending] * 2  # an escalation or duty: the sweeper's
    delivered = _deliveries(tmp_path) - before
    assert {subject: delivered[subject] for subject in {n.subject for n in now + later}} == {
        **{n.subject: 0 for n in later}, **Counter(n.subject for n in now)}


def test_messages_marked_to_send_soon_are_taken_by_the_next_pass(database_url, quiet_outbox, session, open_tasks,
                                                                  channel_file, tmp_path, port):
    """What a pathway's failed end does: its messages are stored, then marked in the same transaction."""
    channel_file({"default": [DEFAULT_MAILTO.format(port=port)], "digest": "off"})
    messages = _held(session, [enqueue_task_message(session, task=t, event="pathway_closed") for t in open_tasks(2)])
    assert not {m.id for m in messages} & {i for ids in send_now_groups(database_url, now=LATER).values() for i in ids}
    send_soon(session, [m.id for m in messages])
    session.commit()
    assert {m.id for m in messages} <= {i for ids in send_now_groups(database_url, now=LATER).values() for i in ids}
    with MailSink(tmp_path / "mailbox", port=port):
        send_pass(database_url, now=LATER)
    assert _statuses(session, messages) == [DeliveryStatus.sent] * 2


def test_two_loops_and_the_sweeper_never_send_one_message_twice(database_url, quiet_outbox, session, open_tasks,
                                                               channel_file, tmp_path, port):
    from notifications.dispatcher import dispatch_due

    channel_file({"default": [DEFAULT_MAILTO.format(port=port)], "digest": "off"})
    messages = _held(session, [enqueue_task_message(session, task=t, event="task_requested", send_now=True)
                               for t in open_tasks(30) + open_tasks(30, "committee_admonition")])
    before = _deliveries(tmp_path)
    with MailSink(tmp_path / "mailbox", port=port):
        workers = [threading.Thread(target=send_pass, args=(database_url, LATER)) for _ in range(2)]
        workers.append(threading.Thread(target=dispatch_due, kwargs={"database_url": database_url, "now": LATER}))
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert _statuses(session, messages) == [DeliveryStatus.sent] * 60
    delivered = _deliveries(tmp_path) - before
    assert {subject: delivered[subject] for subject in {m.subject for m in messages}} == Counter(
        m.subject for m in messages)


def test_a_running_loop_sends_a_new_message_within_seconds(database_url, quiet_outbox, session, open_tasks,
                                                          channel_file, tmp_path, port):
    channel_file({"default": [DEFAULT_MAILTO.format(port=port)], "digest": "off"})
    task = open_tasks(1)[0]
    before = _deliveries(tmp_path)
    with MailSink(tmp_path / "mailbox", port=port):
        loop = SendLoop(poll=0.1, database_url=database_url)
        loop.start()
        try:
            message = enqueue_task_message(session, task=task, event="task_requested", send_now=True)
            session.commit()
            deadline = time.monotonic() + 20  # bounded wait: the machine is shared; the benchmark measures latency
            while _statuses(session, [message]) != [DeliveryStatus.sent]:
                assert time.monotonic() < deadline, "the send loop did not send the message"
                time.sleep(0.1)
        finally:
            loop.stop()
    assert not loop.is_alive()
    assert (_deliveries(tmp_path) - before)[message.subject] == 1


@pytest.mark.only_backend("postgresql", why="LISTEN/NOTIFY is PostgreSQL's; on SQLite the loop scans on its timer")
def test_storing_a_message_to_send_now_wakes_the_loop_at_once(database_url, quiet_outbox, session, open_tasks):
    """A flow's message (``send_now``) and a failed pathway end's (``send_soon``) wake a loop that would otherwise
    wait for its timer (here 60 s): the first agency is told at once, not up to a poll later."""
    wake_ups, stopping = _WakeUps(database_url), threading.Event()
    try:
        wake_ups.wait(0.01, stopping)  # now listening
        for store in ("send_now", "send_soon"):
            task = open_tasks(1)[0]
            if store == "send_now":
                enqueue_task_message(session, task=task, event="task_requested", send_now=True)
            else:
                send_soon(session, [enqueue_task_message(session, task=task, event="pathway_closed").id])
            session.commit()
            started = time.monotonic()
            wake_ups.wait(60, stopping)
            assert time.monotonic() - started < 30, f"{store}: the loop slept until its timer"
    finally:
        wake_ups.__exit__(None, None, None)


@pytest.mark.only_backend("postgresql", why="LISTEN/NOTIFY is PostgreSQL's; on SQLite the loop scans on its timer")
def test_a_lost_listening_connection_leaves_the_loop_on_its_timer(database_url, session):
    """The database restarted (here: the listening backend terminated): the wait neither raises nor hangs."""
    wake_ups, stopping = _WakeUps(database_url), threading.Event()
    try:
        wake_ups.wait(0.01, stopping)
        pid = wake_ups._connection.driver_connection.info.backend_pid
        session.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        session.commit()
        time.sleep(0.5)
        started = time.monotonic()
        wake_ups.wait(0.5, stopping)
        wake_ups.wait(0.5, stopping)
        assert wake_ups._connection is None and time.monotonic() - started < 10
    finally:
        wake_ups.__exit__(None, None, None)


_CLAIM_AND_HANG = """
import sys, time, uuid
from datetime import datetime
from core.db import session_scope
from notifications.claims import claim_rows
with session_scope(sys.argv[1]) as session:
    claim, _ = claim_rows(session, [uuid.UUID(sys.argv[2])], datetime.fromisoformat(sys.argv[3]))
print(len(claim.ids), flush=True)
time.sleep(600)
"""


def _sender_claiming(database_url: str, message) -> subprocess.Popen:
    """A real process that claims ``message`` (as a send loop does before its send) and then hangs, as if
    mid-send."""
    sender = subprocess.Popen([sys.executable, "-c", _CLAIM_AND_HANG, database_url, str(message.id),
                               LATER.isoformat()], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    assert sender.stdout.readline().strip() == "1", "the sender did not claim its message"
    return sender


def test_a_killed_senders_claims_are_given_back_at_once_and_sent(database_url, quiet_outbox, session, open_tasks,
                                                                 channel_file, tmp_path, port):
    """A runner killed (SIGKILL) while its send loop held an agency's message: the message is not left ``sending``
    for the claim's ten minutes. The next send loop on this host or the sweeper's dispatch gives it back and sends it,
    once; a sender still alive keeps its claim."""
    from notifications.claims import release_dead_claims
    from notifications.dispatcher import dispatch_due

    channel_file({"default": [DEFAULT_MAILTO.format(port=port)], "digest": "off"})
    killed, alive = _held(session, [enqueue_task_message(session, task=t, event="task_requested", send_now=True)
                                    for t in open_tasks(2)])
    senders = [_sender_claiming(database_url, killed), _sender_claiming(database_url, alive)]
    try:
        senders[0].send_signal(signal.SIGKILL)
        senders[0].wait(10)
        assert _statuses(session, [killed, alive]) == [DeliveryStatus.sending] * 2
        assert release_dead_claims(session) == 1  # what a send loop does as it starts
        assert _statuses(session, [killed, alive]) == [DeliveryStatus.pending, DeliveryStatus.sending]

        senders[1].send_signal(signal.SIGKILL)
        senders[1].wait(10)
        before = _deliveries(tmp_path)
        with MailSink(tmp_path / "mailbox", port=port):
            dispatch_due(database_url=database_url, now=LATER)  # the sweeper's: within the claim's ten minutes
        assert _statuses(session, [killed, alive]) == [DeliveryStatus.sent] * 2
        delivered = _deliveries(tmp_path) - before
        subjects = Counter(m.subject for m in (killed, alive))  # delivered once each
        assert {subject: delivered[subject] for subject in subjects} == subjects
    finally:
        for sender in senders:
            sender.kill()
            sender.wait(10)
