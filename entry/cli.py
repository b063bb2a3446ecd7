"""The ``careflow`` command: the top-level commands (:mod:`entry.run_cli`) and one group per module —
``child`` (:mod:`entry.child_cli`), ``case``, ``pathway``, ``task``, ``web``, ``policy``, ``notify``, ``survey`` and
``calendar`` (each ``entry.<group>_cli``).

Errors in what a user typed exit with code 2 and a message naming the field and the value
(:mod:`entry.user_input`). Every text a user reads is Chinese, English when ``CAREFLOW_LANG=en``
(:func:`core.i18n.cli_text`, keys ``cli.*`` of the catalogues; typer's own words: :mod:`entry.typer_words`).
``careflow --help`` loads typer and the settings only: the database layer and Prefect load when a command that
needs them runs (the ``# start-up`` imports of each module).
"""
from __future__ import annotations

from core.prefect_env import configure_prefect_env

configure_prefect_env()  # before anything imports prefect

import re  # noqa: E402
import sys  # noqa: E402

import typer  # noqa: E402

from core.i18n import cli_language, cli_text as tr  # noqa: E402
from core.settings import get_settings  # noqa: E402
from entry.calendar_cli import calendar_app  # noqa: E402
from entry.case_cli import case_app  # noqa: E402
from entry.child_cli import child_app  # noqa: E402
from entry.notice_cli import notice_app  # noqa: E402
from entry.notify_cli import notify_app  # noqa: E402
from entry.pathway_cli import pathway_app  # noqa: E402
from entry.policy_cli import policy_app  # noqa: E402
from entry.run_cli import run_app  # noqa: E402
from entry.survey_cli import survey_app  # noqa: E402
from entry.task_cli import task_app  # noqa: E402
from entry.typer_words import use_our_words  # noqa: E402
from entry.web_cli import web_app  # noqa: E402
from models.errors import error_text  # noqa: E402

use_our_words()  # typer's own words (选项, 用法 …) in the reader's language
app = typer.Typer(help=tr("cli.app.help"), no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(run_app)  # init, serve, deploy, worker, up, demo, sweep, mailbox: top-level commands
app.add_typer(child_app, name="child")
app.add_typer(case_app, name="case")
app.add_typer(pathway_app, name="pathway")
app.add_typer(task_app, name="task")
app.add_typer(web_app, name="web")
app.add_typer(policy_app, name="policy")
app.add_typer(notify_app, name="notify")
app.add_typer(survey_app, name="survey")  # the monitoring survey, 方案 一
app.add_typer(notice_app, name="notice")  # the police's misconduct notice and the joint meeting, 方案 十一
app.add_typer(calendar_app, name="calendar")  # holiday arrangements, DOMAIN.md §6


def main() -> None:
    """The ``careflow`` command. A database that was never set up, or a malformed policy file (a command that reads
    the policy: the operator who edited it reads each problem — file, entry, field, value — in their language), gets
    one clear line instead of a traceback."""
    try:
        app()
    except Exception as exc:
        if _is_policy_error(exc):
            typer.secho(tr("cli.out.error", message=error_text(exc, cli_language())), fg=typer.colors.RED, err=True)
            sys.exit(2)
        table = _missing_table(exc)
        if table is None:
            raise
        from sqlalchemy.engine import make_url  # start-up: sqlalchemy (0.7 s), already loaded by the failed command

        url = make_url(get_settings().resolved_database_url).render_as_string(hide_password=True)
        typer.secho(tr("cli.out.error", message=tr("cli.out.no_database", url=url, table=table)),
                    fg=typer.colors.RED, err=True)
        sys.exit(2)


def _is_policy_error(exc: Exception) -> bool:
    """Whether ``exc`` is a :class:`models.policy_files.PolicyError` (only a command that loaded the policy's models
    can raise one: they are not imported to check)."""
    policy_files = sys.modules.get("models.policy_files")
    return policy_files is not None and isinstance(exc, policy_files.PolicyError)


def _missing_table(exc: Exception) -> str | None:
    """The table a database error says is missing (SQLite's ``no such table``, PostgreSQL's undefined_table,
    42P01; ``"?"`` when PostgreSQL does not name it), or None when ``exc`` is no such error.

    An error of sqlalchemy's can only come from a command that loaded sqlalchemy: it is not imported to check."""
    errors = sys.modules.get("sqlalchemy.exc")
    if errors is None or not isinstance(exc, (errors.OperationalError, errors.ProgrammingError)):
        return None
    text = str(exc.orig)
    if getattr(exc.orig, "sqlstate", None) != "42P01" and "no such table" not in text:
        return None
    found = re.search(r'no such table: (\w+)|relation "([^"]+)" does not exist', text)
    return (found.group(1) or found.group(2)) if found else "?"


if __name__ == "__main__":
    main()
