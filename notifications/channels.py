"""Which apprise URLs reach which recipient: reading and checking the channel file (cached per file).

The channel file (``Settings.resolved_channels_file``, default ``CAREFLOW_HOME/channels.yaml``) is YAML::

    default:                       # used for every unit without its own entry
      - mailto://careflow.local:8025?smtp=127.0.0.1&mode=insecure&from=careflow@careflow.local&to={unit}@careflow.local
    units:
      police-350302:               # agency unit code (caseworkers are addressed as caseworker.<login>)
        officer:                   # a plain list instead of roles means: officer
          - dingtalk://<token>/
        supervisor:                # reached by the channel key police-350302.supervisor
          - mailtos://user:password@smtp.example.gov.cn?to=duty@example.gov.cn
      police-350303:
        - wecombot://<key>
    events:                        # who else receives an event (roles of the unit, or channel keys)
      task_requested: [supervisor]
    endpoints:                     # re-point a chat platform's API host (private deployment, local receiver)
      dingtalk: https://oapi.dingtalk.example.gov.cn
    limits:                        # per schema, over the platform defaults (notifications.limits)
      mailtos: 60/min
    digest:                        # bursts of new tasks become one message (see DigestSettings)
      more_than: 20
      within_minutes: 10

``{unit}`` in a URL is replaced by the (URL-quoted) channel key reached: the unit code for its officers,
``<unit>.<role>`` for another role. Routing rules: :mod:`notifications.routing`; checking one URL:
:mod:`notifications.channel_urls`; the file written when there is none: :mod:`notifications.default_channels`;
its errors, in the reader's language: :mod:`notifications.channel_errors`.
Channel URLs carry tokens and passwords: everything this module reports -- errors, and every record of the
``apprise`` and ``urllib3`` loggers once it is imported -- goes through
:func:`notifications.redaction.redact_url` first; while a URL is checked or sent, its secret pieces are also
hidden wherever a plugin logs them (:mod:`notifications.redaction`).
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import yaml

from core.settings import get_settings
from models.errors import FieldProblem
from notifications.channel_errors import ChannelConfigError, shown_value
from notifications.channel_urls import url_refusal
from notifications.default_channels import write_default_channels
from notifications.limits import RateLimit, parse_rate
from notifications.redaction import redact_url
from notifications.render import ALL_EVENTS
from notifications.routing import ROLES, resolve_urls, substitute_unit
from notifications.verify import endpoint_refusal

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

#: Unit code used to check a ``default`` URL that contains ``{unit}``.
_SAMPLE_UNIT = "sample-000000"


@dataclass(frozen=True)
class DigestSettings:
    """When many messages for one recipient come in a burst, one digest is sent instead (channel file ``digest:``).

    Attributes:
        enabled: False turns burst digests off (``digest: off``).
        events: the events merged (default only ``task_requested``).
        more_than: a burst is more than this many messages of those events for one channel key ...
        within: ... created within this time (a timedelta).
        max_items: most tasks listed in one digest (a larger burst gives several digests).
        daily_at: local time ``"HH:MM"`` after which each unit with open tasks gets one ``daily_digest`` a
            day listing them; None (default) sends no daily digest.
    """

    enabled: bool = True
    events: tuple[str, ...] = ("task_requested",)
    more_than: int = 20
    within: timedelta = timedelta(minutes=10)
    max_items: int = 50
    daily_at: str | None = None


@dataclass(frozen=True)
class ChannelConfig:
    """A loaded channel file.

    Attributes:
        path: the file it was loaded from.
        default: role -> URLs (possibly with ``{unit}``) for units without their own entry; a plain list
            in the file is the ``officer`` role.
        units: unit code -> role -> URLs (possibly with ``{unit}``); a plain list is the ``officer`` role.
        events: event type -> extra recipients (roles of the addressed unit, or channel keys); see
            :mod:`notifications.routing`.
        endpoints: schema -> base URL replacing the platform's API host (:mod:`notifications.verify`).
        limits: schema -> :class:`notifications.limits.RateLimit` or None (unlimited), over the platform
            defaults of :data:`notifications.limits.PLATFORM_LIMITS`.
        digest: burst and daily digest settings.
    """

    path: Path
    default: dict[str, tuple[str, ...]] = field(default_factory=dict)
    units: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    events: dict[str, tuple[str, ...]] = field(default_factory=dict)
    endpoints: dict[str, str] = field(default_factory=dict)
    limits: dict[str, RateLimit | None] = field(default_factory=dict)
    digest: DigestSettings = field(default_factory=DigestSettings)

    def urls_for(self, channel_key: str, event: str | None = None) -> list[str]:
        """The apprise URLs a message for ``event`` addressed to ``channel_key`` goes to; ``{unit}`` substituted.

        ``channel_key`` is a unit code, ``<unit>.<role>`` or ``caseworker.<login>``
        (:func:`notifications.routing.split_channel_key`). The role's own list is used, else the unit's
        ``officer`` list, else ``default`` (its list for the role, else its plain list); then the
        recipients ``events[event]`` adds. ``{unit}`` becomes the channel key of the role reached
        (``police-350302.supervisor``). Each URL appears once.

        Returns an empty list when nothing is configured (the caller then has nowhere to send;
        :func:`notifications.deliver.deliver` reports that as a failure).
        """
        return resolve_urls(self.units, self.default, self.events, channel_key, event)

    def __repr__(self) -> str:
        """A summary safe for logs: the file, unit codes and sections, never a URL."""
        return (f"ChannelConfig(path={str(self.path)!r}, units={len(self.units)}, "
                f"default_roles={sorted(self.default)}, events={sorted(self.events)}, "
                f"endpoints={sorted(self.endpoints)}, limits={sorted(self.limits)}, digest={self.digest})")


def _entry(unit: str, role: str | None = None) -> tuple[str, dict]:
    """The entry of ``default`` or of unit ``unit`` (and ``role``), as the message names it."""
    kind = ("default" if unit == "default" else "unit") + ("_role" if role else "")
    return f"channels.entry.{kind}", {"unit": unit, "role": role}


def _url_list(path: Path, unit: str, node: yaml.Node, role: str | None = None) -> tuple[str, ...]:
    entry = _entry(unit, role)
    if not isinstance(node, yaml.SequenceNode):
        raise ChannelConfigError(path, node, "channels.problem.url_list_role" if role else "channels.problem.url_list",
                                 entry=entry, roles=ROLES, value=shown_value(node))
    if not node.value:
        raise ChannelConfigError(path, node, "channels.problem.empty" if unit == "default"
                                 else "channels.problem.empty_unit", entry=entry)
    urls = []
    for item in node.value:
        if not isinstance(item, yaml.ScalarNode) or not str(item.value).strip():
            raise ChannelConfigError(path, item, "channels.problem.not_a_url_string", entry=entry, value=shown_value(item))
        url = str(item.value).strip()
        unknown = [p for p in _PLACEHOLDER.findall(url) if p != "unit"]
        if unknown:
            raise ChannelConfigError(path, item, "channels.problem.placeholder", entry=entry, name=unknown[0],
                                     url=redact_url(url))
        problem = url_refusal(substitute_unit(url, _SAMPLE_UNIT if unit == "default" else unit))
        if problem:
            raise ChannelConfigError(path, item, "channels.problem.invalid_url", entry=entry, url=redact_url(url),
                                     reason=problem)
        urls.append(url)
    return tuple(urls)


def _role_lists(path: Path, unit: str, node: yaml.Node) -> dict[str, tuple[str, ...]]:
    """A plain list (the ``officer`` role) or a mapping role -> list."""
    if not isinstance(node, yaml.MappingNode):
        return {"officer": _url_list(path, unit, node)}
    if not node.value:
        raise ChannelConfigError(path, node, "channels.problem.no_roles", entry=_entry(unit))
    roles: dict[str, tuple[str, ...]] = {}
    for role_node, urls_node in node.value:
        role = str(role_node.value).strip()
        if role not in ROLES:
            raise ChannelConfigError(path, role_node, "channels.problem.unknown_role", entry=_entry(unit), role=role,
                                     roles=ROLES)
        if role in roles:
            raise ChannelConfigError(path, role_node, "channels.problem.role_twice", entry=_entry(unit), role=role)
        roles[role] = _url_list(path, unit, urls_node, role)
    return roles


def _mapping(path: Path, key: str, node: yaml.Node) -> list[tuple[yaml.Node, yaml.Node]]:
    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
        return []
    if not isinstance(node, yaml.MappingNode):
        raise ChannelConfigError(path, node, f"channels.problem.not_a_mapping.{key}", value=shown_value(node))
    return node.value


def _events(path: Path, node: yaml.Node) -> dict[str, tuple[str, ...]]:
    events: dict[str, tuple[str, ...]] = {}
    section = ("channels.entry.section", {"section": "events"})
    for event_node, targets_node in _mapping(path, "events", node):
        event = str(event_node.value).strip()
        if event not in ALL_EVENTS:
            raise ChannelConfigError(path, event_node, "channels.problem.unknown_event", entry=section, event=event,
                                     events=ALL_EVENTS)
        if event in events:
            raise ChannelConfigError(path, event_node, "channels.problem.twice", entry=section, name=event)
        items = targets_node.value if isinstance(targets_node, yaml.SequenceNode) else None
        if items is None or any(not isinstance(i, yaml.ScalarNode) or not re.fullmatch(r"[\w.\-]+", str(i.value))
                                for i in items):
            raise ChannelConfigError(path, targets_node, "channels.problem.event_targets",
                                     entry=("channels.entry.event", {"event": event}), roles=ROLES,
                                     value=shown_value(targets_node))
        events[event] = tuple(str(i.value) for i in items)
    return events


def _endpoints(path: Path, node: yaml.Node) -> dict[str, str]:
    endpoints = {}
    for schema_node, value_node in _mapping(path, "endpoints", node):
        schema, value = str(schema_node.value).strip().lower(), str(getattr(value_node, "value", "")).strip()
        entry = ("channels.entry.setting", {"section": "endpoints", "name": schema})
        if not isinstance(value_node, yaml.ScalarNode):
            raise ChannelConfigError(path, value_node, "channels.problem.endpoint_not_url", entry=entry,
                                     value=shown_value(value_node))
        problem = endpoint_refusal(schema, value)
        if problem:
            raise ChannelConfigError(path, value_node, "channels.problem.endpoint", entry=entry,
                                     url=redact_url(value), reason=problem)
        endpoints[schema] = value.rstrip("/")
    return endpoints


def _limits(path: Path, node: yaml.Node) -> dict[str, RateLimit | None]:
    limits: dict[str, RateLimit | None] = {}
    for schema_node, value_node in _mapping(path, "limits", node):
        schema = str(schema_node.value).strip().lower()
        entry = ("channels.entry.setting", {"section": "limits", "name": schema})
        try:
            if isinstance(value_node, yaml.MappingNode):
                spec = {str(k.value): str(v.value) for k, v in value_node.value}
                if set(spec) - {"rate", "burst"} or "rate" not in spec:
                    raise ChannelConfigError(path, value_node, "channels.problem.limit_shape", entry=entry,
                                             value=shown_value(value_node))
                if not spec.get("burst", "1").strip().isdigit():
                    raise ChannelConfigError(path, value_node, "channels.problem.not_a_number",
                                             entry=("channels.entry.setting", {"section": "limits",
                                                                               "name": f"{schema}.burst"}),
                                             value=repr(spec["burst"]))
                limits[schema] = parse_rate(spec["rate"], int(spec["burst"]) if "burst" in spec else None)
            elif str(value_node.value).strip().lower() in ("none", "off", "unlimited") \
                    or value_node.tag.endswith(":null") or value_node.tag.endswith(":bool"):
                limits[schema] = None
            else:
                limits[schema] = parse_rate(str(value_node.value))
        except FieldProblem as exc:
            raise ChannelConfigError(path, value_node, "channels.problem.rate", entry=entry, reason=exc) from None
    return limits


#: The settings of ``digest:``.
_DIGEST_SETTINGS = ("events", "more_than", "within_minutes", "max_items", "daily_at", "enabled")


def _digest(path: Path, node: yaml.Node) -> DigestSettings:
    if isinstance(node, yaml.ScalarNode) and (node.tag.endswith(":bool") or str(node.value).lower() in ("off", "on")):
        return DigestSettings(enabled=str(node.value).lower() in ("true", "on", "yes"))
    values: dict = {}
    for key_node, value_node in _mapping(path, "digest", node):
        key, raw = str(key_node.value), value_node.value
        entry = ("channels.entry.setting", {"section": "digest", "name": key})

        def refused(problem: str, **more) -> ChannelConfigError:
            return ChannelConfigError(path, value_node, f"channels.problem.{problem}", entry=entry,
                                      value=shown_value(value_node), **more)

        if key == "events":
            events = tuple(str(i.value) for i in raw) if isinstance(value_node, yaml.SequenceNode) else None
            if not events or any(e not in ALL_EVENTS for e in events):
                raise refused("digest_events", events=ALL_EVENTS)
            values["events"] = events
        elif key in ("more_than", "max_items", "within_minutes"):
            if not isinstance(value_node, yaml.ScalarNode) or not re.fullmatch(r"-?\d+", str(raw).strip()):
                raise refused("not_a_number")
            number, least = int(str(raw)), 0 if key == "more_than" else 1
            if number < least:
                raise refused("too_small", least=least)
            if key == "within_minutes":
                values["within"] = timedelta(minutes=number)
            else:
                values[key] = number
        elif key == "daily_at":
            if not isinstance(value_node, yaml.ScalarNode) or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", str(raw)):
                raise refused("daily_at")
            values["daily_at"] = str(raw)
        elif key == "enabled":
            values["enabled"] = str(raw).lower() in ("true", "on", "yes")
        else:
            raise ChannelConfigError(path, key_node, "channels.problem.unknown_setting", entry=entry,
                                     settings=_DIGEST_SETTINGS)
    return DigestSettings(**values)


def load_channels(path: Path | str) -> ChannelConfig:
    """Read and check the channel file at ``path``.

    Sections: ``default`` (a list of URLs, or roles -> lists), ``units`` (unit code -> a list, or roles
    ``officer``/``supervisor``/``manager`` -> lists), ``events`` (event type -> extra recipients),
    ``endpoints`` (schema -> base URL), ``limits`` (schema -> ``"20/min"``, ``{rate, burst}`` or ``none``),
    ``digest`` (``off`` or settings). Every URL is checked with apprise (a ``default`` URL with ``{unit}``
    as for unit ``sample-000000``).

    Raises:
        ChannelConfigError: the file is missing or unreadable, is not valid YAML, has an unknown section,
            role, event or setting, repeats a unit or role, uses a placeholder other than ``{unit}``, holds
            a URL apprise cannot use or an endpoint that is neither https nor loopback. The message names
            the file, the unit (and role) and the line/column; URLs in it are redacted.
    """
    path = Path(path)
    root = _compose(path)
    if root is None:
        return ChannelConfig(path=path)
    if not isinstance(root, yaml.MappingNode):
        raise ChannelConfigError(path, root, "channels.problem.not_a_mapping.file", value=shown_value(root))
    sections: dict = {}
    for key_node, value_node in root.value:
        key = str(key_node.value)
        if key in sections:
            raise ChannelConfigError(path, key_node, "channels.problem.twice", name=key)
        if key == "default":
            sections[key] = _role_lists(path, "default", value_node)
        elif key == "units":
            sections[key] = _units(path, value_node)
        elif key in _SECTIONS:
            sections[key] = _SECTIONS[key](path, value_node)
        else:
            raise ChannelConfigError(path, key_node, "channels.problem.unknown_key", name=key,
                                     sections=[repr(k) for k in _SECTIONS])
    return ChannelConfig(path=path, **sections)


def _compose(path: Path) -> yaml.Node | None:
    """The channel file's YAML node tree (None for an empty file); its errors as :class:`ChannelConfigError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ChannelConfigError(path, None, "channels.problem.missing") from None
    except IsADirectoryError:
        raise ChannelConfigError(path, None, "channels.problem.folder") from None
    except OSError as exc:
        raise ChannelConfigError(path, None, "channels.problem.unreadable", reason=exc.strerror or str(exc)) from None
    except UnicodeDecodeError:
        raise ChannelConfigError(path, None, "channels.problem.not_utf8") from None
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:  # the parser's own words quoted: careflow has none for each of its problems
        raise ChannelConfigError(path, getattr(exc, "problem_mark", None), "channels.problem.yaml",
                                 reason=getattr(exc, "problem", None) or str(exc)) from None


def _units(path: Path, node: yaml.Node) -> dict[str, dict[str, tuple[str, ...]]]:
    """The ``units`` section: unit code -> role -> URLs (empty when the section is empty)."""
    units: dict[str, dict[str, tuple[str, ...]]] = {}
    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
        return units
    if not isinstance(node, yaml.MappingNode):
        raise ChannelConfigError(path, node, "channels.problem.not_a_mapping.units", value=shown_value(node))
    for unit_node, urls_node in node.value:
        if not isinstance(unit_node, yaml.ScalarNode) or not str(unit_node.value).strip():
            raise ChannelConfigError(path, unit_node, "channels.problem.unit_code", value=shown_value(unit_node))
        unit = str(unit_node.value).strip()
        if unit in units:
            raise ChannelConfigError(path, unit_node, "channels.problem.unit_twice", unit=unit)
        units[unit] = _role_lists(path, unit, urls_node)
    return units


_SECTIONS = {"events": _events, "endpoints": _endpoints, "limits": _limits, "digest": _digest}

_cache: dict[Path, tuple[tuple[int, int], ChannelConfig]] = {}
_cache_lock = threading.Lock()


def load_channels_cached(path: Path | str) -> ChannelConfig:
    """:func:`load_channels`, re-read only when the file's modification time or size changed.

    Checking every URL with apprise costs milliseconds per URL; a dispatcher sending thousands of
    messages reads the file once. Raises like :func:`load_channels`.
    """
    path = Path(path)
    try:
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        return load_channels(path)  # raises the readable error
    with _cache_lock:
        hit = _cache.get(path)
    if hit and hit[0] == stamp:
        return hit[1]
    config = load_channels(path)
    with _cache_lock:
        _cache[path] = (stamp, config)
    return config


def channels_in_use() -> ChannelConfig:
    """The channel file of this installation (``Settings.resolved_channels_file``), read as by
    :func:`load_channels_cached`; the embedded default (:mod:`notifications.default_channels`) is written there
    first when there is no file. Raises like :func:`load_channels`."""
    settings = get_settings()
    write_default_channels(settings.resolved_channels_file, settings.smtp_port)
    return load_channels_cached(settings.resolved_channels_file)
