"""In headless Chromium (Debian's, driven by Playwright), in Chinese: a police officer rejects a task as 非本单位职责
and names the right station by its name; the task then shows why and where it goes next (issue 12 item 5).

Needs no Prefect: the web app alone on a live uvicorn server. Screenshots go to ``$CAREFLOW_HOME/screenshots/reroute``.
"""
from __future__ import annotations

import os

import pytest

from core.db import session_scope
from core.settings import get_settings
from models.task import AgencyTask, TaskState
from tests.web.browser import BROWSER_BACKEND, Shots
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD
from tests.web.test_reroute_pages import STATION, STATION_NAME, _police_task



@pytest.mark.parametrize("database_url", [BROWSER_BACKEND], indirect=True)
def test_police_officer_rejects_naming_another_station(database_url, world, session, register, plain_web):  # noqa: F811
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium")
    from playwright.sync_api import sync_playwright

    task, _reference = _police_task(session, register)
    shots = Shots(get_settings().home / "screenshots" / "reroute")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{plain_web}/login")
            page.fill("input[name=username]", world.person("off_police_a").username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state()
            page.goto(f"{plain_web}/tasks/{task.id}")
            page.select_option("#rejection_kind", label="非本单位职责")
            page.select_option("#reroute_unit", label=STATION_NAME)
            page.fill("#reject-form textarea[name=reason]", "请转龙桥派出所办理")
            shots(page, "reject-naming-a-station")
            page.click("#reject")
            page.wait_for_url("**/inbox**")
            page.goto(f"{plain_web}/tasks/{task.id}")
            assert page.locator("#task-state").inner_text() == "已退回"
            assert page.locator("#rejection-kind").inner_text().endswith("非本单位职责")
            assert page.locator("#named-unit").inner_text().endswith(STATION_NAME)
            assert "not_ours" not in page.locator("main").inner_text() and STATION not in page.content()
            shots(page, "rejected")
        finally:
            browser.close()
    with session_scope() as s:
        stored = s.get(AgencyTask, task.id)
        assert (stored.state, stored.rejection_kind, stored.reroute_unit_code) == (TaskState.rejected, "not_ours",
                                                                                  STATION)
