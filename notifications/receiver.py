"""A local HTTP receiver that answers like DingTalk, WeCom (group bot and app) and Feishu/Lark.

For tests, the benchmark and trying a channel file without the internet: point a schema at it with
``endpoints: {dingtalk: http://127.0.0.1:<port>, wecombot: …, wechat: …, feishu: …}`` in the channel file
(:mod:`notifications.verify`). One receiver serves all platforms, told apart by path:

==========================  ================================================  =====================
platform                    path (as the apprise plugin sends it)             token taken from
==========================  ================================================  =====================
DingTalk robot              ``POST /robot/send?access_token=T``                ``access_token``
WeCom group bot             ``POST /cgi-bin/webhook/send?key=T``               ``key``
WeCom app                   ``GET /cgi-bin/gettoken?corpid=C&corpsecret=S``   ``corpid`` (token issued)
                            ``POST /cgi-bin/message/send?access_token=…``      the issued token's corpid
Feishu / Lark               ``POST /open-apis/bot/v2/hook/T``                  last path segment
==========================  ================================================  =====================

How it answers a token is set with :meth:`HttpReceiver.script` (a list of modes used in turn, the last one
repeating) or ``default_mode``: ``ok`` (200, code 0), ``refuse`` (200 with the platform's error code in the
body), ``error`` (HTTP 500), ``slow`` (answers ``ok`` after ``slow_seconds``: a client timeout), ``html``
(200 with a non-JSON page, like a captive proxy). With ``enforce_limits`` it also refuses, as the platform
does, a 21st DingTalk/WeCom-bot message to one token within 60 s (DingTalk errcode 130101, WeCom 45009).
Listens on 127.0.0.1 only. Every request is recorded (:attr:`HttpReceiver.received`).
"""
from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MODES = ("ok", "refuse", "error", "slow", "html")

_OK = {
    "dingtalk": {"errcode": 0, "errmsg": "ok"},
    "wecombot": {"errcode": 0, "errmsg": "ok"},
    "wechat": {"errcode": 0, "errmsg": "ok", "msgid": "careflow-local"},
    "feishu": {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"},
}
_REFUSE = {
    "dingtalk": {"errcode": 310000, "errmsg": "keywords not in content"},
    "wecombot": {"errcode": 93000, "errmsg": "invalid webhook url, hint: [1700000000_1_abc]"},
    "wechat": {"errcode": 60020, "errmsg": "not allow to access from your ip"},
    "feishu": {"code": 19024, "msg": "Key Words Not Found", "data": {}},
}
_TOO_FAST = {
    "dingtalk": {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"},
    "wecombot": {"errcode": 45009, "errmsg": "api freq out of limit"},
}
#: Per-token limit enforced with ``enforce_limits`` (messages per 60 s).
PLATFORM_WINDOW_LIMIT = {"dingtalk": 20, "wecombot": 20}


@dataclass(frozen=True)
class ReceivedMessage:
    """One request the receiver got.

    Attributes:
        platform: ``dingtalk``, ``wecombot``, ``wechat`` (the app's send), ``wechat-token`` or ``feishu``.
        token: the bot token / key / corp id the request was for.
        payload: the JSON body ({} for a GET).
        mode: how it was answered (one of :data:`MODES`, or ``too_fast``).
        at: ``time.monotonic()`` when it arrived.
        peer: the client's (address, port): requests with the same peer came over one kept-alive connection.
    """

    platform: str
    token: str
    payload: dict
    mode: str
    at: float
    peer: tuple = ()

    @property
    def text(self) -> str:
        """The message text as the platform would show it ("" for a token request)."""
        p = self.payload
        for path in (("text", "content"), ("markdown", "text"), ("content", "text")):
            node = p
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, str):
                return node
        return ""


class HttpReceiver:
    """A DingTalk/WeCom/Feishu look-alike on ``127.0.0.1:port`` (0 = any free port), in a background thread.

    Use ``with HttpReceiver() as receiver:`` and ``receiver.base_url`` as the endpoint of every chat schema.
    """

    def __init__(self, port: int = 0, *, default_mode: str = "ok", slow_seconds: float = 3.0,
                 enforce_limits: bool = False) -> None:
        if default_mode not in MODES:
            raise ValueError(f"unknown receiver mode {default_mode!r}; known: {', '.join(MODES)}")
        self.default_mode = default_mode
        self.slow_seconds = slow_seconds
        self.enforce_limits = enforce_limits
        self.received: list[ReceivedMessage] = []
        self._port = port
        self._scripts: dict[str, deque[str]] = {}
        self._windows: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port listened on (known after :meth:`start`)."""
        return self._server.server_address[1] if self._server else self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: the endpoint to configure for every chat schema."""
        return f"http://127.0.0.1:{self.port}"

    def endpoints(self) -> dict[str, str]:
        """The ``endpoints:`` section that routes every chat schema here."""
        return {schema: self.base_url for schema in ("dingtalk", "wecombot", "wechat", "feishu", "lark")}

    def script(self, token: str, *modes: str) -> None:
        """Answer requests for ``token`` with ``modes`` in turn; the last mode then repeats."""
        for mode in modes:
            if mode not in MODES:
                raise ValueError(f"unknown receiver mode {mode!r}; known: {', '.join(MODES)}")
        with self._lock:
            self._scripts[token] = deque(modes)

    def messages(self, platform: str | None = None, token: str | None = None, *,
                 accepted_only: bool = True) -> list[ReceivedMessage]:
        """Messages received (token requests excluded), optionally for one platform/token; by default only
        those answered ``ok`` or ``slow`` (what the platform would have shown)."""
        with self._lock:
            items = list(self.received)
        return [m for m in items if m.platform != "wechat-token"
                and (platform is None or m.platform == platform) and (token is None or m.token == token)
                and (not accepted_only or m.mode in ("ok", "slow"))]

    def _mode_for(self, token: str) -> str:
        with self._lock:
            script = self._scripts.get(token)
            if not script:
                return self.default_mode
            return script.popleft() if len(script) > 1 else script[0]

    def _over_limit(self, platform: str, token: str, now: float) -> bool:
        limit = PLATFORM_WINDOW_LIMIT.get(platform)
        if not self.enforce_limits or limit is None:
            return False
        with self._lock:
            window = self._windows[(platform, token)]
            while window and now - window[0] >= 60.0:
                window.popleft()
            if len(window) >= limit:
                return True
            window.append(now)
            return False

    def _record(self, message: ReceivedMessage) -> None:
        with self._lock:
            self.received.append(message)

    def start(self) -> "HttpReceiver":
        """Start listening on 127.0.0.1 (idempotent). Raises OSError if the port cannot be bound."""
        if self._server is not None:
            return self
        server = _ReceiverServer(("127.0.0.1", self._port), _Handler)
        server.daemon_threads = True
        server.receiver = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="careflow-http-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening (idempotent). Recorded messages are kept."""
        server, self._server = self._server, None
        if server is not None:
            self._port = server.server_address[1]
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "HttpReceiver":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _ReceiverServer(ThreadingHTTPServer):
    """The HTTP server of one :class:`HttpReceiver` (its handlers reach the receiver as ``server.receiver``)."""

    receiver: HttpReceiver


def _platform_and_token(path: str, query: dict[str, list[str]]) -> tuple[str, str] | None:
    """Which platform a POST to ``path`` is for, and the token it names; None for an unknown path."""
    if path == "/robot/send":
        return "dingtalk", (query.get("access_token") or [""])[0]
    if path == "/cgi-bin/webhook/send":
        return "wecombot", (query.get("key") or [""])[0]
    if path == "/cgi-bin/message/send":
        return "wechat", (query.get("access_token") or [""])[0].removeprefix("tok-")
    if path.startswith("/open-apis/bot/v2/hook/"):
        return "feishu", path.rsplit("/", 1)[-1]
    return None


class _Handler(BaseHTTPRequestHandler):
    """Answers one request the way the platform named by its path would."""

    protocol_version = "HTTP/1.1"
    # headers and body are written separately: without TCP_NODELAY each answer on a kept-alive connection
    # waits ~40 ms for the client's delayed ACK (Nagle), which real platforms' servers do not do
    disable_nagle_algorithm = True
    server: _ReceiverServer

    def log_message(self, *args) -> None:  # quiet: tokens are in the request lines
        pass

    def do_GET(self) -> None:  # noqa: N802
        receiver = self.server.receiver
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path.rstrip("/") == "/cgi-bin/gettoken":
            corp = (query.get("corpid") or [""])[0]
            mode = receiver._mode_for(corp + ":token") if (corp + ":token") in receiver._scripts else "ok"
            receiver._record(ReceivedMessage("wechat-token", corp, {}, mode, time.monotonic()))
            if mode == "refuse":
                return self._json({"errcode": 40013, "errmsg": "invalid corpid"})
            return self._json({"errcode": 0, "errmsg": "ok", "access_token": f"tok-{corp}",
                               "expires_in": 7200})
        self._json({"errcode": 404, "errmsg": "unknown path"}, status=404)

    def do_POST(self) -> None:  # noqa: N802
        receiver = self.server.receiver
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            payload = json.loads(raw.decode("utf-8")) if raw else {}
        except ValueError:
            payload = {"_raw": raw.decode("utf-8", "replace")}
        parts = urlsplit(self.path)
        addressed = _platform_and_token(parts.path.rstrip("/"), parse_qs(parts.query))
        if addressed is None:
            return self._json({"errcode": 404, "errmsg": "unknown path"}, status=404)
        platform, token = addressed
        now = time.monotonic()
        mode = receiver._mode_for(token)
        if mode in ("ok", "slow") and receiver._over_limit(platform, token, now):
            mode = "too_fast"
        receiver._record(ReceivedMessage(platform, token, payload, mode, now, tuple(self.client_address)))
        self._answer(platform, mode, receiver.slow_seconds)

    def _answer(self, platform: str, mode: str, slow_seconds: float) -> None:
        """Answer a message to ``platform`` as ``mode`` says (:data:`MODES`, or ``too_fast``)."""
        if mode == "slow":
            time.sleep(slow_seconds)
            return self._json(_OK[platform])
        if mode == "ok":
            return self._json(_OK[platform])
        if mode == "too_fast":
            return self._json(_TOO_FAST[platform])
        if mode == "refuse":
            return self._json(_REFUSE[platform])
        if mode == "html":
            return self._send(200, b"<html><body>portal login</body></html>", "text/html")
        return self._json({"errcode": -1, "errmsg": "system busy"}, status=500)

    def _json(self, body: dict, status: int = 200) -> None:
        self._send(status, json.dumps(body, ensure_ascii=False).encode("utf-8"),
                   "application/json; charset=utf-8")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass
