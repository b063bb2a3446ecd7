"""The page a form is on, for what answers at its POST address.

A refused form (and an error page: a stale CSRF token, a 404) is shown at the address it was posted to, e.g.
``/cases/<ref>/close``, which answers POST only: the page's language switch, a reload from the address bar or a
bookmark would GET it and read FastAPI's JSON 405. Each page POST handler names its form's page with
:func:`form_page`; a page a POST shows switches language to that page (:func:`web.templating.render`), and a GET of
the POST's address is sent there (:func:`web.app.method_not_allowed`). ``tests/web/test_form_pages.py`` holds every
page POST to it.
"""
from __future__ import annotations

from typing import Callable, TypeVar
from urllib.parse import quote

from starlette.datastructures import URL
from starlette.requests import Request

Handler = TypeVar("Handler", bound=Callable)


def form_page(page: str) -> Callable[[Handler], Handler]:
    """Mark a POST handler with the page its form is on, a path in the route's own parameters:
    ``@form_page("/cases/{reference}")`` under ``@router.post("/cases/{reference}/close")``."""
    def mark(handler: Handler) -> Handler:
        handler.form_page = page
        return handler
    return mark


def page_of(request: Request) -> str | None:
    """The path of the page whose form the request's route answers (its parameters filled in), or None when the
    route names none (or no route was matched yet)."""
    page = getattr(request.scope.get("endpoint"), "form_page", None)
    if page is None:
        return None
    return page.format(**{name: quote(str(value), safe="") for name, value in request.path_params.items()})


def form_page_url(request: Request) -> URL | None:
    """:func:`page_of` with the request's query (``?lang=``), as a path: it is for this site's own links."""
    page = page_of(request)
    if page is None:
        return None
    return URL(f"{page}?{request.url.query}" if request.url.query else page)
