"""The registry of live runners (``careflow serve`` and ``careflow worker`` processes) on this host, kept under
``CAREFLOW_HOME/runners``.

A runner writes ``<host>-<pid>`` (JSON: host, pid, start time in UTC) just before it starts polling for flow runs
and removes it when it exits cleanly. A runner killed with SIGKILL leaves its file behind; :func:`live_runners`
ignores (and removes) the files of processes that no longer exist on this host.

What it is for (:func:`careflow.reconcile.judge_flow_run`): a flow run is claimed by a runner (Pending, "Submitting")
only after that runner registered, so a Pending flow run older than the start of every live runner on this host was
claimed by a runner that has died, and is restarted at once instead of after ``stall_after_seconds``.
A Prefect worker (``careflow worker``, :func:`flows.pool.run_worker`) claims flow runs the same way (Pending before
it starts their process), so it registers too and the rule covers its flow runs. Assumes the runners and workers of
one host share its ``CAREFLOW_HOME``; a runner or worker on another host is not seen here (the zombie automation and
the stall time cover those). A pid reused by another process counts as live (the safe direction: fewer restarts, never more).
"""
from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from core.processes import process_exists, this_host
from core.settings import get_settings


@dataclass(frozen=True)
class Runner:
    """One registered runner: ``host`` (hostname, at most 80 characters), ``pid``, ``started_at`` (aware UTC),
    and the registry ``path`` of its file."""

    host: str
    pid: int
    started_at: datetime
    path: Path


def runners_dir(home: Path | None = None) -> Path:
    """``<home>/runners`` (``home`` defaults to ``CAREFLOW_HOME``)."""
    return (home or get_settings().home) / "runners"


def register_runner(*, home: Path | None = None, pid: int | None = None,
                    now: datetime | None = None) -> Path:
    """Record that runner ``pid`` (default this process) serves from ``now`` (default: now, UTC); returns its file.

    Written atomically (temporary file, then rename), so a reader never sees half a file.
    """
    pid = os.getpid() if pid is None else pid
    started = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    folder = runners_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{this_host()}-{pid}"
    temporary = folder / f".{path.name}.tmp"
    temporary.write_text(json.dumps({"host": this_host(), "pid": pid, "started_at": started.isoformat()}),
                         encoding="utf-8")
    os.replace(temporary, path)
    return path


def unregister_runner(path: Path) -> None:
    """Remove a runner's file (missing already: nothing to do)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


@contextlib.contextmanager
def registered_runner(home: Path | None = None) -> Iterator[Path]:
    """Register this process as a runner for the duration of the ``with`` block; removed on any clean exit."""
    path = register_runner(home=home)
    try:
        yield path
    finally:
        unregister_runner(path)


def live_runners(home: Path | None = None) -> list[Runner]:
    """The registered runners of this host whose process exists, oldest first.

    Files of this host's runners whose process is gone (killed) are removed; unreadable files and other hosts'
    runners are skipped (left as they are).
    """
    folder = runners_dir(home)
    if not folder.is_dir():
        return []
    host, found = this_host(), []
    for path in folder.iterdir():
        if path.name.startswith("."):
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            runner = Runner(host=str(data["host"]), pid=int(data["pid"]),
                            started_at=datetime.fromisoformat(data["started_at"]).astimezone(timezone.utc), path=path)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if runner.host != host:
            continue
        if process_exists(runner.pid):
            found.append(runner)
        else:
            unregister_runner(path)
    return sorted(found, key=lambda r: r.started_at)


def earliest_runner_start(home: Path | None = None) -> datetime | None:
    """When the longest-serving live runner on this host started (UTC); ``None`` when none is live."""
    runners = live_runners(home)
    return runners[0].started_at if runners else None
