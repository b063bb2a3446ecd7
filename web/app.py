"""The FastAPI application: pages, the JSON API under ``/api``, static files, error pages, security headers.

``uvicorn --factory web.app:create_app`` (or ``careflow web serve``) runs it. The OpenAPI document is at
``/api/openapi.json``; there is no Swagger page, because its script would come from a CDN and this app
loads nothing from outside.
"""
from __future__ import annotations

from careflow.prefect_env import configure_prefect_env

configure_prefect_env()  # before anything imports prefect (careflow.resume does)

from pathlib import Path  # noqa: E402

from fastapi import FastAPI, HTTPException, Request  # noqa: E402
from fastapi.exception_handlers import http_exception_handler  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from fastapi.staticfiles import StaticFiles  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402
from starlette.responses import Response  # noqa: E402

from web import api  # noqa: E402
from web.actions import PathwayStarter, default_starter  # noqa: E402
from web.deps import CsrfFailed, LoginRequired  # noqa: E402
from web.i18n import LANGUAGES  # noqa: E402
from web.routes import account, admin, auth, cases, children, dashboard, tasks  # noqa: E402
from web.scope import NotAllowed, NotVisible  # noqa: E402
from web.security import LANG_COOKIE, CookieSigner, load_secret_key  # noqa: E402
from web.templating import redirect, render  # noqa: E402

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


def create_app(*, pathway_starter: PathwayStarter | None = None) -> FastAPI:
    """Build the web app.

    ``pathway_starter`` creates a recorded pathway run's flow run (default: on the Prefect server); tests
    without Prefect pass their own.
    """
    app = FastAPI(title="careflow", version="0.1.0", description=API_DESCRIPTION,
                  openapi_url="/api/openapi.json", docs_url=None, redoc_url=None)
    app.state.signer = CookieSigner(load_secret_key())
    app.state.pathway_starter = pathway_starter or default_starter
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (auth, children, cases, tasks, dashboard, admin, account):
        app.include_router(module.router)
    app.include_router(api.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict:
        return HEALTH

    @app.middleware("http")
    async def headers(request: Request, call_next) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        lang = request.query_params.get("lang")
        if lang in LANGUAGES and request.cookies.get(LANG_COOKIE) != lang:
            response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax", httponly=True)
        return response

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        from urllib.parse import quote

        return redirect(f"/login?next={quote(target, safe='/')}")

    @app.exception_handler(NotVisible)
    async def not_visible(request: Request, exc: NotVisible) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": "not found"}, status_code=404)
        return render(request, "error.html", {"message_key": "error.404"}, status_code=404)

    @app.exception_handler(NotAllowed)
    async def not_allowed(request: Request, exc: NotAllowed) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": str(exc)}, status_code=403)
        return render(request, "error.html", {"message_key": "error.403"}, status_code=403)

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, exc: CsrfFailed) -> Response:
        return render(request, "error.html", {"message_key": "error.csrf"}, status_code=403)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if _is_api(request) or exc.status_code not in (403, 404):
            return await http_exception_handler(request, exc)
        return render(request, "error.html", {"message_key": f"error.{exc.status_code}"}, status_code=exc.status_code)

    return app
