"""Driving a pathway as its agencies would, shared by every demo and the end-to-end tests.

Each helper waits for what a person would wait for: a task exists and its agency was notified (the flow
run has suspended to wait for it), or the pathway run has ended.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from datetime import date

import typer
from sqlmodel import select

from careflow.answers import RESUME_TEXT, answer_task
from careflow.closing import approve_close, decide_close, review_reasons
from core.db import session_scope
from core.i18n import cli_language, cli_text as tr, has_message, label
from core.settings import get_settings
from careflow.resume import wait_until_suspended
from models.agency import AgencyUnit
from models.case import OPEN_PATHWAY_STATUSES, Case, PathwayRun, PathwayStatus
from models.child import Child, resident_id_is
from models.notification import DeliveryStatus, Notification
from models.policy import load_policy
from models.resident_id import check_character
from models.task import AgencyTask, TaskState


def resident_id(county: str, birth: date, female: bool) -> str:
    """A valid ID for ``county`` and ``birth`` (sequence varies per run; odd for a boy, even for a girl)."""
    seq = int(time.time()) % 500 * 2 + (0 if female else 1)
    first17 = f"{county}{birth:%Y%m%d}{seq:03d}"
    return first17 + check_character(first17)


def unused_resident_id(county: str, birth: date, female: bool) -> str:
    """:func:`resident_id`, waiting for the next second while the ID is already registered."""
    while True:
        rid = resident_id(county, birth, female)
        with session_scope() as session:
            if not session.exec(select(Child).where(resident_id_is(Child.resident_id, rid))).first():
                return rid
        time.sleep(1)


def wait_for_step_task(pathway_run_id: uuid.UUID, step_key: str, agency_type: str | None = None,
                       timeout: float = 120) -> AgencyTask:
    """The step's task (for ``agency_type`` if given) once its flow run has created it and suspended. Follows the
    pathway, not one flow run: a flow run that crashed or failed while the pathway is open is restarted by the sweeper
    as a new flow run, and the wait goes on (a line says so).

    Raises:
        RuntimeError: the pathway ended first. TimeoutError: no such task within ``timeout`` seconds.
    """
    deadline, told = time.monotonic() + timeout, set()
    while time.monotonic() < deadline:
        with session_scope() as session:
            run = session.get(PathwayRun, pathway_run_id)
            flow_run_id, still_open = run.flow_run_id, run.status in OPEN_PATHWAY_STATUSES
            query = select(AgencyTask).where(AgencyTask.pathway_run_id == pathway_run_id,
                                             AgencyTask.step_key == step_key)
            if agency_type:
                query = query.where(AgencyTask.agency_type == agency_type)
            task = session.exec(query).first()
        if flow_run_id is None:
            time.sleep(0.3)
            continue
        if not asyncio.run(wait_until_suspended(flow_run_id, timeout=max(1.0, deadline - time.monotonic()))):
            if not still_open:
                raise RuntimeError(tr("cli.demo.out.flow_ended", flow_run=flow_run_id, step=step_key))
            # the flow run crashed or failed but the pathway is open: the sweeper restarts it (a new flow run)
            if flow_run_id not in told:
                told.add(flow_run_id)
                typer.echo(tr("cli.demo.out.flow_restarting", flow_run=flow_run_id))
            time.sleep(1)
            continue
        if task:
            return task
        time.sleep(0.3)
    raise TimeoutError(tr("cli.demo.out.no_task", step=step_key, seconds=round(timeout)))


def answer_as_agency(pathway_run_id: uuid.UUID, step: str, agency_type: str | None, unit: str, officer: str,
                     acknowledge_first: bool, outcome: dict) -> str:
    """Wait for the step's task, check it went to ``unit``, answer it as ``officer``; returns the resume result."""
    task = wait_for_step_task(pathway_run_id, step, agency_type)
    if task.unit_code != unit:
        raise RuntimeError(tr("cli.demo.out.wrong_unit", step=step, unit=task.unit_code, expected=unit))
    if acknowledge_first:
        answer_task(task.short_ref, TaskState.acknowledged, actor=officer, unit_code=unit)
    result = answer_task(task.short_ref, TaskState.completed, actor=officer, unit_code=unit, outcome=outcome)
    say_answered(unit, task.title, result.resume)
    return result.resume


def say_answered(unit_code: str, step_title: str, resume: str) -> None:
    """Print ``  <unit name> 已答复“<step>”（路径已继续）``: the unit by name, never its code; what became of the
    answer by its ``cli.demo.out.resume.<resume>`` text (:data:`careflow.answers.RESUME_TEXT` when it has none)."""
    with session_scope() as session:
        unit = session.get(AgencyUnit, unit_code)
        name = unit.name if unit else unit_code
    key = f"cli.demo.out.resume.{resume or 'stored'}"
    what = tr(key) if has_message(key) else RESUME_TEXT.get(resume, resume)
    typer.echo(tr("cli.demo.out.answered", unit=name, step=step_title, what=what))


def say_opened(is_migrant: bool, reference: str, pathway: str) -> None:
    """Print what the caseworker did: the child registered (and whether a migrant child), the case opened and the
    pathway started, by the pathway's Chinese title."""
    typer.echo(tr("cli.demo.out.opened_migrant" if is_migrant else "cli.demo.out.opened_not_migrant",
                  reference=reference, pathway=pathway_title(pathway)))


def problem(what: str, **values) -> str:
    """What a demo's check found wrong, in the command line's language (``cli.demo.check.<what>``); a task state,
    pathway status or case status among ``values`` (``state=``, ``status=``, ``case=``) is read by its label."""
    lang = cli_language()
    for name, kind in (("state", "state"), ("status", "pathway.status"), ("case", "case.status")):
        if name in values:
            values[name] = label(values[name], kind, lang)
    return tr(f"cli.demo.check.{what}", **values)


def pathway_title(pathway: str) -> str:
    """A pathway's title in the command line's language (its key when the policy has no such pathway)."""
    definition = load_policy().pathways.get(pathway)
    if definition is None:
        return pathway
    return definition.title_en if cli_language() == "en" else definition.title_zh


def say_flow_run(flow_run_id) -> None:
    """Print where the pathway's flow run is watched: the Prefect UI (``CAREFLOW_PREFECT_UI_URL``; an admin's
    tool, not the web app's public URL)."""
    typer.echo(tr("cli.demo.out.flow_run", url=f"{get_settings().resolved_prefect_ui_url}/runs/flow-run/{flow_run_id}"))


def wait_for_end(pathway_run_id: uuid.UUID, timeout: float = 120) -> PathwayRun:
    """The pathway run once it is no longer starting or running (TimeoutError after ``timeout`` seconds), and once
    the messages its case's flows queued have left the send loop (:mod:`notifications.send_loop`; a flow stores its
    messages, the runner sends them a moment later), or ``timeout`` has passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope() as session:
            run = session.get(PathwayRun, pathway_run_id)
        if run.status not in (PathwayStatus.starting, PathwayStatus.running):
            wait_for_queued_messages(run.case_id, deadline)
            return run
        time.sleep(0.3)
    raise TimeoutError(tr("cli.demo.out.not_finished", run=pathway_run_id, seconds=round(timeout)))


def wait_for_queued_messages(case_id: uuid.UUID, deadline: float) -> bool:
    """Whether, before ``deadline`` (``time.monotonic()``), no message a flow queued on the case (``send_now``) is
    still waiting for a send loop."""
    while time.monotonic() < deadline:
        with session_scope() as session:
            waiting = session.exec(select(Notification.id).where(
                Notification.case_id == case_id, Notification.send_now,
                Notification.status.in_([DeliveryStatus.pending, DeliveryStatus.sending])).limit(1)).first()
        if waiting is None:
            return True
        time.sleep(0.2)
    return False


#: The county manager who reviews a demo closure (``web/demo_accounts.py``: 城厢区民政局).
COUNTY_MANAGER = "manager.chengxiang"


def close_as_caseworker(reference: str, caseworker: str, reason: str, *, manager: str = COUNTY_MANAGER) -> str:
    """The caseworker decides to close the finished case with ``reason`` (a pathway's end closes nothing; issue 12,
    :mod:`careflow.closing`). When the county manager must review the closure (the child in temporary
    guardianship, or at high risk) the caseworker's close is a request and ``manager`` approves it. Prints what
    happened; returns ``"closed"`` or ``"approved"``."""
    with session_scope() as session:
        case = session.exec(select(Case).where(Case.reference == reference)).one()
        review = review_reasons(session, case.id)
        done = decide_close(session, case, actor=caseworker, reason=reason)
        if done == "requested":
            approve_close(session, case, actor=manager, note="同意结案")
    typer.echo(tr("cli.demo.out.close_decided", reason=reason))
    if done == "requested":
        typer.echo(tr("cli.demo.out.close_approved", reasons="；".join(review)))
        return "approved"
    return "closed"
