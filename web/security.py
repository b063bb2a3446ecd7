"""Passwords (argon2), API tokens, signed session cookies and CSRF tokens (DOMAIN.md §8).

* Passwords are hashed with argon2id (``pwdlib``); :func:`verify_password` also runs for unknown users
  (against a dummy hash) so that timing does not reveal which login names exist.
* API tokens are ``cf_`` + 43 URL-safe characters; only their SHA-256 digest is stored.
* The session cookie is signed and timestamped (``itsdangerous``) and holds ``{uid, ver, csrf}``: the user id,
  the user's ``session_version`` (raising it signs the user out everywhere) and the session's CSRF token.
  Cookies are HttpOnly and SameSite=Lax, and Secure (:func:`cookies_secure`) when ``CAREFLOW_PUBLIC_URL`` is
  ``https://…`` (the app behind a TLS-terminating proxy sees plain HTTP) or the request itself came over HTTPS.
* CSRF: every form carries ``csrf_token``; signed in, it must equal the session's token (session-bound);
  before sign-in, it must equal the signed ``careflow_csrf`` cookie (double submit).

The signing key comes from ``CAREFLOW_WEB_SECRET`` or else from ``$CAREFLOW_HOME/web_secret.key``, created
with 48 random bytes (mode 0600) on first use; there is no built-in default key.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache

from itsdangerous import BadSignature, URLSafeTimedSerializer
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from core.settings import get_settings
from models.errors import FieldValueError

SESSION_COOKIE = "careflow_session"
CSRF_COOKIE = "careflow_csrf"
LANG_COOKIE = "careflow_lang"
#: A session lasts a working day at most; signing in again starts a new one.
SESSION_MAX_AGE = 12 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "cf_"


@lru_cache
def _hasher() -> PasswordHash:
    return PasswordHash((Argon2Hasher(),))


@lru_cache
def _dummy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))


def check_password_strength(password: str) -> None:
    """Raise FieldValueError (field ``password``, ``problem.too_short``) unless ``password`` has at least 10
    characters."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise FieldValueError("password", "problem.too_short", n=MIN_PASSWORD_LENGTH)


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (raises ValueError when it is too short)."""
    check_password_strength(password)
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether ``password`` matches ``password_hash``; ``None`` (unknown user) takes as long and is False."""
    if password_hash is None:
        _hasher().verify(password or "", _dummy_hash())
        return False
    try:
        return _hasher().verify(password or "", password_hash)
    except Exception:  # a malformed stored hash is a failed sign-in, never a server error
        return False


def new_api_token() -> tuple[str, str]:
    """A new API token and its digest: ``(token shown once, sha256 hex stored)``."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    """SHA-256 hex digest of a token (what ``api_token.token_hash`` holds)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; False when either is missing."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def cookies_secure(request_scheme: str) -> bool:
    """Whether cookies get the ``Secure`` flag: the public URL (``CAREFLOW_PUBLIC_URL``) is HTTPS, or the request
    came over HTTPS (``request_scheme`` is ``"https"``)."""
    public_url = get_settings().public_url or ""
    return request_scheme == "https" or public_url.lower().startswith("https://")


def load_secret_key() -> str:
    """The cookie-signing key: ``CAREFLOW_WEB_SECRET``, else ``$CAREFLOW_HOME/web_secret.key`` (created once).

    Raises:
        ValueError: ``CAREFLOW_WEB_SECRET`` is set but shorter than 32 characters.
    """
    configured = os.environ.get("CAREFLOW_WEB_SECRET", "")
    if configured:
        if len(configured) < 32:
            raise ValueError("CAREFLOW_WEB_SECRET: at least 32 characters")
        return configured
    path = get_settings().home / "web_secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


@dataclass(frozen=True)
class SessionData:
    """What a session cookie carries: user id (hex), the user's session version, the CSRF token."""

    uid: str
    ver: int
    csrf: str


class CookieSigner:
    """Signs and checks the session cookie and the pre-sign-in CSRF cookie."""

    def __init__(self, secret: str):
        self._session = URLSafeTimedSerializer(secret, salt="careflow-session")
        self._csrf = URLSafeTimedSerializer(secret, salt="careflow-csrf")

    def dump_session(self, data: SessionData) -> str:
        return self._session.dumps({"uid": data.uid, "ver": data.ver, "csrf": data.csrf})

    def load_session(self, raw: str | None) -> SessionData | None:
        """The session in a cookie value, or None when missing, tampered with or older than 12 hours."""
        if not raw:
            return None
        try:
            value = self._session.loads(raw, max_age=SESSION_MAX_AGE)
            return SessionData(uid=str(value["uid"]), ver=int(value["ver"]), csrf=str(value["csrf"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def dump_csrf(self, token: str) -> str:
        return self._csrf.dumps(token)

    def load_csrf(self, raw: str | None) -> str | None:
        if not raw:
            return None
        try:
            return str(self._csrf.loads(raw, max_age=SESSION_MAX_AGE))
        except (BadSignature, TypeError, ValueError):
            return None
