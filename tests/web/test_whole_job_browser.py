"""In headless Chromium (Debian's, driven by Playwright), in Chinese: the whole job without the command line, for the
pathways test_browser does not walk (issue 12, "browser tests do each role's whole job").

A caseworker registers a child choosing the hukou county and the residence by name, reports, and starts every
pathway from the start page (choices by their labels, the service item by name, the emergency's township by name).
Then the agencies answer on their phones from what their task page shows: the rescue centre (temporary
guardianship), the hospital (medical referral of a high-risk screening), a department of the service list's item 17
and the township's civil affairs office (emergency help, several kinds, 800 yuan). Every page is screenshot and
read for leaks (:class:`tests.web.browser.Shots`).

Needs no Prefect: the web app alone on a live uvicorn server; the pathways' first tasks are opened as the flows
would (:func:`careflow.step_tasks.open_step_task`), so that each agency's page is what the flow would have made.
"""
from __future__ import annotations

import os
import uuid

import pytest
from sqlmodel import select

from careflow.step_tasks import open_step_task
from core.db import session_scope
from core.i18n import label
from core.settings import get_settings
from models.case import Case, PathwayRun, PathwayStatus
from models.policy import load_policy
from models.task import AgencyTask, TaskState
from models.user import UserRole
from tests.factories import make_resident_id
from tests.web.browser import BROWSER_BACKEND, DESKTOP, PHONE, Shots, sign_in, sign_out
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD, WEB_ID_SPACE
from web.users import create_user


def _option(field: str, value: str) -> str:
    return label(value, f"option.{field}", "zh")


#: pathway → (its start parameters as the caseworker types or picks them, by label; the step whose task is
#: answered, its agency, the answer as the officer gives it: radio values, select labels, typed text).
START = {
    "guardianship": {"p_conduct": ("fill", "多次将孩子独自锁在家中"), "p_mandatory_report": ("check", "yes")},
    "psychological_screening": {"p_screening_result": ("select", _option("screening_result", "high_risk")),
                                "p_screened_by": ("select", _option("screened_by", "school"))},
    "service_referral": {"p_item": ("select_containing", "心理健康服务")},
    "temporary_assistance": {"p_how_found": ("select", _option("how_found", "request")),
                             "p_emergency_area_code": ("fill", "龙桥街道")},
}
ANSWERS = {
    "guardianship": ("temporary_guardianship", None, {"o_placed": ("check", "yes"),
                                                      "o_note": ("fill", "已接入救助保护中心临时监护")}),
    "psychological_screening": ("medical_referral", None, {"o_seen": ("check", "yes"),
                                                           "o_severe_mental_disorder": ("check", "no")}),
    "service_referral": ("service_referral", "health", {"o_service_provided": ("check", "yes"),
                                                        "o_measures": ("fill", "已安排心理咨询师每周一次辅导")}),
    "temporary_assistance": ("emergency_help", None, {"o_help_given": ("select", _option("help_given", "several")),
                                                      "o_amount_yuan": ("fill", "800")}),
}


def _enter(page, scope: str, fields: dict) -> None:
    for name, (how, value) in fields.items():
        if how == "fill":
            page.fill(f"{scope} [name={name}]", value)
        elif how == "check":
            page.check(f"{scope} input[name={name}][value={value}]")
        elif how == "select":
            page.select_option(f"{scope} select[name={name}]", label=value)
        else:  # an option whose label holds the text (the service item: 第17项 心理健康服务 …)
            option = page.locator(f"{scope} select[name={name}] option", has_text=value).first
            page.select_option(f"{scope} select[name={name}]", value=option.get_attribute("value"))


@pytest.mark.parametrize("database_url", [BROWSER_BACKEND], indirect=True)
def test_a_caseworker_starts_every_pathway_and_each_agency_answers_from_its_page(database_url, plain_web):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium")
    from playwright.sync_api import sync_playwright

    suffix = uuid.uuid4().hex[:6]
    caseworker = f"whole.cw.{suffix}"
    with session_scope() as session:
        create_user(session, username=caseworker, password=PASSWORD, role=UserRole.caseworker, actor="test",
                    jurisdiction_code="350302001", display_name="王社工", phone="0594-2288102")
    child_name = f"陈小{suffix[:2]}"
    shots = Shots(get_settings().home / "screenshots" / "whole-job")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            # 1. The caseworker registers the child, choosing counties and the community by name.
            desk = browser.new_context(viewport=DESKTOP, locale="zh-CN")
            cw = sign_in(desk, plain_web, caseworker, timeout_ms=30_000)
            cw.goto(f"{plain_web}/children/new")
            cw.fill("input[name=full_name]", child_name)
            cw.fill("input[name=resident_id]", make_resident_id(*WEB_ID_SPACE["browser"]))
            cw.check("input[name=sex][value=女]")
            cw.fill("input[name=hukou_county]", "仙游县")
            cw.fill("input[name=residence_area_code]", "龙桥街道凤山社区")
            cw.fill("input[name=arrival_date]", "2022-09-01")
            cw.fill("input[name=guardian_name]", "陈大海")
            cw.fill("input[name=guardian_relation]", "父亲")
            shots(cw, "register")
            cw.click("form[action='/children'] button[type=submit]")
            cw.wait_for_selector("#assessment")
            assert "属于流动儿童" in cw.inner_text("#assessment")
            assert "仙游县" in cw.content() and "凤山社区" in cw.content()
            shots(cw, "registered")

            # 2. ... reports, which opens the case, and starts every pathway from the start page.
            cw.fill("#report textarea[name=summary]", "学校反映孩子情绪低落，曾提及轻生念头，家中断粮")
            cw.fill("#report input[name=reported_by]", "班主任")
            cw.click("#report button[type=submit]")
            cw.wait_for_selector("#pathway-guardianship form")
            reference = cw.locator("h1 .mono").inner_text().strip()
            for pathway, fields in START.items():
                cw.goto(f"{plain_web}/cases/{reference}/pathways/new")
                scope = f"#pathway-{pathway} form"
                _enter(cw, scope, fields)
                shots(cw, f"start-{pathway}")
                cw.click(f"{scope} button[type=submit]")
                cw.wait_for_selector("#case-reference")
                assert "done=pathway_" in cw.url, pathway  # stored; no Prefect here to start its flow run
            shots(cw, "case-every-pathway")
            desk.close()

            # 3. The flows' first tasks, as the flows would open them (no Prefect here); each unit gets an officer.
            officers: dict[str, tuple[str, str]] = {}
            with session_scope() as session:
                case = session.exec(select(Case).where(Case.reference == reference)).one()
                runs = {r.pathway: r for r in session.exec(select(PathwayRun).where(PathwayRun.case_id == case.id))}
                assert set(runs) == set(START)
                assert runs["service_referral"].parameters["item"] in (17, "17")
                for pathway, (step, agency, _answer) in ANSWERS.items():
                    runs[pathway].status = PathwayStatus.running
                    task = open_step_task(session, pathway_run_id=runs[pathway].id, step_key=step, agency_type=agency)
                    session.flush()
                    officer = f"whole.{pathway[:8]}.{suffix}"
                    create_user(session, username=officer, password=PASSWORD, role=UserRole.agency_officer,
                                actor="test", unit_code=task.unit_code, display_name=f"经办人{len(officers) + 1}号")
                    officers[pathway] = (officer, str(task.id))

            # 4. Each agency answers on a phone from what its task page shows.
            phone = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
            for pathway, (step, _agency, answer) in ANSWERS.items():
                officer, task_id = officers[pathway]
                page = sign_in(phone, plain_web, officer, timeout_ms=30_000)
                page.goto(f"{plain_web}/inbox?q={reference}")
                card = page.locator(f"a.task[data-case='{reference}'][data-step='{step}']")
                assert card.count() == 1, pathway
                assert child_name not in page.content()  # the inbox keeps to the reference
                card.click()
                page.wait_for_selector("#complete-form")
                facts = page.locator("#facts").inner_text() if page.locator("#facts").count() else ""
                if pathway in ("guardianship", "psychological_screening"):  # they go to the child
                    assert child_name in facts, (pathway, facts)
                assert "王社工" in page.content() and "0594-2288102" in page.content(), pathway
                assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), pathway
                shots(page, f"task-{step}")
                _enter(page, "#complete-form", answer)
                page.click("#complete")
                page.wait_for_url("**/inbox?done=*")
                shots(page, f"answered-{step}")
                sign_out(page)
                page.close()
        finally:
            browser.close()

    policy = load_policy()
    with session_scope() as session:
        for run in session.exec(select(PathwayRun).join(Case).where(Case.reference == reference)):
            run.status = PathwayStatus.cancelled  # no flow runs: a later sweep in this session leaves them alone
        for pathway, (officer, task_id) in officers.items():
            task = session.get(AgencyTask, uuid.UUID(task_id))
            assert task.state == TaskState.completed and task.answered_by == officer, pathway
            step = policy.pathways[pathway].step(task.step_key)
            assert task.outcome == step.validate_outcome({k[2:]: v for k, (_h, v) in ANSWERS[pathway][2].items()
                                                          if k[2:] != "help_given"} | (
                {"help_given": "several"} if pathway == "temporary_assistance" else {})), pathway
    print(f"screenshots: {shots.folder}")
