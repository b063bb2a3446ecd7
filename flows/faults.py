"""Fault injection for the recovery tests and ``benchmarks.recovery``: a flow-run process that reaches a named point
kills its runner's process group, and then itself, as a crashed host would (``CAREFLOW_FAULT_POINT``).

Nothing happens unless ``CAREFLOW_FAULT_POINT`` is set. The points are where a flow writes (:data:`FAULT_POINTS`,
reached in :mod:`flows.steps` and :mod:`flows.waiting`) and, in a flow-run process, while the flow run is still
Pending (:data:`PENDING_FAULT_POINT`, reached as :mod:`flows.steps` loads). Hits are counted across processes in
``$CAREFLOW_HOME/faults/<point>.hits`` (one byte each); ``<point>.killed`` / ``<point>.paused`` record the pid.
"""
from __future__ import annotations

import os
import signal
import time

from core.settings import get_settings

#: The points where a flow writes, at which ``CAREFLOW_FAULT_POINT`` can kill the runner (fault-injection tests). A
#: flow stores its messages and sends none (the runner's send loop does: :mod:`notifications.send_loop`).
FAULT_POINTS = ("after_task_row", "after_message_row", "during_resume", "during_close")


def fault_point(name: str) -> None:
    """Fault injection for tests and ``benchmarks.recovery``: nothing unless ``CAREFLOW_FAULT_POINT`` names ``name``.

    ``CAREFLOW_FAULT_POINT=<name>[:<n>][=pause]``: the ``n``-th time (default 1st) any flow-run process reaches
    point ``name`` (hits are counted in ``$CAREFLOW_HOME/faults/<name>.hits``, across processes), this process
    sends SIGKILL to its runner's process group (``careflow serve`` and every flow run it started), then to
    itself. With ``=pause`` it instead writes ``$CAREFLOW_HOME/faults/<name>.paused`` and sleeps
    ``CAREFLOW_FAULT_PAUSE`` seconds (default 15), so that a test can kill the Prefect server meanwhile.

    ``CAREFLOW_FAULT_POINT=file`` reads the spec from ``$CAREFLOW_HOME/faults/armed`` at each point instead (no
    file: nothing), so that ``benchmarks.recovery`` arms the next kill only once it has measured the last recovery.
    """
    spec = os.environ.get("CAREFLOW_FAULT_POINT", "")
    if spec == "file":
        armed = get_settings().home / "faults" / "armed"
        spec = armed.read_text().strip() if armed.exists() else ""
    if not spec.startswith(name):
        return
    spec, _, action = spec.partition("=")
    point, _, nth = spec.partition(":")
    if point != name:
        return
    folder = get_settings().home / "faults"
    folder.mkdir(parents=True, exist_ok=True)
    hits = folder / f"{name}.hits"
    fd = os.open(hits, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, b".")  # one byte per hit, appended atomically: the file's size is the count
    finally:
        os.close(fd)
    if hits.stat().st_size != int(nth or 1):
        return
    if action == "pause":
        (folder / f"{name}.paused").write_text(str(os.getpid()))
        time.sleep(float(os.environ.get("CAREFLOW_FAULT_PAUSE", "15")))
        return
    (folder / f"{name}.killed").write_text(str(os.getpid()))
    try:
        os.killpg(os.getpgid(os.getppid()), signal.SIGKILL)
    finally:
        os.kill(os.getpid(), signal.SIGKILL)


#: The fault point reached while a flow run is still Pending ("Submitting"): a flow-run process imports its flow's
#: module (and :mod:`flows.steps`, which reaches this point as it loads) before it reports Running. Only in a
#: flow-run process (the runner starts it with ``PREFECT__FLOW_RUN_ID``), never in the runner or any other process
#: that imports the flows.
PENDING_FAULT_POINT = "while_pending"
