"""Signing in and out, and the start page that sends each role to its own page."""
from __future__ import annotations

import time
from collections import defaultdict, deque
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from models.user import UserRole
from web.deps import DbDep, csrf_protect, session_user
from web.form_pages import form_page
from web.security import CSRF_COOKIE, SESSION_COOKIE, SESSION_MAX_AGE, SessionData, new_csrf_token
from web.templating import is_https, redirect, render
from web.users import authenticate

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

HOME_BY_ROLE = {
    UserRole.caseworker: "/cases",
    UserRole.agency_officer: "/inbox",
    UserRole.manager: "/dashboard",
    UserRole.admin: "/admin/users",
}


class FailedSignIns:
    """At most ``limit`` failed sign-ins per user name in ``window`` seconds (in this process)."""

    def __init__(self, limit: int = 10, window: float = 900):
        self.limit, self.window = limit, window
        self._failures: dict[str, deque] = defaultdict(deque)

    def blocked(self, username: str) -> bool:
        failures = self._failures.get(username)
        if failures is None:
            return False
        while failures and failures[0] < time.monotonic() - self.window:
            failures.popleft()
        if not failures:
            del self._failures[username]
        return len(failures) >= self.limit

    def record(self, username: str) -> None:
        self._failures[username].append(time.monotonic())


failed_sign_ins = FailedSignIns()


def safe_next(value: str | None) -> str:
    """A local path to go to after sign-in (never another site)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


@router.get("/")
def home(request: Request, db: DbDep) -> Response:
    user = session_user(request, db)
    if user is None:
        return redirect("/login")
    return redirect(HOME_BY_ROLE[UserRole(user.role)])


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", {"next": safe_next(next), "failed": False})


@router.post("/login")
@form_page("/login")
def login(request: Request, db: DbDep, username: Annotated[str, Form(max_length=64)] = "",
          password: Annotated[str, Form(max_length=200)] = "",
          next: Annotated[str, Form(max_length=500)] = "/") -> Response:
    key = username.strip().lower()
    user = None if failed_sign_ins.blocked(key) else authenticate(db, username=key, password=password)
    if user is None:
        failed_sign_ins.record(key)
        # the page's language switch keeps where the user was going (``page_url``: the sign-in page with ``next``)
        page = "/login" + (f"?{urlencode({'next': safe_next(next)})}" if safe_next(next) != "/" else "")
        return render(request, "login.html", {"next": safe_next(next), "failed": True, "username": username,
                                              "page_url": page}, status_code=400)
    data = SessionData(uid=user.id.hex, ver=user.session_version, csrf=new_csrf_token())
    response = redirect(safe_next(next) if safe_next(next) != "/" else HOME_BY_ROLE[UserRole(user.role)])
    response.set_cookie(SESSION_COOKIE, request.app.state.signer.dump_session(data), max_age=SESSION_MAX_AGE,
                        httponly=True, samesite="lax", secure=is_https(request))
    response.delete_cookie(CSRF_COOKIE)
    return response


@router.post("/logout")
@form_page("/")
def logout() -> Response:
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE)
    return response
