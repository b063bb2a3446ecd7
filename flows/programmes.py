"""The scheduled flow of programmes (items 18-20, 方案 （九）（十）（十一））: ``programme-report-duties``, daily at
01:15 (Asia/Shanghai), opens this quarter's report duty for every responsible county unit that lacks it
(:func:`careflow.programme_reports.open_report_duties`): on a quarter's first day for all, later only for a unit
added meanwhile (or after the server was down); every other run reads two lists and writes nothing. The duties are
then swept like any task. :func:`programme_deployments` is what ``flows/serve.py`` serves."""
from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.schedules import Cron

#: Cron line (Asia/Shanghai) of the daily check. *Default*: no text fixes the time.
REPORT_DUTIES_CRON = "15 1 * * *"


@flow(name="programme-report-duties", log_prints=True)
def programme_report_duties() -> dict:
    """Open the quarter's missing report duties; returns ``{"opened": n, "units": [...]}``."""
    # start-up: opening duties renders their messages (Jinja2); `careflow serve` imports this module but never runs it
    from careflow.programme_reports import open_report_duties
    from core.db import session_scope  # start-up: likewise, with the database

    with session_scope() as session:
        opened = open_report_duties(session)
        units = [t.unit_code for t in opened]
    get_run_logger().info("%d quarterly programme report duties opened", len(units))
    return {"opened": len(units), "units": units}


def programme_deployments(timezone: str) -> list:
    """The programme deployment for ``flows/serve.py`` (and ``careflow deploy``): the daily check, cron in
    ``timezone``."""
    return [programme_report_duties.to_deployment(name="programme-report-duties", tags=["programmes"],
                                                  schedule=Cron(REPORT_DUTIES_CRON, timezone=timezone))]
