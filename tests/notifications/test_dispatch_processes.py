"""Dispatching from several processes: each message once, each recipient in order, rate limits kept."""
from __future__ import annotations

import multiprocessing

from notifications.channels import channels_in_use
from notifications.default_channels import DEFAULT_MAILTO
from notifications.dispatch_processes import share_out
from notifications.dispatcher import dispatch_due
from notifications.limits import RateLimiter, parse_rate
from notifications.messages import enqueue_task_message
from notifications.receiver import HttpReceiver
from notifications.sink import MailSink
from tests.notifications.conftest import token
from tests.notifications.test_dispatcher import STEPS, assert_each_sent_once


def _queue(session, tasks) -> None:
    for task in tasks:
        enqueue_task_message(session, task=task, event="task_requested")
    session.commit()


def test_one_pass_over_two_processes_sends_each_message_once_and_in_order(database_url, quiet_outbox, session,
                                                                          open_tasks, channel_file):
    bots = {unit: token("wecom") for unit in STEPS.values()}
    tasks = {unit: open_tasks(4, step) for step, unit in STEPS.items()}
    with HttpReceiver() as receiver:
        channel_file({"units": {unit: [f"wecombot://{bot}"] for unit, bot in bots.items()},
                      "endpoints": receiver.endpoints(), "digest": "off", "limits": {"wecombot": "none"}})
        _queue(session, [t for unit_tasks in tasks.values() for t in unit_tasks])
        counts = dispatch_due(database_url=database_url, processes=2)
        got = {unit: [m.text for m in receiver.messages(token=bot)] for unit, bot in bots.items()}
    assert counts == {"sent": 12}
    for unit, texts in got.items():  # each message once, each recipient's oldest first
        assert [next(t.short_ref for t in tasks[unit] if t.short_ref in text) for text in texts] == [
            t.short_ref for t in tasks[unit]]


def _sweep(database_url: str, start, results) -> None:
    """A dispatcher process of its own (spawned by the test below)."""
    start.wait(60)
    results.put(dispatch_due(database_url=database_url))


def test_two_dispatcher_processes_at_once_send_each_message_once(database_url, quiet_outbox, session, open_tasks,
                                                                 channel_file, tmp_path, port):
    channel_file({"default": [DEFAULT_MAILTO.format(port=port)], "digest": "off"})
    created = [t for step in STEPS for t in open_tasks(6, step)]
    _queue(session, created)
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    with MailSink(tmp_path / "mailbox", port=port):
        sweeps = [context.Process(target=_sweep, args=(database_url, start, results)) for _ in range(2)]
        for sweep in sweeps:
            sweep.start()
        start.set()
        counts = [results.get(timeout=120) for _ in sweeps]
        for sweep in sweeps:
            sweep.join(30)
    assert_each_sent_once(session, tmp_path / "mailbox", created, counts)


def test_recipients_sharing_a_rate_limited_bot_are_served_by_one_process(channel_file, port):
    shared, own = token("ding"), token("ding")
    mail = DEFAULT_MAILTO.format(port=port)
    channel_file({"units": {"a": [f"dingtalk://{shared}/"], "b": [f"dingtalk://{shared}/"], "c": [f"dingtalk://{own}/"],
                            "d": [mail], "e": [mail]}, "digest": "off"})
    groups = {key: [f"{key}{n}" for n in range(n_due)] for key, n_due in
              (("d", 3), ("a", 2), ("e", 3), ("b", 2), ("c", 1))}
    two = share_out(groups, 2, channels_in_use())
    assert sorted(map(len, two)) == [2, 3] and any({"a", "b"} <= set(share) for share in two)  # 5 and 6 messages
    shares = share_out(groups, 5, channels_in_use())
    assert sorted(map(sorted, shares)) == [["a", "b"], ["c"], ["d"], ["e"]]  # one bot: one bucket, one process;
    for share in two + shares:  # oldest due first, as given                # one mailbox: no limit, no need
        assert share == [key for key in groups if key in share]


def test_a_rate_limit_carries_over_to_the_process_that_sends_next():
    clock = [100.0]
    parent, child = RateLimiter(clock=lambda: clock[0]), RateLimiter(clock=lambda: clock[0] + 5000.0)
    limit = parse_rate("20/min")  # burst 5, then 15 a minute
    url = f"dingtalk://{token('ding')}/"
    assert [parent.reserve(url, limit) for _ in range(5)] == [0.0] * 5
    child.adopt(parent.states([url]))
    assert child.reserve(url, limit) is None  # the burst is spent, also in the other process
    clock[0] += 4.0  # one token back (15 a minute)
    assert child.reserve(url, limit) == 0.0 and child.reserve(url, limit) is None
    parent.adopt(child.states())
    assert parent.reserve(url, limit) is None


def test_the_sweeps_dispatch_uses_the_processes_the_operator_set(database_url, quiet_outbox, session, open_tasks,
                                                                 channel_file, monkeypatch):
    """``CAREFLOW_DISPATCH_PROCESSES=2``: a dispatch called as the sweeper calls it (no ``processes``) shares the
    recipients out among two processes, and still sends each message once."""
    import notifications.dispatcher as dispatcher
    from core.settings import get_settings

    calls = []

    def spy(groups, processes, **kwargs):  # the real function, recording how it was called
        calls.append(processes)
        return real(groups, processes, **kwargs)

    real = dispatcher.serve_in_processes
    monkeypatch.setattr(dispatcher, "serve_in_processes", spy)
    monkeypatch.setenv("CAREFLOW_DISPATCH_PROCESSES", "2")
    get_settings.cache_clear()
    bots = {unit: token("wecom") for unit in STEPS.values()}
    tasks = [t for step in STEPS for t in open_tasks(2, step)]
    try:
        with HttpReceiver() as receiver:
            channel_file({"units": {unit: [f"wecombot://{bot}"] for unit, bot in bots.items()},
                          "endpoints": receiver.endpoints(), "digest": "off", "limits": {"wecombot": "none"}})
            _queue(session, tasks)
            counts = dispatch_due(database_url=database_url)
            delivered = sum(len(receiver.messages(token=bot)) for bot in bots.values())
    finally:
        monkeypatch.delenv("CAREFLOW_DISPATCH_PROCESSES")
        get_settings.cache_clear()
    assert calls == [2]
    assert counts == {"sent": len(tasks)} and delivered == len(tasks)
