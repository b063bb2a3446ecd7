"""careflow's embedded default channel: a local SMTP server that files every message as an ``.eml`` file.

With no outside service, a user reads what careflow delivered under ``CAREFLOW_HOME/mailbox``
(``Settings.mailbox_dir``), with any mail program or with :func:`read_mailbox`::

    with MailSink(settings.mailbox_dir, port=settings.smtp_port):
        ...  # deliver through mailto://...?smtp=127.0.0.1&mode=insecure (see notifications.channels)
    for message in read_mailbox(settings.mailbox_dir):
        print(message.to, message.subject)

The sink accepts mail for any recipient without TLS or login: bind it to 127.0.0.1 only.
"""
from __future__ import annotations

import email
import email.policy
import itertools
import os
import socket
import threading
from collections import deque
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import NamedTuple

from aiosmtpd.controller import Controller


class MailboxMessage(NamedTuple):
    """One delivered message, decoded.

    Attributes:
        to: the ``To`` header, decoded (e.g. ``"police-350302@careflow.local"``; several addresses comma-separated).
        subject: the ``Subject`` header, decoded from RFC 2047 (Chinese subjects come back as text).
        body: the text body (the ``text/plain`` part, else ``text/html``), decoded from base64 or
            quoted-printable with its charset; "" if there is none.
        path: the ``.eml`` file.
    """

    to: str
    subject: str
    body: str
    path: Path


class _FileHandler:
    """aiosmtpd handler writing each message to ``<directory>/<UTC timestamp>-<pid>-<counter>.eml``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.peers: list[tuple] = []
        self.script: deque[str] = deque()
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd hook name)
        with self._lock:
            number = next(self._counter)
            self.peers.append(tuple(session.peer or ()))
            answer = (self.script.popleft() if len(self.script) > 1 else self.script[0]) if self.script else "ok"
        if answer == "refuse":
            return "554 Transaction failed: refused by the test script"
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        name = f"{stamp}-{os.getpid()}-{number:06d}.eml"
        # Envelope recipients first (they include Bcc), then the message as received.
        envelope_lines = (
            f"X-Careflow-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Careflow-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode("utf-8")
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.directory / f".{name}.tmp"
            tmp.write_bytes(envelope_lines + content)
            tmp.replace(self.directory / name)  # readers never see a half-written file
        except OSError as exc:
            return f"451 Requested action aborted: cannot store message ({exc.strerror or exc})"
        return "250 Message accepted for delivery"


class MailSink:
    """A local SMTP server (aiosmtpd) that writes each received message as an ``.eml`` file in ``directory``.

    Args:
        directory: where messages go (created on start).
        host: address to listen on; keep the default ``127.0.0.1`` (no TLS, no login, any recipient).
        port: TCP port (careflow's default is ``Settings.smtp_port``, 8025).

    Use ``with MailSink(...) as sink:`` or ``start()``/``stop()``; ``start()`` after ``stop()`` starts a
    fresh server. File names sort in arrival order within one sink process.
    """

    def __init__(self, directory: Path | str, host: str = "127.0.0.1", port: int = 8025) -> None:
        self.directory = Path(directory)
        self.host = host
        self.port = port
        self._handler = _FileHandler(self.directory)
        self._controller: Controller | None = None

    @property
    def connections(self) -> int:
        """How many SMTP connections delivered messages (distinct client address and port), since start."""
        with self._handler._lock:
            return len(set(self._handler.peers))

    def script(self, *answers: str) -> None:
        """Answer the next messages with ``answers`` in turn (``"ok"``: stored, ``"refuse"``: 554, not stored);
        the last answer then repeats."""
        unknown = set(answers) - {"ok", "refuse"}
        if unknown:
            raise ValueError(f"unknown mail sink answer {sorted(unknown)[0]!r}; known: ok, refuse")
        with self._handler._lock:
            self._handler.script = deque(answers)

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._controller is not None

    def start(self) -> "MailSink":
        """Create the directory and start listening (in a background thread); returns ``self``.

        Idempotent while running.

        Raises:
            OSError: the port cannot be bound (e.g. already in use); the message names host and port.
        """
        if self._controller is not None:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        self._check_port_free()
        # A fixed server name: aiosmtpd's default (socket.getfqdn()) can stall on a machine without DNS.
        controller = Controller(self._handler, hostname=self.host, port=self.port, ready_timeout=10,
                                server_hostname="careflow.local")
        try:
            controller.start()
        except Exception as exc:  # aiosmtpd re-raises the bind error from its thread
            try:
                controller.stop()
            except Exception:
                pass
            raise OSError(f"mail sink cannot listen on {self.host}:{self.port}: {exc}") from exc
        self._controller = controller
        return self

    def _check_port_free(self) -> None:
        # aiosmtpd reports a bind failure only after its ready timeout (10 s): find out at once instead.
        try:
            family, kind, proto, _, address = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)[0]
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's server does
                probe.bind(address)
        except OSError as exc:
            raise OSError(f"mail sink cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from exc

    def stop(self) -> None:
        """Stop listening (idempotent). Messages already written stay in the directory."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> "MailSink":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _text_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        return part.get_content()
    except (LookupError, ValueError):  # unknown charset or broken encoding: best effort
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace")


def read_message(path: Path | str) -> MailboxMessage:
    """Parse one ``.eml`` file into a :class:`MailboxMessage` (headers and body decoded).

    Raises:
        OSError: the file cannot be read.
    """
    path = Path(path)
    with path.open("rb") as handle:
        message = email.message_from_binary_file(handle, policy=email.policy.default)
    return MailboxMessage(
        to=str(message.get("To", "")),
        subject=str(message.get("Subject", "")),
        body=_text_body(message),
        path=path,
    )


def read_mailbox(directory: Path | str) -> list[MailboxMessage]:
    """All messages in ``directory``, oldest first (by file name); ``[]`` if the directory does not exist.

    Raises:
        OSError: a message file cannot be read.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return [read_message(path) for path in sorted(directory.glob("*.eml"))]
