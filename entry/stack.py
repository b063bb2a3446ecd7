"""The local stack of the embedded defaults: Prefect server (SQLite), served deployments, mail sink,
and (``with_web``) the web app on 127.0.0.1:``CAREFLOW_WEB_PORT``.

Everything lives under ``CAREFLOW_HOME``; logs of the started processes go to ``CAREFLOW_HOME/logs``. Its errors
(a port taken, a process that died or is not ready) are in the command line's language (``cli.stack.*``).
:class:`LocalStack` starts only what is not already running and stops only what it started.
"""
from __future__ import annotations

import asyncio
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

from careflow.deployments import PATHWAY_DEPLOYMENTS, SWEEPER
from core.i18n import cli_text as tr
from core.paths import PROJECT_ROOT
from core.prefect_env import install_zombie_automation
from core.settings import get_settings
from entry.user_input import fail
from models.errors import FieldProblem


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def prefect_server_healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def web_app_healthy(port: int) -> bool:
    """True when careflow's web app answers on ``port`` (``GET /healthz``)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200 and b"careflow-web" in response.read()
    except (OSError, http.client.HTTPException):  # nothing there, or something that does not speak HTTP
        return False


def deployments_ready(names: list[str], polled_since: datetime | None = None) -> bool:
    """True when every named deployment exists and a runner is polling for it (status READY).

    With ``polled_since``, the runner must also have polled after that time (a runner just started).
    """
    from prefect.client.orchestration import get_client  # start-up: Prefect (3 to 6 s), not for `careflow --help`

    async def check() -> bool:
        async with get_client() as client:
            for name in names:
                try:
                    deployment = await client.read_deployment_by_name(name)
                except Exception:
                    return False
                if str(getattr(deployment.status, "value", deployment.status)).upper() != "READY":
                    return False
                if polled_since and (deployment.last_polled is None or deployment.last_polled < polled_since):
                    return False
            return True

    return asyncio.run(check())


#: careflow's runners poll every second (PREFECT_RUNNER_POLL_FREQUENCY=1, set by core.prefect_env).
RUNNER_ALIVE_WITHIN = timedelta(seconds=5)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to the process group of ``process`` (started with ``start_new_session``: its own group)."""
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class LocalStack:
    """Start (if needed) and stop the local Prefect server, the deployment runner, the mail sink and the web app."""

    def __init__(self, *, with_sink: bool = True, with_server: bool = True, serve: str = "auto",
                 with_web: bool = False, pathways_only: bool = False):
        """``serve``: ``"auto"`` (start a runner unless one is serving), ``"always"`` or ``"never"``;
        ``pathways_only``: a runner of the pathways and the sweeper only (``careflow serve --pathways-only``).
        ``with_web``: also start the web app (``careflow web serve``) unless it is already up."""
        self.pathways_only = pathways_only
        self.settings = get_settings()
        self.with_sink = with_sink
        self.with_server = with_server
        self.serve = serve
        self.with_web = with_web
        self.logs = self.settings.home / "logs"
        self._processes: list[tuple[str, subprocess.Popen]] = []
        self._args: dict[str, list[str]] = {}
        self._sink = None

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        process = self._launch(name, args)
        self._processes.append((name, process))
        self._args[name] = args
        return process

    def _launch(self, name: str, args: list[str]) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        out = open(self.logs / f"{name}.log", "ab")
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT,
                                env=os.environ.copy(), start_new_session=True)

    def restart_exited(self) -> list[tuple[str, int]]:
        """Start again every process of this stack that has exited (killed, crashed, out of memory), as it was
        started; return ``(name, exit code)`` of each one restarted (a negative code is the signal that killed it), for
        the caller to tell in the user's language (``careflow up``: ``cli.up.out.restarted``).

        Why: the runner also serves the sweeper, so a runner nobody restarts stops every pathway and every
        escalation in silence. A flow-run process of the dead runner is left to finish its step; a flow run that
        died with it is the sweeper's to recover (crashed, then restarted).
        """
        restarted = []
        for i, (name, process) in enumerate(self._processes):
            code = process.poll()
            if code is None:
                continue
            self._processes[i] = (name, self._launch(name, self._args[name]))
            restarted.append((name, code))
        return restarted

    def _wait(self, what: str, ready, process: subprocess.Popen | None, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if process is not None and process.poll() is not None:
                raise RuntimeError(tr("cli.stack.exited", what=tr(f"cli.stack.what.{what}"), code=process.returncode,
                                      logs=self.logs))
            if time.monotonic() > deadline:
                raise TimeoutError(tr("cli.stack.not_ready", what=tr(f"cli.stack.what.{what}"), seconds=round(timeout),
                                      logs=self.logs))
            time.sleep(0.5)

    def start(self) -> "LocalStack":
        """Start what is not running; on failure, stop what was started and re-raise."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> "LocalStack":
        api = self.settings.prefect_api_url
        if self.with_server and not prefect_server_healthy(api):
            if _port_open(self.settings.prefect_port):
                raise RuntimeError(tr("cli.stack.prefect_port_taken", port=self.settings.prefect_port))
            server = self._spawn("prefect-server", [sys.executable, "-m", "prefect", "server", "start",
                                                    "--host", "127.0.0.1", "--port", str(self.settings.prefect_port)])
            self._wait("prefect", lambda: prefect_server_healthy(api), server, 120)
        if self.with_server or self.serve != "never":
            install_zombie_automation()
        names = [d.full_name for d in PATHWAY_DEPLOYMENTS.values()] + [SWEEPER.full_name]
        # A runner that stopped keeps its deployments READY for a while: count only one that polled lately.
        recently = datetime.now(timezone.utc) - RUNNER_ALIVE_WITHIN
        if self.serve == "always" or self.serve == "auto" and not deployments_ready(names, recently):
            since = datetime.now(timezone.utc)
            runner = self._spawn("serve", [sys.executable, "-m", "entry", "serve",
                                           *(["--pathways-only"] if self.pathways_only else [])])
            self._wait("serve", lambda: deployments_ready(names, since), runner, 120)
        if self.with_sink and not _port_open(self.settings.smtp_port):
            from notifications.sink import MailSink  # start-up: aiosmtpd and the email parser (31 modules)

            self._sink = MailSink(self.settings.mailbox_dir, port=self.settings.smtp_port)
            self._sink.start()
        port = self.settings.web_port
        if self.with_web and not web_app_healthy(port):
            if _port_open(port):
                raise RuntimeError(tr("cli.stack.web_port_taken", port=port))
            web = self._spawn("web", [sys.executable, "-m", "entry", "web", "serve", "--port", str(port)])
            self._wait("web", lambda: web_app_healthy(port), web, 60)
        return self

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.web_port}"

    @property
    def started(self) -> list[str]:
        """What this stack started: ``prefect-server``, ``serve``, ``web``, ``mail-sink`` (read by
        ``cli.stack.name.<name>``)."""
        return [name for name, _ in self._processes] + (["mail-sink"] if self._sink else [])

    def stop(self) -> None:
        """Stop what this stack started (newest first); leave what was already running."""
        if self._sink:
            self._sink.stop()
            self._sink = None
        for name, process in reversed(self._processes):
            if process.poll() is None:
                _signal_group(process, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    _signal_group(process, signal.SIGKILL)
            # A runner's flow-run processes share its process group: they would outlive it, orphaned.
            _signal_group(process, signal.SIGTERM)
        self._processes.clear()

    def __enter__(self) -> "LocalStack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def ensure_home() -> Path:
    """Create ``CAREFLOW_HOME``, migrate the database, load the agency directory, write default channels."""
    from careflow.routing import load_agency_units  # start-up: sqlmodel (about 1 s)
    from core.db import migrate, session_scope  # start-up: sqlmodel
    from notifications.default_channels import write_default_channels  # start-up: jinja2 and the channel file

    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    migrate()
    with session_scope() as session:
        load_agency_units(session, settings.policy_dir / "agency_units.yaml")
    write_default_channels(settings.resolved_channels_file, settings.smtp_port)
    return settings.home


def prepared_home() -> Path:
    """:func:`ensure_home` for a command: a malformed agency directory file (``careflow.routing.DirectoryError``)
    ends it with one line naming the entry and the field (:func:`entry.user_input.fail`), not a traceback."""
    try:
        return ensure_home()
    except FieldProblem as exc:
        fail(exc)
