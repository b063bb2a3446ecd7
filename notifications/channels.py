"""Which apprise URLs reach which agency unit: the channel file, URL checking and secret redaction.

The channel file (``Settings.resolved_channels_file``, default ``CAREFLOW_HOME/channels.yaml``) is YAML::

    default:                       # used for every unit without its own entry
      - mailto://careflow.local:8025?smtp=127.0.0.1&mode=insecure&from=careflow@careflow.local&to={unit}@careflow.local
    units:
      police-350302:               # agency unit code (caseworkers are addressed as caseworker.<login>)
        - dingtalk://<token>/
        - mailtos://user:password@smtp.example.gov.cn?to=duty@example.gov.cn

``{unit}`` in a URL is replaced by the (URL-quoted) unit code. Channel URLs carry tokens and passwords:
everything this module reports -- errors, and every record of the ``apprise`` logger once this module is
imported -- goes through :func:`redact_url` first; while a URL is checked or sent, its secret pieces are
also hidden wherever an apprise plugin logs them (:func:`secrets_hidden_in_logs`).
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

import apprise
import yaml

#: The embedded default channel: the local mail sink (notifications/sink.py) on ``{port}``, no TLS, no login.
#: ``mode=insecure`` and ``smtp=127.0.0.1`` are explicit so that neither TLS nor an IPv6 ``localhost`` is tried;
#: verified against a real aiosmtpd server with apprise 2.0.1.
DEFAULT_MAILTO = (
    "mailto://careflow.local:{port}?smtp=127.0.0.1&mode=insecure"
    "&from=careflow@careflow.local&to={{unit}}@careflow.local"
)

#: Schemas whose host and path segments are all tokens/secrets (and DingTalk targets are phone numbers).
#: ``wecom://`` is not a WeCom schema but is what people write for one, so it is masked like ``wechat://``.
TOKEN_SCHEMAS = frozenset({"dingtalk", "wecombot", "wechat", "feishu", "lark", "wecom"})

#: Query keys whose values are secret (matched as a substring of the lower-cased key).
_SECRET_KEY = re.compile(r"token|secret|key|pass|pwd|auth|sig|credential", re.IGNORECASE)
#: A path segment or user name that looks like a token: 16+ URL-safe characters with letters and digits.
_TOKENISH = re.compile(r"^(?=.*[A-Za-z])(?=.*\d)[A-Za-z0-9_\-]{16,}$")
_SCHEMA = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://(.*)$", re.DOTALL)
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_MASK = "***"

#: Unit code used to check a ``default`` URL that contains ``{unit}``.
_SAMPLE_UNIT = "sample-000000"

#: Hints for schemas that look right but are not what people mean (DOMAIN.md §7).
_SCHEMA_HINTS = {
    "wecom": "wecom:// is not WeCom (企业微信): use wecombot:// for a group bot or wechat:// for an app",
}


class ChannelConfigError(ValueError):
    """The channel file is malformed or holds a URL apprise cannot use.

    The message names the file, the unit (or ``default``) and the position (line, column) where known;
    URLs in it are redacted with :func:`redact_url`.
    """


def _mask_tokenish(part: str) -> str:
    return _MASK if _TOKENISH.match(part) else part


def redact_url(url: str) -> str:
    """``url`` with its secrets replaced by ``***``, safe for logs and error messages.

    Hidden: the password of the userinfo (``user:***@host``; a token-like user name too); every
    query value whose key contains token/secret/key/pass/pwd/auth/sig/credential (e.g. ``token``,
    ``access_token``, ``apikey``, ``password``); for ``dingtalk://``, ``wecombot://``, ``wechat://``,
    ``feishu://`` and ``lark://`` every segment after the schema (host and path carry tokens, DingTalk
    also phone numbers); for other schemas any token-like host part or path segment (16+ letters and
    digits); any ``#fragment``. Text that is not ``schema://...`` becomes ``<not a URL>``.

    Never raises.
    """
    match = _SCHEMA.match(url.strip())
    if not match:
        return "<not a URL>"
    schema, rest = match.groups()
    rest, hash_sign, _fragment = rest.partition("#")
    rest, question, query = rest.partition("?")
    if schema.lower() in TOKEN_SCHEMAS:
        location = "/".join(_MASK if segment else "" for segment in rest.split("/"))
    else:
        authority, slash, path = rest.partition("/")
        if "@" in authority:
            userinfo, host = authority.rsplit("@", 1)
            user, colon, _password = userinfo.partition(":")
            authority = f"{_mask_tokenish(user)}{':' + _MASK if colon else ''}@{host}"
        hostport = authority.rsplit("@", 1)[-1]
        has_port = ":" in hostport and not hostport.endswith("]")  # not a bare IPv6 literal
        host, colon, port = authority.rpartition(":") if has_port else (authority, "", "")
        if colon and not port.isdigit():  # "host:token" forms (e.g. tgram://<bot id>:<token>/)
            port = _MASK
        userpart, at, hostname = host.rpartition("@")
        authority = f"{userpart}{at}{_mask_tokenish(hostname)}{colon}{port}"
        location = authority + slash + "/".join(_mask_tokenish(segment) for segment in path.split("/"))
    if question:
        pairs = []
        for pair in query.split("&"):
            key, equals, _value = pair.partition("=")
            pairs.append(f"{key}={_MASK}" if equals and _SECRET_KEY.search(key) else pair)
        location += "?" + "&".join(pairs)
    if hash_sign:
        location += "#" + _MASK
    return f"{schema}://{location}"


_URL_PIECES = re.compile(r"[/:@?&=#]+")

#: Secret pieces of the URLs being checked or sent in the current context (thread / task; apprise copies
#: the context into its worker threads). Plugins log some of them outside any URL, e.g. DingTalk's
#: "An invalid DingTalk API Token (<token>) was specified."
_ACTIVE_SECRETS: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("careflow_url_secrets", default=())


def url_secrets(url: str) -> set[str]:
    """The pieces of ``url`` that :func:`redact_url` hides (raw and percent-decoded; 3+ characters)."""
    shown = set(_URL_PIECES.split(redact_url(url)))
    hidden = {piece for piece in _URL_PIECES.split(url.strip()) if piece not in shown}
    hidden |= {unquote(piece) for piece in hidden}
    return {piece for piece in hidden if len(piece) >= 3 and piece != _MASK}


@contextlib.contextmanager
def secrets_hidden_in_logs(*urls: str) -> Iterator[None]:
    """While active, every ``apprise`` log record has the secret pieces of ``urls`` replaced by ``***``."""
    secrets = set(_ACTIVE_SECRETS.get())
    for url in urls:
        secrets |= url_secrets(url)
    token = _ACTIVE_SECRETS.set(tuple(sorted(secrets, key=len, reverse=True)))
    try:
        yield
    finally:
        _ACTIVE_SECRETS.reset(token)


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted and the secrets of :func:`secrets_hidden_in_logs` hidden."""
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    for secret in _ACTIVE_SECRETS.get():
        text = text.replace(secret, _MASK)
    return text


class _RedactingFilter(logging.Filter):
    """Rewrites every record of the ``apprise`` logger with :func:`redact_text`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error path
            return True
        redacted = redact_text(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, ()
        return True


def install_log_redaction() -> None:
    """Redact URLs in every record apprise logs (its parse errors quote URLs with their tokens).

    Idempotent; done on import of this module. Every apprise plugin logs through ``logging.getLogger("apprise")``.
    """
    apprise_logger = logging.getLogger(apprise.LOGGER_NAME if hasattr(apprise, "LOGGER_NAME") else "apprise")
    if not any(isinstance(f, _RedactingFilter) for f in apprise_logger.filters):
        apprise_logger.addFilter(_RedactingFilter())


install_log_redaction()


def url_schema(url: str) -> str:
    """The lower-cased schema of ``url`` (``"mailto"``), or "" if it is not ``schema://...``."""
    match = _SCHEMA.match(url.strip())
    return match.group(1).lower() if match else ""


def url_problem(url: str) -> str | None:
    """Why apprise cannot use ``url`` (a short reason with no secrets), or None if it can.

    ``{unit}`` should already be substituted. Never raises.
    """
    match = _SCHEMA.match(url.strip())
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


def substitute_unit(url: str, unit_code: str) -> str:
    """``url`` with every ``{unit}`` replaced by ``unit_code`` (URL-quoted)."""
    return url.replace("{unit}", quote(unit_code, safe=""))


@dataclass(frozen=True)
class ChannelConfig:
    """A loaded channel file.

    Attributes:
        path: the file it was loaded from.
        default: URLs (possibly with ``{unit}``) for units without their own entry.
        units: unit code -> URLs (possibly with ``{unit}``); every list is non-empty.
    """

    path: Path
    default: tuple[str, ...] = ()
    units: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def urls_for(self, unit_code: str) -> list[str]:
        """The apprise URLs for ``unit_code``: its own entry, else ``default``; ``{unit}`` substituted.

        Returns an empty list when the unit has no entry and there is no ``default`` (the caller then
        has nowhere to send; :func:`notifications.deliver.deliver` reports that as a failure).
        """
        urls = self.units.get(unit_code, self.default)
        return [substitute_unit(url, unit_code) for url in urls]


def _where(path: Path, node: yaml.Node | None) -> str:
    if node is None:
        return str(path)
    mark = node.start_mark
    return f"{path}, line {mark.line + 1}, column {mark.column + 1}"


def _url_list(path: Path, unit: str, node: yaml.Node) -> tuple[str, ...]:
    label = "default" if unit == "default" else f"unit {unit!r}"
    if not isinstance(node, yaml.SequenceNode):
        raise ChannelConfigError(f"{_where(path, node)}: {label}: expected a list of apprise URLs")
    if not node.value:
        raise ChannelConfigError(
            f"{_where(path, node)}: {label}: the list of URLs is empty"
            + ("" if unit == "default" else " (remove the entry to use the default channels)")
        )
    urls = []
    for item in node.value:
        if not isinstance(item, yaml.ScalarNode) or not str(item.value).strip():
            raise ChannelConfigError(f"{_where(path, item)}: {label}: each entry must be a URL string")
        url = str(item.value).strip()
        unknown = [p for p in _PLACEHOLDER.findall(url) if p != "unit"]
        if unknown:
            raise ChannelConfigError(
                f"{_where(path, item)}: {label}: unknown placeholder {{{unknown[0]}}} in {redact_url(url)} "
                "(only {unit} is replaced)"
            )
        problem = url_problem(substitute_unit(url, _SAMPLE_UNIT if unit == "default" else unit))
        if problem:
            raise ChannelConfigError(f"{_where(path, item)}: {label}: invalid URL {redact_url(url)}: {problem}")
        urls.append(url)
    return tuple(urls)


def load_channels(path: Path | str) -> ChannelConfig:
    """Read and check the channel file at ``path``.

    Every URL is checked with apprise (a ``default`` URL with ``{unit}`` as for unit ``sample-000000``).

    Raises:
        ChannelConfigError: the file is missing or unreadable, is not valid YAML, is not a mapping with
            only ``default`` (list of URLs) and ``units`` (mapping of unit code -> non-empty list of URLs),
            repeats a unit, uses a placeholder other than ``{unit}``, or holds a URL apprise cannot use.
            The message names the file, the unit and the line/column; URLs in it are redacted.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ChannelConfigError(f"{path}: cannot read the channel file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ChannelConfigError(f"{path}: the channel file is not UTF-8 text") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ChannelConfigError(f"{where}: not valid YAML: {problem}") from None
    if root is None:
        return ChannelConfig(path=path)
    if not isinstance(root, yaml.MappingNode):
        raise ChannelConfigError(f"{_where(path, root)}: expected a mapping with 'default' and/or 'units'")
    default: tuple[str, ...] = ()
    units: dict[str, tuple[str, ...]] = {}
    seen_top: set[str] = set()
    for key_node, value_node in root.value:
        key = str(key_node.value)
        if key in seen_top:
            raise ChannelConfigError(f"{_where(path, key_node)}: {key!r} appears twice")
        seen_top.add(key)
        if key == "default":
            default = _url_list(path, "default", value_node)
        elif key == "units":
            if isinstance(value_node, yaml.ScalarNode) and value_node.tag.endswith(":null"):
                continue
            if not isinstance(value_node, yaml.MappingNode):
                raise ChannelConfigError(f"{_where(path, value_node)}: 'units' must map unit codes to lists of URLs")
            for unit_node, urls_node in value_node.value:
                if not isinstance(unit_node, yaml.ScalarNode) or not str(unit_node.value).strip():
                    raise ChannelConfigError(f"{_where(path, unit_node)}: a unit code must be a non-empty string")
                unit = str(unit_node.value).strip()
                if unit in units:
                    raise ChannelConfigError(f"{_where(path, unit_node)}: unit {unit!r} appears twice")
                units[unit] = _url_list(path, unit, urls_node)
        else:
            raise ChannelConfigError(
                f"{_where(path, key_node)}: unknown key {key!r} (expected 'default' and/or 'units')"
            )
    return ChannelConfig(path=path, default=default, units=units)


_DEFAULT_FILE = """\
# careflow notification channels: agency unit code -> apprise URLs (https://github.com/caronc/apprise/wiki).
# {{unit}} in a URL is replaced by the unit code. Units without an entry under 'units' use 'default'.
# Channels used by public bodies: dingtalk:// wecombot:// (WeCom group bot) wechat:// (WeCom app)
# feishu:// mailto:// mailtos:// json://  -- note: wecom:// is NOT WeCom.
# Messages carry a case reference, step, deadline and link; never a child's name or ID number.
#
# The default is careflow's local mail sink: every message lands as an .eml file under CAREFLOW_HOME/mailbox.
default:
  - {default_url}
units: {{}}
#  police-350302:
#    - dingtalk://<access token>/
#    - mailtos://user:password@smtp.example.gov.cn?to=duty@example.gov.cn
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
