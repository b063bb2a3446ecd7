"""The benchmark's local receivers (HTTP chat-platform look-alike and SMTP mail sink) in a process of their own.

Real DingTalk/WeCom/Feishu servers and mail servers are other machines: they do not share the dispatcher's
CPU or, in Python, its interpreter lock. Serving them from threads of the dispatcher's own process would
charge their parsing and answering (a fifth to a quarter of the CPU of a pass, measured) to the dispatcher,
so the benchmark runs them in a child process (:class:`ReceiverProcess`) and reads what they received when the pass is over.
``time.monotonic()`` is the system's monotonic clock on Linux and macOS, so the receive times the child
records compare with the parent's.
"""
from __future__ import annotations

import multiprocessing
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from notifications.receiver import HttpReceiver, ReceivedMessage
from notifications.sink import MailSink

#: Seconds to wait for the child to start listening or to hand back its figures.
READY_TIMEOUT = 30.0


@dataclass
class Received:
    """What the receivers got during one pass: the chat ``messages`` (all, refused ones too) and the number of
    SMTP ``smtp_connections`` that delivered mail (mail itself is in the mailbox directory)."""

    messages: list[ReceivedMessage] = field(default_factory=list)
    smtp_connections: int = 0


def _serve(pipe: Connection, mailbox: str, smtp_port: int, enforce_limits: bool) -> None:
    """The child: start both receivers, send their endpoints, wait for ``"stop"``, send back a :class:`Received`."""
    with HttpReceiver(enforce_limits=enforce_limits) as receiver, MailSink(Path(mailbox), port=smtp_port) as sink:
        pipe.send(receiver.endpoints())
        pipe.recv()
        received = Received(receiver.messages(accepted_only=False), sink.connections)
    pipe.send(received)


class ReceiverProcess:
    """``with ReceiverProcess(mailbox, smtp_port) as receivers:`` runs an :class:`HttpReceiver` (platform limits
    enforced) and a :class:`MailSink` on ``smtp_port`` in a child process; ``receivers.endpoints`` is the
    channel file's ``endpoints:`` section, :meth:`collect` stops them and returns what they received.

    Raises:
        RuntimeError: the child did not start listening within :data:`READY_TIMEOUT` seconds.
    """

    def __init__(self, mailbox: Path, smtp_port: int, *, enforce_limits: bool = True) -> None:
        self._args = (str(mailbox), smtp_port, enforce_limits)
        self._pipe: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self.endpoints: dict[str, str] = {}

    def __enter__(self) -> "ReceiverProcess":
        context = multiprocessing.get_context("spawn")  # no copy of the parent's threads and database pools
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, *self._args), daemon=True,
                                        name="careflow-bench-receivers")
        self._process.start()
        if not self._pipe.poll(READY_TIMEOUT):
            self._process.kill()
            raise RuntimeError("the benchmark's receiver process did not start")
        self.endpoints = self._pipe.recv()
        return self

    def collect(self) -> Received:
        """Stop the receivers and return what they received (once; later calls return an empty record)."""
        if self._pipe is None:
            return Received()
        self._pipe.send("stop")
        received = self._pipe.recv() if self._pipe.poll(READY_TIMEOUT) else Received()
        self._pipe.close()
        self._pipe = None
        self._process.join(READY_TIMEOUT)  # reaped now: its CPU is never counted as a later pass's child's
        return received

    def __exit__(self, *exc) -> None:
        self.collect()
        if self._process is not None:
            self._process.join(timeout=READY_TIMEOUT)
            if self._process.is_alive():
                self._process.kill()
            self._process = None
