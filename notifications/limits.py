"""Per-channel rate limits as token buckets, matching each platform's documented limit.

apprise waits a fixed 5.5 s between two sends of one plugin instance (``request_rate_per_sec``); careflow
switches that off for its sends (:func:`notifications.deliver.deliver`) and instead gives every channel URL
(one bot, one mailbox, one webhook) a token bucket here. A limit ``"20/min"`` is a guarantee: at most 20
sends in ANY 60-second window. A bucket of ``burst`` tokens refilled at ``(count - burst) / period``
keeps that promise, because the most a bucket lets through in a window ``T`` is ``burst + rate * T``.

Platform defaults (:data:`PLATFORM_LIMITS`; override or add per schema under ``limits:`` in the channel file):

- DingTalk custom robot (``dingtalk://``): 20 messages a minute per robot; exceeding it mutes the robot
  for 10 minutes (errcode 130101) -- DingTalk open platform, "自定义机器人发送群消息" (DOMAIN.md §7).
- WeCom group bot (``wecombot://``): 20 messages a minute per bot (WeCom "群机器人配置说明").
- Feishu/Lark custom bot (``feishu://``, ``lark://``): 100 a minute and 5 a second per bot.
- WeCom app (``wechat://``): no per-minute limit per app is documented for message/send (10,000 calls
  a minute per company API); careflow uses a conservative 300 a minute.
- Email, ``json://`` webhooks and SMS gateways: none by default (the local mail sink takes anything);
  set one for a real SMTP relay or gateway.

Buckets live in the process: two dispatcher processes sending to one bot each keep their own bucket.
That is why a platform's refusal ("send too fast") is still caught by verified delivery and retried. One
pass spread over several processes (``dispatch_due(processes=N)``) is not such a case: every rate-limited
URL is served by one of them, which continues from the parent's bucket and hands it back
(:meth:`RateLimiter.states`, :meth:`RateLimiter.adopt`).
"""
from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from models.errors import FieldValueError

#: ``"<count>/<period>"``, period one of s/sec/second, min/minute, h/hour (optionally ``"<count>/<n><unit>"``).
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)?\s*(s|sec|second|min|minute|h|hour)s?\s*$", re.IGNORECASE)
_PERIOD_SECONDS = {"s": 1, "sec": 1, "second": 1, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` sends in any ``period`` seconds, at most ``burst`` of them at once.

    Attributes:
        count: sends allowed per window (>= 1).
        period: window length in seconds (> 0).
        burst: bucket size, 1 <= burst <= count; default ``max(1, count // 4)``.
    """

    count: int
    period: float
    burst: int

    @property
    def refill_per_second(self) -> float:
        """Tokens added per second: ``(count - burst) / period``, or ``count / period`` when burst == count
        (then the any-window guarantee holds only for windows of one period starting on an empty bucket)."""
        spare = self.count - self.burst
        return (spare if spare > 0 else self.count) / self.period

    def __str__(self) -> str:
        per = {1: "s", 60: "min", 3600: "h"}.get(int(self.period), f"{self.period:g}s")
        return f"{self.count}/{per} (burst {self.burst})"


def parse_rate(text: str, burst: int | None = None) -> RateLimit:
    """``"20/min"`` -> :class:`RateLimit` (20 per 60 s, burst 5). Also ``"5/s"``, ``"100/minute"``, ``"30/10s"``.

    Raises:
        models.errors.FieldValueError (a ValueError) of field ``rate``: not of that form, a zero count, or a burst
        outside 1..count, worded from ``channels.rate.*`` (the message quotes the text).
    """
    match = _RATE.match(str(text))
    if not match:
        raise FieldValueError("rate", "channels.rate.format", value=str(text))
    count = int(match.group(1))
    period = int(match.group(2) or 1) * _PERIOD_SECONDS[match.group(3).lower()]
    if count < 1:
        raise FieldValueError("rate", "channels.rate.count", value=str(text))
    burst = max(1, count // 4) if burst is None else int(burst)
    if not 1 <= burst <= count:
        raise FieldValueError("rate", "channels.rate.burst", value=str(text), burst=burst, count=count)
    return RateLimit(count=count, period=float(period), burst=burst)


#: Default limit per URL schema (see the module docstring for the sources). ``mailto``/``json``/SMS: none.
PLATFORM_LIMITS: dict[str, RateLimit] = {
    "dingtalk": parse_rate("20/min"),
    "wecombot": parse_rate("20/min"),
    "feishu": parse_rate("100/min", burst=5),
    "lark": parse_rate("100/min", burst=5),
    "wechat": parse_rate("300/min", burst=20),
}


class TokenBucket:
    """A thread-safe token bucket for one :class:`RateLimit`; starts full.

    ``clock`` returns seconds (monotonic); tests pass a fake one.
    """

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._tokens = float(limit.burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(float(self.limit.burst), self._tokens + elapsed * self.limit.refill_per_second)
        self._stamp = now

    def reserve(self, max_wait: float = 0.0) -> float | None:
        """Take one token, possibly in the future.

        Returns:
            the seconds to wait before sending (0.0 when a token is there now), having taken the token;
            or None when the wait would exceed ``max_wait`` seconds -- then nothing is taken.
        """
        with self._lock:
            now = self._clock()
            self._refill(now)
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            wait = (1.0 - self._tokens) / self.limit.refill_per_second
            if wait > max_wait:
                return None
            self._tokens -= 1.0  # a debt paid back by the refill during the wait
            return wait

    def next_token_in(self) -> float:
        """Seconds until a token is there (0.0 if one is there now). Takes nothing."""
        with self._lock:
            self._refill(self._clock())
            return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.limit.refill_per_second

    def state(self) -> tuple[float, float]:
        """``(tokens, age)``: the tokens at the last refill and the seconds since it (a debt is negative)."""
        with self._lock:
            return self._tokens, max(0.0, self._clock() - self._stamp)

    def restore(self, tokens: float, age: float) -> None:
        """Take over a :meth:`state` read from this URL's bucket in another process of the same pass."""
        with self._lock:
            self._tokens, self._stamp = tokens, self._clock() - age


def _key(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


class RateLimiter:
    """Token buckets keyed by channel URL (by its sha256: no secret is kept as a key).

    One process-wide instance, :data:`LIMITER`, is shared by every dispatcher thread.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, url: str, limit: RateLimit) -> TokenBucket:
        """The bucket of ``url`` (created on first use; replaced when its limit changed)."""
        key = _key(url)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None or bucket.limit != limit:
                bucket = self._buckets[key] = TokenBucket(limit, self._clock)
            return bucket

    def reserve(self, url: str, limit: RateLimit | None, max_wait: float = 0.0) -> float | None:
        """Take a token for one send to ``url``: the wait in seconds, or None if it is over ``max_wait``.

        ``limit`` None means unlimited (always 0.0).
        """
        if limit is None:
            return 0.0
        return self.bucket(url, limit).reserve(max_wait)

    def next_token_in(self, url: str, limit: RateLimit | None) -> float:
        """Seconds until ``url`` may be sent to again (0.0 when now or unlimited)."""
        return 0.0 if limit is None else self.bucket(url, limit).next_token_in()

    def states(self, urls: Iterable[str] | None = None) -> dict[str, tuple[RateLimit, float, float]]:
        """The buckets of ``urls`` (default all) as ``{key: (limit, tokens, age)}`` (:meth:`TokenBucket.state`),
        to hand to another process that sends to those URLs next (:meth:`adopt`)."""
        keys = None if urls is None else {_key(url) for url in urls}
        with self._lock:
            buckets = [(key, bucket) for key, bucket in self._buckets.items() if keys is None or key in keys]
        return {key: (bucket.limit, *bucket.state()) for key, bucket in buckets}

    def adopt(self, states: dict[str, tuple[RateLimit, float, float]]) -> None:
        """Continue from buckets read with :meth:`states` in another process (replacing this process's own)."""
        for key, (limit, tokens, age) in states.items():
            bucket = TokenBucket(limit, self._clock)
            bucket.restore(tokens, age)
            with self._lock:
                self._buckets[key] = bucket

    def clear(self) -> None:
        """Forget every bucket (tests; a changed channel file replaces buckets by itself)."""
        with self._lock:
            self._buckets.clear()


#: The process-wide limiter used by :func:`notifications.deliver.deliver`.
LIMITER = RateLimiter()
