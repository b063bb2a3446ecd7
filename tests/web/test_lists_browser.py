"""In headless Chromium at phone width (390 px), in Chinese: a township's child supervisor pages through the
township's 60 children (50 a page), back again, and finds one child by the last digits of the ID number.

Needs no Prefect: the web app alone on a live uvicorn server (a few seconds; chromium ~3 s).
"""
from __future__ import annotations

import os
import uuid
from datetime import date, timedelta

import pytest

from core.db import session_scope
from core.settings import get_settings
from models.user import UserRole
from tests.web.browser import BROWSER_BACKEND, PHONE, Shots
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD
from tests.web.test_lists import insert_children
from web.users import create_user

TOWNSHIP = "350102003"


@pytest.mark.parametrize("database_url", [BROWSER_BACKEND], indirect=True)
def test_a_supervisor_pages_through_the_townships_children_and_finds_one_by_id(database_url, plain_web):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium")
    from playwright.sync_api import sync_playwright

    suffix = uuid.uuid4().hex[:6]
    with session_scope() as session:
        children = insert_children(session, area=f"{TOWNSHIP}001", count=60, names=f"浏览{suffix}",
                                   birth=date(2009, 1, 1) + timedelta(days=int(suffix, 16) % 900))
        wanted = (children[37].full_name, children[37].resident_id)
        username = f"lists.browser.{suffix}"
        create_user(session, username=username, password=PASSWORD, role=UserRole.caseworker, actor="fixture",
                    jurisdiction_code=TOWNSHIP)
    shots = Shots(get_settings().home / "screenshots" / "lists")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True).new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{plain_web}/login")
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state()
            page.goto(f"{plain_web}/children")
            count = page.locator("#list-count").first
            assert count.inner_text() == "共 60 条，第 1–50 条"
            first_page = page.locator("#children tbody tr").all_inner_texts()
            assert len(first_page) == 50
            fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            shots(page, "children-page-1", full_page=False)
            assert fits, "the list is wider than the phone"

            page.locator("#page-next").first.click()
            page.wait_for_load_state()
            assert page.locator("#list-count").first.inner_text() == "共 60 条，第 51–60 条"
            second_page = page.locator("#children tbody tr").all_inner_texts()
            assert len(second_page) == 10 and not set(second_page) & set(first_page)
            assert page.locator("#page-next").count() == 0
            shots(page, "children-page-2", full_page=False)

            page.locator("#page-prev").first.click()
            page.wait_for_load_state()
            assert page.locator("#children tbody tr").all_inner_texts() == first_page

            page.fill("input[name=q]", wanted[1][-6:])
            page.press("input[name=q]", "Enter")
            page.wait_for_load_state()
            assert page.locator("#list-count").first.inner_text() == "共 1 条，第 1–1 条"
            rows = page.locator("#children tbody tr")
            assert rows.count() == 1 and wanted[0] in rows.inner_text() and wanted[1] not in page.content()
            shots(page, "found-by-id")
            page.click(f"text={wanted[0]}")
            page.wait_for_load_state()
            assert wanted[0] in page.locator("main").inner_text() and "/children/" in page.url
        finally:
            browser.close()
    print(f"screenshots: {shots.folder}")
