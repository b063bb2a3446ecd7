"""In headless Chromium (Debian's, driven by Playwright): a caseworker registers a child and starts a
guardianship pathway; the village committee, the police and civil affairs answer from their phones in a
second browser context; the manager's dashboard shows the case move from step to step; the caseworker closes it
with a reason from the inbox (待我处理).

Runs against a live uvicorn server and the real Prefect server with served deployments (``served``).
Screenshots of every page go to ``$CAREFLOW_HOME/screenshots/<backend>/`` (the path is printed).
"""
from __future__ import annotations

import uuid

import pytest

from core.db import session_scope
from core.settings import get_settings
from tests.factories import make_resident_id
from tests.web.browser import BROWSER_BACKEND, DESKTOP, PHONE, Shots, reload_until, sign_in, sign_out
from tests.web.conftest import PASSWORD, WEB_ID_SPACE
from web.users import create_user

pytestmark = pytest.mark.e2e

def answer_task(page, base: str, reference: str, step: str, outcome: dict[str, str], shots: Shots, *,
                acknowledge: bool = False) -> None:
    """As an officer on a phone: wait for the step's task in the inbox, open it, answer it."""
    card = f"a.task[data-case='{reference}'][data-step='{step}']"
    reload_until(page, f"{base}/inbox?q={reference}", card)  # the case's tasks, whatever else the unit holds
    shots(page, f"inbox-{step}")
    body = page.content()
    page.click(card)
    page.wait_for_selector("#complete-form")
    shots(page, f"task-{step}")
    if acknowledge:
        page.click("#acknowledge")
        page.wait_for_selector("#task-state")
        assert page.locator("#done").count()
        shots(page, f"task-{step}-acknowledged")
    for name, value in outcome.items():
        page.check(f"#complete-form input[name=o_{name}][value={value}]")
    page.click("#complete")
    page.wait_for_url("**/inbox?done=*")
    assert page.locator(card).count() == 0
    return body


@pytest.mark.parametrize("database_url", [BROWSER_BACKEND], indirect=True)
def test_guardianship_case_from_registration_to_close(served, live_web, chromium, database_url, capsys):
    base = live_web
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    shots = Shots(get_settings().home / "screenshots" / backend)
    suffix = uuid.uuid4().hex[:6]
    people = {
        "caseworker": ("caseworker", "350302001", None),
        "committee": ("agency_officer", "", "village_committee-350302001001"),
        "police": ("agency_officer", "", "police-350302"),
        "civil": ("agency_officer", "", "civil_affairs-350302"),
        "manager": ("manager", "350302", None),
    }
    names = {}
    with session_scope() as session:
        for key, (role, jurisdiction, unit) in people.items():
            names[key] = f"b{key}.{suffix}"
            create_user(session, username=names[key], password=PASSWORD, role=role, actor="test",
                        jurisdiction_code=jurisdiction, unit_code=unit, display_name=f"测试{len(names)}号")
    child_name = f"林小{suffix[:2]}"
    resident_id = make_resident_id(*WEB_ID_SPACE["browser"])

    desk = chromium.new_context(viewport=DESKTOP, locale="zh-CN")
    phone = chromium.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True,
                                 device_scale_factor=2)
    boss = chromium.new_context(viewport=DESKTOP, locale="zh-CN")
    try:
        # 1. The caseworker registers the child: the migrant-child test is shown with its reasons.
        cw = sign_in(desk, base, names["caseworker"])
        shots(cw, "caseworker-cases")
        cw.goto(f"{base}/children/new")
        cw.fill("input[name=full_name]", child_name)
        cw.fill("input[name=resident_id]", resident_id)
        cw.check("input[name=sex][value=男]")
        cw.fill("input[name=hukou_county]", "511321")  # 四川省南部县 (names resolve only in Fujian)
        cw.fill("input[name=residence_area_code]", "350302001001")
        cw.fill("input[name=arrival_date]", "2023-08-20")
        cw.check("input[name=key_care][value=family_hardship]")
        cw.fill("input[name=guardian_name]", "林大山")
        cw.fill("input[name=guardian_relation]", "父亲")
        shots(cw, "register-form")
        cw.click("form[action='/children'] button[type=submit]")
        cw.wait_for_selector("#assessment")
        assert "属于流动儿童" in cw.inner_text("#assessment")
        assert cw.locator("#assessment li.pass").count() >= 3
        assert resident_id not in cw.content()  # masked on the record too
        shots(cw, "child-registered")

        # 2. ... records the report, which opens the case, and starts the guardianship pathway.
        cw.fill("#report textarea[name=summary]", "社区网格员报告：父亲酒后多次打骂孩子")
        cw.fill("#report input[name=reported_by]", "网格员")
        cw.check("#report input[name=mandatory_report]")
        cw.click("#report button[type=submit]")
        cw.wait_for_selector("#pathway-guardianship form")
        shots(cw, "pathway-start")
        cw.fill("#pathway-guardianship textarea[name=p_conduct]", "殴打")
        cw.check("#pathway-guardianship input[name=p_mandatory_report][value=yes]")
        cw.click("#pathway-guardianship button[type=submit]")
        cw.wait_for_selector("#case-reference")
        reference = cw.inner_text("#case-reference").strip()
        assert "路径已启动" in cw.content()
        shots(cw, "case-started")

        # 3. The manager sees the case waiting for the village committee.
        mgr = sign_in(boss, base, names["manager"])
        row = f"#pathways tr[data-case='{reference}']"
        reload_until(mgr, f"{base}/dashboard", f"{row} td.current:has-text('劝诫')")
        shots(mgr, "dashboard-committee")

        # 4. The village committee answers on a phone: serious, so the police are next.
        officer = sign_in(phone, base, names["committee"])
        inbox = answer_task(officer, base, reference, "committee_admonition",
                            {"serious": "yes", "child_in_danger": "no", }, shots)
        assert child_name not in inbox and resident_id[-4:] not in inbox
        sign_out(officer)

        reload_until(mgr, f"{base}/dashboard", f"{row} td.current:has-text('训诫')")
        shots(mgr, "dashboard-police")

        # 5. The police acknowledge, then reprimand; no family-education order, the child is safe.
        officer = sign_in(phone, base, names["police"])
        answer_task(officer, base, reference, "police_reprimand",
                    {"reprimanded": "yes", "family_education_ordered": "no", "child_unsafe": "no"}, shots,
                    acknowledge=True)
        sign_out(officer)

        # 6. Civil affairs assesses the family's guardianship: the pathway ends.
        officer = sign_in(phone, base, names["civil"])
        answer_task(officer, base, reference, "guardianship_assessment",
                    {"guardianship_missing_or_unsafe": "no", "long_term_guardianship_needed": "no"}, shots)
        shots(officer, "inbox-after")

        # 7. The manager sees the pathway completed and the case still open: closing is the caseworker's decision;
        # the Prefect UI is for admins only (issue 12).
        reload_until(mgr, f"{base}/dashboard", f"{row}[data-status=completed][data-case-status=open]")
        assert mgr.locator(f"{row} a[href*='/runs/flow-run/']").count() == 0
        shots(mgr, "dashboard-completed")

        # 8. The caseworker finds the ended pathway in the inbox (待我处理), closes the case with a reason and follows
        # the whole timeline, closed.
        cw.goto(f"{base}/todo?show=ended")
        cw.click(f"a[data-case='{reference}']")
        assert "路径已结束，待决定是否结案" in cw.inner_text("#closing")
        cw.fill("#close-case textarea[name=reason]", "父亲已受训诫，监护评估无需干预")
        cw.click("#close-case button[type=submit]")
        cw.wait_for_selector("#closing-closed")
        assert cw.inner_text("#case-status").strip() == "已结案"
        reload_until(mgr, f"{base}/dashboard", f"{row}[data-status=completed][data-case-status=closed]")
        shots(mgr, "dashboard-closed")
        cw.goto(f"{base}/cases/{reference}")
        assert cw.locator("ol.timeline li").count() == 3
        shots(cw, "case-closed")
        cw.goto(f"{base}/cases/{reference}?lang=en")
        assert "Timeline" in cw.content()
        shots(cw, "case-closed-english")
        phone_view = boss.new_page()
        phone_view.set_viewport_size(PHONE)
        phone_view.goto(f"{base}/dashboard")
        shots(phone_view, "dashboard-phone")
    except BaseException:
        for context in (desk, phone, boss):
            for index, page in enumerate(context.pages):
                page.screenshot(path=str(shots.folder / f"failure-{id(context)}-{index}.png"), full_page=True)
        raise
    finally:
        for context in (desk, phone, boss):
            context.close()
    with capsys.disabled():
        print(f"\n  screenshots: {shots.folder} ({shots.count} pages)")
