"""Rendering pages from ``templates/pages/`` with the language, the user and the form's CSRF token."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from core.paths import PROJECT_ROOT
from core.settings import get_settings
from web.deps import read_session
from web.form_errors import FormErrors
from web.form_pages import form_page_url
from web.i18n import Translator, pick_language
from web.security import CSRF_COOKIE, cookies_secure, new_csrf_token
from models.areas import jurisdiction_choices
from web.names import area_label, area_options, county_label, county_options
from web.views import local_time

PAGES_DIR = PROJECT_ROOT / "templates" / "pages"
templates = Jinja2Templates(directory=str(PAGES_DIR))


def translator(request: Request) -> Translator:
    return Translator(pick_language(request))


def is_https(request: Request) -> bool:
    """Whether cookies set on this response are ``Secure`` (:func:`web.security.cookies_secure`)."""
    return cookies_secure(request.url.scheme)


def form_csrf_token(request: Request) -> tuple[str, bool]:
    """The token forms on this page carry, and whether it is a new pre-sign-in token to set as a cookie."""
    data = read_session(request)
    if data is not None and getattr(request.state, "user", None) is not None:
        return data.csrf, False
    existing = request.app.state.signer.load_csrf(request.cookies.get(CSRF_COOKIE))
    if existing:
        return existing, False
    return new_csrf_token(), True


def duration(hours: float | None, t: Translator) -> str:
    """A median response time for people: minutes under an hour, hours under two days, else days."""
    if hours is None:
        return "—"
    if hours < 1:
        return f"{hours * 60:.0f} {t('dash.minutes')}"
    if hours < 48:
        return f"{hours:.1f} {t('dash.hours')}"
    return f"{hours / 24:.1f} {t('dash.days')}"


def _word_errors(ctx: dict[str, Any], t: Translator) -> None:
    """Word a page's :class:`web.form_errors.FormErrors` in its language: ``errors`` becomes lines and
    ``field_errors`` maps each input name to its message (the field is marked ``aria-invalid``)."""
    errors = ctx.get("errors")
    if not isinstance(errors, FormErrors):
        ctx.setdefault("field_errors", {})
        return
    labels: dict[str, str] = {}
    task = ctx.get("task")
    for f in getattr(task, "outcome_fields", None) or []:
        labels[f"o_{f.name}"] = f.label
    for p in ctx.get("pathways") or []:
        for f in getattr(p, "start_parameters", None) or []:
            labels.setdefault(f"p_{f.name}", f.label)
    values = {**(ctx.get("report") or {}), **(ctx.get("values") or {})}
    ctx["errors"], ctx["field_errors"] = errors.localise(t.lang, labels, values)


def field_marks(field_errors: dict[str, str]) -> dict[str, Any]:
    """``invalid(name)``: the attributes marking input ``name`` when it has an error (``aria-invalid="true"`` and
    ``aria-describedby`` its message); ``note(name)``: the message itself, to put beside the input."""
    def invalid(name: str) -> Markup:
        if name not in field_errors:
            return Markup("")
        return Markup(' aria-invalid="true" aria-describedby="{}"').format(f"error-{name}")

    def note(name: str) -> Markup:
        if name not in field_errors:
            return Markup("")
        return Markup('<small class="field-error" id="{}">{}</small>').format(f"error-{name}", field_errors[name])

    return {"invalid": invalid, "note": note}


def page_address(request: Request, page_url: str | None = None) -> URL:
    """Where this page can be opened again: a GET's own address; a page a POST showed is at its form's page
    (``page_url`` when the handler knows it, else the route's :func:`web.form_pages.form_page`), since the POST's
    address answers nothing else."""
    if request.method in ("GET", "HEAD"):
        return request.url
    if page_url:
        return URL(page_url)
    return form_page_url(request) or request.url


def render(request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    """Render ``templates/pages/<name>``; every page gets ``t`` and ``_`` (translator), ``label`` (of an enumerated
    value, :func:`core.i18n.label`), ``lang``, ``user``, ``csrf_token``, ``local_time``, ``today`` (the local day,
    ``YYYY-MM-DD``: a date input's ``max``) and ``lang_url`` (this page in the other language,
    :func:`page_address`; a ``page_url`` in ``context`` names the page a POST shows)."""
    t = translator(request)
    token, new = form_csrf_token(request)
    other = "en" if t.lang == "zh" else "zh"
    ctx = {
        "t": t, "_": t, "label": t.label, "lang": t.lang, "user": getattr(request.state, "user", None), "csrf_token": token,
        "local_time": local_time, "county_label": county_label, "area_label": area_label,
        "county_options": county_options, "area_options": area_options,
        "jurisdiction_options": jurisdiction_choices,
        "duration": lambda hours: duration(hours, t),
        "done": request.query_params.get("done", ""),
        "today": datetime.now(ZoneInfo(get_settings().timezone)).date().isoformat(),
    }
    ctx.update(context or {})
    ctx["lang_url"] = str(page_address(request, ctx.get("page_url")).include_query_params(lang=other))
    _word_errors(ctx, t)
    ctx.update(field_marks(ctx["field_errors"]))
    response = templates.TemplateResponse(request, name, ctx, status_code=status_code)
    if new:
        response.set_cookie(CSRF_COOKIE, request.app.state.signer.dump_csrf(token), httponly=True, samesite="lax",
                            secure=is_https(request))
    return response


def redirect(url: str) -> RedirectResponse:
    """A 303 redirect (after a form post, the browser GETs the next page)."""
    return RedirectResponse(url, status_code=303)
