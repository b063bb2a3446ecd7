"""What a user typed on the command line: ``name=value`` pairs parsed, and how a command ends when the input is wrong.

A mistake in what was typed (a bad date, an unknown unit, a malformed pair) exits with code 2 and one red line
``错误：…`` (``error: …`` with ``CAREFLOW_LANG=en``) naming the field and the value; a well-formed request the
state refused (someone else answered the task first, the pathway is already open on the case) exits with code 1.
Both go to stderr. :func:`counts_text` words the figures a command reports.
"""
from __future__ import annotations

from typing import NoReturn

import typer

from core.i18n import cli_language, cli_text as tr, has_message, label
from models.errors import error_text

#: The errors careflow's layers raise for what a user typed (a wrong field, an unknown reference): exit 2.
USER_ERRORS = (ValueError, LookupError)


def fail(exc: Exception) -> NoReturn:
    """Exit 2 with the message: what the user typed is wrong."""
    typer.secho(tr("cli.out.error", message=error_text(exc, cli_language())), fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def refused(exc: Exception) -> NoReturn:
    """Exit 1 with the message: the request was well formed but the state refused it (someone else answered
    the task first, the pathway is already open on the case) — not a typing mistake (exit 2)."""
    typer.secho(tr("cli.out.error", message=error_text(exc, cli_language())), fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def parse_pairs(pairs: list[str] | None, field: str) -> dict:
    """``["a=1", "b=x"]`` → ``{"a": "1", "b": "x"}``; ValueError naming ``field`` and the bad pair."""
    parsed = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(tr("cli.out.not_name_value", field=field, pair=pair))
        name, value = pair.split("=", 1)
        parsed[name.strip()] = value.strip()
    return parsed


def not_a_date(field: str, value: str) -> ValueError:
    """The error of a date typed wrong: ``字段 'on'：'2023/13/01' 不是日期（格式为 YYYY-MM-DD）``."""
    return ValueError(tr("cli.out.not_a_date", field=field, value=value))


def counts_text(figures: dict, kind: str = "") -> str:
    """Figures a command reports (``{"sent": 1, "failed": 0}``) as one line in the reader's language: each name by
    its ``cli.count.<kind>.<name>`` label, else ``cli.count.<name>`` (the name itself when it has neither),
    booleans read 是/否; ``无`` when empty. ``kind`` tells what was counted where a name means different things
    (a pathway's ``pending`` waits to be resumed, a message's is held back by a rate limit)."""
    if not figures:
        return tr("cli.count.none")
    return tr("cli.count.sep").join(f"{_count_name(name, kind)} "
                                    f"{label(value, lang=cli_language()) if isinstance(value, bool) else value}"
                                    for name, value in figures.items())


def _count_name(name: str, kind: str) -> str:
    for key in (f"cli.count.{kind}.{name}", f"cli.count.{name}"):
        if has_message(key):
            return tr(key)
    return name
