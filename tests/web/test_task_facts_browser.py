"""In headless Chromium (Debian's, driven by Playwright) at phone width (390 px), in Chinese: the village committee's
officer opens the task from the inbox and reads what it needs to go to the child's home — the child's name and age,
the address, the guardians to call, what was reported and the caseworker's phone — without scrolling sideways; then
opens the printable notice. Issue 12, items 1 and 7.

Needs no Prefect: the web app alone on a live uvicorn server. Screenshots go to ``$CAREFLOW_HOME/screenshots/facts``.
"""
from __future__ import annotations

import os

import pytest

from core.settings import get_settings
from tests.web.browser import BROWSER_BACKEND, PHONE, Shots
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD
from tests.web.test_task_facts import COMMITTEE_NAME, facts_case  # noqa: F401



@pytest.mark.parametrize("database_url", [BROWSER_BACKEND], indirect=True)
def test_the_committee_reads_the_childs_facts_on_a_phone(database_url, world, facts_case, plain_web):  # noqa: F811
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium")
    from playwright.sync_api import sync_playwright

    shots = Shots(get_settings().home / "screenshots" / "facts")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True)
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{plain_web}/login")
            page.fill("input[name=username]", world.person("off_vc_a1").username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state()
            page.goto(f"{plain_web}/inbox?state=all&q={facts_case.reference}")
            assert facts_case.child_name not in page.content()  # lists keep to the case reference
            page.click(f"a.task[data-case='{facts_case.reference}'][data-step='committee_admonition']")
            page.wait_for_selector("#facts")
            facts = page.locator("#facts")
            assert facts.locator("[data-fact=child_name]").inner_text() == facts_case.child_name
            assert "岁" in facts.locator("[data-fact=age]").inner_text()
            assert facts.locator("[data-fact=address]").inner_text() == "莆田市城厢区龙桥街道凤山社区凤山街12号3单元401"
            guardians = facts.locator("[data-fact=guardians]").inner_text()
            assert "林大海（父亲）" in guardians and "13800000001" in guardians
            assert "孩子常被独自锁在家中" in facts.locator("[data-fact=report]").inner_text()
            assert page.locator("#caseworker-phone").get_attribute("href") == "tel:0594-2288101"
            assert "林芳" in facts.locator("[data-fact=caseworker]").inner_text()
            assert page.locator("#task-unit").inner_text() == COMMITTEE_NAME
            main = page.locator("main").inner_text()
            assert "village_committee" not in main and facts_case.resident_id not in main
            assert COMMITTEE_NAME in page.locator("header").inner_text()  # the unit by name, not its code
            assert "village_committee" not in page.locator("header").inner_text()
            fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            shots(page, "task-facts-phone")
            assert fits, "the task page is wider than the phone"

            page.goto(f"{plain_web}/tasks/{facts_case.committee_task}/letter")
            assert facts_case.child_name in page.locator("#facts").inner_text()
            page.emulate_media(media="print")
            assert not page.locator("#print").is_visible()  # the print button is not printed
            page.pdf(path=str(shots.folder / "letter.pdf"), format="A4")  # prints on A4
            shots(page, "letter")
        finally:
            browser.close()
    print(f"screenshots: {shots.folder}")
