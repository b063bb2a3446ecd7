"""``careflow demo``: drive a complete case of a pathway on realistic data, answering as each agency.

Each pathway's demo is a module here with ``drive() -> str`` (returns the case reference) and
``check(reference) -> list[str]`` (what is wrong with the finished case, as the policy says it should go).
A demo module is imported only when it runs: each loads the database layer and Prefect (3 to 6 s), like the
``# start-up`` imports of :func:`run_demo`, which ``careflow --help`` does not need.
"""
from __future__ import annotations

import importlib

import typer

from core.settings import get_settings
from entry.stack import LocalStack, ensure_home

#: pathway key → module under entry.demos
DEMOS = {
    "guardianship": "entry.demos.guardianship",
    "psychological_screening": "entry.demos.psychological_screening",
    "temporary_assistance": "entry.demos.temporary_assistance",
    "service_referral": "entry.demos.service_referral",
}


def run_demo(pathway: str = "guardianship", lang: str = "zh") -> int:
    """Run the demo of ``pathway`` on the local stack (started here if needed); returns the exit code.

    The printed timeline and closing lines are in ``lang`` (Chinese by default, ``en`` on request)."""
    from careflow.timeline import case_timeline, format_timeline  # start-up: sqlmodel
    from core.db import session_scope  # start-up: sqlmodel

    if pathway not in DEMOS:
        typer.echo(f"error: no demo for pathway {pathway!r}; available: {', '.join(DEMOS)}", err=True)
        return 2
    demo = importlib.import_module(DEMOS[pathway])
    ensure_home()
    with LocalStack() as stack:
        if stack.started:
            typer.echo(f"started for the demo: {', '.join(stack.started)}" if lang == "en"
                       else f"为演示启动：{'、'.join(stack.started)}")
        reference = demo.drive()
        with session_scope() as session:
            timeline = case_timeline(session, reference, actor=demo.CASEWORKER)
        typer.echo("\n" + format_timeline(timeline, lang))
        problems = demo.check(reference)
    if problems:
        typer.secho("the case did NOT end as the policy says:\n  " + "\n  ".join(problems), fg="red", err=True)
        return 1
    if lang == "en":
        typer.echo(f"\ncase {reference} closed as the policy says: {timeline.pathways[-1][2]}")
        typer.echo(f"messages delivered to {get_settings().mailbox_dir}")
    else:
        typer.echo(f"\n个案 {reference} 已按政策办结：{timeline.pathways[-1][2]}")
        typer.echo(f"通知已投递到 {get_settings().mailbox_dir}")
    return 0
