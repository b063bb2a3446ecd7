"""Keeping channel secrets out of logs, pages and errors: URL redaction and log filters.

Channel URLs carry tokens and passwords (a DingTalk robot token, a WeCom bot key, an SMTP password).
:func:`redact_url` hides them in a URL; :func:`redact_text` hides every URL in a text and, inside
:func:`secrets_hidden_in_logs`, the secret pieces of the URLs being sent wherever they appear; the loggers of
:data:`REDACTED_LOGGERS` (apprise, urllib3) pass every record through it once this module is imported.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import re
from collections.abc import Iterator
from urllib.parse import unquote

import apprise

#: Schemas whose host and path segments are all tokens/secrets (and DingTalk targets are phone numbers).
#: ``wecom://`` is not a WeCom schema but is what people write for one, so it is masked like ``wechat://``.
TOKEN_SCHEMAS = frozenset({"dingtalk", "wecombot", "wechat", "feishu", "lark", "wecom"})

#: Query keys whose values are secret (matched as a substring of the lower-cased key).
_SECRET_KEY = re.compile(r"token|secret|key|pass|pwd|auth|sig|credential", re.IGNORECASE)
#: A path segment or user name that looks like a token: 16+ URL-safe characters with letters and digits.
_TOKENISH = re.compile(r"^(?=.*[A-Za-z])(?=.*\d)[A-Za-z0-9_\-]{16,}$")
#: ``schema://rest``: group 1 the schema (any case), group 2 the rest.
URL_SCHEMA = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://(.*)$", re.DOTALL)
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")
_MASK = "***"


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
    match = URL_SCHEMA.match(url.strip())
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
    return set(_secret_pieces(url))


@functools.lru_cache(maxsize=4096)
def _secret_pieces(url: str) -> tuple[str, ...]:
    """:func:`url_secrets` as a tuple, longest first, remembered: a dispatch pass hides the same few hundred
    URLs' secrets for thousands of messages (the pieces are in memory anyway, in the channel file's URLs)."""
    shown = set(_URL_PIECES.split(redact_url(url)))
    hidden = {piece for piece in _URL_PIECES.split(url.strip()) if piece not in shown}
    hidden |= {unquote(piece) for piece in hidden}
    return tuple(sorted((piece for piece in hidden if len(piece) >= 3 and piece != _MASK), key=len, reverse=True))


@contextlib.contextmanager
def secrets_hidden_in_logs(*urls: str) -> Iterator[None]:
    """While active, every ``apprise`` log record has the secret pieces of ``urls`` replaced by ``***``."""
    active = _ACTIVE_SECRETS.get()
    if len(urls) == 1 and not active:
        secrets = _secret_pieces(urls[0])  # the usual case (one URL being sent): no set to build
    else:
        pieces = set(active)
        for url in urls:
            pieces.update(_secret_pieces(url))
        secrets = tuple(sorted(pieces, key=len, reverse=True))
    token = _ACTIVE_SECRETS.set(secrets)
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


#: Loggers that see channel URLs: apprise's, and urllib3's (its DEBUG line of every request carries the
#: path and query, e.g. DingTalk's ``/robot/send?access_token=<token>``). A logging filter only sees the
#: records of the logger it is attached to, so each is named.
REDACTED_LOGGERS = ("apprise", "urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry", "requests")


def install_log_redaction() -> None:
    """Redact URLs and active secrets in every record of :data:`REDACTED_LOGGERS`.

    apprise's parse errors quote URLs with their tokens, plugins log tokens outside URLs, and urllib3 logs
    each request's path and query. Idempotent; done on import of this module.
    """
    names = [apprise.LOGGER_NAME if hasattr(apprise, "LOGGER_NAME") else "apprise", *REDACTED_LOGGERS[1:]]
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactingFilter) for f in logger.filters):
            logger.addFilter(_RedactingFilter())


install_log_redaction()
