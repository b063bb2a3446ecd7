"""The FastAPI application: pages, the JSON API under ``/api``, static files, error pages, security headers.

``uvicorn --factory web.app:create_app`` (or ``careflow web serve``) runs it. The OpenAPI document is at
``/api/openapi.json``; there is no Swagger page, because its script would come from a CDN and this app
loads nothing from outside.
"""
from __future__ import annotations

from core.prefect_env import configure_prefect_env

configure_prefect_env()  # before anything imports prefect (careflow.resume does)

import logging  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import parse_qsl, quote, unquote_to_bytes  # noqa: E402

from fastapi import FastAPI, HTTPException, Request  # noqa: E402
from fastapi.exception_handlers import http_exception_handler  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from fastapi.staticfiles import StaticFiles  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402
from starlette.responses import Response  # noqa: E402
from starlette.types import ASGIApp, Message, Receive, Scope, Send  # noqa: E402

from core.audit import record_audit  # noqa: E402
from core.db import session_scope  # noqa: E402
from core.i18n import gettext  # noqa: E402
from models.errors import FieldValueError  # noqa: E402
from web import api  # noqa: E402
from web.api_errors import api_problems  # noqa: E402
from web.i18n import pick_language  # noqa: E402
from web.actions import PathwayStarter, default_starter  # noqa: E402
from web.deps import CsrfFailed, LoginRequired  # noqa: E402
from web.form_errors import form_errors  # noqa: E402
from web.form_pages import form_page_url  # noqa: E402
from web.i18n import LANGUAGES  # noqa: E402
from web.routes import (  # noqa: E402
    account, admin, auth, cases, child_facts, children, city_lists, closing, dashboard, invitations, invite, manage,
    needs, notices, tasks, todo)
from web.routes import calendar as holiday_calendar  # noqa: E402
from web.routes import programmes  # noqa: E402
from web.scope import NotAllowed, NotVisible  # noqa: E402
from web.inputs import control_character_problem  # noqa: E402
from web.security import LANG_COOKIE, CookieSigner, cookies_secure, load_secret_key  # noqa: E402
from web.templating import redirect, render  # noqa: E402

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
HEALTH = {"status": "ok", "app": "careflow-web"}

API_DESCRIPTION = """
careflow's JSON API: the same data and the same permission rules as the web pages.

**Authentication.** Send `Authorization: Bearer <token>` with a token created on the web page `/account`
(it acts as its user), or use the session cookie of a signed-in browser; with the cookie, `POST` and `PATCH`
also need the header `X-CSRF-Token` carrying the session's CSRF token.

**Permissions.** Caseworkers read and change children and cases inside their jurisdiction (a township or county);
agency officers read and answer only their own unit's tasks and never see a child's name or ID number; managers
read everything inside their jurisdiction; admins manage users and agency units. An object outside your scope
answers **404** (so guessing identifiers reveals nothing), an endpoint your role may not use **403**.
Every read of a child's record or a case's timeline is written to the audit trail.

**Times** are UTC (ISO 8601); `due_local` fields give the deadline in Asia/Shanghai. `?lang=en` gives English
titles and labels (default Chinese).
"""

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


#: The API's answer to a body that is not UTF-8 text (pages show ``error.encoding``).
NOT_UTF8_DETAIL = "请求内容不是 UTF-8 编码的文本，无法读取；请以 UTF-8 编码重新提交。"
#: Content types whose body is text that must be UTF-8 (multipart bodies carry binary files and are not checked).
TEXT_BODY_TYPES = ("application/json", "application/x-www-form-urlencoded", "text/")


def _text_body_type(scope: Scope) -> str | None:
    """The request's content type (lower case, without parameters) if its body is meant as text, else None. A body
    without a content type is read as JSON (FastAPI does so)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            kind = value.decode("latin-1").split(";", 1)[0].strip().lower()
            if kind.startswith(TEXT_BODY_TYPES) or kind.endswith("+json"):
                return kind
            return None
    return "application/json" if scope.get("method") in ("POST", "PUT", "PATCH") else None


def is_utf8_body(body: bytes, content_type: str) -> bool:
    """Whether ``body`` is UTF-8 text; a form body also after percent-decoding (``%FF`` is no more text than a
    raw 0xFF byte)."""
    try:
        body.decode("utf-8")
        if content_type == "application/x-www-form-urlencoded":
            unquote_to_bytes(body.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def form_control_problem(body: bytes) -> tuple[str, FieldValueError] | None:
    """``(field, problem)`` for the first field of a UTF-8 form body holding a control character other than tab
    and line breaks (PostgreSQL refuses NUL), or None."""
    for name, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
        for text in (name, value):
            problem = control_character_problem(text)
            if problem:
                return name, problem
    return None


class CheckTextBody:
    """ASGI middleware: a request with a text body (JSON, form, text) that is not UTF-8 gets **400** with a Chinese
    message (JSON ``{"detail": …}`` under ``/api``, the error page elsewhere), never a server error; so does a form
    field holding a control character (named, in the reader's language). JSON fields are checked by their schemas
    (:func:`web.inputs.Text`).

    The whole body is read before answering, so the connection stays usable for the next request; a valid body
    is handed on to the app unchanged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = _text_body_type(scope) if scope["type"] == "http" else None
        if kind is None:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        refusal: Response | None = None
        if not is_utf8_body(body, kind):
            request = Request(scope)
            if _is_api(request):
                refusal = JSONResponse({"detail": NOT_UTF8_DETAIL}, status_code=400)
            else:
                refusal = render(request, "error.html", {"message_key": "error.encoding"}, status_code=400)
        elif kind == "application/x-www-form-urlencoded":
            found = form_control_problem(body)
            if found is not None:
                request = Request(scope)
                lang = pick_language(request)
                values = {"field": found[0], "detail": found[1].message(lang)}
                if _is_api(request):
                    refusal = JSONResponse({"detail": gettext("error.control", lang, **values)}, status_code=400)
                else:
                    refusal = render(request, "error.html", {"message_key": "error.control",
                                                             "message_values": values}, status_code=400)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _record_denial(actor: str, role: str, unit: str | None, method: str, path: str, status: int,
                   reason: str) -> None:
    with session_scope() as session:
        record_audit(session, actor=actor, action="access.denied", entity_type="request", entity_id=path[:64],
                     reason=reason[:1000],
                     detail={"method": method, "path": path[:500], "status": status, "role": role, "unit": unit})


async def audit_denial(request: Request, status: int, reason: str) -> None:
    """Record an ``access.denied`` audit event for a signed-in user refused a page or an object (403, or 404 for an
    object outside their scope): who (actor, role, unit), what (method, path, why), when (the event's time).

    Written in its own transaction (the request's own was rolled back). Anonymous requests are not recorded
    (they are refused before anything is looked up). A failure to write is logged, never turned into a 500.
    """
    user = getattr(request.state, "user", None)
    if user is None:
        return
    try:
        await run_in_threadpool(_record_denial, user.username, user.role, user.unit_code, request.method,
                                request.url.path, status, reason)
    except Exception:  # noqa: BLE001 - the refusal still goes out
        log.exception("could not audit a denied access to %s by %s", request.url.path, user.username)


#: The page routers, in the order they are included (the JSON API's router follows them).
PAGE_ROUTERS = (auth, invite, children, child_facts, needs, cases, closing, invitations, todo, tasks, manage, dashboard, admin,
                account, holiday_calendar, city_lists, notices, programmes)


def create_app(*, pathway_starter: PathwayStarter | None = None) -> FastAPI:
    """Build the web app.

    ``pathway_starter`` creates a recorded pathway run's flow run (default: on the Prefect server); tests
    without Prefect pass their own.
    """
    app = FastAPI(title="careflow", version="0.1.0", description=API_DESCRIPTION,
                  openapi_url="/api/openapi.json", docs_url=None, redoc_url=None)
    app.state.signer = CookieSigner(load_secret_key())
    app.state.pathway_starter = pathway_starter or default_starter
    _add_routes(app)
    _add_middleware(app)
    _add_error_handlers(app)
    return app


def _add_routes(app: FastAPI) -> None:
    """Static files, the pages, the JSON API and ``/healthz``."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in PAGE_ROUTERS:
        app.include_router(module.router)
    app.include_router(api.router)
    app.get("/healthz", include_in_schema=False)(healthz)


def healthz() -> dict:
    return HEALTH


def _add_middleware(app: FastAPI) -> None:
    app.add_middleware(CheckTextBody)  # added first: the header middleware below wraps its 400 too
    app.middleware("http")(security_headers)


async def security_headers(request: Request, call_next) -> Response:
    """:data:`SECURITY_HEADERS` on every answer, ``Cache-Control: no-store`` on all but static files, and the
    language cookie when ``?lang=`` chose another language."""
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.url.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    lang = request.query_params.get("lang")
    if lang in LANGUAGES and request.cookies.get(LANG_COOKIE) != lang:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax", httponly=True,
                            secure=cookies_secure(request.url.scheme))
    return response


# --------------------------------------------------------------------------------------------- error answers


def _add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(NotVisible, not_visible)
    app.add_exception_handler(NotAllowed, not_allowed)
    app.add_exception_handler(CsrfFailed, csrf_failed)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)


async def login_required(request: Request, exc: LoginRequired) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect(f"/login?next={quote(target, safe='/')}")


async def not_visible(request: Request, exc: NotVisible) -> Response:
    await audit_denial(request, 404, str(exc))
    if _is_api(request):
        return JSONResponse({"detail": gettext("api.not_found", pick_language(request))}, status_code=404)
    return render(request, "error.html", {"message_key": "error.404"}, status_code=404)


async def not_allowed(request: Request, exc: NotAllowed) -> Response:
    await audit_denial(request, 403, str(exc))
    if _is_api(request):
        return JSONResponse({"detail": gettext("api.not_allowed", pick_language(request))}, status_code=403)
    return render(request, "error.html", {"message_key": "error.403"}, status_code=403)


async def csrf_failed(request: Request, exc: CsrfFailed) -> Response:
    return render(request, "error.html", {"message_key": "error.csrf"}, status_code=403)


async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
    """A page's request the route's parameters refuse (a path id, a query flag, a form field's length): the
    problems in the reader's language on the error page (:mod:`web.form_errors`); the API keeps FastAPI's
    JSON."""
    if _is_api(request):  # the same words as the pages, keeping FastAPI's list (web.api_errors)
        return JSONResponse({"detail": api_problems(exc, pick_language(request))}, status_code=422)
    return render(request, "error.html", {"message_key": "error.invalid", "errors": form_errors(exc)},
                  status_code=422)


async def http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 403:
        await audit_denial(request, 403, str(exc.detail))
    if exc.status_code == 405 and not _is_api(request):
        return method_not_allowed(request)
    if _is_api(request) or exc.status_code not in (403, 404):
        return await http_exception_handler(request, exc)
    return render(request, "error.html", {"message_key": f"error.{exc.status_code}"}, status_code=exc.status_code)


def method_not_allowed(request: Request) -> Response:
    """A GET of a form's POST address (a reload or a bookmark of a refused form, the language switch of a page a
    POST showed) goes to the form's page (:mod:`web.form_pages`), its query (``?lang=``) kept; any other method a
    page does not answer reads the error page, never FastAPI's JSON."""
    page = form_page_url(request)
    if page is not None and request.method in ("GET", "HEAD"):
        return redirect(str(page))
    return render(request, "error.html", {"message_key": "error.405"}, status_code=405)
