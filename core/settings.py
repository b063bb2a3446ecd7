"""One settings object for the whole application, read from the environment.

Every variable is prefixed ``CAREFLOW_``. All state of a local installation (database,
Prefect home, delivered messages, channel configuration) lives under ``CAREFLOW_HOME``.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.paths import PROJECT_ROOT


class Settings(BaseSettings):
    """careflow's configuration.

    Attributes:
        home: data directory (default ``./.careflow`` in the working directory).
        database_url: SQLAlchemy URL of the system of record; default SQLite file under ``home``.
            Production: ``postgresql+psycopg://user@host/careflow``.
        prefect_port: port of the local Prefect server started by ``careflow up``/``careflow demo``.
        smtp_port: port of the local mail sink that is the embedded default notification channel.
        timezone: time zone of every deadline shown to a person (deadlines are stored in UTC).
        policy_dir: folder of the policy data (agencies, service list, pathways, calendars).
        channels_file: YAML file mapping agency units to apprise URLs; default ``home/channels.yaml``.
        public_url: base URL of the web app, used in message links to a task's page (``CAREFLOW_PUBLIC_URL``;
            default ``http://127.0.0.1:<web_port>``, i.e. http://127.0.0.1:8000).
        prefect_ui_url: base URL of the Prefect UI, linked only on admins' pages (default the local server).
        web_port: port of the web app (``careflow web serve``, started by ``careflow up``) on 127.0.0.1.
        owner_database_url: URL migrations run with, as the role owning the schema (PostgreSQL in production:
            ``postgresql+psycopg://careflow_owner:…@host/careflow``); default ``database_url``. The app itself
            connects with ``database_url``, as the application role.
        setup_database_url: a PostgreSQL superuser's URL to the same database, used only by ``careflow init`` to
            create the owner and application roles and their grants (:func:`core.db.setup_roles`); unset,
            ``init`` leaves roles alone.
        db_owner_role / db_app_role: names of those two roles (default ``careflow_owner`` / ``careflow_app``);
            each gets the password of the URL that logs in as it (none: trust/peer authentication).
        stall_after_seconds: a pathway whose flow run is Running, Pending or Scheduled with no new state for
            this long (seconds; default 300 = 5 minutes), or that has had no live flow run for this long, is
            stalled: the sweeper restarts it and the dashboard lists it.
        max_restarts: a pathway run restarted this many times (default 3) whose flow run fails again ends
            failed, and the caseworker and the county manager are told.
        heartbeat_seconds: flow runs emit a heartbeat this often (``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``,
            Prefect requires ≥ 30); the automation "careflow: crash zombie flow runs" marks a run Crashed after
            ``zombie_after_heartbeats`` missed beats (default 3 → 90 s).
        result_storage: a folder every host reaches (a shared volume mounted at the same path), where flow and task
            results are persisted (``PREFECT_LOCAL_STORAGE_PATH``); default ``home/prefect/storage`` (one host).
            ``careflow deploy`` writes it into the deployments, so every worker's flow runs use it.
        work_pool: the Prefect process work pool of ``careflow deploy`` / ``careflow worker`` (default ``careflow``).
        pathway_concurrency: at most this many flow runs of one pathway deployment run at once on the pool
            (default 20; more wait, enqueued; a suspended pathway holds no slot). The sweeper's limit is always 1.
        programme_report_days: a department's quarterly report of its programmes (items 18-20) is due this many
            calendar days after the quarter ends (*default* 10: no text fixes it; ``CAREFLOW_PROGRAMME_REPORT_DAYS``).
        dispatch_processes: processes a sweep's dispatch shares the due recipients out among
            (``CAREFLOW_DISPATCH_PROCESSES``, default 1; :func:`notifications.dispatcher.dispatch_due`). One
            process sends about 490 messages/s on a quiet 2-core machine, two about 570 (issue 17, 2026-12-07).
        fork_server: ``careflow serve`` and ``careflow worker`` start each careflow flow run as a fork of a
            process that loaded careflow once (:mod:`flows.fork_server`; default on where the platform has one).
            ``CAREFLOW_FORK_SERVER=0`` starts each as a fresh interpreter, as Prefect does (to compare, or to rule
            it out).
    """

    model_config = SettingsConfigDict(env_prefix="CAREFLOW_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.cwd() / ".careflow")
    database_url: str | None = None
    prefect_port: int = 4200
    smtp_port: int = 8025
    timezone: str = "Asia/Shanghai"
    sweep_cron: str = "* * * * *"  # the sweeper's schedule (Asia/Shanghai); "" serves it unscheduled
    policy_dir: Path = PROJECT_ROOT / "policy"
    channels_file: Path | None = None
    public_url: str | None = None
    prefect_ui_url: str | None = None
    web_port: int = 8000
    owner_database_url: str | None = None
    setup_database_url: str | None = None
    db_owner_role: str = Field(default="careflow_owner", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    db_app_role: str = Field(default="careflow_app", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    stall_after_seconds: float = Field(default=300.0, ge=0)
    max_restarts: int = Field(default=3, ge=0)
    heartbeat_seconds: int = Field(default=30, ge=30)
    zombie_after_heartbeats: int = Field(default=3, ge=2)
    result_storage: Path | None = None
    work_pool: str = Field(default="careflow", min_length=1)
    pathway_concurrency: int = Field(default=20, ge=1)
    programme_report_days: int = Field(default=10, ge=1, le=90)
    dispatch_processes: int = Field(default=1, ge=1, le=32)
    fork_server: bool = True

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``sqlite:///<home>/careflow.db``."""
        return self.database_url or f"sqlite:///{self.home / 'careflow.db'}"

    @property
    def resolved_owner_database_url(self) -> str:
        """The URL migrations run with: ``owner_database_url``, defaulting to the app's database URL."""
        return self.owner_database_url or self.resolved_database_url

    @property
    def resolved_public_url(self) -> str:
        """Base URL of the web app in message links (no trailing slash); default the local web app."""
        return (self.public_url or f"http://127.0.0.1:{self.web_port}").rstrip("/")

    @property
    def resolved_prefect_ui_url(self) -> str:
        """Base URL of the Prefect UI (no trailing slash); default the local Prefect server."""
        return (self.prefect_ui_url or f"http://127.0.0.1:{self.prefect_port}").rstrip("/")

    def task_url(self, task_id) -> str:
        """The web page of a task: ``<public url>/tasks/<id>`` (what a message's 详情 link opens)."""
        return f"{self.resolved_public_url}/tasks/{task_id}"

    @property
    def resolved_channels_file(self) -> Path:
        return self.channels_file or self.home / "channels.yaml"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def mailbox_dir(self) -> Path:
        """Where the local mail sink writes each delivered message as an ``.eml`` file."""
        return self.home / "mailbox"

    @property
    def prefect_api_url(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}/api"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()
