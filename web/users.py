"""Web users and API tokens: create, update, authenticate (keyword-only verb_noun functions).

Each function takes the caller's session and leaves committing to it; changes are audited
(``user.created``, ``user.updated``, ``token.created``…) without any password or token in the detail.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlmodel import Session, select

from core.audit import record_audit
from models.agency import AgencyUnit
from models.base import utcnow
from models.errors import FieldValueError
from models.user import ApiToken, UserRole, WebUser
from web.security import hash_password, new_api_token, token_digest, verify_password

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}[a-z0-9]$")
AREA_CODE = re.compile(r"^\d{6}(\d{3}(\d{3})?)?$")


def check_scope(session: Session, *, role: UserRole, jurisdiction_code: str, unit_code: str | None) -> None:
    """Check that a role has the binding it needs.

    Caseworkers and managers need a 6-, 9- or 12-digit jurisdiction code (a manager's is 6 digits: county,
    city ``xxxx00`` or province ``xx0000``); agency officers need an existing unit; admins need neither.

    Raises:
        FieldValueError: naming the field and the value, worded in the reader's language (``problem.…``).
    """
    if role.needs_jurisdiction:
        if not (jurisdiction_code or "").strip():
            raise FieldValueError("jurisdiction_code", "problem.area_for_role_missing")
        if not AREA_CODE.match(jurisdiction_code) or (role == UserRole.manager and len(jurisdiction_code) != 6):
            raise FieldValueError("jurisdiction_code", "problem.area_for_role", value=jurisdiction_code)
    if role.needs_unit:
        if not unit_code:
            raise FieldValueError("unit_code", "problem.required")
        if session.get(AgencyUnit, unit_code) is None:
            raise FieldValueError("unit_code", "problem.no_unit", value=unit_code)


def user_role(role: UserRole | str) -> UserRole:
    """``role`` as a :class:`UserRole`; FieldValueError (field ``role``) naming the value and the roles."""
    try:
        return UserRole(str(getattr(role, "value", role)).strip())
    except ValueError:
        raise FieldValueError("role", "problem.not_a_role", value=str(role),
                              roles=", ".join(r.value for r in UserRole)) from None


def create_user(
    session: Session, *, username: str, password: str, role: UserRole | str, actor: str,
    display_name: str = "", jurisdiction_code: str = "", unit_code: str | None = None, phone: str = "",
) -> WebUser:
    """Create a web user with an argon2-hashed password.

    Raises:
        FieldValueError: a malformed or taken username, an unknown role, a short password, a missing jurisdiction
            or unit (naming the field and the value, worded in the reader's language).
    """
    typed, username = username, (username or "").strip().lower()
    if not USERNAME.match(username):
        raise FieldValueError("username", "problem.username_format", value=(typed or "").strip())
    if session.exec(select(WebUser).where(WebUser.username == username)).first():
        raise FieldValueError("username", "problem.username_taken", value=username)
    role = user_role(role)
    jurisdiction_code = (jurisdiction_code or "").strip() if role.needs_jurisdiction else ""
    unit_code = (unit_code or "").strip() or None if role.needs_unit else None
    check_scope(session, role=role, jurisdiction_code=jurisdiction_code, unit_code=unit_code)
    user = WebUser(username=username, display_name=(display_name or "").strip()[:64], role=role,
                   phone=(phone or "").strip()[:32],
                   password_hash=hash_password(password), jurisdiction_code=jurisdiction_code,
                   unit_code=unit_code, created_by=actor)
    session.add(user)
    session.flush()  # before any token of the user is inserted
    record_audit(session, actor=actor, action="user.created", entity_type="web_user", entity_id=user.id,
                 detail={"username": username, "role": role.value, "jurisdiction_code": jurisdiction_code,
                         "unit_code": unit_code})
    return user


def update_user(
    session: Session, user: WebUser, *, actor: str, display_name: str | None = None, role: UserRole | str | None = None,
    jurisdiction_code: str | None = None, unit_code: str | None = None, active: bool | None = None,
    password: str | None = None, phone: str | None = None,
) -> WebUser:
    """Change a user's name, role, scope, active flag or password (``None`` leaves a field alone).

    A change of role, scope, active flag or password raises ``session_version`` (signs the user out) and a
    deactivation revokes the user's API tokens.

    Raises:
        ValueError: as :func:`create_user`.
    """
    new_role = user_role(role) if role is not None else UserRole(user.role)
    new_jurisdiction = (jurisdiction_code if jurisdiction_code is not None else user.jurisdiction_code).strip()
    new_unit = unit_code if unit_code is not None else user.unit_code
    new_unit = (new_unit or "").strip() or None
    if not new_role.needs_jurisdiction:
        new_jurisdiction = ""
    if not new_role.needs_unit:
        new_unit = None
    check_scope(session, role=new_role, jurisdiction_code=new_jurisdiction, unit_code=new_unit)
    changed = {}
    if display_name is not None and display_name.strip()[:64] != user.display_name:
        changed["display_name"] = user.display_name = display_name.strip()[:64]
    if phone is not None and phone.strip()[:32] != user.phone:
        changed["phone"] = user.phone = phone.strip()[:32]
    sign_out = False
    for field, value in (("role", new_role), ("jurisdiction_code", new_jurisdiction), ("unit_code", new_unit)):
        if getattr(user, field) != value:
            setattr(user, field, value)
            changed[field] = value.value if isinstance(value, UserRole) else value
            sign_out = True
    if active is not None and active != user.active:
        user.active = active
        changed["active"] = active
        sign_out = True
        if not active:
            for token in session.exec(select(ApiToken).where(ApiToken.user_id == user.id,
                                                             ApiToken.revoked_at == None)).all():  # noqa: E711
                token.revoked_at = utcnow()
                session.add(token)
    if password:
        user.password_hash = hash_password(password)
        changed["password"] = "changed"
        sign_out = True
    if sign_out:
        user.session_version += 1
    session.add(user)
    if changed:
        record_audit(session, actor=actor, action="user.updated", entity_type="web_user", entity_id=user.id,
                     detail={"username": user.username, **changed})
    return user


def authenticate(session: Session, *, username: str, password: str) -> WebUser | None:
    """The active user with this login and password, or None (the same time is spent either way)."""
    user = session.exec(select(WebUser).where(WebUser.username == (username or "").strip().lower())).first()
    if not verify_password(password, user.password_hash if user else None) or not user.active:
        return None
    user.last_login_at = utcnow()
    session.add(user)
    return user


@dataclass
class IssuedToken:
    """A newly created token: ``token`` is shown once and never stored."""

    record: ApiToken
    token: str


def create_api_token(session: Session, *, user: WebUser, name: str = "") -> IssuedToken:
    """Create a bearer token acting as ``user`` (audited without the token)."""
    token, digest = new_api_token()
    record = ApiToken(user_id=user.id, name=(name or "").strip()[:64], token_hash=digest)
    session.add(record)
    record_audit(session, actor=user.username, action="token.created", entity_type="api_token",
                 entity_id=record.id, detail={"name": record.name})
    return IssuedToken(record=record, token=token)


def revoke_api_token(session: Session, *, user: WebUser, token_id: uuid.UUID) -> bool:
    """Revoke one of ``user``'s own tokens; False when it is not theirs or already revoked."""
    record = session.get(ApiToken, token_id)
    if record is None or record.user_id != user.id or record.revoked_at is not None:
        return False
    record.revoked_at = utcnow()
    session.add(record)
    record_audit(session, actor=user.username, action="token.revoked", entity_type="api_token", entity_id=record.id)
    return True


def user_for_token(session: Session, token: str) -> WebUser | None:
    """The active user of a valid, unrevoked bearer token, or None (records the token's last use)."""
    if not token or not token.startswith("cf_") or len(token) > 100:
        return None
    record = session.exec(select(ApiToken).where(ApiToken.token_hash == token_digest(token))).first()
    if record is None or record.revoked_at is not None:
        return None
    user = session.get(WebUser, record.user_id)
    if user is None or not user.active:
        return None
    record.last_used_at = utcnow()
    session.add(record)
    return user
