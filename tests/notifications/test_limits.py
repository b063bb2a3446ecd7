"""Rate limits as token buckets: the any-window guarantee, deferral without a lost attempt, real pacing."""
from __future__ import annotations

from datetime import timedelta

import pytest

from models.notification import DeliveryStatus, Notification
from notifications.deliver import deliver
from notifications.limits import RateLimiter, TokenBucket, parse_rate
from notifications.outbox import dispatch_notification, due_notifications
from notifications.messages import enqueue_task_message
from notifications.receiver import HttpReceiver
from tests.notifications.conftest import OPENED_AT, token


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("text, count, period, burst", [
    ("20/min", 20, 60, 5), ("5/s", 5, 1, 1), ("100/minute", 100, 60, 25), ("300/h", 300, 3600, 75),
    ("30/10s", 30, 10, 7), (" 6 / 2 sec ", 6, 2, 1),
])
def test_parse_rate(text, count, period, burst):
    limit = parse_rate(text)
    assert (limit.count, limit.period, limit.burst) == (count, period, burst)


@pytest.mark.parametrize("text", ["20", "20/fortnight", "0/min", "-1/s", "twenty/min"])
def test_bad_rates_are_value_errors_quoting_the_text(text):
    with pytest.raises(ValueError, match="rate"):
        parse_rate(text)


@pytest.mark.parametrize("rate", ["20/min", "100/min", "7/10s"])
def test_a_greedy_sender_never_exceeds_the_limit_in_any_window(rate):
    """Send as soon as the bucket allows for 5 periods; every sliding window holds at most ``count`` sends."""
    limit = parse_rate(rate)
    clock = FakeClock()
    bucket = TokenBucket(limit, clock)
    sends = []
    end = clock.now + 5 * limit.period
    while clock.now < end:
        wait = bucket.reserve(max_wait=limit.period)
        clock.now += wait
        sends.append(clock.now)
    for i, start in enumerate(sends):
        in_window = sum(1 for t in sends[i:] if t < start + limit.period)
        assert in_window <= limit.count
    # ... and it is not needlessly slow: over 5 periods it gets close to 5 * count.
    assert len(sends) >= 5 * limit.count - limit.count


def test_an_empty_bucket_says_how_long_to_wait_and_takes_nothing_when_that_is_too_long():
    clock = FakeClock()
    bucket = TokenBucket(parse_rate("20/min"), clock)  # burst 5, then one token every 4 s
    assert [bucket.reserve() for _ in range(5)] == [0.0] * 5
    assert bucket.reserve() is None
    assert bucket.next_token_in() == pytest.approx(4.0)
    assert bucket.reserve(max_wait=4.0) == pytest.approx(4.0)  # taken: the next one waits 8 s
    assert bucket.next_token_in() == pytest.approx(8.0)
    clock.now += 8.0
    assert bucket.reserve() == 0.0


def test_buckets_are_per_url_and_replaced_when_the_limit_changes():
    limiter = RateLimiter(FakeClock())
    one, other = "dingtalk://a0000111122223333/", "dingtalk://b0000111122223333/"
    assert all(limiter.reserve(one, parse_rate("2/min", burst=2)) == 0.0 for _ in range(2))
    assert limiter.reserve(one, parse_rate("2/min", burst=2)) is None
    assert limiter.reserve(other, parse_rate("2/min", burst=2)) == 0.0
    assert limiter.reserve(one, parse_rate("3/min", burst=3)) == 0.0  # a new limit: a new, full bucket
    assert limiter.reserve(one, None) == 0.0  # no limit


def test_deliver_defers_a_url_whose_bucket_is_empty_and_sends_nothing_to_it(receiver):
    bot = token("ding")
    url = f"dingtalk://{bot}/"
    limits = {"dingtalk": parse_rate("2/min", burst=2)}
    results = [deliver([url], "主题", f"第{i}条", endpoints=receiver.endpoints(), limits=limits) for i in range(3)]
    assert [r.ok for r in results] == [True, True, False]
    [deferred] = results[2].per_url
    assert deferred.deferred_for > 0 and deferred.error.startswith("rate limit 2/min (burst 2): next send in")
    assert len(receiver.messages(token=bot, accepted_only=False)) == 2


def test_a_rate_limited_message_costs_no_attempt_and_is_due_when_a_token_is_there(session, open_tasks, channel_file,
                                                                                 receiver):
    tasks = open_tasks(3)
    bot = token("ding")
    channel_file({"units": {tasks[0].unit_code: [f"dingtalk://{bot}/"]}, "endpoints": receiver.endpoints(),
                  "limits": {"dingtalk": {"rate": "2/min", "burst": 2}}, "digest": "off"})
    notifications = [enqueue_task_message(session, task=t, event="task_requested") for t in tasks]
    session.flush()
    statuses = [dispatch_notification(session, n.id, now=OPENED_AT).status for n in notifications]
    assert statuses == [DeliveryStatus.sent, DeliveryStatus.sent, DeliveryStatus.pending]
    waiting = notifications[2]
    assert waiting.attempts == 0 and waiting.delivery == [] and waiting.last_error == ""
    # "2/min" with a burst of 2: one token every 30 s once the burst is used.
    assert OPENED_AT + timedelta(seconds=25) < waiting.next_attempt_at <= OPENED_AT + timedelta(seconds=31)
    assert waiting.id not in due_notifications(session, OPENED_AT + timedelta(seconds=20))
    assert waiting.id in due_notifications(session, waiting.next_attempt_at)
    assert len(receiver.messages(token=bot)) == 2


def test_the_dispatcher_paces_a_chat_bot_and_the_platform_never_refuses(database_url, quiet_outbox, session,
                                                                       open_tasks, channel_file):
    """Six messages to one bot limited to 4 per 2 s (burst 2) against a receiver enforcing it: paced, none refused."""
    from notifications.dispatcher import dispatch_due

    tasks = open_tasks(6)
    bot = token("ding")
    with HttpReceiver() as strict:
        channel_file({"units": {tasks[0].unit_code: [f"dingtalk://{bot}/"]}, "endpoints": strict.endpoints(),
                      "limits": {"dingtalk": {"rate": "4/2s", "burst": 2}}, "digest": "off"})
        ids = [enqueue_task_message(session, task=task, event="task_requested").id for task in tasks]
        session.commit()
        counts = dispatch_due(max_wait=5.0, database_url=database_url)
        got = strict.messages(token=bot, accepted_only=False)
    # its own six (a message another test's background run enqueued after quiet_outbox may be in the pass too:
    # seen once in the suite, one message to a unit without a channel counted 'failed')
    session.expire_all()
    assert [session.get(Notification, i).status for i in ids] == [DeliveryStatus.sent] * 6
    assert counts.get("sent", 0) >= 6
    assert [m.mode for m in got] == ["ok"] * 6
    times = [m.at for m in got]
    for i, start in enumerate(times):  # never more than 4 within any 2 s
        assert sum(1 for t in times[i:] if t < start + 2.0) <= 4
    assert times[-1] - times[0] >= 2.0  # 6 sends at 4 per 2 s (2 at once, then one per second) take >= 2 s


def test_a_failed_channel_waiting_for_its_rate_limit_is_not_charged_an_attempt(session, open_tasks, channel_file,
                                                                              receiver):
    [task] = open_tasks(1)
    limited, other = token("ding"), token("wecom")
    receiver.script(limited, "refuse", "ok")
    receiver.script(other, "refuse", "ok")
    channel_file({"units": {task.unit_code: [f"dingtalk://{limited}/", f"wecombot://{other}"]},
                  "endpoints": receiver.endpoints(), "limits": {"dingtalk": {"rate": "1/min", "burst": 1}},
                  "digest": "off"})
    notification = enqueue_task_message(session, task=task, event="task_requested")
    session.flush()
    first = dispatch_notification(session, notification.id, now=OPENED_AT)
    assert first.status is DeliveryStatus.failed and first.attempts == 1
    assert [e["ok"] for e in first.delivery] == [False, False]
    # The retry comes before the DingTalk bot has a token again: only WeCom is tried, and it works.
    retry_at = first.next_attempt_at
    second = dispatch_notification(session, notification.id, now=retry_at)
    assert second.attempts == 2
    dingtalk, wecom = second.delivery
    assert (dingtalk["ok"], dingtalk["attempt"]) == (False, 1) and (wecom["ok"], wecom["attempt"]) == (True, 2)
    assert second.status is DeliveryStatus.failed and "errcode 310000" in second.last_error
    assert retry_at + timedelta(seconds=30) < second.next_attempt_at <= retry_at + timedelta(seconds=61)
    assert len(receiver.messages(token=other)) == 1 and receiver.messages(token=limited) == []


def test_a_failed_message_waiting_for_its_rate_limit_ends_the_recipients_pass(database_url, quiet_outbox, session,
                                                                             open_tasks, channel_file, receiver):
    """A retry that finds the bot's rate limit used up is not tried and stays ``failed`` (no attempt charged); the
    dispatcher then leaves that recipient's later messages for the next pass, as it does after a new message is
    deferred, instead of claiming and deferring each of them in turn."""
    from notifications.dispatcher import dispatch_due

    tasks = open_tasks(3)
    bot = token("ding")
    receiver.script(bot, "refuse")
    channel_file({"units": {tasks[0].unit_code: [f"dingtalk://{bot}/"]}, "endpoints": receiver.endpoints(),
                  "limits": {"dingtalk": {"rate": "1/min", "burst": 1}}, "digest": "off"})
    failed = enqueue_task_message(session, task=tasks[0], event="task_requested")
    session.flush()
    first = dispatch_notification(session, failed.id, now=OPENED_AT)  # uses the bot's only token, refused
    assert first.status is DeliveryStatus.failed and first.attempts == 1
    later = [enqueue_task_message(session, task=t, event="task_requested") for t in tasks[1:]]
    for message in later:
        message.created_at = first.created_at + timedelta(seconds=1)  # after the failed one, in the pass's order
    session.commit()
    counts = dispatch_due(now=first.next_attempt_at + timedelta(days=1), max_wait=0.0, database_url=database_url)
    # its own three at least (a message another test's background run enqueued after quiet_outbox may be in the pass
    # too: seen once in the suite as 'skipped': 1); what each of its own became is checked below
    assert counts.get("failed", 0) >= 1 and counts.get("deferred", 0) >= 2, counts
    for message in (first, *later):
        session.refresh(message)
    assert (first.status, first.attempts) == (DeliveryStatus.failed, 1)
    assert [(m.status, m.attempts, m.delivery) for m in later] == [(DeliveryStatus.pending, 0, [])] * 2
    assert len(receiver.messages(token=bot, accepted_only=False)) == 1
