"""A pathway flow's steps driven without Prefect or a database: each agency answers at once with the outcome the test
gives, so a test reads the outcome the flow would record (:mod:`core.outcome`) and the messages it would send."""
from __future__ import annotations

import asyncio

from flows.onward_referral import LinkedPathway
from flows.steps import PathwayContext, TaskAnswer
from models.task import TaskState


def context(pathway: str, parameters: dict | None = None) -> PathwayContext:
    return PathwayContext(pathway_run_id="00000000-0000-4000-8000-000000000001", pathway=pathway,
                          case_reference="CF-350302-20261208-000001", county_code="350302", caseworker="fixture",
                          parameters=parameters or {})


def started(item: int, pathway: str) -> LinkedPathway:
    return LinkedPathway(item=item, pathway=pathway, status="started", pathway_run_id="x")


def drive(monkeypatch, module, steps: str, *args, answers: dict, link=started, route: str = "registration_place"):
    """Run ``module.<steps>(*args)`` with every step answered from ``answers`` (``step`` or ``(step, agency)`` →
    outcome); onward referrals end as ``link(item, pathway)`` says. Returns ``(outcome, [(event, summary)])``."""
    told: list[tuple[str, str]] = []

    def answer(step: str, agency: str) -> TaskAnswer:
        return TaskAnswer(task_id=f"{step}-{agency}", step_key=step, agency_type=agency, attempt=1,
                          state=TaskState.completed, outcome=answers.get((step, agency), answers.get(step, {})))

    async def request_step(_ctx, step, agency, urgent=False):
        return answer(step, agency)

    async def request_steps(_ctx, requests, rule="all"):
        return {f"{r[0]}/{r[1]}": answer(r[0], r[1]) for r in requests}

    async def start_linked_pathway(_referred_from, item, pathway, _parameters, started_by):
        return link(item, pathway)

    fakes = {"request_step": request_step, "request_steps": request_steps, "start_linked_pathway": start_linked_pathway,
             "notify_caseworker": lambda _ctx, _task, event, summary: told.append((event, summary)),
             "cancel_unanswered": lambda *_: 0, "registration_route": lambda *_: route,
             "notify_follower": lambda *_: "", "open_agency_task": lambda *_: "task"}
    for name, fake in fakes.items():
        if hasattr(module, name):
            monkeypatch.setattr(module, name, fake)
    return asyncio.run(getattr(module, steps)(*args)), told
