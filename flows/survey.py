"""Prefect flows of the monitoring survey (监测摸排, 方案 一): the import and three scheduled flows.

* ``survey-import`` — imports one county's survey file into a round (:func:`careflow.survey.importer.import_survey`)
  with a progress artifact (updated after every chunk) and a table artifact of the rejected rows (line, field,
  column, value — ID numbers masked — and why; the first :data:`ARTIFACT_ROWS`, all of them are in the
  ``survey_row_error`` table). Returns the counts.
* ``survey-round-reminder`` — 20 March and 20 September 09:00 (Asia/Shanghai): every county is reminded of the
  coming round and its deadline (:func:`careflow.survey.scheduled.send_round_reminders`).
* ``survey-age-out-check`` — daily 01:30: children who are 16 leave the migrant-child definition; cases and files
  are closed with that reason (:func:`careflow.survey.scheduled.age_out_check`).
* ``survey-weekly-duties`` — Mondays 08:00: each child director's unit gets the contacts and visits due this week
  (:func:`careflow.survey.scheduled.weekly_duty_lists`).

Messages are stored in the outbox; the sweeper sends them. :func:`survey_deployments` is what ``flows/serve.py``
serves.
"""
from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.schedules import Cron

from careflow.survey.scheduled import (
    AGE_OUT_CRON, REMINDER_CRON, WEEKLY_CRON, age_out_check, send_round_reminders, weekly_duty_lists,
)
from core.db import session_scope
from models.resident_id import mask_resident_id

#: Rejected rows shown in the flow run's table artifact.
ARTIFACT_ROWS = 1000


def _artifact_key(*parts: str) -> str:
    """An artifact key Prefect accepts (lower-case letters, digits and dashes)."""
    text = "-".join(parts).lower()
    return "".join(c if c.isalnum() and c.isascii() else "-" for c in text).strip("-")[:100]


@flow(name="survey-import", log_prints=True)
def survey_import(path: str, county: str, round_label: str, actor: str = "survey-import") -> dict:
    """Import a county's survey file into a round; returns ``{"import_id", "counts", "errors_total", ...}``.

    Raises what :func:`careflow.survey.importer.import_survey` raises (the run fails; nothing was imported).
    """
    # The survey file's reader and importer would be start-up cost for `careflow serve` and the scheduled survey
    # flows, which never read a file (start-up).
    from careflow.survey.importer import import_survey

    logger = get_run_logger()
    key = _artifact_key("survey-import", county, round_label)
    progress_id = create_progress_artifact(progress=0.0, key=key,
                                           description=f"survey {county} {round_label}: starting")

    def progress(rows: int, fraction: float) -> None:
        update_progress_artifact(progress_id, progress=round(fraction * 100, 1),
                                 description=f"survey {county} {round_label}: {rows} rows read")

    report = import_survey(path, county=county, round_label=round_label, actor=actor, progress=progress)
    table = [
        {"line": e.line, "field": e.field, "column": e.column,
         "value": mask_resident_id(e.value) if e.field == "resident_id" else e.value, "code": e.code,
         "message": e.message}
        for e in report.errors[:ARTIFACT_ROWS]
    ]
    create_table_artifact(
        table=table or [{"line": "", "field": "", "column": "", "value": "", "code": "", "message": "no errors"}],
        key=_artifact_key("survey-import-errors", county, round_label),
        description=(f"{report.errors_total} problem(s) on {report.counts['invalid']} rejected row(s) of "
                     f"{report.file_name}" + (f"; the first {ARTIFACT_ROWS} shown" if report.errors_total > ARTIFACT_ROWS
                                               else "")))
    logger.info(report.summary())
    return {"import_id": report.import_id, "round_id": report.round_id, "counts": report.counts,
            "errors_total": report.errors_total, "files": report.files, "duties": report.duties,
            "moves": len(report.relocations), "seconds": round(report.seconds, 2)}


@flow(name="survey-round-reminder", log_prints=True)
def survey_round_reminder(label: str | None = None) -> dict:
    """Remind every county of the coming round (``label`` defaults to the round in progress or next)."""
    with session_scope() as session:
        result = send_round_reminders(session, label=label)
    get_run_logger().info("round %s: %d counties reminded, %d round duties opened (deadline %s)", result.label,
                          len(result.reminded), len(result.duties), result.deadline)
    return {"round": result.label, "deadline": result.deadline.isoformat(), "reminded": len(result.reminded),
            "duties": len(result.duties)}


@flow(name="survey-age-out-check", log_prints=True)
def survey_age_out_check() -> dict:
    """Close the cases and files of children who are 16 today."""
    with session_scope() as session:
        result = age_out_check(session)
    get_run_logger().info("%d children aged out: %d cases and %d files closed", result.children,
                          len(result.cases_closed), len(result.files_closed))
    return {"children": result.children, "cases_closed": result.cases_closed, "files_closed": result.files_closed,
            "duties_cancelled": result.duties_cancelled}


@flow(name="survey-weekly-duties", log_prints=True)
def survey_weekly_duties() -> dict:
    """Make sure this month's duties exist and send each unit its contacts and visits due this week."""
    with session_scope() as session:
        result = weekly_duty_lists(session)
    get_run_logger().info("%d duties created; lists sent to %d units", result.duties_created, len(result.units))
    return {"duties_created": result.duties_created, "units": result.units, "unrouted": result.unrouted}


def survey_deployments(timezone: str) -> list:
    """The survey's deployments for ``flows/serve.py``: the import (run on demand) and the three schedules
    (cron in ``timezone``, Asia/Shanghai by default; the times are in :mod:`careflow.survey.scheduled`)."""
    return [
        survey_import.to_deployment(name="survey-import", tags=["survey"]),
        survey_round_reminder.to_deployment(name="survey-round-reminder", tags=["survey"],
                                            schedule=Cron(REMINDER_CRON, timezone=timezone)),
        survey_age_out_check.to_deployment(name="survey-age-out-check", tags=["survey"],
                                           schedule=Cron(AGE_OUT_CRON, timezone=timezone)),
        survey_weekly_duties.to_deployment(name="survey-weekly-duties", tags=["survey"],
                                           schedule=Cron(WEEKLY_CRON, timezone=timezone)),
    ]
