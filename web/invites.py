"""One-time invitations (邀请链接) for an agency unit's officers (issue 12: "an admin can invite a unit's officers by
a one-time link").

An admin invites for a unit (:func:`create_invite`) and passes the link on (by phone, WeChat, a letter); the officer
opens it, chooses a user name and a password, and has an ``agency_officer`` account of that unit
(:func:`accept_invite`). The link holds a random token; only its SHA-256 digest is stored. It works once and for
:data:`INVITE_DAYS` days. Both steps are audited (``user.invited``, ``user.invite_accepted``).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from core.audit import record_audit
from core.settings import get_settings
from models.agency import AgencyUnit
from models.base import utcnow
from models.errors import FieldValueError
from models.user import UserInvite, UserRole, WebUser
from web.security import token_digest
from web.users import create_user

#: Days an invitation stays good.
INVITE_DAYS = 7


class InviteInvalid(ValueError):
    """The link is unknown, used or expired (one message for all three: a guessed link learns nothing)."""


@dataclass(frozen=True)
class IssuedInvite:
    """An invitation as just created: the record and its link (shown once; the token is not stored)."""

    record: UserInvite
    url: str


def create_invite(session: Session, *, unit_code: str, actor: str, display_name: str = "",
                  now: datetime | None = None) -> IssuedInvite:
    """Invite an officer of the active unit ``unit_code``; the link is ``<public URL>/invite/<token>``.

    Raises:
        FieldValueError: ``unit_code``: no such active unit; ``display_name``: over 64 characters (worded in the
            reader's language).
    """
    unit = session.get(AgencyUnit, unit_code)
    if unit is None or not unit.active:
        raise FieldValueError("unit_code", "problem.no_unit", value=unit_code)
    display_name = (display_name or "").strip()
    if len(display_name) > 64:
        raise FieldValueError("display_name", "problem.too_long", n=64, have=len(display_name))
    now = now or utcnow()
    token = secrets.token_urlsafe(24)
    record = UserInvite(token_hash=token_digest(token), unit_code=unit.code, display_name=display_name,
                        created_by=actor, created_at=now, expires_at=now + timedelta(days=INVITE_DAYS))
    session.add(record)
    record_audit(session, actor=actor, action="user.invited", entity_type="user_invite", entity_id=record.id,
                 detail={"unit": unit.code, "display_name": display_name, "expires_at": record.expires_at.isoformat()})
    return IssuedInvite(record=record, url=f"{get_settings().resolved_public_url}/invite/{token}")


def open_invite(session: Session, token: str, *, now: datetime | None = None) -> UserInvite:
    """The unused, unexpired invitation of ``token``.

    Raises:
        InviteInvalid: unknown, used or expired.
    """
    if not token or len(token) > 100:
        raise InviteInvalid("invite")
    record = session.exec(select(UserInvite).where(UserInvite.token_hash == token_digest(token))).first()
    if record is None or record.used_at is not None or record.expires_at <= (now or utcnow()):
        raise InviteInvalid("invite")
    return record


def accept_invite(session: Session, token: str, *, username: str, password: str, display_name: str = "",
                  phone: str = "", now: datetime | None = None) -> WebUser:
    """Make the invited officer's account and spend the invitation, in the caller's transaction.

    The invitation is claimed by a conditional ``UPDATE … WHERE used_at IS NULL AND expires_at > now``: of two
    people using one link at once, one gets the account. A bad user name or password raises before anything is
    kept (the caller rolls back, the link stays good).

    Raises:
        InviteInvalid: unknown, used or expired. ValueError: ``field 'username'`` / ``'password'`` (see
            :func:`web.users.create_user`).
    """
    now = now or utcnow()
    record = open_invite(session, token, now=now)
    user = create_user(session, username=username, password=password, role=UserRole.agency_officer,
                       actor=(username or "").strip().lower()[:64] or "invite",
                       display_name=(display_name or record.display_name).strip()[:64],
                       unit_code=record.unit_code, phone=(phone or "").strip()[:32])
    claimed = session.execute(sa.update(UserInvite).where(
        UserInvite.id == record.id, UserInvite.used_at.is_(None), UserInvite.expires_at > now,
    ).values(used_at=now, used_by=user.username).execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        raise InviteInvalid("invite")
    record_audit(session, actor=user.username, action="user.invite_accepted", entity_type="user_invite",
                 entity_id=record.id, detail={"unit": record.unit_code, "invited_by": record.created_by})
    return user
