"""Point Prefect at careflow's local server and data directory.

Must run before ``prefect`` is imported: Prefect reads its settings from the environment when it
loads. Variables already set (e.g. ``PREFECT_API_URL`` of a production server) are kept.
"""
from __future__ import annotations

import asyncio
import logging
import os
import types
from datetime import timedelta

from core.settings import get_settings

log = logging.getLogger(__name__)


def prefect_environment() -> dict[str, str]:
    """The ``PREFECT_*`` variables (and ``DO_NOT_TRACK``) for careflow's embedded defaults."""
    settings = get_settings()
    home = settings.prefect_home
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": settings.prefect_api_url,
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(settings.prefect_port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",  # no usage telemetry from the SDK either: nothing about this system leaves it
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_WORKER_QUERY_SECONDS": "1",  # `careflow worker`: a started pathway is picked up within a second
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        # a shared volume in production (CAREFLOW_RESULT_STORAGE): a resumed flow run may continue on another host
        "PREFECT_LOCAL_STORAGE_PATH": str(settings.result_storage or home / "storage"),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.5",
        # Flow runs report every heartbeat_seconds; ZOMBIE_AUTOMATION marks a run that stops reporting Crashed.
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(settings.heartbeat_seconds),
    }


def configure_prefect_env() -> None:
    """Set careflow's Prefect defaults in ``os.environ`` where not already set."""
    os.environ.setdefault("CAREFLOW_HOME", str(get_settings().home.resolve()))
    get_settings().prefect_home.mkdir(parents=True, exist_ok=True)
    for key, value in prefect_environment().items():
        os.environ.setdefault(key, value)


class _SharedTLSContexts:
    """The ``ssl`` module as Prefect's client module sees it, except that ``create_default_context`` builds each
    context once per process and returns it again (an ``SSLContext`` is safe to share between clients)."""

    def __init__(self, module):
        self._ssl = module
        self._made: dict[tuple, object] = {}

    def __getattr__(self, name: str):
        return getattr(self._ssl, name)

    def create_default_context(self, purpose=None, *, cafile=None, capath=None, cadata=None):
        key = (purpose, cafile, capath, cadata)
        if key not in self._made:
            purpose = self._ssl.Purpose.SERVER_AUTH if purpose is None else purpose
            self._made[key] = self._ssl.create_default_context(purpose, cafile=cafile, capath=capath, cadata=cadata)
        return self._made[key]


def share_prefect_tls_context() -> None:
    """Make every Prefect client of this process share one TLS context.

    Prefect builds a client per task run, and each builds a new TLS context from the CA bundle (about 35 ms of CPU,
    even for an ``http://`` server): a flow-run process paid that 15 times a pathway step. Called by every flow-run
    process (``flows.steps``). Does nothing if Prefect's client module no longer has the ``ssl`` it patches.
    """
    # Prefect reads its settings as it loads (after configure_prefect_env()), and the CLI imports this module for
    # commands that never use Prefect: loading it here (~2 s) would be start-up cost for all of them.
    import prefect.client.orchestration as orchestration

    if isinstance(getattr(orchestration, "ssl", None), types.ModuleType):
        orchestration.ssl = _SharedTLSContexts(orchestration.ssl)


#: Name of the automation that marks flow runs Crashed when their heartbeats stop (one per Prefect server).
ZOMBIE_AUTOMATION = "careflow: crash zombie flow runs"


def zombie_automation():
    """The automation of Prefect's "How to detect and respond to zombie flows", adapted to careflow.

    After a flow run's heartbeat (``prefect.flow-run.heartbeat``), expect another heartbeat or an end
    within ``heartbeat_seconds × zombie_after_heartbeats`` (default 90 s); otherwise change the flow run's
    state to Crashed. Unlike the documented one, a suspended or paused run also counts as "heard from": a
    pathway waiting for an agency has no process and sends no heartbeat, and must not be crashed.
    """
    # start-up: Prefect only where it is used, as in share_prefect_tls_context
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType  # start-up: as above
    from prefect.events.actions import ChangeFlowRunState  # start-up: as above
    from prefect.events.schemas.automations import EventTrigger, Posture  # start-up: as above
    from prefect.events.schemas.events import ResourceSpecification  # start-up: as above

    settings = get_settings()
    return Automation(
        name=ZOMBIE_AUTOMATION,
        description="careflow：流程运行停止发送心跳后标记为 Crashed，由清扫任务从数据库重建路径。",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Failed",
                    "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed", "prefect.flow-run.Suspended",
                    "prefect.flow-run.Paused"},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=settings.heartbeat_seconds * settings.zombie_after_heartbeats),
        ),
        actions=[ChangeFlowRunState(state=StateType.CRASHED,
                                    message="flow run stopped sending heartbeats (careflow zombie automation)")],
    )


async def ensure_zombie_automation() -> bool:
    """Create :data:`ZOMBIE_AUTOMATION` on the current Prefect server unless it exists; True if created.

    Called by ``careflow up``/``careflow serve`` (:class:`entry.stack.LocalStack`, :func:`flows.serve.serve_deployments`)
    and by the test stack. Raises whatever the Prefect client raises when the server is unreachable.
    """
    from prefect.client.orchestration import get_client  # start-up: as in share_prefect_tls_context

    async with get_client() as client:
        if await client.read_automations_by_name(ZOMBIE_AUTOMATION):
            return False
    await zombie_automation().acreate()
    return True


def install_zombie_automation() -> None:
    """Create the automation that crashes flow runs whose heartbeats stop (once per server); a failure is
    logged, not raised: the sweeper's own stall check (``stall_after_seconds``) still finds such runs."""
    try:
        asyncio.run(ensure_zombie_automation())
    except Exception as exc:  # the server is up (checked) but refused: recovery still works, only slower
        log.warning("could not create the zombie flow-run automation: %s", exc)
