"""Verified delivery: read what DingTalk, WeCom and Feishu actually answered, and point them elsewhere.

These platforms answer HTTP 200 even when they refuse a message and put the refusal in the JSON body
(``{"errcode": 310000, "errmsg": "keywords not in content"}``, ``{"code": 19021, ...}``); apprise 2.0.1's
``dingtalk``, ``wecombot``, ``feishu`` and ``lark`` plugins look only at the status and report success
(DOMAIN.md §7). Its ``wechat`` plugin does check ``errcode``; careflow checks it again anyway.

How: every apprise plugin posts with ``requests``, and ``requests.post`` ends in ``requests.Session.send``.
:func:`install` wraps ``Session.send`` once per process; the wrapper does nothing unless the current
context (thread, or apprise's worker thread, which copies the context) is inside :func:`capturing`.
Inside it, each HTTP exchange is recorded (status and the first 64 KiB of the body, or the exception),
and the request may be re-pointed from the platform's hard-coded API host to a configured endpoint.
The verifiers (:data:`VERIFIERS`) then judge the recorded answers. Inside
:func:`notifications.connections.reused_connections` the request goes through the thread's kept-alive session.

Endpoints: the plugins hard-code their hosts (:data:`OFFICIAL_HOSTS`, checked against the installed apprise
by the tests). A channel file may re-point a schema (``endpoints: {dingtalk: https://…}``) for a private
deployment (政务钉钉/政务微信-style hosts) or a local test receiver; only the scheme and host (and a path
prefix) change, the platform's own path and query are kept. Plain ``http://`` is accepted for loopback only.
This was chosen over a ``json://`` detour or subclassed plugins: the real plugin builds the real payload
(signature, ``at`` list, token fetch), so what is tested against the local receiver is what production sends.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

import requests

from models.errors import FieldValueError
from notifications.connections import pooled_http_session

#: The API host each chat plugin of apprise 2.0.1 posts to (its hard-coded ``notify_url``/``token_url``).
OFFICIAL_HOSTS: dict[str, str] = {
    "dingtalk": "https://oapi.dingtalk.com",
    "wecombot": "https://qyapi.weixin.qq.com",
    "wechat": "https://qyapi.weixin.qq.com",
    "feishu": "https://open.feishu.cn",
    "lark": "https://open.larksuite.com",
}

#: Bytes of an answer body kept for verification.
MAX_BODY = 65536

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class HttpExchange:
    """One HTTP request made by a plugin during a captured send.

    Attributes:
        method: ``"POST"``, ``"GET"``.
        path: the request path without the query (the query carries tokens and is never kept), token-like
            segments masked (Feishu's bot token is a path segment).
        status: the HTTP status, or None when no answer came (``error`` says why).
        body: the first :data:`MAX_BODY` bytes of the answer.
        error: the exception class name when the request failed (``"ReadTimeout"``, ``"ConnectionError"``).
    """

    method: str
    path: str
    status: int | None
    body: bytes = b""
    error: str = ""

    @property
    def timed_out(self) -> bool:
        """The answer did not come in time: the platform may or may not have taken the message."""
        return "Timeout" in self.error


@dataclass
class Capture:
    """What one captured send did: its HTTP exchanges, in order. ``rewrites`` maps official host -> endpoint."""

    rewrites: Mapping[str, str] = field(default_factory=dict)
    exchanges: list[HttpExchange] = field(default_factory=list)


_CAPTURE: contextvars.ContextVar[Capture | None] = contextvars.ContextVar("careflow_http_capture", default=None)
_install_lock = threading.Lock()
_original_send: Callable | None = None


def _rewrite(url: str, rewrites: Mapping[str, str]) -> str:
    for official, endpoint in rewrites.items():
        if url == official or url.startswith(official + "/") or url.startswith(official + "?"):
            return endpoint.rstrip("/") + url[len(official):]
    return url


_TOKEN_SEGMENT = re.compile(r"^(?=.*[A-Za-z])(?=.*\d)[A-Za-z0-9_\-]{16,}$")


def _mask_path(path: str) -> str:
    """``path`` with token-like segments (Feishu puts its bot token in the path) replaced by ``***``."""
    return "/".join("***" if _TOKEN_SEGMENT.match(segment) else segment for segment in path.split("/"))


def _capturing_send(self: requests.Session, request: requests.PreparedRequest, **kwargs):
    # inside notifications.connections.reused_connections: through the thread's kept-alive session
    self = pooled_http_session() or self
    capture = _CAPTURE.get()
    if capture is None:
        return _original_send(self, request, **kwargs)
    if capture.rewrites:
        request.url = _rewrite(request.url, capture.rewrites)
    path = urlsplit(request.url).path
    try:
        response = _original_send(self, request, **kwargs)
    except Exception as exc:
        capture.exchanges.append(HttpExchange(request.method or "", _mask_path(path), None, b"", type(exc).__name__))
        raise
    capture.exchanges.append(HttpExchange(request.method or "", _mask_path(path), response.status_code,
                                          (response.content or b"")[:MAX_BODY]))
    return response


def install() -> None:
    """Wrap ``requests.Session.send`` once (idempotent). Outside :func:`capturing` it changes nothing."""
    global _original_send
    with _install_lock:
        if getattr(requests.Session.send, "_careflow_capture", False):
            return
        _original_send = requests.Session.send
        _capturing_send._careflow_capture = True  # type: ignore[attr-defined]
        requests.Session.send = _capturing_send  # type: ignore[method-assign]


@contextlib.contextmanager
def capturing(schema: str = "", endpoints: Mapping[str, str] | None = None) -> Iterator[Capture]:
    """Record every HTTP exchange made in this context; re-point ``schema``'s API host if ``endpoints`` has it.

    Args:
        schema: the URL schema being sent (``"dingtalk"``); selects the official host to re-point.
        endpoints: schema -> base URL (``"http://127.0.0.1:8931"``), from the channel file.
    """
    install()
    rewrites = {}
    if endpoints and schema in endpoints and schema in OFFICIAL_HOSTS:
        rewrites[OFFICIAL_HOSTS[schema]] = endpoints[schema]
    capture = Capture(rewrites=rewrites)
    token = _CAPTURE.set(capture)
    try:
        yield capture
    finally:
        _CAPTURE.reset(token)


def endpoint_refusal(schema: str, endpoint: str) -> FieldValueError | None:
    """Why ``endpoint`` cannot re-point ``schema`` (field ``endpoint``, a ``channels.endpoint.*`` key, no secrets),
    or None if it can.

    Accepted: ``https://host[:port][/prefix]`` for a schema of :data:`OFFICIAL_HOSTS`, and ``http://`` only
    for 127.0.0.1/localhost/::1. No user info, query or fragment.
    """
    if schema not in OFFICIAL_HOSTS:
        return FieldValueError("endpoint", "channels.endpoint.no_fixed_host", options=sorted(OFFICIAL_HOSTS))
    parts = urlsplit(str(endpoint))
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return FieldValueError("endpoint", "channels.endpoint.format")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        return FieldValueError("endpoint", "channels.endpoint.plain_http")
    if parts.username or parts.password or parts.query or parts.fragment:
        return FieldValueError("endpoint", "channels.endpoint.extra_parts")
    return None


# --- verifiers ---------------------------------------------------------------------------------------

#: Known refusal codes, so the stored error says what to fix (the platform's errmsg is shown too).
KNOWN_CODES: dict[str, dict[int, str]] = {
    "dingtalk": {
        130101: "sending too fast: more than 20 messages a minute (the robot is muted for 10 minutes)",
        310000: "refused by the robot's security settings (keyword, signature or IP allow-list)",
        300001: "the access token does not exist",
        400102: "the robot is switched off",
    },
    "wecom": {
        45009: "API call rate over the limit",
        93000: "invalid webhook URL (the bot key)",
        40014: "invalid access token",
        42001: "access token expired",
        60020: "the sending IP is not on the app's allow-list",
    },
    "feishu": {
        9499: "bad request",
        11232: "rate limited",
        19001: "invalid webhook (param invalid)",
        19021: "signature check failed",
        19022: "the sending IP is not on the allow-list",
        19024: "keyword check failed",
    },
}


def _answer_json(exchange: HttpExchange) -> dict | None:
    try:
        value = json.loads(exchange.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _short(text: object, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _judge(exchanges: list[HttpExchange], platform: str, code_keys: tuple[str, ...],
           message_keys: tuple[str, ...]) -> tuple[bool, str]:
    answered = [e for e in exchanges if e.status == 200]
    if not answered:
        return False, ""  # nothing to read (apprise reported success without an HTTP 200: unverified)
    for exchange in answered:
        body = _answer_json(exchange)
        if body is None:
            snippet = _short(exchange.body.decode("utf-8", "replace"), 80)
            return True, f"HTTP 200 but the answer is not JSON, so the message cannot be confirmed: {snippet!r}"
        present = [key for key in code_keys if key in body]
        if not present:
            return True, f"HTTP 200 but the answer carries no {' or '.join(code_keys)}: {_short(body, 120)}"
        for key in present:
            try:
                code = int(body[key])
            except (TypeError, ValueError):
                return True, f"HTTP 200 with an unreadable {key} {_short(body[key], 40)!r}"
            if code != 0:
                message = next((body[k] for k in message_keys if body.get(k)), "")
                known = KNOWN_CODES.get(platform, {}).get(code)
                parts = [f"refused with {key} {code}", _short(message) if message else "", known or ""]
                return True, ": ".join(p for p in parts if p)
    return True, ""


def verify_errcode(exchanges: list[HttpExchange]) -> tuple[bool, str]:
    """DingTalk answers: every HTTP 200 answer must carry ``errcode`` 0. Returns ``(verified, error)``."""
    return _judge(exchanges, "dingtalk", ("errcode",), ("errmsg",))


def verify_wecom(exchanges: list[HttpExchange]) -> tuple[bool, str]:
    """WeCom bot/app answers (token fetch and send): ``errcode`` 0 in every HTTP 200 answer."""
    return _judge(exchanges, "wecom", ("errcode",), ("errmsg",))


def verify_feishu(exchanges: list[HttpExchange]) -> tuple[bool, str]:
    """Feishu/Lark answers: ``code`` (or the older ``StatusCode``) 0 in every HTTP 200 answer."""
    return _judge(exchanges, "feishu", ("code", "StatusCode"), ("msg", "StatusMessage"))


#: A verifier gets the HTTP exchanges of one send that apprise reported successful and returns
#: ``(verified, error)``: ``verified`` False when there was nothing to read; ``error`` "" or why it failed.
Verifier = Callable[[list[HttpExchange]], tuple[bool, str]]

#: Schema -> verifier run after apprise reports success for a URL of that schema.
VERIFIERS: dict[str, Verifier] = {
    "dingtalk": verify_errcode,
    "wecombot": verify_wecom,
    "wechat": verify_wecom,
    "feishu": verify_feishu,
    "lark": verify_feishu,
}


def transport_error(exchanges: list[HttpExchange]) -> str:
    """A readable reason for a send whose last exchange failed or got a non-200 status ("" if none)."""
    if not exchanges:
        return ""
    last = exchanges[-1]
    if last.timed_out:
        return (f"no answer in time ({last.error}); the platform may have taken the message -- "
                "it is retried, so a duplicate is possible")
    if last.status is None:
        return f"no answer ({last.error})"
    if last.status != 200:
        return f"HTTP {last.status}"
    return ""
