"""What a user typed on the command line: ``name=value`` pairs parsed, and how a command ends when the input is wrong.

A mistake in what was typed (a bad date, an unknown unit, a malformed pair) exits with code 2 and one red line
``error: …`` naming the field and the value; a well-formed request the state refused (someone else answered the task
first, the pathway is already open on the case) exits with code 1. Both go to stderr.
"""
from __future__ import annotations

from typing import NoReturn

import typer

#: The errors careflow's layers raise for what a user typed (a wrong field, an unknown reference): exit 2.
USER_ERRORS = (ValueError, LookupError)


def fail(exc: Exception) -> NoReturn:
    """Exit 2 with the message: what the user typed is wrong."""
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def refused(exc: Exception) -> NoReturn:
    """Exit 1 with the message: the request was well formed but the state refused it (someone else answered
    the task first, the pathway is already open on the case) — not a typing mistake (exit 2)."""
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def parse_pairs(pairs: list[str] | None, field: str) -> dict:
    """``["a=1", "b=x"]`` → ``{"a": "1", "b": "x"}``; ValueError naming ``field`` and the bad pair."""
    parsed = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"field {field!r}: {pair!r} is not name=value")
        name, value = pair.split("=", 1)
        parsed[name.strip()] = value.strip()
    return parsed
