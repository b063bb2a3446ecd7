"""Prefect flows of the data exchanges with departments (方案 一（三）加强部门信息数据共享), one deployment per department
and direction, on the schedules of ``policy/data_exchange.yaml`` (Asia/Shanghai):

* ``department-export`` — deployment ``exchange-export-<department>``: the department's list of each county written
  to its outbox (:func:`careflow.exchange.scheduled.export_lists`);
* ``department-answers`` — deployment ``exchange-answers-<department>``: every answer file of its inbox imported
  once, answers stored on the children, gaps proposed to the caseworker
  (:func:`careflow.exchange.scheduled.import_inbox`).

Both are idempotent: a rerun rewrites the same day's export, and imports no file twice. :func:`exchange_deployments`
is what ``flows/serve.py`` serves (and ``careflow deploy`` creates on the work pool).
"""
from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.schedules import Cron

from careflow.exchange.scheduled import export_lists, import_inbox
from models.data_exchange import load_exchange_policy

__all__ = ["department_answers", "department_export", "exchange_deployments"]


@flow(name="department-export", log_prints=True)
def department_export(department: str, outbox: str | None = None, actor: str = "careflow-exchange") -> dict:
    """Write ``department``'s list of each county into its outbox (``outbox`` overrides the policy's folder)."""
    run = export_lists(department, outbox=outbox, actor=actor)
    get_run_logger().info("%s: %d files written, %d children", department, len(run.files),
                          sum(rows for _, _, rows in run.files))
    return {"department": department, "files": [{"county": c, "path": str(p), "rows": n} for c, p, n in run.files]}


@flow(name="department-answers", log_prints=True)
def department_answers(department: str, inbox: str | None = None, actor: str = "careflow-exchange") -> dict:
    """Import every new answer file of ``department``'s inbox (``inbox`` overrides the policy's folder)."""
    run = import_inbox(department, inbox=inbox, actor=actor)
    files = [{"file": r.file_name, "already_imported": r.already_imported, "stored": r.updated,
              "unchanged": r.unchanged, "proposed": r.proposed, "problems": len(r.errors)} for r in run.reports]
    get_run_logger().info("%s: %d files read (%d new), %d refused", department, len(files),
                          sum(not f["already_imported"] for f in files), len(run.refused))
    return {"department": department, "files": files, "refused": [{"file": n, "reason": r} for n, r in run.refused]}


def exchange_deployments(timezone: str) -> list:
    """Two deployments per department of the policy (none when ``enabled: false``), each with the department as
    its parameter and its cron in ``timezone``, tagged ``exchange`` and ``department:<code>``."""
    policy = load_exchange_policy()
    if not policy.enabled:
        return []
    deployments = []
    for code, exchange in policy.departments.items():
        tags = ["exchange", f"department:{code}"]
        deployments.append(department_export.to_deployment(
            name=f"exchange-export-{code}", parameters={"department": code}, tags=tags,
            schedule=Cron(exchange.export, timezone=timezone)))
        deployments.append(department_answers.to_deployment(
            name=f"exchange-answers-{code}", parameters={"department": code}, tags=tags,
            schedule=Cron(exchange.answers, timezone=timezone)))
    return deployments
