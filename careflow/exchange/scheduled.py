"""What the scheduled exchange flows do (``flows/exchange.py``), as plain functions: each department's lists
written to its outbox, and every answer file in its inbox imported (方案 一（三）加强部门信息数据共享).

Where and when: ``policy/data_exchange.yaml`` (:class:`models.data_exchange.ExchangePolicy`): per department an
``export`` and an ``answers`` cron (Asia/Shanghai), the ``outbox`` and ``inbox`` folders (relative ones under
``CAREFLOW_HOME``) and the counties (none listed: every county with a child on the department's list).

* :func:`export_lists` — one file per county, ``<outbox>/<county>/<department>-<county>-<YYYYMMDD>.csv``; a rerun the
  same day writes the same file again (nothing else is kept of it but the audit ``survey.shared``).
* :func:`import_inbox` — every ``.csv`` and ``.xlsx`` file of the inbox (not its subfolders), oldest name first,
  each in its own transaction (:func:`careflow.exchange.answers.import_department_answers`): a file already
  imported (same bytes) is skipped, so a rerun, or two runs at once, import each answer once.
"""
from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from core.db import session_scope
from core.settings import get_settings
from models.errors import error_text
from careflow.exchange.answers import AnswerReport, import_department_answers
from careflow.survey.duty_calendar import today_local
from careflow.survey.sharing import department, export_for_department
from careflow.unreferred import migrant_sql
from models.child import Child
from models.data_exchange import load_exchange_policy
from models.key_care_files import FileStatus, KeyCareFile

__all__ = ["ExportRun", "ImportRun", "counties_for", "export_lists", "folder", "import_inbox"]

log = logging.getLogger(__name__)

#: Answer files read from an inbox.
ANSWER_SUFFIXES = (".csv", ".xlsx")


def folder(which: str, department_code: str) -> Path:
    """The ``outbox`` or ``inbox`` folder of ``department_code`` as the policy sets it (under ``CAREFLOW_HOME``)."""
    return load_exchange_policy().folder(which, department_code, get_settings().home)


def counties_for(session, department_code: str, today: datetime.date) -> list[str]:
    """The counties whose list goes to the department: the policy's ``counties``, or every county with a child on
    it (migrant children living there for the ``migrant`` scope, active key care files otherwise). One
    ``SELECT DISTINCT``."""
    listed = load_exchange_policy().counties
    if listed:
        return list(listed)
    if department(department_code).scope == "migrant":
        query = sa.select(Child.residence_county_code).where(migrant_sql(today)).distinct()
    else:
        query = (sa.select(KeyCareFile.county_code).where(KeyCareFile.status == FileStatus.active.value)
                 .distinct())
    return sorted(code for (code,) in session.execute(query).all())


@dataclass
class ExportRun:
    """The files written: ``(county, path, rows)`` each."""

    department: str
    files: list[tuple[str, Path, int]] = field(default_factory=list)


def export_lists(department_code: str, *, outbox: str | Path | None = None, today: datetime.date | None = None,
                 actor: str = "careflow-exchange") -> ExportRun:
    """Write the department's list of each county into ``outbox`` (default :func:`folder`), one county a
    transaction."""
    dept = department(department_code)
    today = today or today_local()
    outbox = Path(outbox) if outbox else folder("outbox", dept.code)
    run = ExportRun(department=dept.code)
    with session_scope() as session:
        counties = counties_for(session, dept.code, today)
    for county in counties:
        target = outbox / county
        target.mkdir(parents=True, exist_ok=True)
        path = target / f"{dept.code}-{county}-{today:%Y%m%d}.csv"
        with session_scope() as session:
            written = export_for_department(session, dept.code, county, path, actor=actor, today=today)
        run.files.append((county, path, written.rows))
    return run


@dataclass
class ImportRun:
    """Each answer file read and its report (``already_imported`` for a file seen before), and files refused
    (``(name, reason)``: no header, unreadable)."""

    department: str
    reports: list[AnswerReport] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


def import_inbox(department_code: str, *, inbox: str | Path | None = None,
                 actor: str = "careflow-exchange") -> ImportRun:
    """Import every answer file of the department's ``inbox`` (default :func:`folder`), each in its own
    transaction; a file that cannot be read is refused (logged, the others still imported)."""
    dept = department(department_code)
    inbox = Path(inbox) if inbox else folder("inbox", dept.code)
    run = ImportRun(department=dept.code)
    if not inbox.is_dir():
        return run
    for path in sorted(p for p in inbox.iterdir() if p.is_file() and p.suffix.lower() in ANSWER_SUFFIXES):
        try:
            with session_scope() as session:
                run.reports.append(import_department_answers(session, dept.code, path, actor=actor))
        except sa.exc.IntegrityError:  # imported meanwhile by another run: the unique key kept it once
            run.reports.append(AnswerReport(department=dept.code, file_name=path.name, already_imported=True))
        except (ValueError, OSError) as exc:
            log.warning("answer file %s of %s refused: %s", path.name, dept.code, exc)
            run.refused.append((path.name, error_text(exc, "zh")))  # the record's words: Chinese
    return run
