"""Point Prefect at careflow's local server and data directory.

Must run before ``prefect`` is imported: Prefect reads its settings from the environment when it
loads. Variables already set (e.g. ``PREFECT_API_URL`` of a production server) are kept.
"""
from __future__ import annotations

import os

from careflow.settings import get_settings


def prefect_environment() -> dict[str, str]:
    """The ``PREFECT_*`` variables for careflow's embedded defaults."""
    settings = get_settings()
    home = settings.prefect_home
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": settings.prefect_api_url,
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(settings.prefect_port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_LOCAL_STORAGE_PATH": str(home / "storage"),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.5",
    }


def configure_prefect_env() -> None:
    """Set careflow's Prefect defaults in ``os.environ`` where not already set."""
    os.environ.setdefault("CAREFLOW_HOME", str(get_settings().home.resolve()))
    get_settings().prefect_home.mkdir(parents=True, exist_ok=True)
    for key, value in prefect_environment().items():
        os.environ.setdefault(key, value)
