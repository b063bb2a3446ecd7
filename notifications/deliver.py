"""Send one rendered message to a list of apprise URLs and report, per URL, whether it arrived.

Each URL gets its own ``apprise.Apprise()`` so its success is known separately (kept for the next message to
that URL within a dispatch pass, with the pass's connections: :mod:`notifications.connections`); the reason
for a failure comes from apprise's own log entries for that call and from the platform's answer, redacted. A chat
platform's answer is read and judged (:mod:`notifications.verify`): an error code in an HTTP 200 body is a
failure. apprise's fixed 5.5 s wait between sends is switched off; each URL's token bucket
(:mod:`notifications.limits`) paces the sends instead. Delivery failures never raise: the outbox
(notifications/outbox.py) records them and retries.
"""
from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import apprise

from notifications.channel_urls import url_problem, url_schema
from notifications.connections import apprise_for
from notifications.limits import LIMITER, PLATFORM_LIMITS, RateLimit, RateLimiter
from notifications.redaction import redact_text, redact_url, secrets_hidden_in_logs
from notifications.verify import VERIFIERS, Verifier, capturing, transport_error

log = logging.getLogger(__name__)

#: Longest error text kept per URL (characters).
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class UrlResult:
    """The outcome for one URL.

    Attributes:
        url_redacted: the URL with secrets hidden (:func:`notifications.redaction.redact_url`).
        ok: apprise reported the message sent (and the response verifier, if any, found no error).
        error: why it failed ("" when ``ok``): apprise's warnings/errors for this call, redacted.
        verified: False when success rests only on apprise's word because the platform's answer could
            not be read (see :data:`RESPONSE_VERIFIERS`).
        deferred_for: > 0 when nothing was sent because the URL's rate limit has no token for that many
            seconds (``ok`` is then False and ``error`` says so); such a URL is not a failed attempt.
        uncertain: the platform did not answer in time: it may have taken the message (a retry may duplicate it).
    """

    url_redacted: str
    ok: bool
    error: str = ""
    verified: bool = True
    deferred_for: float = 0.0
    uncertain: bool = False


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome for a whole message.

    Attributes:
        ok: True only if there was at least one URL and every URL succeeded (a unit with an email and a
            DingTalk channel counts as reached only when both worked; the outbox retries only the failed ones).
        per_url: one :class:`UrlResult` per URL, in order; for an empty URL list, a single failed entry
            with ``url_redacted="(none)"`` explaining that no channel is configured.
    """

    ok: bool
    per_url: list[UrlResult] = field(default_factory=list)


#: Schema -> verifier of the platform's answer (:data:`notifications.verify.VERIFIERS`): DingTalk, WeCom bot
#: and app, Feishu and Lark answer HTTP 200 with an error code in the body when they refuse a message.
#: A verifier gets the HTTP exchanges of the send (:class:`notifications.verify.HttpExchange`) and returns
#: ``(verified, error)``. Other schemas (email, ``json://``) are judged by apprise alone (SMTP reply, HTTP status).
RESPONSE_VERIFIERS: dict[str, Verifier] = VERIFIERS


def _deliver_one(url: str, subject: str, body: str, endpoints: Mapping[str, str] | None) -> UrlResult:
    with secrets_hidden_in_logs(url):
        return _send(url, subject, body, endpoints)


def _notify(instance: apprise.Apprise, subject: str, body: str) -> tuple[Any, list[str]]:
    """Send; return apprise's result and its warning/error log lines for this call."""
    if hasattr(apprise, "AppriseResult"):  # apprise >= 2: the result carries this call's own log entries
        result = instance.notify(body=body, title=subject, body_format=apprise.NotifyFormat.TEXT)
        return result, [e.message for e in result.logs() if e.level not in ("TRACE", "DEBUG", "INFO")]
    # apprise 1.x: capture the apprise logger around the call (also catches other threads' lines)
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
        result = instance.notify(body=body, title=subject, body_format=apprise.NotifyFormat.TEXT)
    return result, [line for line in captured.getvalue().splitlines() if line.strip()]


@functools.lru_cache(maxsize=4096)
def _redacted(url: str) -> str:
    """:func:`notifications.redaction.redact_url`, remembered: a pass sends to the same URLs again and again."""
    return redact_url(url)


def _send(url: str, subject: str, body: str, endpoints: Mapping[str, str] | None = None) -> UrlResult:
    redacted = _redacted(url)
    instance = apprise_for(url)  # no fixed wait between sends: the token buckets pace them
    if instance is None:
        return UrlResult(redacted, False, "apprise cannot load this URL")
    schema = url_schema(url)
    verifier = RESPONSE_VERIFIERS.get(schema)
    verified, error, uncertain = True, "", False
    try:
        with capturing(schema, endpoints) as capture:
            result, messages = _notify(instance, subject, body)
        try:
            ok = bool(result)
            if not ok:
                status = getattr(getattr(result, "status", None), "name", "")
                reason = transport_error(capture.exchanges)
                uncertain = bool(capture.exchanges) and capture.exchanges[-1].timed_out
                error = "; ".join(dict.fromkeys(filter(None, [reason, *messages]))) \
                    or f"apprise reported failure {status}".strip()
            elif verifier is not None:
                verified, error = verifier(capture.exchanges)
                ok = not error
        finally:
            if hasattr(result, "close"):
                result.close()
    except Exception as exc:  # a plugin bug must not break the caller: report it as a failed delivery
        ok, error = False, f"{type(exc).__name__}: {exc}"
    return UrlResult(redacted, ok, redact_text(error)[:MAX_ERROR_CHARS], verified, uncertain=uncertain)


@functools.lru_cache(maxsize=4096)
def _problem(url: str) -> str | None:
    """:func:`notifications.channel_urls.url_problem`, remembered: parsing a URL with apprise costs ~1 ms and a
    dispatcher checks the same few hundred URLs thousands of times."""
    return url_problem(url)


def limit_for(url: str, limits: Mapping[str, RateLimit | None] | None = None) -> RateLimit | None:
    """The rate limit of ``url``: ``limits[schema]`` if the schema is there (None = unlimited), else the
    platform default of :data:`notifications.limits.PLATFORM_LIMITS` (None for email/webhooks)."""
    schema = url_schema(url)
    if limits is not None and schema in limits:
        return limits[schema]
    return PLATFORM_LIMITS.get(schema)


def deliver(urls: list[str], subject: str, body: str, *, endpoints: Mapping[str, str] | None = None,
            limits: Mapping[str, RateLimit | None] | None = None, max_wait: float = 0.0,
            limiter: RateLimiter | None = None) -> DeliveryResult:
    """Send ``subject``/``body`` (plain text) to every URL in ``urls``, one apprise instance per URL.

    All URLs are checked before anything is sent. ``{unit}`` must already be substituted
    (:meth:`notifications.channels.ChannelConfig.urls_for`). Sends are synchronous, one URL after the other.

    Args:
        endpoints: schema -> base URL re-pointing a chat platform's API host (channel file ``endpoints:``).
        limits: schema -> :class:`RateLimit` or None (unlimited), over the platform defaults.
        max_wait: seconds this call may sleep for a URL's rate-limit token; a URL whose token is further
            away is not sent and comes back with ``deferred_for`` set.
        limiter: the buckets to use (default the process-wide :data:`notifications.limits.LIMITER`).

    Returns:
        A :class:`DeliveryResult`; failures (refused connection, HTTP error, an error code in a chat
        platform's 200 answer, no answer in time) are reported in it, never raised. An empty ``urls``
        gives ``ok=False`` with one explanatory entry. ``ok`` is False while any URL was deferred.
    Raises:
        ValueError: a URL apprise cannot parse (the message shows it redacted); nothing was sent.
    """
    for url in urls:
        problem = _problem(url)
        if problem:
            raise ValueError(f"cannot deliver to {redact_url(url)}: {problem}")
    if not urls:
        return DeliveryResult(False, [UrlResult("(none)", False, "no channel URLs configured for this recipient")])
    limiter = limiter or LIMITER
    per_url = []
    for url in urls:
        limit = limit_for(url, limits)
        wait = limiter.reserve(url, limit, max_wait)
        if wait is None:
            later = max(limiter.next_token_in(url, limit), 0.001)
            per_url.append(UrlResult(redact_url(url), False, f"rate limit {limit}: next send in {later:.1f} s",
                                     deferred_for=later))
            continue
        if wait > 0:
            time.sleep(wait)
        per_url.append(_deliver_one(url, subject, body, endpoints))
    for item in per_url:
        if not item.ok and not item.deferred_for:
            log.warning("delivery to %s failed: %s", item.url_redacted, item.error)
    return DeliveryResult(all(item.ok for item in per_url), per_url)
