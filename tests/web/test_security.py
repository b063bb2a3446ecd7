"""Passwords, tokens, signed cookies and the signing key (web.security)."""
import os
import stat
import time
from time import time as time_now

import pytest

from web.security import (
    SESSION_MAX_AGE, CookieSigner, SessionData, check_password_strength, hash_password, load_secret_key, new_api_token,
    token_digest, tokens_match, verify_password,
)


def test_passwords_are_argon2_hashes_that_verify():
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$") and "correct" not in hashed
    assert verify_password("correct horse battery", hashed)
    assert not verify_password("wrong horse battery", hashed)
    assert not verify_password("anything at all", None)  # unknown user: same work, never True
    assert not verify_password("anything at all", "not-a-hash")


def test_short_passwords_are_refused():
    with pytest.raises(ValueError, match="field 'password'"):
        check_password_strength("short")
    with pytest.raises(ValueError):
        hash_password("123456789")


def test_api_tokens_are_stored_only_as_digests():
    token, digest = new_api_token()
    assert token.startswith("cf_") and len(token) > 40
    assert digest == token_digest(token) and token not in digest and len(digest) == 64


def test_session_cookies_are_signed_and_expire(monkeypatch):
    signer = CookieSigner("k" * 40)
    data = SessionData(uid="ab" * 16, ver=3, csrf="token")
    raw = signer.dump_session(data)
    assert signer.load_session(raw) == data
    # The first character carries six bits of the payload (the last may carry only padding bits: changing it
    # can leave the bytes unchanged, which made this test fail one run in a few).
    assert signer.load_session(("B" if raw[0] == "A" else "A") + raw[1:]) is None
    assert CookieSigner("x" * 40).load_session(raw) is None  # another key
    with monkeypatch.context() as m:
        m.setattr(time, "time", lambda: time_now() - SESSION_MAX_AGE - 60)
        expired = signer.dump_session(data)
    assert signer.load_session(expired) is None
    assert signer.load_csrf(signer.dump_session(data)) is None  # a session is not a CSRF token


def test_token_comparison():
    assert tokens_match("abc", "abc")
    assert not tokens_match("abc", "abd") and not tokens_match(None, "abc") and not tokens_match("", "")


def test_the_signing_key_is_created_once_and_private(tmp_path, monkeypatch):
    from core.settings import get_settings

    monkeypatch.setenv("CAREFLOW_HOME", str(tmp_path))
    monkeypatch.delenv("CAREFLOW_WEB_SECRET", raising=False)
    get_settings.cache_clear()
    try:
        key = load_secret_key()
        assert len(key) >= 60 and load_secret_key() == key
        assert stat.S_IMODE(os.stat(tmp_path / "web_secret.key").st_mode) == 0o600
        monkeypatch.setenv("CAREFLOW_WEB_SECRET", "too short")
        with pytest.raises(ValueError):
            load_secret_key()
    finally:
        get_settings.cache_clear()


def test_cookies_are_secure_when_the_public_url_is_https(web_app, monkeypatch):
    from fastapi.testclient import TestClient

    from core.settings import get_settings

    def login_cookies() -> list[str]:
        client = TestClient(web_app, follow_redirects=False)
        return [v for k, v in client.get("/login?lang=zh").headers.multi_items() if k == "set-cookie"]

    try:
        monkeypatch.setenv("CAREFLOW_PUBLIC_URL", "http://127.0.0.1:8000")
        get_settings.cache_clear()
        plain = login_cookies()
        assert plain and not any("secure" in c.lower() for c in plain)
        monkeypatch.setenv("CAREFLOW_PUBLIC_URL", "https://careflow.example.gov.cn")
        get_settings.cache_clear()
        cookies = login_cookies()
        assert {c.split("=", 1)[0] for c in cookies} == {"careflow_csrf", "careflow_lang"}
        assert all("; secure" in c.lower() for c in cookies), cookies
    finally:
        monkeypatch.delenv("CAREFLOW_PUBLIC_URL")
        get_settings.cache_clear()


def test_the_session_cookie_is_secure_behind_https(web_app, world, monkeypatch):
    from fastapi.testclient import TestClient

    from core.settings import get_settings
    from tests.web.conftest import CSRF, PASSWORD

    monkeypatch.setenv("CAREFLOW_PUBLIC_URL", "https://careflow.example.gov.cn")
    get_settings.cache_clear()
    try:
        client = TestClient(web_app, follow_redirects=False)  # plain http, as behind a TLS-terminating proxy
        page = client.get("/login")
        csrf_cookie = page.cookies.get("careflow_csrf") or page.headers["set-cookie"].split(";")[0].split("=", 1)[1]
        response = client.post("/login", headers={"Cookie": f"careflow_csrf={csrf_cookie}"},
                               data={"username": world.person("cw_a").username, "password": PASSWORD,
                                     "csrf_token": CSRF.search(page.text).group(1)})
    finally:
        monkeypatch.delenv("CAREFLOW_PUBLIC_URL")
        get_settings.cache_clear()
    assert response.status_code == 303, response.text
    session = [v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("careflow_session=")]
    assert session and "; secure" in session[0].lower() and "httponly" in session[0].lower()
