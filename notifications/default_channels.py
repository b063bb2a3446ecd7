"""The embedded default channel file: every message goes to careflow's local mail sink.

On first use (the outbox, the dispatcher, ``careflow notify``, the local stack) :func:`write_default_channels`
writes this file where ``Settings.resolved_channels_file`` points, unless a file is already there; it routes
every recipient to the local SMTP server of :mod:`notifications.sink` on ``127.0.0.1:<smtp port>``, where each
message lands as an ``.eml`` file under ``CAREFLOW_HOME/mailbox``. Its comments show the other sections
(roles, events, limits, digest) as :mod:`notifications.channels` reads them.
"""
from __future__ import annotations

import os
from pathlib import Path

#: The embedded default channel: the local mail sink (notifications/sink.py) on ``{port}``, no TLS, no login.
#: ``mode=insecure`` and ``smtp=127.0.0.1`` are explicit so that neither TLS nor an IPv6 ``localhost`` is tried;
#: verified against a real aiosmtpd server with apprise 2.0.1.
DEFAULT_MAILTO = (
    "mailto://careflow.local:{port}?smtp=127.0.0.1&mode=insecure"
    "&from=careflow@careflow.local&to={{unit}}@careflow.local"
)

_DEFAULT_FILE = """\
# careflow notification channels: agency unit code -> apprise URLs (https://github.com/caronc/apprise/wiki).
# {{unit}} in a URL is replaced by the channel key (unit code, or <unit>.<role>). Units without an entry
# under 'units' use 'default'. A unit lists a plain list (its officers) or roles: officer, supervisor, manager.
# Channels used by public bodies: dingtalk:// wecombot:// (WeCom group bot) wechat:// (WeCom app)
# feishu:// mailto:// mailtos:// json://  -- note: wecom:// is NOT WeCom.
# Messages carry a case reference, step, deadline and link; never a child's name or ID number.
#
# The default is careflow's local mail sink: every message lands as an .eml file under CAREFLOW_HOME/mailbox.
default:
  - {default_url}
units: {{}}
#  police-350302:
#    officer:
#      - dingtalk://<access token>/
#    supervisor:
#      - mailtos://user:password@smtp.example.gov.cn?to=duty@example.gov.cn
#
# Who else receives each event (roles of the addressed unit, or channel keys):
# events:
#   task_requested: [supervisor]
#   daily_digest: [supervisor]
#
# Rate limits per schema (defaults: dingtalk/wecombot 20/min, feishu/lark 100/min, wechat 300/min):
# limits:
#   mailtos: 60/min
#
# A burst of new tasks for one unit becomes one digest (defaults shown); daily_at adds a daily digest:
# digest:
#   events: [task_requested]
#   more_than: 20
#   within_minutes: 10
#   max_items: 50
#   daily_at: "08:30"
"""


def write_default_channels(path: Path | str, smtp_port: int) -> bool:
    """Write the embedded default channel file to ``path`` unless a file is already there.

    The default sends everything to the local mail sink on ``127.0.0.1:<smtp_port>`` (:data:`DEFAULT_MAILTO`).
    Creates parent folders. Safe against a concurrent writer (exclusive create).

    Returns:
        True if the file was written, False if it already existed.
    Raises:
        OSError: the file cannot be created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = _DEFAULT_FILE.format(default_url=DEFAULT_MAILTO.format(port=int(smtp_port)))
    if path.exists():
        return False
    # Write a temporary file, then hard-link it into place: readers never see a half-written file and
    # a concurrent writer's file is never replaced (link fails if the name exists).
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError:  # file system without hard links: exclusive create instead
        try:
            with path.open("x", encoding="utf-8") as handle:
                handle.write(text)
        except FileExistsError:
            return False
    finally:
        tmp.unlink(missing_ok=True)
    return True
