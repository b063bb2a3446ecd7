"""Request dependencies: the database session, who is signed in, role checks and CSRF.

Pages use the session cookie; a page that needs a signed-in user redirects to ``/login`` otherwise.
The API (``/api``) takes either ``Authorization: Bearer <token>`` (tokens are created on ``/account``) or the
session cookie of a signed-in browser; with the cookie, unsafe methods (POST, PATCH) also need the session's
CSRF token in the ``X-CSRF-Token`` header. A bearer token needs none (no browser sends it by itself).
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session
from starlette.datastructures import FormData

from core.db import session_scope
from core.i18n import gettext
from models.agency import AgencyUnit
from models.user import UserRole, WebUser
from web.i18n import pick_language
from web.scope import NotAllowed
from web.security import CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, SessionData, tokens_match
from web.users import user_for_token

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_db() -> Iterator[Session]:
    """One session per request, committed when the handler succeeds and rolled back on any error.

    Scoped to the handler (``scope="function"``): the commit happens before the response is sent, so a
    201 or a redirect is only ever answered for what is stored.
    """
    with session_scope() as session:
        yield session


DbDep = Annotated[Session, Depends(get_db, scope="function")]


@dataclass(frozen=True)
class SignedIn:
    """Who is signed in, as pages show it (a plain copy: still readable after the request's session closed)."""

    username: str
    display_name: str
    role: str
    jurisdiction_code: str
    unit_code: str | None
    unit_name: str = ""  # the officer's unit by name (pages show names, not codes)

    @classmethod
    def of(cls, user: WebUser, unit_name: str = "") -> "SignedIn":
        return cls(user.username, user.display_name, UserRole(user.role).value, user.jurisdiction_code, user.unit_code,
                   unit_name)


class LoginRequired(Exception):
    """No valid session: a page redirects to ``/login?next=…``."""


class CsrfFailed(Exception):
    """An unsafe request without the right CSRF token (403)."""


def read_session(request: Request) -> SessionData | None:
    """The signed session in the request's cookie (not yet checked against the user)."""
    return request.app.state.signer.load_session(request.cookies.get(SESSION_COOKIE))


def session_user(request: Request, db: Session) -> WebUser | None:
    """The active user of a valid session cookie whose session version is current, else None."""
    data = read_session(request)
    if data is None:
        return None
    try:
        user = db.get(WebUser, uuid.UUID(data.uid))
    except ValueError:
        return None
    if user is None or not user.active or user.session_version != data.ver:
        return None
    request.state.session = data
    unit = db.get(AgencyUnit, user.unit_code) if user.unit_code else None
    request.state.user = SignedIn.of(user, unit.name if unit else "")
    return user


def expected_csrf(request: Request) -> str | None:
    """The CSRF token a form must carry: the session's when signed in, else the signed pre-sign-in cookie's."""
    data = read_session(request)
    if data is not None:
        return data.csrf
    return request.app.state.signer.load_csrf(request.cookies.get(CSRF_COOKIE))


async def csrf_protect(request: Request) -> None:
    """Reject (403) an unsafe page request whose form field ``csrf_token`` does not match."""
    if request.method in SAFE_METHODS:
        return
    given = None
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        given = (await request.form()).get(CSRF_FIELD)
    given = given or request.headers.get(CSRF_HEADER)
    if not tokens_match(given if isinstance(given, str) else None, expected_csrf(request)):
        raise CsrfFailed()


async def get_form(request: Request) -> FormData:
    """The submitted form, read on the event loop so that the page handler itself can be a plain (threaded)
    function: handlers call careflow's synchronous code, which may itself run ``asyncio.run``."""
    return await request.form()


FormDep = Annotated[FormData, Depends(get_form)]


def page_user(request: Request, db: DbDep) -> WebUser:
    """The signed-in user of a page (redirects to sign-in otherwise)."""
    user = session_user(request, db)
    if user is None:
        raise LoginRequired()
    return user


PageUser = Annotated[WebUser, Depends(page_user)]


def page_role(*roles: UserRole):
    """A dependency: the signed-in user if their role is one of ``roles`` (403 otherwise)."""

    def dependency(user: PageUser) -> WebUser:
        if UserRole(user.role) not in roles:
            raise NotAllowed(f"role {UserRole(user.role).value!r} may not use this page")
        return user

    return dependency


CaseworkerPage = Annotated[WebUser, Depends(page_role(UserRole.caseworker))]
ReaderPage = Annotated[WebUser, Depends(page_role(UserRole.caseworker, UserRole.manager))]
OfficerPage = Annotated[WebUser, Depends(page_role(UserRole.agency_officer))]
ManagerPage = Annotated[WebUser, Depends(page_role(UserRole.manager))]
AdminPage = Annotated[WebUser, Depends(page_role(UserRole.admin))]

# --------------------------------------------------------------------------------------------- API

bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="token",
    description="An API token created on /account: `Authorization: Bearer cf_…`. Acts as its user.",
)
cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, scheme_name="session",
    description="The session cookie of a signed-in browser; POST/PATCH also need the header X-CSRF-Token.",
)


class ApiPrincipal:
    """The caller of an API request and how they authenticated."""

    def __init__(self, user: WebUser, via: Literal["session", "token"]):
        self.user = user
        self.via = via


def api_principal(
    request: Request, db: DbDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)] = None,
    cookie: Annotated[str | None, Security(cookie_scheme)] = None,
) -> ApiPrincipal:
    """Authenticate an API call by bearer token or session cookie (401 otherwise; 403 on a missing CSRF header)."""
    if bearer is not None:
        user = user_for_token(db, bearer.credentials)
        if user is None:
            raise HTTPException(401, "invalid or revoked API token", headers={"WWW-Authenticate": "Bearer"})
        request.state.user = SignedIn.of(user)
        return ApiPrincipal(user, "token")
    if cookie:
        user = session_user(request, db)
        if user is None:
            raise HTTPException(401, "session expired: sign in again", headers={"WWW-Authenticate": "Bearer"})
        if request.method not in SAFE_METHODS and not tokens_match(request.headers.get(CSRF_HEADER),
                                                                    request.state.session.csrf):
            raise HTTPException(403, gettext("api.csrf_header", pick_language(request), header=CSRF_HEADER))
        return ApiPrincipal(user, "session")
    raise HTTPException(401, gettext("api.sign_in", pick_language(request)), headers={"WWW-Authenticate": "Bearer"})


ApiCaller = Annotated[ApiPrincipal, Depends(api_principal)]


def api_role(*roles: UserRole):
    """A dependency: the API caller's user if their role is one of ``roles`` (403 otherwise)."""

    def dependency(request: Request, caller: ApiCaller) -> WebUser:
        if UserRole(caller.user.role) not in roles:  # in the caller's words (was 「role 'agency_officer' may not …」)
            raise HTTPException(403, gettext("api.not_allowed", pick_language(request)))
        return caller.user

    return dependency


ApiCaseworker = Annotated[WebUser, Depends(api_role(UserRole.caseworker))]
ApiReader = Annotated[WebUser, Depends(api_role(UserRole.caseworker, UserRole.manager))]
ApiOfficer = Annotated[WebUser, Depends(api_role(UserRole.agency_officer))]
ApiManager = Annotated[WebUser, Depends(api_role(UserRole.manager))]
ApiAdmin = Annotated[WebUser, Depends(api_role(UserRole.admin))]
