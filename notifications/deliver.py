"""Send one rendered message to a list of apprise URLs and report, per URL, whether it arrived.

Each URL gets its own ``apprise.Apprise()`` so its success is known separately; the reason for a failure
comes from apprise's own log entries for that call, redacted. Delivery failures never raise: the outbox
(notifications/outbox.py) records them and retries.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import apprise

from notifications.channels import redact_text, redact_url, secrets_hidden_in_logs, url_problem, url_schema

log = logging.getLogger(__name__)

#: Longest error text kept per URL (characters).
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class UrlResult:
    """The outcome for one URL.

    Attributes:
        url_redacted: the URL with secrets hidden (:func:`notifications.channels.redact_url`).
        ok: apprise reported the message sent (and the response verifier, if any, found no error).
        error: why it failed ("" when ``ok``): apprise's warnings/errors for this call, redacted.
        verified: False when success rests only on the HTTP status because the service's answer body
            could not be checked (see :data:`RESPONSE_VERIFIERS`).
    """

    url_redacted: str
    ok: bool
    error: str = ""
    verified: bool = True


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome for a whole message.

    Attributes:
        ok: True only if there was at least one URL and every URL succeeded (a unit with an email and a
            DingTalk channel counts as reached only when both worked; retrying then re-sends to all).
        per_url: one :class:`UrlResult` per URL, in order; for an empty URL list, a single failed entry
            with ``url_redacted="(none)"`` explaining that no channel is configured.
    """

    ok: bool
    per_url: list[UrlResult] = field(default_factory=list)


#: A response verifier: given apprise's result for one URL, returns ``(verified, error)`` -- ``verified``
#: says whether the service's answer could be checked, ``error`` is "" or why the answer means failure.
ResponseVerifier = Callable[[Any], tuple[bool, str]]


def _errcode_not_readable(result: Any) -> tuple[bool, str]:
    """TODO (later issue): check the ``errcode``/``code`` in the JSON body of a 200 answer.

    DingTalk, WeCom (bot and app), Feishu and Lark answer HTTP 200 even for a rejected message
    (bad token, keyword/IP filter, rate limit -- DingTalk allows ~20 messages a minute) and put the
    error in the body (``{"errcode": 310000, ...}``, ``{"code": 9499, ...}``). apprise 2.0.1's plugins
    only look at the HTTP status and do not expose the body, so it cannot be read here. Until these
    channels are posted by careflow itself (or apprise exposes the response), their success is reported
    as unverified: returns ``(False, "")``, i.e. "not verified, no error seen".
    """
    return False, ""


#: Schema -> verifier run after apprise reports success for a URL of that schema. See
#: :func:`_errcode_not_readable` for why the chat-bot schemas cannot be verified yet.
RESPONSE_VERIFIERS: dict[str, ResponseVerifier] = {
    schema: _errcode_not_readable for schema in ("dingtalk", "wecombot", "wechat", "feishu", "lark")
}


def _deliver_one(url: str, subject: str, body: str) -> UrlResult:
    with secrets_hidden_in_logs(url):
        return _send(url, subject, body)


def _notify(instance: apprise.Apprise, subject: str, body: str) -> tuple[Any, list[str]]:
    """Send; return apprise's result and its warning/error log lines for this call."""
    if hasattr(apprise, "AppriseResult"):  # apprise >= 2: the result carries this call's own log entries
        result = instance.notify(body=body, title=subject, body_format=apprise.NotifyFormat.TEXT)
        return result, [e.message for e in result.logs() if e.level not in ("TRACE", "DEBUG", "INFO")]
    # apprise 1.x: capture the apprise logger around the call (also catches other threads' lines)
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
        result = instance.notify(body=body, title=subject, body_format=apprise.NotifyFormat.TEXT)
    return result, [line for line in captured.getvalue().splitlines() if line.strip()]


def _send(url: str, subject: str, body: str) -> UrlResult:
    redacted = redact_url(url)
    instance = apprise.Apprise()
    if not instance.add(url):
        return UrlResult(redacted, False, "apprise cannot load this URL")
    verifier = RESPONSE_VERIFIERS.get(url_schema(url))
    verified, error = True, ""
    try:
        result, messages = _notify(instance, subject, body)
        try:
            ok = bool(result)
            if not ok:
                status = getattr(getattr(result, "status", None), "name", "")
                error = "; ".join(dict.fromkeys(messages)) or f"apprise reported failure {status}".strip()
            elif verifier is not None:
                verified, error = verifier(result)
                ok = not error
        finally:
            if hasattr(result, "close"):
                result.close()
    except Exception as exc:  # a plugin bug must not break the caller: report it as a failed delivery
        ok, error = False, f"{type(exc).__name__}: {exc}"
    return UrlResult(redacted, ok, redact_text(error)[:MAX_ERROR_CHARS], verified)


def deliver(urls: list[str], subject: str, body: str) -> DeliveryResult:
    """Send ``subject``/``body`` (plain text) to every URL in ``urls``, one apprise instance per URL.

    All URLs are checked before anything is sent. ``{unit}`` must already be substituted
    (:meth:`notifications.channels.ChannelConfig.urls_for`). Each send is synchronous; apprise's
    per-plugin throttle does not delay the first send of a fresh instance.

    Returns:
        A :class:`DeliveryResult`; failures (refused connection, HTTP error, ...) are reported in it,
        never raised. An empty ``urls`` gives ``ok=False`` with one explanatory entry.
    Raises:
        ValueError: a URL apprise cannot parse (the message shows it redacted); nothing was sent.
    """
    for url in urls:
        problem = url_problem(url)
        if problem:
            raise ValueError(f"cannot deliver to {redact_url(url)}: {problem}")
    if not urls:
        return DeliveryResult(False, [UrlResult("(none)", False, "no channel URLs configured for this recipient")])
    per_url = [_deliver_one(url, subject, body) for url in urls]
    for item in per_url:
        if not item.ok:
            log.warning("delivery to %s failed: %s", item.url_redacted, item.error)
    return DeliveryResult(all(item.ok for item in per_url), per_url)
