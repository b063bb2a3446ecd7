"""One apprise URL: its schema, and whether apprise can use it.

A channel URL is ``schema://...`` as apprise reads it (https://github.com/caronc/apprise/wiki): ``mailto://``,
``dingtalk://``, ``wecombot://`` and so on. :func:`url_problem` asks apprise to load the URL and says, in a
short reason without secrets, why it cannot; a schema that looks right but is not what people mean
(``wecom://``, DOMAIN.md §7) gets a hint instead. ``{unit}`` must already be substituted
(:func:`notifications.routing.substitute_unit`). While apprise parses the URL, its secret pieces are hidden
wherever a plugin logs them (:func:`notifications.redaction.secrets_hidden_in_logs`).
"""
from __future__ import annotations

import apprise

from notifications.redaction import URL_SCHEMA, secrets_hidden_in_logs

#: Hints for schemas that look right but are not what people mean (DOMAIN.md §7).
_SCHEMA_HINTS = {
    "wecom": "wecom:// is not WeCom (企业微信): use wecombot:// for a group bot or wechat:// for an app",
}


def url_schema(url: str) -> str:
    """The lower-cased schema of ``url`` (``"mailto"``), or "" if it is not ``schema://...``."""
    match = URL_SCHEMA.match(url.strip())
    return match.group(1).lower() if match else ""


def url_problem(url: str) -> str | None:
    """Why apprise cannot use ``url`` (a short reason with no secrets), or None if it can.

    ``{unit}`` should already be substituted. Never raises.
    """
    match = URL_SCHEMA.match(url.strip())
    if not match:
        return "not a URL (expected schema://...)"
    hint = _SCHEMA_HINTS.get(match.group(1).lower())
    if hint:
        return hint
    try:
        with secrets_hidden_in_logs(url):
            plugin = apprise.Apprise.instantiate(url.strip(), suppress_exceptions=True)
    except Exception as exc:  # instantiate should not raise with suppress_exceptions; be safe anyway
        return f"apprise cannot load it ({type(exc).__name__})"
    if plugin is None:
        return "apprise cannot parse it (unknown schema or missing/invalid parts; see the apprise docs for the schema)"
    return None
