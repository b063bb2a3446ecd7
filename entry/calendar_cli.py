"""``careflow calendar …``: load the State Council's yearly holiday arrangement (节假日安排) and see what is loaded.

Errors in the file exit with code 2 and a message naming the field and the value (Chinese, English with
``CAREFLOW_LANG=en``); nothing is written.
Imports inside a command are marked ``# start-up``: they load the database layer (sqlmodel, about 1 s), which
``careflow --help`` does not need.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.i18n import cli_language, cli_text as tr
from models.errors import error_text

calendar_app = typer.Typer(help=tr("cli.calendar.help"), no_args_is_help=True)


@calendar_app.command("load", help=tr("cli.calendar.load.help"))
def load_cmd(
    file: Annotated[Path, typer.Argument(help=tr("cli.calendar.load.arg.file"))],
    actor: Annotated[str, typer.Option("--as", help=tr("cli.opt.as_loader"))] = "admin",
) -> None:
    """Record a year's official arrangement, recompute every open provisional deadline it settles, and tell the
    units and caseworkers whose deadline moved (messages go out with the next sweep). Loading the same file again
    changes nothing and tells nobody."""
    from careflow.holidays import load_arrangement_file  # start-up: sqlmodel
    from models.holidays import ArrangementError  # start-up: sqlmodel

    try:
        result = load_arrangement_file(file, actor=actor)
    except (ArrangementError, LookupError) as exc:
        typer.secho(tr("cli.out.error", message=error_text(exc, cli_language())), fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    except (OSError, UnicodeDecodeError) as exc:
        why = tr("cli.calendar.load.out.not_utf8") if isinstance(exc, UnicodeDecodeError) else \
            tr("cli.calendar.load.out.no_file") if isinstance(exc, FileNotFoundError) else (exc.strerror or str(exc))
        typer.secho(tr("cli.out.error", message=tr("cli.calendar.load.out.unreadable", file=file, why=why)),
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    a = result.arrangement
    typer.echo(tr("cli.calendar.load.out.stored" if result.stored else "cli.calendar.load.out.same", year=a.year,
                  source=a.source, holidays=len(a.holidays), working_days=len(a.working_days)))
    typer.echo(tr("cli.calendar.load.out.recomputed", examined=result.examined, moved=result.moved,
                  confirmed=result.confirmed, still=result.still_provisional)
               + (tr("cli.calendar.load.out.skipped", n=result.skipped) if result.skipped else ""))
    typer.echo(tr("cli.calendar.load.out.messages", n=result.messages))


@calendar_app.command("status", help=tr("cli.calendar.status.help"))
def status_cmd() -> None:
    """The years whose arrangement is stored, and whether next year's is still missing."""
    from core.db import session_scope  # start-up: sqlmodel
    from careflow.holiday_warning import missing_next_year  # start-up: sqlmodel
    from models.deadlines import format_local  # start-up: sqlmodel
    from models.holidays import HolidayArrangement  # start-up: sqlmodel
    from sqlmodel import select  # start-up: sqlmodel

    with session_scope() as session:
        rows = session.exec(select(HolidayArrangement).order_by(HolidayArrangement.year)).all()
        for row in rows:
            done = tr("cli.calendar.status.out.done" if row.recomputed_at else "cli.calendar.status.out.not_done")
            typer.echo(tr("cli.calendar.status.out.year", year=row.year, source=row.source,
                          at=format_local(row.loaded_at), by=row.loaded_by, done=done))
    if not rows:
        typer.echo(tr("cli.calendar.status.out.none"))
    missing = missing_next_year()
    if missing:
        typer.echo(tr("cli.calendar.status.out.missing", year=missing))
