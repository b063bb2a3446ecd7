"""``careflow notify …``: where a unit's messages go, a test message to its channels, the printable referral letter
(转介单) of a task, and sending every due message now.

Channels come from ``CAREFLOW_CHANNELS_FILE`` (default ``CAREFLOW_HOME/channels.yaml``, written with the local mail
sink as the default channel when missing); URLs are printed redacted. Imports inside a command are marked
``# start-up``: they load Apprise's plugins (about 0.4 s) or the database layer (sqlmodel, about 1 s), which
``careflow --help`` does not need.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from core.i18n import cli_language, cli_text as tr
from core.settings import get_settings
from entry.user_input import USER_ERRORS, counts_text, fail

notify_app = typer.Typer(help=tr("cli.notify.help"), no_args_is_help=True)


def _channel_config():
    """The channel configuration, the default file written first when it is missing."""
    from notifications.channels import load_channels  # start-up: Apprise
    from notifications.default_channels import write_default_channels  # start-up: jinja2

    settings = get_settings()
    write_default_channels(settings.resolved_channels_file, settings.smtp_port)
    return load_channels(settings.resolved_channels_file)


@notify_app.command("channels", help=tr("cli.notify.channels.help"))
def notify_channels(
    key: Annotated[str, typer.Argument(help=tr("cli.notify.arg.key"))],
    event: Annotated[Optional[str], typer.Option(help=tr("cli.notify.channels.opt.event"))] = None,
) -> None:
    """Show where a message to KEY goes (URLs redacted) and each URL's rate limit."""
    from notifications.channels import ChannelConfigError  # start-up: Apprise
    from notifications.redaction import redact_url  # start-up: beside the Apprise imports of this command
    from notifications.deliver import limit_for  # start-up: Apprise

    try:
        config = _channel_config()
    except ChannelConfigError as exc:
        fail(exc)
    urls = config.urls_for(key, event)
    for url in urls:
        limit = limit_for(url, config.limits)
        typer.echo(tr("cli.notify.channels.out.url", url=redact_url(url), limit=limit or tr("cli.count.none")))
    typer.echo(tr("cli.notify.channels.out.count", n=len(urls), channel=key + (f" ({event})" if event else ""),
                  path=config.path))


@notify_app.command("test", help=tr("cli.notify.test.help"))
def notify_test(
    key: Annotated[str, typer.Argument(help=tr("cli.notify.arg.key"))],
    event: Annotated[Optional[str], typer.Option(help=tr("cli.notify.test.opt.event"))] = None,
) -> None:
    """Send a test message (no case data) to every channel of KEY now; exit 1 if any channel failed.

    Chat platforms' answers are verified (an error code in an HTTP 200 answer is a failure). Nothing is
    stored in the outbox.
    """
    from notifications.channels import ChannelConfigError  # start-up: Apprise
    from notifications.deliver import deliver  # start-up: Apprise

    try:
        config = _channel_config()
    except ChannelConfigError as exc:
        fail(exc)
    subject = f"【测试】careflow 通知通道测试 {key}"
    body = (f"这是一条来自 careflow 的测试消息，用于确认 {key} 的通知通道可以收到消息，无需答复。\n"
            "This is a careflow test message confirming that this channel receives messages; no answer needed.\n")
    try:
        result = deliver(config.urls_for(key, event), subject, body, endpoints=config.endpoints,
                         limits=config.limits, max_wait=60.0)
    except ValueError as exc:
        fail(exc)
    for item in result.per_url:
        status = tr("cli.notify.test.out.ok") if item.ok else tr("cli.notify.test.out.failed")
        note = "" if item.verified else tr("cli.notify.test.out.unverified")
        typer.echo(f"{status:<6} {item.url_redacted}{note}{': ' + item.error if item.error else ''}")
    raise typer.Exit(0 if result.ok else 1)


@notify_app.command("letter", help=tr("cli.notify.letter.help"))
def notify_letter(
    task: Annotated[str, typer.Argument(help=tr("cli.task.arg.ref"))],
    out: Annotated[Optional[str], typer.Option(help=tr("cli.notify.letter.opt.out"))] = None,
    lang: Annotated[Optional[str], typer.Option(help=tr("cli.notify.letter.opt.lang"))] = None,
) -> None:
    """Write the printable referral letter (转介单) of a task as an HTML file; prints its path."""
    from careflow.task_lookup import find_task  # start-up: sqlmodel
    from core.db import session_scope  # start-up: sqlmodel
    from notifications.letters import referral_letter  # start-up: sqlmodel and Jinja2

    lang = lang or cli_language()
    try:
        with session_scope() as session:
            found = find_task(session, task)
            page = referral_letter(session, found, lang=lang)
            name = f"referral-{found.short_ref}.{lang}.html"
    except USER_ERRORS as exc:
        fail(exc)
    path = Path(out) if out else get_settings().home / "letters" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    typer.echo(str(path))


@notify_app.command("dispatch", help=tr("cli.notify.dispatch.help"))
def notify_dispatch() -> None:
    """Send every due message now (digests, rate limits, parallel per recipient); print the counts."""
    from notifications.channels import ChannelConfigError  # start-up: Apprise
    from notifications.dispatcher import dispatch_due  # start-up: sqlmodel and Apprise

    try:
        typer.echo(tr("cli.sweep.out.notifications", figures=counts_text(dispatch_due())))
    except ChannelConfigError as exc:
        fail(exc)
