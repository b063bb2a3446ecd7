"""Serving careflow's deployments: every pathway flow and the scheduled sweeper.

``careflow serve`` (and ``careflow up``) call :func:`serve_deployments`; in production a Prefect
worker pool runs the same deployments (see README).
"""
from __future__ import annotations

import os

from prefect.schedules import Cron

from careflow.deployments import PATHWAY_DEPLOYMENTS, SWEEPER
from careflow.runners import registered_runner
from core.paths import PROJECT_ROOT
from core.prefect_env import install_zombie_automation
from core.settings import get_settings
from notifications.send_loop import send_loop
from flows.exchange import exchange_deployments
from flows.fork_server import serve
from flows.joint_meeting import joint_meeting_deployments
from flows.programmes import programme_deployments
from flows.survey import survey_deployments


def build_deployments(sweep_cron: str | None = None, *, pathways_only: bool = False) -> list:
    """The deployments: one per pathway, tagged ``pathway:<key>``, the sweeper on ``sweep_cron``, and (unless
    ``pathways_only``) the survey's, the joint meeting's and programme reports' scheduled flows, and two per
    department of the data exchanges (``policy/data_exchange.yaml``)."""
    timezone = get_settings().timezone
    sweep_cron = get_settings().sweep_cron if sweep_cron is None else sweep_cron
    deployments = [
        d.load_flow().to_deployment(name=d.deployment, tags=[f"pathway:{key}"])
        for key, d in PATHWAY_DEPLOYMENTS.items()
    ]
    deployments.append(SWEEPER.load_flow().to_deployment(name=SWEEPER.deployment,
                                                      schedule=Cron(sweep_cron, timezone=timezone) if sweep_cron else None,
                                             tags=["sweeper"]))
    if pathways_only:
        return deployments
    deployments.extend(survey_deployments(timezone))
    deployments.extend(exchange_deployments(timezone))  # per department: export and answers (方案 一（三）)
    deployments.extend(joint_meeting_deployments(timezone))
    deployments.extend(programme_deployments(timezone))
    return deployments


def serve_deployments(sweep_cron: str | None = None, *, pathways_only: bool = False) -> None:
    """Serve every deployment (``pathways_only``: the pathways and the sweeper) from this process until
    interrupted (blocks).

    The process is in the runner registry (:mod:`careflow.runners`) from just before it polls for flow runs until
    it exits cleanly, so the sweeper can tell flow runs claimed by a runner that has since died; beside the runner
    it runs the send loop (:mod:`notifications.send_loop`), which sends what its flow runs queue. Its flow runs
    start as forks of a pre-loaded process (:mod:`flows.fork_server`), not as fresh interpreters.
    """
    os.chdir(PROJECT_ROOT)  # flow entrypoints are relative to the project root
    install_zombie_automation()  # flow runs that stop sending heartbeats are marked Crashed
    deployments = build_deployments(sweep_cron, pathways_only=pathways_only)
    with registered_runner(), send_loop():
        serve(*deployments, limit=20)
