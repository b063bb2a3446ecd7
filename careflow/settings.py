"""One settings object for the whole application, read from the environment.

Every variable is prefixed ``CAREFLOW_``. All state of a local installation (database,
Prefect home, delivered messages, channel configuration) lives under ``CAREFLOW_HOME``.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from careflow import PROJECT_ROOT


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
        public_url: base URL used in message links (default: the local Prefect UI).
        web_port: port of the web app (``careflow web serve``, started by ``careflow up``) on 127.0.0.1.
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
    web_port: int = 8000

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``sqlite:///<home>/careflow.db``."""
        return self.database_url or f"sqlite:///{self.home / 'careflow.db'}"

    @property
    def resolved_public_url(self) -> str:
        """Base URL of links in messages; default the local Prefect UI."""
        return self.public_url or f"http://127.0.0.1:{self.prefect_port}"

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
