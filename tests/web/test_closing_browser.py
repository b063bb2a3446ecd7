"""In headless Chromium at phone width (390 px), in Chinese: a township child supervisor opens 待我处理, finds the
case whose pathway ended, tries to close it without a reason (refused, in Chinese), then closes it with one.

Needs no Prefect: the web app alone on a live uvicorn server (:func:`tests.web.test_lists_browser.plain_web`).
"""
from __future__ import annotations

import os
import uuid

import pytest
from sqlmodel import select

from core.db import session_scope
from core.settings import get_settings
from models.case import Case, CaseStatus
from models.user import UserRole
from tests.web.browser import BROWSER_BACKEND, PHONE, Shots, sign_in
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD
from tests.web.test_closing import case_row, make_case
from web.users import create_user


@pytest.mark.parametrize("database_url", [BROWSER_BACKEND], indirect=True)
def test_a_supervisor_closes_an_ended_case_from_the_inbox_on_a_phone(database_url, plain_web):  # noqa: F811
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium")
    from playwright.sync_api import sync_playwright

    reference, _run, _tasks = make_case()
    username = f"closing.browser.{uuid.uuid4().hex[:6]}"
    with session_scope() as session:
        create_user(session, username=username, password=PASSWORD, role=UserRole.caseworker, actor="fixture",
                    jurisdiction_code="350302001")
    shots = Shots(get_settings().home / "screenshots" / "closing")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = sign_in(browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True), plain_web, username,
                           timeout_ms=30_000)

            page.click("#nav-todo")
            page.click("#tab-ended")
            page.wait_for_load_state()
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "wider than the phone"
            shots(page, "inbox-ended")
            page.click(f"a[data-case='{reference}']")
            page.wait_for_selector("#close-case")
            assert "路径已结束，待决定是否结案" in page.inner_text("#closing")

            page.eval_on_selector("#close-case textarea", "e => e.removeAttribute('required')")  # the server's check
            page.click("#close-case button[type=submit]")
            page.wait_for_selector("#closing .errors")
            assert "结案理由：必须填写" in page.inner_text("#closing")
            shots(page, "reason-required")

            page.fill("#close-case textarea[name=reason]", "家庭监护已恢复，儿童安全")
            page.click("#close-case button[type=submit]")
            page.wait_for_selector("#closing-closed")
            assert page.inner_text("#case-status").strip() == "已结案"
            assert "家庭监护已恢复，儿童安全" in page.inner_text("#closing-closed")
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "wider than the phone"
            shots(page, "closed")
        finally:
            browser.close()
    assert case_row(reference).status == CaseStatus.closed


def in_view(page, selector: str) -> bool:
    """Whether the element's top is inside the window (the reader sees it without scrolling)."""
    return page.eval_on_selector(selector, "e => { const r = e.getBoundingClientRect();"
                                           " return r.top >= 0 && r.top < window.innerHeight; }")


@pytest.mark.parametrize("database_url", [BROWSER_BACKEND], indirect=True)
def test_a_refused_close_at_the_foot_of_a_long_page_is_brought_into_view_and_the_language_switch_stays(
        database_url, plain_web):  # noqa: F811
    """A fresh user at phone height submitted the closing form at the foot of the case page and saw nothing change:
    the refusal was below the fold. It is scrolled to and focused (read out by a screen reader, role=alert); and
    the language switch of the refused page (at the POST's address) opens the case page, not a JSON 405."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium")
    from playwright.sync_api import sync_playwright

    reference, _run, _tasks = make_case()
    username = f"closing.focus.{uuid.uuid4().hex[:6]}"
    with session_scope() as session:
        case = session.exec(select(Case).where(Case.reference == reference)).one()
        case.summary = "邻居报告：孩子放学后常独自在外，夜间无人照看，父母在外地务工，祖母年老多病。" * 8  # a long report
        create_user(session, username=username, password=PASSWORD, role=UserRole.caseworker, actor="fixture",
                    jurisdiction_code="350302001")
    shots = Shots(get_settings().home / "screenshots" / "closing-refused")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = sign_in(browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True), plain_web, username,
                           timeout_ms=30_000)
            page.goto(f"{plain_web}/cases/{reference}")
            assert not in_view(page, "#close-case"), "the closing form is not at the foot of a long page"

            page.eval_on_selector("#close-case textarea", "e => e.removeAttribute('required')")  # the server's check
            page.click("#close-case button[type=submit]")
            page.wait_for_selector("#closing .errors")
            assert page.url.endswith(f"/cases/{reference}/close")
            assert in_view(page, "#closing .errors"), "the refusal is below the fold"
            assert page.evaluate("document.activeElement.matches('#closing .errors[role=alert]')")
            shots(page, "refused-in-view", full_page=False)

            page.click("header a.lang")
            page.wait_for_load_state()
            assert page.url.endswith(f"/cases/{reference}?lang=en"), page.url
            assert "Method Not Allowed" not in page.content() and page.locator("#close-case").count() == 1
            assert "Closing the case" in page.inner_text("#closing")
            shots(page, "switched-to-english")
        finally:
            browser.close()
    assert case_row(reference).status == CaseStatus.open
