"""``careflow demo``: drive a complete case of a pathway on realistic data, answering as each agency.

Each pathway's demo is a module here with ``drive() -> str`` (returns the case reference) and
``check(reference) -> list[str]`` (what is wrong with the finished case, as the policy says it should go).
A demo module is imported only when it runs: each loads the database layer and Prefect (3 to 6 s), like the
``# start-up`` imports of :func:`run_demo`, which ``careflow --help`` does not need.
"""
from __future__ import annotations

import importlib

import typer

from core.i18n import gettext, normalise_language
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

    The printed timeline, errors and closing lines are in ``lang`` (Chinese by default, ``en`` on request); the
    lines printed while the case is driven are in the command line's language (``CAREFLOW_LANG``)."""
    from careflow.timeline import case_timeline, format_timeline  # start-up: sqlmodel
    from core.db import session_scope  # start-up: sqlmodel

    lang = normalise_language(lang)
    if pathway not in DEMOS:
        typer.echo(gettext("cli.out.error", lang, message=gettext("cli.demo.out.unknown", lang, pathway=pathway,
                                                                    available=", ".join(DEMOS))), err=True)
        return 2
    demo = importlib.import_module(DEMOS[pathway])
    ensure_home()
    with LocalStack() as stack:
        if stack.started:
            typer.echo(gettext("cli.demo.out.started", lang,
                               services=("、" if lang == "zh" else ", ").join(
                                   gettext(f"cli.stack.name.{name}", lang) for name in stack.started)))
        reference = demo.drive()
        with session_scope() as session:
            timeline = case_timeline(session, reference, actor=demo.CASEWORKER)
        typer.echo("\n" + format_timeline(timeline, lang))
        problems = demo.check(reference)
    if problems:
        typer.secho(gettext("cli.demo.out.failed", lang) + "\n  " + "\n  ".join(problems), fg="red", err=True)
        return 1
    typer.echo("\n" + gettext("cli.demo.out.closed", lang, reference=reference,
                                status=timeline.outcome(-1, lang)))
    typer.echo(gettext("cli.demo.out.mailbox", lang, folder=get_settings().mailbox_dir))
    return 0
