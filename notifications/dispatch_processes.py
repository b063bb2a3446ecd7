"""One dispatch pass shared out among several processes, for when one Python interpreter is the bottleneck.

Building a request (apprise, ``requests``, the email package) costs CPU under one interpreter lock: a pass
with hundreds of recipients keeps one core busy however many threads send. :func:`serve_in_processes` splits
the recipients into shares (:func:`share_out`) and runs :func:`notifications.dispatch_threads.serve_recipients`
on each share in a process of its own. The guarantees of a single process hold:

- nothing is sent twice: every process claims before it sends (:mod:`notifications.claims`), and every
  recipient is in one share only;
- one recipient's messages go out in order: they are all in one share, served by one thread;
- rate limits: recipients that share a rate-limited URL (one bot for several units, or a URL that an event
  adds to every recipient) are kept in one share, and the process of that share continues from the parent's
  token bucket for the URL and hands it back at the end (:meth:`notifications.limits.RateLimiter.states`).

The processes are forked from a server process that has imported careflow once (``forkserver``, where the
platform has it; else ``spawn``, which imports it again every pass). They get the parent's environment
(settings, channel file) as it is at the time of the pass.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime

from core.settings import get_settings
from notifications.channels import ChannelConfig, channels_in_use
from notifications.deliver import limit_for
from notifications.dispatch_threads import serve_recipients
from notifications.limits import LIMITER

log = logging.getLogger(__name__)


def share_out(groups: dict[str, list[uuid.UUID]], shares: int, config: ChannelConfig) -> list[list[str]]:
    """The channel keys of ``groups`` ({channel key: due ids}) in at most ``shares`` lists of about equal
    message counts; keys that can reach one rate-limited URL (under any event of the channel file) are in one
    list. Each list keeps the keys in the order of ``groups`` (oldest due message first); none is empty."""
    root = {key: key for key in groups}

    def find(key: str) -> str:
        while root[key] != key:
            root[key] = root[root[key]]
            key = root[key]
        return key

    owner: dict[str, str] = {}
    for key in groups:
        for event in (None, *config.events):
            for url in config.urls_for(key, event):
                if limit_for(url, config.limits) is not None:
                    root[find(key)] = find(owner.setdefault(url, key))
    together: dict[str, list[str]] = {}
    for key in groups:
        together.setdefault(find(key), []).append(key)
    loads, lists = [0] * max(1, shares), [[] for _ in range(max(1, shares))]
    for keys in sorted(together.values(), key=lambda keys: -sum(len(groups[k]) for k in keys)):
        lightest = loads.index(min(loads))
        lists[lightest].extend(keys)
        loads[lightest] += sum(len(groups[k]) for k in keys)
    order = {key: n for n, key in enumerate(groups)}
    return [sorted(keys, key=order.__getitem__) for keys in lists if keys]


def serve_in_processes(groups: dict[str, list[uuid.UUID]], processes: int, *, now: datetime | None,
                       max_workers: int, max_wait: float, time_budget: float,
                       database_url: str | None) -> Counter[str]:
    """Send ``groups`` ({channel key: due ids, oldest first}) from up to ``processes`` processes of
    ``max_workers`` threads each; returns the counts of :func:`notifications.dispatcher.dispatch_due`.

    A process that dies counts its messages as ``error`` (logged): their claims expire and they are sent
    again (:data:`notifications.claims.CLAIM_FOR`), as after a crash of a single dispatcher.
    """
    config = channels_in_use()
    shares = share_out(groups, processes, config)
    send_until = time.monotonic() + time_budget
    counts: Counter[str] = Counter()
    with ProcessPoolExecutor(max_workers=len(shares), mp_context=_context()) as pool:
        running = []
        for keys in shares:
            urls = {url for key in keys for event in (None, *config.events) for url in config.urls_for(key, event)}
            share = [groups[key] for key in keys]
            running.append((pool.submit(_serve_share, share, LIMITER.states(urls), dict(os.environ),
                                        now=now, max_workers=max_workers, max_wait=max_wait,
                                        time_left=send_until - time.monotonic(), database_url=database_url),
                            sum(len(ids) for ids in share)))
        for future, messages in running:
            try:
                served, buckets = future.result()
            except Exception:
                log.exception("a dispatcher process failed; its %d messages are sent when their claims expire",
                              messages)
                counts["error"] += messages
                continue
            counts.update(served)
            LIMITER.adopt(buckets)
    return counts


def _serve_share(share: list[list[uuid.UUID]], buckets: dict, environ: dict[str, str], *, now: datetime | None,
                 max_workers: int, max_wait: float, time_left: float,
                 database_url: str | None) -> tuple[Counter[str], dict]:
    """In a dispatcher process: take the parent's environment and token buckets, serve ``share``, return the
    counts and the buckets as they are now."""
    os.environ.clear()
    os.environ.update(environ)
    get_settings.cache_clear()
    LIMITER.clear()
    LIMITER.adopt(buckets)
    served = serve_recipients(share, now=now, max_workers=max_workers, max_wait=max_wait,
                              send_until=time.monotonic() + time_left, database_url=database_url)
    return served, LIMITER.states()


def _context() -> multiprocessing.context.BaseContext:
    """``forkserver`` with careflow's dispatcher imported once in the server, where the platform has it."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context
