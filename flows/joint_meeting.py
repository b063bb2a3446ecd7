"""The scheduled flow of the joint meeting (定期会商, 闽民童〔2025〕5号 measure 十一).

``joint-meeting-duties`` — every day at 07:10 (Asia/Shanghai; the first run of a period opens its duties, the
others find them open): every county's convener gets this period's duty (:func:`careflow.joint_meeting.open_meeting_duties`),
and its message is sent at once or by the sweeper, which also escalates the duty when overdue.
"""
from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.schedules import Cron

from core.db import session_scope

#: Cron line (Asia/Shanghai). *Default*: no text fixes the time.
MEETING_CRON = "10 7 * * *"


@flow(name="joint-meeting-duties", log_prints=True)
def joint_meeting_duties() -> dict:
    """Open this period's joint-meeting duties; returns the period, the keys opened and the counties without a unit."""
    from careflow.city_list import send_duty_messages  # start-up: Apprise, only in this flow's own process
    from careflow.joint_meeting import open_meeting_duties  # start-up: the message templates (Jinja2), as above

    with session_scope() as session:
        result = open_meeting_duties(session)
        notification_ids = [n.id for n in result.notifications]
    send_duty_messages(notification_ids)
    get_run_logger().info("joint meeting %s: %d duties opened (due %s); %d counties without a convener unit",
                          result.period, len(result.opened), result.due_on, len(result.no_unit))
    return {"period": result.period, "opened": result.opened, "no_unit": len(result.no_unit)}


def joint_meeting_deployments(timezone: str) -> list:
    """The joint meeting's deployment for ``flows/serve.py`` (cron :data:`MEETING_CRON` in ``timezone``)."""
    return [joint_meeting_duties.to_deployment(name="joint-meeting-duties", tags=["joint-meeting"],
                                               schedule=Cron(MEETING_CRON, timezone=timezone))]
