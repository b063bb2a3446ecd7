"""A page a POST showed (a refused form, an error page) is at an address that answers POST only: its language switch,
a reload or a bookmark must land on the form's page, never on FastAPI's JSON 405 (a fresh user switched language
after a refused close and read ``{"detail":"Method Not Allowed"}``). :mod:`web.form_pages`.
"""
from __future__ import annotations

import html
import re
import string

from fastapi.testclient import TestClient

from tests.web.test_closing import make_case, post

LANG_LINK = re.compile(r'<a href="([^"]*)" class="lang">')


def page_routes(app) -> list:
    """Every route of the pages (not ``/api``), included routers walked as :func:`tests.web.test_access.app_routes`
    does."""
    found = []

    def walk(routes):
        for route in routes:
            if hasattr(route, "effective_candidates"):
                walk(route.effective_candidates())
            elif hasattr(route, "routes") and not hasattr(route, "methods"):
                walk(route.routes)
            elif getattr(route, "methods", None) and not route.path.startswith("/api/"):
                found.append(route)
    walk(app.routes)
    return found


def lang_link(page: str) -> str:
    return html.unescape(LANG_LINK.search(page).group(1))


def test_every_page_post_names_its_forms_page_and_a_get_of_it_goes_there(web_app):
    routes = page_routes(web_app)
    gets = {r.path for r in routes if "GET" in r.methods}
    posts = [r for r in routes if "POST" in r.methods]
    assert len(posts) > 30
    client = TestClient(web_app, follow_redirects=False)
    for route in posts:
        page = getattr(route.endpoint, "form_page", None)
        assert page in gets, f"POST {route.path} names no page its form is on (web.form_pages.form_page): {page}"
        if route.path in gets:
            continue  # the address is a page itself (/login, /admin/calendar …)
        names = [name for _, name, _, _ in string.Formatter().parse(route.path) if name]
        address = route.path.format(**{name: f"x{i}" for i, name in enumerate(names)})
        answer = client.get(address + "?lang=en")
        assert answer.status_code == 303, (address, answer.status_code, answer.text[:200])
        assert answer.headers["location"] == page.format(**{name: f"x{i}" for i, name in enumerate(names)}) + "?lang=en"


def test_switching_language_after_a_refused_close_lands_on_the_case_page(clients):
    reference, _run, _tasks = make_case()
    cw = clients["cw_a1"]
    refused = post(cw, f"/cases/{reference}/close", reason="")
    assert refused.status_code == 400
    assert lang_link(refused.text) == f"/cases/{reference}?lang=en"
    # its refusal is focused on load, so scrolled into view (tests/web/test_closing_browser.py)
    assert '<div class="errors" role="alert" tabindex="-1" autofocus>' in refused.text
    try:
        english = cw.get(lang_link(refused.text))
        assert english.status_code == 200 and "Close the case" in english.text
        reload = cw.get(f"/cases/{reference}/close?lang=en")  # the refused page's address, reloaded or bookmarked
        assert reload.status_code == 303 and reload.headers["location"] == f"/cases/{reference}?lang=en"
        refused = post(cw, f"/cases/{reference}/reopen", reason="再次接到报告")  # refused: not closed
        assert refused.status_code == 409 and lang_link(refused.text) == f"/cases/{reference}?lang=zh"
    finally:
        cw.get("/account?lang=zh")


def test_a_page_a_post_shows_elsewhere_switches_language_to_itself(clients, world):
    """A caseworker's refused reroute shows the case page (``/tasks/<id>`` is not theirs to read); a refused
    registration the registration form; an error page (a form without its token) its form's page."""
    cw = clients["cw_a1"]
    place = world.places["A1"]
    task_id = next(iter(place.tasks.values()))
    rerouted = post(cw, f"/tasks/{task_id}/reroute", reroute_unit="no-such-unit")
    assert rerouted.status_code == 400 and lang_link(rerouted.text) == f"/cases/{place.reference}?lang=en"
    registered = post(cw, "/children", full_name="")
    assert registered.status_code == 400 and lang_link(registered.text) == "/children/new?lang=en"
    stale = cw.post(f"/cases/{place.reference}/close", data={"reason": "x", "csrf_token": "stale"})
    assert stale.status_code == 403 and lang_link(stale.text) == f"/cases/{place.reference}?lang=en"


def test_a_method_a_page_does_not_answer_reads_the_error_page_in_its_language(clients):
    cw = clients["cw_a1"]
    answer = cw.put("/cases")
    assert answer.status_code == 405 and "text/html" in answer.headers["content-type"]
    assert "此地址只用于提交表单" in answer.text and "Method Not Allowed" not in answer.text
    assert cw.put("/api/cases").json() == {"detail": "Method Not Allowed"}  # the API keeps FastAPI's JSON
