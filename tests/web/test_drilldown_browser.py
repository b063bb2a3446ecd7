"""In headless Chromium (Debian's, driven by Playwright), in Chinese: a county manager sees an overdue count on the
dashboard, follows it to the overdue tasks behind it, opens the police task two days late and extends its deadline
with a reason; the task is then no longer among the overdue ones (issue 12: "a manager drills from an overdue count
to the task and extends it").

Needs no Prefect: the web app alone on a live uvicorn server. Screenshots go to ``$CAREFLOW_HOME/screenshots/drill``.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pendulum
import pytest
from sqlmodel import select

from careflow.figures import refresh_figures
from core.db import session_scope
from core.settings import get_settings
from models.audit import AuditEvent
from models.task import AgencyTask
from tests.web.browser import BROWSER_BACKEND, DESKTOP, Shots, sign_in
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.web.test_reroute_pages import _police_task


@pytest.mark.parametrize("database_url", [BROWSER_BACKEND], indirect=True)
def test_a_manager_drills_from_the_overdue_count_to_the_task_and_extends_it(database_url, world, session, register,
                                                                           plain_web):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium")
    from playwright.sync_api import sync_playwright

    task, reference = _police_task(session, register)
    now = datetime.now(timezone.utc)
    task.due_at = now - timedelta(days=2)
    session.commit()
    with session_scope() as s:  # the sweeper's refresh, as it would run within the minute
        refresh_figures(s, now=now)
    new_due = pendulum.instance(now).in_timezone("Asia/Shanghai").add(days=3).replace(second=0, microsecond=0)
    shots = Shots(get_settings().home / "screenshots" / "drill")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = sign_in(browser.new_context(viewport=DESKTOP, locale="zh-CN"), plain_web,
                           world.person("mgr_a").username, timeout_ms=30_000)
            page.goto(f"{plain_web}/dashboard")
            overdue = page.locator("#total-overdue a")
            assert int(overdue.inner_text()) >= 1
            shots(page, "dashboard")
            overdue.click()
            page.wait_for_load_state()
            assert "flag=overdue" in page.url
            card = page.locator(f"a.task[data-case='{reference}']")
            if not card.count():  # other tests' overdue tasks come first: search for the case
                page.fill("input[name=q]", reference)
                page.press("input[name=q]", "Enter")
                page.wait_for_load_state()
            assert card.count() == 1 and card.locator(".pill.overdue").count() == 1
            assert page.locator("a.task:not(.overdue)").count() == 0  # the list holds only overdue tasks
            shots(page, "overdue-tasks")

            card.click()
            page.wait_for_selector("#extend-form")
            page.fill("#due_at", new_due.strftime("%Y-%m-%dT%H:%M"))
            page.fill("#extend_reason", "派出所民警外出办案，顺延三天")
            shots(page, "task-extend")
            page.click("#extend")
            page.wait_for_url("**done=extended**")
            assert page.locator("#done").count() == 1
            assert page.locator("#extended").inner_text().startswith("已延期（原时限")  # not the step's limit alone
            shots(page, "task-extended")

            page.goto(f"{plain_web}/tasks?flag=overdue&q={reference}")
            assert page.locator(f"a.task[data-case='{reference}']").count() == 0
            shots(page, "no-longer-overdue")
        finally:
            browser.close()
    with session_scope() as s:
        stored = s.get(AgencyTask, task.id)
        assert stored.due_at == new_due
        extended = s.exec(select(AuditEvent).where(AuditEvent.entity_id == str(task.id),
                                                   AuditEvent.action == "task.deadline_extended")).one()
        assert extended.actor == world.person("mgr_a").username and "顺延三天" in extended.reason
