"""The actors of ``benchmarks.recovery`` around its pathways: the runner it kills and starts again, the agencies
that answer every task, and the sweeper thread that restarts what died.

Imported only once ``benchmarks.recovery`` has set up its private home, ports and database (Prefect reads its
settings as it loads). Times are ``time.monotonic()`` seconds.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import sys
import threading
import time
import uuid
from datetime import date

from sqlmodel import select

from careflow.answers import answer_task
from careflow.cases import create_pathway_run, open_case
from careflow.reconcile import reconcile
from careflow.registration import register_child
from careflow.resume import start_pathway_flow
from core.db import session_scope
from core.settings import get_settings
from entry.stack import LocalStack
from models.task import AgencyTask, TaskState
from notifications.dispatcher import dispatch_due
from tests.factories import make_resident_id

#: How each agency answers its step of the guardianship pathway (committee → police → assessment, nothing more).
ANSWERS = {
    "committee_admonition": {"serious": "yes", "child_in_danger": "no"},
    "police_reprimand": {"reprimanded": "yes", "family_education_ordered": "no", "child_unsafe": "no"},
    "guardianship_assessment": {"guardianship_missing_or_unsafe": "no", "long_term_guardianship_needed": "no"},
}


class Runner:
    """The runner process (``careflow serve``), armed with a fault point or not."""

    def __init__(self):
        self.stack = None

    def start(self) -> float:
        """Start the runner, unarmed (its flow runs read ``faults/armed``: :meth:`arm`); returns when it serves."""
        shutil.rmtree(get_settings().home / "faults", ignore_errors=True)
        os.environ["CAREFLOW_FAULT_POINT"] = "file"
        try:
            self.stack = LocalStack(with_sink=False, with_server=False, serve="always").start()
        finally:
            os.environ.pop("CAREFLOW_FAULT_POINT", None)
        return time.monotonic()

    @staticmethod
    def arm(fault: str) -> None:
        """From now on, the runner's flow runs kill it at ``fault`` (``<point>:<n>``)."""
        folder = get_settings().home / "faults"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "armed").write_text(fault)

    @property
    def process(self):
        return self.stack._processes[0][1]

    def stop(self) -> None:
        if self.stack:
            self.stack.stop()


class Agencies(threading.Thread):
    """Answers every requested task of the benchmark's pathway runs, as the agencies would (once each)."""

    def __init__(self, run_ids):
        super().__init__(daemon=True)
        self.run_ids, self.stop = set(run_ids), threading.Event()
        self.answered: dict[uuid.UUID, float] = {}

    def run(self) -> None:
        while not self.stop.is_set():
            with session_scope() as session:
                todo = [(t.id, t.short_ref, t.unit_code, t.step_key) for t in session.exec(
                    select(AgencyTask).where(AgencyTask.state == TaskState.requested)).all()
                    if t.pathway_run_id in self.run_ids and t.id not in self.answered]
            for task_id, ref, unit, step in todo:
                try:
                    answer_task(ref, TaskState.completed, actor="压测 办理人", unit_code=unit, outcome=ANSWERS[step],
                                resume_wait_seconds=1.0)
                except Exception as exc:  # noqa: BLE001 -- reported, and the task stays to be answered again
                    print(f"  answer {ref} failed: {exc}", file=sys.stderr)
                    continue
                self.answered[task_id] = time.monotonic()
            self.stop.wait(0.5)


class Sweeper(threading.Thread):
    """Calls the sweeper's reconcile and dispatch every ``interval`` seconds, as the scheduled sweeper does."""

    def __init__(self, interval: float):
        super().__init__(daemon=True)
        self.interval, self.stop = interval, threading.Event()
        self.restarted = 0

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                counts = asyncio.run(reconcile(max_restarts=100))
                self.restarted += counts["restarted"]
                dispatch_due()
            except Exception as exc:  # noqa: BLE001 -- the server may be restarting
                print(f"  sweep failed: {exc}", file=sys.stderr)


def start_pathways(n: int) -> list[uuid.UUID]:
    """Register ``n`` children, open a case on each and start its guardianship pathway; returns the pathway run ids."""
    run_ids = []
    for i in range(n):
        with session_scope() as session:
            reg = register_child(session, resident_id=make_resident_id(), full_name=f"压测{i:03d}",
                                 hukou_county="511321", residence_county="350302",
                                 residence_area_code="350302001001", arrival_date=date(2023, 8, 20), actor="bench")
            case = open_case(session, child_id=reg.child.id, caseworker="bench.caseworker")
            run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="bench")
            run_ids.append(run.id)

    async def start_all():
        await asyncio.gather(*(start_pathway_flow(run_id) for run_id in run_ids))

    asyncio.run(start_all())
    return run_ids
