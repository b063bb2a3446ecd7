"""Typer's own words in the reader's language: the help panels' titles (选项, 命令, 参数), ``Usage:`` (用法),
``--help``'s and the completion options' help, ``[default: …]``, ``[required]``, the error panel and its hint, and
the typing errors (a missing option or argument, an unknown option or command, an option without its value or a
flag given one, extra arguments, an invalid value). Why a value is invalid is pydantic's check in typer (``Input
should be a valid integer``): it is worded by its type (``cli.typer.value.<type>``: 'x' 不是整数); a reason no
catalogue names stays pydantic's, and a usage error no pattern of :data:`USAGE_ERRORS` knows stays click's.

typer writes these in English in its own code, so they are set here once, when :mod:`entry.cli` loads, from the
catalogues (``cli.typer.*``, :func:`core.i18n.cli_text`). Chinese help without spaces would be cut with ``…`` in
a help table's narrow column (rich breaks lines at spaces only): help text folds at the column's width instead.
"""
from __future__ import annotations

import functools
import re

import typer.main
import typer.rich_utils as rich_utils
from typer import _click

from core.i18n import cli_language, cli_text as tr, has_message

_PANEL_WORDS = {"ARGUMENTS_PANEL_TITLE": "arguments", "OPTIONS_PANEL_TITLE": "options",
                "COMMANDS_PANEL_TITLE": "commands", "ERRORS_PANEL_TITLE": "error", "ABORTED_TEXT": "aborted",
                "DEFAULT_STRING": "default", "REQUIRED_LONG_STRING": "required", "RICH_HELP": "try_help",
                "ENVVAR_STRING": "envvar", "DEPRECATED_STRING": "deprecated"}


def use_our_words() -> None:
    """Put careflow's words into typer (once per process; calling it again changes nothing)."""
    if getattr(rich_utils, "_careflow_words", False):
        return
    rich_utils._careflow_words = True
    for constant, key in _PANEL_WORDS.items():
        setattr(rich_utils, constant, tr(f"cli.typer.{key}"))
    rich_utils._make_rich_text = _folding(rich_utils._make_rich_text)
    _click.core.Command.get_help_option = _with_help_text(_click.core.Command.get_help_option)
    _click.core.Command.get_usage = _with_usage_prefix(_click.core.Command.get_usage)
    _click.core.Context.get_usage = _with_usage_prefix(_click.core.Context.get_usage)
    typer.main.get_install_completion_arguments = _completion_help(typer.main.get_install_completion_arguments)
    errors = _click.exceptions
    errors.MissingParameter.format_message = _missing
    errors.BadParameter.format_message = _invalid
    errors.NoSuchOption.format_message = _no_such_option
    errors.UsageError.format_message = _usage  # the rest: BadOptionUsage, BadArgumentUsage, ctx.fail's


def _folding(make_text):
    @functools.wraps(make_text)
    def make(**kwargs):
        text = make_text(**kwargs)
        if hasattr(text, "overflow"):
            text.overflow = "fold"
        return text
    return make


def _with_help_text(get_help_option):
    @functools.wraps(get_help_option)
    def get(self, ctx):
        option = get_help_option(self, ctx)
        if option is not None:
            option.help = tr("cli.typer.help_option")
        return option
    return get


def _with_usage_prefix(get_usage):
    @functools.wraps(get_usage)
    def get(self, *args):
        usage = get_usage(self, *args)
        return tr("cli.typer.usage") + usage[len("Usage: "):] if usage.startswith("Usage: ") else usage
    return get


def _completion_help(get_arguments):
    @functools.wraps(get_arguments)
    def get():
        install, show = get_arguments()
        install.help, show.help = tr("cli.typer.install_completion"), tr("cli.typer.show_completion")
        return install, show
    return get


def _hint(error) -> str:
    hint = error.param_hint if error.param_hint is not None else \
        error.param.get_error_hint() if error.param is not None else ""
    return _click.exceptions._join_param_hints(hint) or ""


def _missing(self) -> str:
    """``缺少选项 '--unit'。``"""
    kind = self.param_type or (self.param.param_type_name if self.param is not None else "parameter")
    return tr(f"cli.typer.missing_{kind}" if kind in ("option", "argument") else "cli.typer.missing_parameter",
              hint=_hint(self))


def _invalid(self) -> str:
    """``'--limit' 的值无效：'x' 不是整数``"""
    hint, message = _hint(self), _reason(self)
    return tr("cli.typer.invalid_for", hint=hint, message=message) if hint else \
        tr("cli.typer.invalid", message=message)


def _reason(error) -> str:
    """Why a value is invalid: pydantic's check that typer raised it from (``cli.typer.value.<type>``, e.g.
    ``greater_than_equal``: 0 小于最小值 1), else the error's own message."""
    cause = error.__cause__
    problems = cause.errors() if type(cause).__name__ == "ValidationError" and callable(getattr(cause, "errors", None)) \
        else []
    if not problems or not has_message(f"cli.typer.value.{problems[0]['type']}", cli_language()):
        return error.message
    first = problems[0]
    values = {k: v for k, v in (first.get("ctx") or {}).items() if isinstance(v, (str, int, float))}
    return tr(f"cli.typer.value.{first['type']}", input=first.get("input", ""), **values)


def _no_such_option(self) -> str:
    """``没有选项 --unitt（可能是：--unit）``"""
    text = tr("cli.typer.no_such_option", name=self.option_name)
    return text + tr("cli.typer.possible", options=", ".join(sorted(self.possibilities))) if self.possibilities \
        else text


#: click's and typer's other usage errors, by their English text → catalogue key ``cli.typer.<key>`` (the pattern's
#: groups its values). typer adds `` Did you mean 'open'?`` to an unknown command (``cli.typer.did_you_mean``).
USAGE_ERRORS = [
    (re.compile(r"No such command '(?P<name>.*)'\.(?: Did you mean (?P<matches>.*)\?)?", re.S), "no_such_command"),
    (re.compile(r"Option '(?P<name>[^']*)' requires an argument\."), "option_needs_value"),
    (re.compile(r"Option '(?P<name>[^']*)' requires (?P<n>\d+) arguments\."), "option_needs_values"),
    (re.compile(r"Option '(?P<name>[^']*)' does not take a value\."), "option_takes_no_value"),
    (re.compile(r"Argument '(?P<name>[^']*)' takes (?P<n>\d+) values\."), "argument_needs_values"),
    (re.compile(r"Got unexpected extra argument(?:s|\(s\))? \((?P<args>.*)\)", re.S), "extra_arguments"),
    (re.compile(r"Missing command\."), "missing_command"),
]


def _usage(self) -> str:
    """``没有命令 'opn'。您是不是要输入 'open'？``: a usage error of :data:`USAGE_ERRORS` in the reader's words."""
    for pattern, key in USAGE_ERRORS:
        found = pattern.fullmatch(self.message)
        if found:
            values = {k: v for k, v in found.groupdict().items() if k != "matches"}
            matches = found.group("matches") if "matches" in pattern.groupindex else None
            return tr(f"cli.typer.{key}", **values) + (tr("cli.typer.did_you_mean", options=matches)
                                                        if matches else "")
    return self.message
