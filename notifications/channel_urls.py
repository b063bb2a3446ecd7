"""One apprise URL: its schema, and whether apprise can use it.

A channel URL is ``schema://...`` as apprise reads it (https://github.com/caronc/apprise/wiki): ``mailto://``,
``dingtalk://``, ``wecombot://`` and so on. :func:`url_refusal` asks apprise to load the URL and says, in a
short reason without secrets worded from the catalogues (``channels.url.*``), why it cannot; a schema that looks
right but is not what people mean (``wecom://``, DOMAIN.md §7) gets a hint instead. ``{unit}`` must already be
substituted (:func:`notifications.routing.substitute_unit`). While apprise parses the URL, its secret pieces are
hidden wherever a plugin logs them (:func:`notifications.redaction.secrets_hidden_in_logs`).
"""
from __future__ import annotations

import apprise

import core.i18n  # noqa: F401  (lends models.errors the catalogues' words)
from models.errors import FieldValueError
from notifications.redaction import URL_SCHEMA, secrets_hidden_in_logs

#: Hints (catalogue keys) for schemas that look right but are not what people mean (DOMAIN.md §7).
_SCHEMA_HINTS = {"wecom": "channels.url.wecom"}


def url_schema(url: str) -> str:
    """The lower-cased schema of ``url`` (``"mailto"``), or "" if it is not ``schema://...``."""
    match = URL_SCHEMA.match(url.strip())
    return match.group(1).lower() if match else ""


def url_refusal(url: str) -> FieldValueError | None:
    """Why apprise cannot use ``url`` (field ``url``, a ``channels.url.*`` key, no secrets), or None if it can.

    ``{unit}`` should already be substituted. Never raises.
    """
    match = URL_SCHEMA.match(url.strip())
    if not match:
        return FieldValueError("url", "channels.url.not_a_url")
    hint = _SCHEMA_HINTS.get(match.group(1).lower())
    if hint:
        return FieldValueError("url", hint)
    try:
        with secrets_hidden_in_logs(url):
            plugin = apprise.Apprise.instantiate(url.strip(), suppress_exceptions=True)
    except Exception as exc:  # instantiate should not raise with suppress_exceptions; be safe anyway
        return FieldValueError("url", "channels.url.cannot_load", error=type(exc).__name__)
    if plugin is None:
        return FieldValueError("url", "channels.url.cannot_parse")
    return None


def url_problem(url: str) -> str | None:
    """:func:`url_refusal` as an English line (a delivery's stored error), or None if apprise can use ``url``."""
    refusal = url_refusal(url)
    return None if refusal is None else refusal.message("en")
