"""One SMTP connection per mail server and one kept-alive HTTP session per thread, for a whole dispatch pass.

apprise opens a new SMTP connection (connect, EHLO, STARTTLS, login, QUIT) for every email and a new HTTP
connection (``requests.post``) for every chat message. Sending 25 messages to one mail server then costs 25
hand-shakes. Inside :func:`reused_connections` the same apprise plugins send as usual -- their own payloads,
headers, signatures and token fetches -- but

- apprise's SMTP connection (``AppriseSMTPController`` of ``apprise.plugins.email.base``, wrapped once by
  :func:`install`) is kept open after a message and reused for the next message to the same server with the
  same login; a connection on which a send failed is closed (the next message opens a fresh one), and one idle
  for more than :data:`IDLE_CHECK` seconds is checked with ``NOOP`` before it is reused;
- every HTTP request a plugin makes goes through one ``requests.Session`` of the thread (connection pooling
  and keep-alive, :func:`pooled_http_session`, used by :mod:`notifications.verify`).

Connections are per thread (one dispatcher thread sends one message at a time) and closed when the block
ends. Outside the block apprise behaves exactly as without careflow.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import smtplib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import apprise
import apprise.plugins.email.base as apprise_email
import requests
from apprise.plugins.email.smtp import SMTP_EXCEPTIONS, AppriseSMTPController

log = logging.getLogger(__name__)

#: A kept SMTP connection idle longer than this (seconds) is checked with NOOP before it is used again.
IDLE_CHECK = 5.0


@dataclass
class ConnectionPool:
    """The connections one thread keeps during a pass: SMTP by server and login, one HTTP session.

    Attributes:
        smtp: (host, port, secure mode, user, password, verify) -> (open ``smtplib.SMTP``, monotonic time last used).
        smtp_opened: SMTP connections opened through this pool (a test or a benchmark reads it).
        http: the thread's ``requests.Session`` (created on first use).
        apprise: URL -> its loaded ``apprise.Apprise`` instance (:func:`apprise_for`): loading one costs
            about a millisecond (URL parsing, the locale's catalogue look-up).
    """

    smtp: dict[tuple, tuple[smtplib.SMTP, float]] = field(default_factory=dict)
    smtp_opened: int = 0
    http: requests.Session | None = None
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


def install() -> None:
    """Make apprise's email plugin take its SMTP connection through :class:`_ReusedSMTPController` (once per
    process, idempotent). Outside :func:`reused_connections` the controller behaves exactly as apprise's."""
    with _install_lock:
        if apprise_email.AppriseSMTPController is not _ReusedSMTPController:
            apprise_email.AppriseSMTPController = _ReusedSMTPController


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


def pooled_http_session() -> requests.Session | None:
    """The current thread's kept-alive ``requests.Session`` inside :func:`reused_connections`; None outside."""
    pool = _POOL.get()
    if pool is None:
        return None
    if pool.http is None:
        pool.http = requests.Session()
    return pool.http


def apprise_for(url: str) -> apprise.Apprise | None:
    """An ``apprise.Apprise`` holding ``url`` alone, sending in the calling thread, with apprise's fixed wait
    between sends switched off (the token buckets of :mod:`notifications.limits` pace the sends); None when
    apprise cannot load the URL.
    Inside :func:`pooled` the instance is kept in the pool and reused for the next message to that URL."""
    pool = _POOL.get()
    if pool is not None and url in pool.apprise:
        return pool.apprise[url]
    # one URL per instance: apprise's thread pool would only hand the send to another thread and wait for it
    instance = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False))
    if not instance.add(url):
        instance = None
    else:
        for plugin in instance:
            plugin.request_rate_per_sec = 0
    if pool is not None:
        pool.apprise[url] = instance
    return instance
