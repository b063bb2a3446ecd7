"""Who receives a message: channel keys, recipient roles and event routing.

A message is addressed to a *channel key*: a unit code (``police-350302``), a unit and a role
(``police-350302.supervisor``, ``civil_affairs-350302.manager``) or a caseworker (``caseworker.<login>``).
A key ending in ``.officer``, ``.supervisor`` or ``.manager`` names that role of the unit; any other key is
the unit itself, role ``officer`` (so ``caseworker.linwei`` is "unit" ``caseworker.linwei``; a login that
itself ends in ``.manager`` would be read as a role -- logins do not).

Event routing (``events:`` in the channel file) lists, per event type, who ELSE receives it: a role name
adds that role of the addressed unit (``task_requested: [supervisor]`` copies every new task to the unit's
supervisor channels); any other entry is a channel key of its own (``task_escalated: [duty-desk]``). The
addressed role always receives the message; the same URL reached twice is sent to once.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import quote

#: Recipient roles a unit may list channels for. ``officer`` is the unit's main channel (a plain list).
ROLES: tuple[str, ...] = ("officer", "supervisor", "manager")


def split_channel_key(key: str) -> tuple[str, str]:
    """``"police-350302.supervisor"`` -> ``("police-350302", "supervisor")``; ``"police-350302"`` ->
    ``("police-350302", "officer")``; ``"caseworker.linwei"`` -> ``("caseworker.linwei", "officer")``."""
    unit, dot, role = key.rpartition(".")
    if dot and unit and role in ROLES:
        return unit, role
    return key, "officer"


def caseworker_unit(login: str) -> str:
    """The channel key of a caseworker: caseworkers are addressed like units (``caseworker.<login>``)."""
    return f"caseworker.{login}"


def manager_channel(county_code: str) -> str:
    """The channel key of a county's civil affairs manager: ``civil_affairs-<county>.manager``.

    The one statement of that address (README "When the runner, a flow or the Prefect server dies" and the
    channel file's roles): escalations past the deadline, rejections, given-up deliveries, failed pathways and
    survey round reminders all go here, i.e. to the ``manager`` channels of the bureau ``civil_affairs-<county>``
    (its ``officer`` channels when it lists none), never to the bureau's officers as such.
    ``county_code``: 6-digit GB/T 2260 county code, e.g. ``"350302"``.
    """
    return channel_key(f"civil_affairs-{county_code}", "manager")


def channel_key(unit: str, role: str) -> str:
    """The key of ``role`` in ``unit``: the unit code itself for ``officer``, else ``<unit>.<role>``."""
    return unit if role == "officer" else f"{unit}.{role}"


def substitute_unit(url: str, key: str) -> str:
    """``url`` with every ``{unit}`` replaced by ``key`` (URL-quoted)."""
    return url.replace("{unit}", quote(key, safe=""))


def role_urls(units: Mapping[str, Mapping[str, Sequence[str]]], default: Mapping[str, Sequence[str]],
              unit: str, role: str) -> list[str]:
    """The URLs of ``role`` in ``unit``, ``{unit}`` substituted by the role's channel key.

    Looked up in order: the unit's list for the role, the unit's ``officer`` list, ``default``'s list for
    the role, ``default``'s ``officer`` list. Empty when none of them exists.
    """
    entry = units.get(unit) or {}
    urls = entry.get(role) or entry.get("officer") or default.get(role) or default.get("officer") or ()
    key = channel_key(unit, role)
    return [substitute_unit(url, key) for url in urls]


def resolve_urls(units: Mapping[str, Mapping[str, Sequence[str]]], default: Mapping[str, Sequence[str]],
                 events: Mapping[str, Sequence[str]], key: str, event: str | None = None) -> list[str]:
    """Every URL a message for ``event`` addressed to ``key`` goes to, in order, each URL once.

    The addressed role first, then each entry of ``events[event]``: a role of the same unit, or a channel
    key resolved on its own (without further event routing).
    """
    unit, role = split_channel_key(key)
    urls = role_urls(units, default, unit, role)
    for target in events.get(event or "", ()):
        if target in ROLES:
            urls += role_urls(units, default, unit, target)
        else:
            urls += role_urls(units, default, *split_channel_key(target))
    return list(dict.fromkeys(urls))
