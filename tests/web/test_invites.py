"""An admin invites a unit's officer by a one-time link (issue 12, "Accounts"): the officer opens it without an
account, chooses a user name and a password, signs in and sees the unit's inbox; the link then no longer works, nor
does an expired one; a bad password is refused in Chinese and the link stays good."""
from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlmodel import select

from core.db import session_scope
from models.audit import AuditEvent
from models.base import utcnow
from models.user import UserInvite, UserRole, WebUser
from tests.web.chinese import leaks, visible_text
from tests.web.conftest import CSRF, Browser, sign_in
from web.invites import InviteInvalid, accept_invite, create_invite

UNIT = "police-350302"
LINK = re.compile(r'id="invite-url" readonly value="https?://[^/]+(/invite/[^"]+)"')


def _sign_up(web_app, path: str, **form) -> tuple[Browser, object]:
    visitor = Browser(web_app, follow_redirects=False)
    page = visitor.get(path)
    token = CSRF.search(page.text)
    response = visitor.post(path, data={**form, "csrf_token": token.group(1) if token else ""})
    return visitor, response


def test_an_admin_invites_an_officer_who_makes_their_own_account(web_app, clients):
    admin = clients["admin"]
    page = admin.post(f"/admin/units/{UNIT}/invite", data={"invite_name": "赵警官", "csrf_token": admin.csrf})
    assert page.status_code == 200 and leaks(page.text) == []
    path = LINK.search(page.text).group(1)

    visitor = Browser(web_app, follow_redirects=False)
    opened = visitor.get(path)
    assert opened.status_code == 200 and leaks(opened.text) == []
    assert "莆田市公安局城厢分局" in visible_text(opened.text) and 'value="赵警官"' in opened.text

    username = f"zhao.{uuid.uuid4().hex[:6]}"
    _, short = _sign_up(web_app, path, username=username, password="short", display_name="赵警官")
    assert short.status_code == 400 and leaks(short.text) == [] and "密码" in visible_text(short.text)
    _, done = _sign_up(web_app, path, username=username, password="a-long-password-1", display_name="赵警官",
                       phone="0594-110")
    assert done.status_code == 303 and done.headers["location"] == "/login?done=invited"

    officer = sign_in(web_app, username, "a-long-password-1")
    assert officer.get("/inbox").status_code == 200
    with session_scope() as session:
        user = session.exec(select(WebUser).where(WebUser.username == username)).one()
        assert (user.role, user.unit_code, user.display_name, user.phone) == (UserRole.agency_officer, UNIT,
                                                                              "赵警官", "0594-110")
        actions = {e.action: e.actor for e in session.exec(select(AuditEvent).where(
            AuditEvent.entity_type == "user_invite")).all()}
        assert actions["user.invite_accepted"] == username and "user.invited" in actions

    again = Browser(web_app, follow_redirects=False).get(path)  # the link a second time
    assert again.status_code == 410 and "邀请链接无效、已使用或已过期" in visible_text(again.text)
    assert leaks(again.text) == []


def test_an_expired_or_used_link_makes_no_account(database_url):
    with session_scope() as session:
        issued = create_invite(session, unit_code=UNIT, actor="admin", now=utcnow() - timedelta(days=8))
    token = issued.url.rsplit("/", 1)[1]
    with session_scope() as session, pytest.raises(InviteInvalid):  # expired
        accept_invite(session, token, username=f"late.{uuid.uuid4().hex[:6]}", password="a-long-password-1")
    with session_scope() as session:  # the same link in two transactions: the second finds it spent
        fresh = create_invite(session, unit_code=UNIT, actor="admin")
    token = fresh.url.rsplit("/", 1)[1]
    with session_scope() as session:
        accept_invite(session, token, username=f"first.{uuid.uuid4().hex[:6]}", password="a-long-password-1")
    with session_scope() as session, pytest.raises(InviteInvalid):
        accept_invite(session, token, username=f"second.{uuid.uuid4().hex[:6]}", password="a-long-password-1")
    with session_scope() as session:
        assert session.get(UserInvite, fresh.record.id).used_by.startswith("first.")
