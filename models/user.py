"""People who sign in to the web app (网页用户) and their API tokens.

Roles (DOMAIN.md §1, §8):

* ``caseworker`` — 儿童主任/儿童督导员/社会工作者; ``jurisdiction_code`` is a township (9 digits) or a county
  (6 digits): they see the children and cases whose residence lies inside it.
* ``agency_officer`` — staff of one agency unit (``unit_code``); they see only that unit's tasks and only what
  the step needs (case reference, step, deadline, instructions), never a child's name or ID number.
* ``manager`` — county/city/province civil affairs or 妇儿工委办; ``jurisdiction_code`` (e.g. ``350302``,
  ``350300``, ``350000``): everything inside it, read-only.
* ``admin`` — manages users and agency units; reads no child's record.

Passwords are stored only as argon2 hashes; API tokens only as SHA-256 digests. Every constraint is named
(migration ``0004``).
"""
from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import StrEnumColumn, UTCDateTime, new_id, utcnow


class UserRole(enum.StrEnum):
    caseworker = "caseworker"
    agency_officer = "agency_officer"
    manager = "manager"
    admin = "admin"

    @property
    def needs_jurisdiction(self) -> bool:
        """Caseworkers and managers are bound to a jurisdiction code."""
        return self in (UserRole.caseworker, UserRole.manager)

    @property
    def needs_unit(self) -> bool:
        """Agency officers are bound to one agency unit."""
        return self == UserRole.agency_officer


class WebUser(SQLModel, table=True):
    """A person who signs in to the web app.

    ``session_version`` is part of every session cookie: raising it (password change, deactivation,
    role change) signs the user out everywhere at once.
    """

    __tablename__ = "web_user"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="pk_web_user"),
        sa.UniqueConstraint("username", name="uq_web_user_username"),
        sa.Index("ix_web_user_unit_code", "unit_code"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    username: str = Field(max_length=64, description="login name, e.g. lin.fang; also the actor in the audit trail")
    display_name: str = Field(default="", max_length=64)
    phone: str = Field(default="", sa_column=sa.Column(sa.String(32), nullable=False, server_default=""),
                       description="work phone shown to the units a caseworker's cases are referred to (0011)")
    password_hash: str = Field(max_length=255)
    role: UserRole = Field(sa_column=sa.Column(StrEnumColumn(UserRole), nullable=False))
    jurisdiction_code: str = Field(default="", max_length=12, description="GB/T 2260 or township/village code")
    unit_code: str | None = Field(
        default=None,
        sa_column=sa.Column(sa.String(64), sa.ForeignKey("agency_unit.code", name="fk_web_user_unit_code"),
                            nullable=True),
    )
    active: bool = True
    session_version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    created_by: str = Field(default="", max_length=64)
    last_login_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))


class ApiToken(SQLModel, table=True):
    """A bearer token for the JSON API, acting as its user with the user's permissions.

    Only the SHA-256 digest of the token is stored; the token itself is shown once, when created.
    """

    __tablename__ = "api_token"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="pk_api_token"),
        sa.UniqueConstraint("token_hash", name="uq_api_token_token_hash"),
        sa.Index("ix_api_token_user_id", "user_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=sa.Column(sa.Uuid(), sa.ForeignKey("web_user.id", name="fk_api_token_user_id"), nullable=False)
    )
    name: str = Field(default="", max_length=64)
    token_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    last_used_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    revoked_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))


class UserInvite(SQLModel, table=True):
    """A one-time invitation (邀请链接) for an agency unit's officer to make their own account (issue 12).

    An admin creates it for a unit; the link carries a random token of which only the SHA-256 digest is stored.
    It is good once (``used_at``), for :data:`web.invites.INVITE_DAYS` days (``expires_at``, UTC); the account
    it makes is an ``agency_officer`` of ``unit_code``.
    """

    __tablename__ = "user_invite"
    __table_args__ = (
        sa.PrimaryKeyConstraint("id", name="pk_user_invite"),
        sa.UniqueConstraint("token_hash", name="uq_user_invite_token_hash"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    token_hash: str = Field(max_length=64)
    unit_code: str = Field(
        sa_column=sa.Column(sa.String(64), sa.ForeignKey("agency_unit.code", name="fk_user_invite_unit_code"),
                            nullable=False))
    display_name: str = Field(default="", max_length=64, description="who the admin meant it for (a hint)")
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UTCDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=sa.Column(UTCDateTime, nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    used_by: str = Field(default="", max_length=64)
