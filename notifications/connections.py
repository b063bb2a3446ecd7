"""One SMTP connection per mail server and one kept-alive HTTP session per thread, for a whole dispatch pass.

apprise opens a new SMTP connection (connect, EHLO, STARTTLS, login, QUIT) for every email and a new HTTP
connection (``requests.post``) for every chat message. Sending 25 messages to one mail server then costs 25
hand-shakes. Inside :func:`reused_connections` the same apprise plugins send as usual -- their own payloads,
headers, signatures and token fetches -- but

- apprise's SMTP connection (``AppriseSMTPController`` of ``apprise.plugins.email.base``, wrapped once by
  :func:`install`) is kept open after a message and reused for the next message to the same server with the
  same login; a connection on which a send failed is closed (the next message opens a fresh one), and one idle
  for more than :data:`IDLE_CHECK` seconds is checked with ``NOOP`` before it is reused;
- every HTTP request a plugin makes (``requests.post``/``requests.get``, wrapped once by :func:`install`) goes
  through one :class:`PooledSession` of the thread (connection pooling and keep-alive,
  :func:`pooled_http_session`) instead of a new ``requests.Session`` per request. That session keeps no cookies
  (each request is as stateless as ``requests.post``) and reads the environment's proxy and CA-bundle settings
  once per host and pass: ``requests`` walks the whole environment twice per request to find them, which was
  the largest single CPU cost of a dispatch pass (about a fifth).

Connections are per thread (one dispatcher thread sends one message at a time) and closed when the block
ends. Outside the block apprise and ``requests`` behave exactly as without careflow.
"""
from __future__ import annotations

import contextlib
import contextvars
import http.cookiejar
import logging
import smtplib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import apprise
import apprise.plugins.email.base as apprise_email
import requests
import requests.adapters
import requests.api
import requests.auth
import requests.utils
import urllib3
from apprise.plugins.email.smtp import SMTP_EXCEPTIONS, AppriseSMTPController

log = logging.getLogger(__name__)

#: A kept SMTP connection idle longer than this (seconds) is checked with NOOP before it is used again.
IDLE_CHECK = 5.0


class _NetrcAuth(requests.auth.AuthBase):
    """What ``requests`` does for a request without credentials (its ``~/.netrc`` entry for the host, as
    basic auth), with the file looked up once per host instead of on every request."""

    def __init__(self) -> None:
        self._found: dict[str, tuple[str, str] | None] = {}

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        host = urlsplit(request.url).netloc
        if host not in self._found:
            self._found[host] = requests.utils.get_netrc_auth(request.url)
        found = self._found[host]
        return requests.auth.HTTPBasicAuth(*found)(request) if found else request


class _PooledAdapter(requests.adapters.HTTPAdapter):
    """``requests``' own adapter, which finds the connection pool of a scheme and host once per proxy and TLS
    setting for the session's life (one pass), not on every request: finding it costs ``requests`` a URL
    parse, a proxy look-up, a pool key and a stat of the CA bundle per request (about 5% of a pass's CPU).
    The pool depends on nothing else of the request. A pool that ``urllib3`` has closed meanwhile (1.x closes
    the pools of the hosts past the few it keeps) is found again."""

    def __init__(self) -> None:
        super().__init__()
        self._pools: dict[tuple, urllib3.HTTPConnectionPool] = {}

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):  # noqa: D102 (requests')
        key = (*urlsplit(request.url)[:2], str(verify), str(cert), tuple(sorted((proxies or {}).items())))
        pool = self._pools.get(key)
        if pool is None or getattr(pool, "pool", None) is None:  # new, or closed by urllib3
            pool = self._pools[key] = super().get_connection_with_tls_context(request, verify, proxies, cert)
        return pool

    def close(self) -> None:  # noqa: D102
        for pool in self._pools.values():  # also those urllib3 no longer holds (2.x forgets evicted pools)
            pool.close()
        self._pools.clear()
        super().close()


class PooledSession(requests.Session):
    """The kept-alive ``requests.Session`` of one thread's :class:`ConnectionPool`.

    It behaves as the fresh session ``requests.post`` makes for every request, except that it keeps its
    connections: it stores no cookie (a platform's cookie is not sent back with the next message), and the
    environment's settings (``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``…, ``~/.netrc``) are read once
    per scheme, host and port and remembered for the session's life (one dispatch pass).
    """

    def __init__(self) -> None:
        super().__init__()
        for prefix in ("https://", "http://"):
            self.mount(prefix, _PooledAdapter())
        self.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self.auth = _NetrcAuth()  # a session auth: requests then no longer looks for ~/.netrc per request
        self._environment: dict[tuple, dict] = {}
        self._prepared: dict[tuple, requests.PreparedRequest] = {}

    def request(self, method, url, params=None, data=None, headers=None, cookies=None, files=None, auth=None,
                timeout=None, allow_redirects=True, proxies=None, hooks=None, stream=None, verify=None, cert=None,
                json=None):  # noqa: D417 (requests' own signature)
        """``requests.Session.request``; a request with a text or bytes body and nothing but its URL, query
        and headers besides (what the chat plugins post) is prepared from the one prepared earlier with the
        same method, URL, query and headers, with only its body prepared anew (requests' own
        ``PreparedRequest.copy`` and ``prepare_body``), then sent as ``request`` would send it. Preparing the
        URL, headers, cookies and authentication again for every message to a bot cost about a sixth of a
        dispatch pass's CPU. Anything else is prepared by ``requests`` as usual."""
        key = _prepared_key(method, url, params, data, headers, cookies, files, auth, hooks, json)
        if key is None:
            return super().request(method, url, params=params, data=data, headers=headers, cookies=cookies,
                                   files=files, auth=auth, timeout=timeout, allow_redirects=allow_redirects,
                                   proxies=proxies, hooks=hooks, stream=stream, verify=verify, cert=cert, json=json)
        template = self._prepared.get(key)
        if template is None:
            if len(self._prepared) >= PREPARED_KEPT:  # e.g. signed URLs, new for every message
                self._prepared.clear()
            template = self._prepared[key] = self.prepare_request(requests.Request(
                method=method.upper(), url=url, headers=headers, data=data, params=params or {}))
        prepared = template.copy()
        for name in ("Content-Length", "Transfer-Encoding"):
            prepared.headers.pop(name, None)
        prepared.prepare_body(data, None)
        settings = self.merge_environment_settings(prepared.url, proxies or {}, stream, verify, cert)
        return self.send(prepared, timeout=timeout, allow_redirects=allow_redirects, **settings)

    def merge_environment_settings(self, url, proxies, stream, verify, cert):  # noqa: D102 (requests' hook)
        if proxies:  # proxies given with the request (requests passes {} when none are): not cached
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, stream, verify, cert)
        settings = self._environment.get(key)
        if settings is None:
            settings = self._environment[key] = super().merge_environment_settings(url, {}, stream, verify, cert)
        return {**settings, "proxies": dict(settings["proxies"])}


#: Prepared requests a :class:`PooledSession` keeps to copy (one per bot URL, query and headers).
PREPARED_KEPT = 1024


def _prepared_key(method, url, params, data, headers, cookies, files, auth, hooks, json) -> tuple | None:
    """What a request's preparation depends on besides its body, for :meth:`PooledSession.request`; None
    when it is not a plain request with a text or bytes body (those are prepared as usual)."""
    if not data or not isinstance(data, (str, bytes)) or cookies or files or auth or hooks or json is not None:
        return None
    try:
        key = (method.upper(), url, tuple((params or {}).items()), tuple((headers or {}).items()))
        hash(key)
    except (AttributeError, TypeError):  # a list of pairs, or values that are lists: as usual
        return None
    return key


@dataclass
class ConnectionPool:
    """The connections one thread keeps during a pass: SMTP by server and login, one HTTP session.

    Attributes:
        smtp: (host, port, secure mode, user, password, verify) -> (open ``smtplib.SMTP``, monotonic time last used).
        smtp_opened: SMTP connections opened through this pool (a test or a benchmark reads it).
        http: the thread's :class:`PooledSession` (created on first use).
        apprise: URL -> its loaded ``apprise.Apprise`` instance (:func:`apprise_for`): loading one costs
            about a millisecond (URL parsing, the locale's catalogue look-up).
    """

    smtp: dict[tuple, tuple[smtplib.SMTP, float]] = field(default_factory=dict)
    smtp_opened: int = 0
    http: PooledSession | None = None
    apprise: dict[str, apprise.Apprise | None] = field(default_factory=dict)

    def take_smtp(self, key: tuple) -> smtplib.SMTP | None:
        """The kept connection for ``key`` (removed from the pool while in use), or None: none kept, or it no
        longer answers NOOP after being idle."""
        kept = self.smtp.pop(key, None)
        if kept is None:
            return None
        connection, last_used = kept
        if time.monotonic() - last_used > IDLE_CHECK:
            try:
                if connection.noop()[0] != 250:
                    raise smtplib.SMTPServerDisconnected("NOOP refused")
            except SMTP_EXCEPTIONS:
                _quit(connection)
                return None
        return connection

    def keep_smtp(self, key: tuple, connection: smtplib.SMTP) -> None:
        """Keep ``connection`` for the next message to the same server (closing one already kept for it)."""
        previous = self.smtp.pop(key, None)
        if previous is not None:
            _quit(previous[0])
        self.smtp[key] = (connection, time.monotonic())

    def close(self) -> None:
        """QUIT every kept SMTP connection and close the HTTP session."""
        for connection, _ in self.smtp.values():
            _quit(connection)
        self.smtp.clear()
        self.apprise.clear()
        if self.http is not None:
            self.http.close()
            self.http = None


_POOL: contextvars.ContextVar[ConnectionPool | None] = contextvars.ContextVar("careflow_connections", default=None)
_install_lock = threading.Lock()


def _quit(connection: smtplib.SMTP) -> None:
    with contextlib.suppress(*SMTP_EXCEPTIONS):
        connection.quit()


class _ReusedSMTPController(AppriseSMTPController):
    """apprise's SMTP connection, taken from and given back to the current :class:`ConnectionPool` if any."""

    _pool: ConnectionPool | None = None
    _failed = False

    def _key(self) -> tuple:
        return (self.host, self.port, self.secure_mode, self.user, self.password, self.verify_certificate)

    def __enter__(self) -> "_ReusedSMTPController":
        self._pool = _POOL.get()
        if self._pool is not None:
            self._socket = self._pool.take_smtp(self._key())
            if self._socket is not None:
                return self
            self._pool.smtp_opened += 1
        return super().__enter__()

    def sendmail(self, from_addr: str, to_addrs: list, message: str) -> bool:
        ok = super().sendmail(from_addr, to_addrs, message)
        self._failed = self._failed or not ok
        return ok

    def __exit__(self, exc_type, exc_val, exc_tb) -> None:
        if self._pool is None or exc_type is not None or self._failed or self._socket is None:
            return super().__exit__(exc_type, exc_val, exc_tb)  # QUIT: nothing reuses a connection in doubt
        self._pool.keep_smtp(self._key(), self._socket)
        self._socket = None


_original_request = requests.api.request


def _pooled_request(method: str, url: str, **kwargs) -> requests.Response:
    """``requests.api.request`` (behind ``requests.post``, ``requests.get``…): through the thread's
    :class:`PooledSession` inside :func:`pooled`, else as ``requests`` does it (a new session per request)."""
    session = pooled_http_session()
    if session is None:
        return _original_request(method, url, **kwargs)
    return session.request(method=method, url=url, **kwargs)


def install() -> None:
    """Make apprise's email plugin take its SMTP connection through :class:`_ReusedSMTPController`, and
    ``requests.post``/``requests.get`` go through :func:`_pooled_request` (once per process, idempotent).
    Outside :func:`pooled` both behave exactly as without careflow."""
    with _install_lock:
        if apprise_email.AppriseSMTPController is not _ReusedSMTPController:
            apprise_email.AppriseSMTPController = _ReusedSMTPController
        if requests.api.request is not _pooled_request:
            requests.api.request = _pooled_request


@contextlib.contextmanager
def pooled(pool: ConnectionPool) -> Iterator[ConnectionPool]:
    """Within this block (in this thread, and in apprise's worker threads, which copy the context), messages
    to one mail server share one SMTP connection of ``pool`` and HTTP requests its kept-alive session. The
    connections stay open for the next block with the same pool; :meth:`ConnectionPool.close` closes them."""
    install()
    token = _POOL.set(pool)
    try:
        yield pool
    finally:
        _POOL.reset(token)


@contextlib.contextmanager
def reused_connections() -> Iterator[ConnectionPool]:
    """:func:`pooled` with a new pool whose connections are closed when the block ends, also on an error."""
    pool = ConnectionPool()
    try:
        with pooled(pool):
            yield pool
    finally:
        pool.close()


def pooled_http_session() -> PooledSession | None:
    """The current thread's :class:`PooledSession` inside :func:`pooled`; None outside."""
    pool = _POOL.get()
    if pool is None:
        return None
    if pool.http is None:
        pool.http = PooledSession()
    return pool.http


def apprise_for(url: str) -> apprise.Apprise | None:
    """An ``apprise.Apprise`` holding ``url`` alone, sending in the calling thread, with apprise's fixed wait
    between sends switched off (the token buckets of :mod:`notifications.limits` pace the sends); None when
    apprise cannot load the URL.
    Inside :func:`pooled` the instance is kept in the pool and reused for the next message to that URL.

    apprise's own time limit per send (``service_timeout``, 60 s) is off: with it, apprise runs every send on
    its worker thread and waits for it (two thread switches a message, for nothing careflow needs). A send is
    still bounded in time by its plugin's socket timeouts (4 s to connect and to read for the chat
    platforms, 15 s for SMTP)."""
    pool = _POOL.get()
    if pool is not None and url in pool.apprise:
        return pool.apprise[url]
    # one URL per instance: apprise's thread pool would only hand the send to another thread and wait for it
    instance = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False, service_timeout=0))
    if not instance.add(url):
        instance = None
    else:
        for plugin in instance:
            plugin.request_rate_per_sec = 0
    if pool is not None:
        pool.apprise[url] = instance
    return instance
