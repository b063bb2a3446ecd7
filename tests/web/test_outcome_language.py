"""A pathway's outcome in the reader's language (core.outcome): the case page, the API, the caseworker's inbox, the
printed timeline and the manager's list in English show a completed guardianship pathway's outcome and a blocked one's
in English — the agency's rejection reason as it wrote it, only the frame translated; in Chinese, exactly the text
recorded, as before."""
from __future__ import annotations

import html
from datetime import date

import pytest
import sqlalchemy as sa

from careflow.cases import create_pathway_run, open_case
from careflow.recovery import close_pathway_run
from careflow.registration import register_child
from core.db import session_scope
from flows import guardianship
from flows.waiting import PathwayBlocked, _step_title
from models.base import utcnow
from models.case import PathwayRun, PathwayStatus
from models.policy import load_policy
from tests.factories import make_resident_id
from tests.flows.fake_steps import context, drive
from tests.flows.test_outcome_phrases import CASES, GUARDIANSHIP_WHOLE_WAY

#: The resident IDs these tests make: a birth date no other test draws from (tests/web/conftest.py WEB_ID_SPACE).
ID_SPACE = ("350823", date(2010, 8, 18))
AREA = "350302001001"  # 龙桥街道: cw_a1's township
REASON = "监护人拒绝到场，无法训诫"
COMPLETED_ZH = CASES["guardianship_whole_way"][-1]
COMPLETED_EN = ("The village/residents' committee admonished and stopped the conduct; The police reprimanded the "
                "guardian; Placed in temporary guardianship; Family-education guidance given; Family guardianship "
                "assessment completed; Long-term guardianship dealt with by the court (petition dismissed)")
REPRIMAND = load_policy().pathway("guardianship").step("police_reprimand")
BLOCKED_ZH = f"受阻：“{REPRIMAND.title_zh}”已被退回 3 次：{REASON}"
BLOCKED_EN = f"Blocked: “{REPRIMAND.title_en}” was sent back 3 times: {REASON}"


@pytest.fixture(scope="module")
def reference(world) -> str:
    """A case in 龙桥 with a guardianship pathway completed (its outcome recorded by the flow's own steps, answered
    at once) and a second one blocked at the police's reprimand, ended last."""
    with pytest.MonkeyPatch.context() as patch:
        outcome, _ = drive(patch, guardianship, "_guardianship_steps", context("guardianship"),
                           answers=GUARDIANSHIP_WHOLE_WAY)
    blocked = PathwayBlocked("police_reprimand", REASON, _step_title("guardianship", "police_reprimand"),
                             "guardianship").outcome
    with session_scope() as session:
        reg = register_child(session, resident_id=make_resident_id(*ID_SPACE), full_name="语言结果",
                             hukou_county="511321", residence_county="350302", residence_area_code=AREA,
                             arrival_date=date(2023, 8, 20), actor="fixture")
        session.flush()
        case = open_case(session, child_id=reg.child.id, caseworker="fixture", summary="outcome language")
        session.flush()
        done = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="fixture")
        session.flush()
        assert close_pathway_run(session, done.id, outcome, PathwayStatus.completed)[0]
        stopped = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="fixture")
        session.flush()
        # as close_pathway_run records a failed end, without the messages it stores for the caseworker and manager
        session.execute(sa.update(PathwayRun).where(PathwayRun.id == stopped.id).values(
            status=PathwayStatus.failed.value, outcome=blocked.text(), outcome_phrases=blocked.to_json(),
            ended_at=utcnow()))
        return case.reference


def _page(client, path: str, lang: str) -> str:
    text = html.unescape(client.get(f"{path}{'&' if '?' in path else '?'}lang={lang}").text)
    client.get("/account?lang=zh")  # the choice is remembered: back to Chinese for the next page
    return text


def test_the_case_page_shows_each_outcome_in_the_readers_language(clients, reference):
    cw = clients["cw_a1"]
    english = _page(cw, f"/cases/{reference}", "en")
    assert COMPLETED_EN in english and BLOCKED_EN in english
    assert COMPLETED_ZH not in english and "受阻" not in english
    chinese = _page(cw, f"/cases/{reference}", "zh")
    assert COMPLETED_ZH in chinese and BLOCKED_ZH in chinese
    assert COMPLETED_EN not in chinese and "Blocked" not in chinese


def test_the_api_gives_the_outcome_in_the_callers_language(web_app, world, reference):
    from fastapi.testclient import TestClient

    api = TestClient(web_app)
    token = {"Authorization": f"Bearer {world.person('cw_a1').token}"}
    english = api.get(f"/api/cases/{reference}", headers={**token, "Accept-Language": "en"}).json()
    assert [p["outcome"] for p in english["pathways"]] == [COMPLETED_EN, BLOCKED_EN]
    chinese = api.get(f"/api/cases/{reference}", headers=token).json()
    assert [p["outcome"] for p in chinese["pathways"]] == [COMPLETED_ZH, BLOCKED_ZH]


def test_the_inbox_of_ended_pathways_shows_the_last_outcome_in_the_readers_language(clients, reference):
    cw = clients["cw_a1"]
    assert BLOCKED_EN in _page(cw, f"/todo?show=ended&q={reference}", "en")
    assert BLOCKED_ZH in _page(cw, f"/todo?show=ended&q={reference}", "zh")


def test_the_printed_timeline_and_the_managers_list_word_the_outcome_in_the_readers_language(reference):
    from careflow.timeline import case_timeline, format_timeline
    from web.i18n import Translator
    from web.metrics import latest_pathways

    with session_scope() as session:
        timeline = case_timeline(session, reference, actor="fixture")
        rows, _ = latest_pathways(session, AREA, Translator("en"), 500)  # 龙桥's village: a few dozen runs
        chinese_rows, _ = latest_pathways(session, AREA, Translator("zh"), 500)
    english = format_timeline(timeline, "en")
    assert COMPLETED_EN in english and BLOCKED_EN in english and "受阻" not in english
    assert COMPLETED_ZH in format_timeline(timeline) and BLOCKED_ZH in format_timeline(timeline)
    assert [r.outcome for r in rows if r.case_reference == reference] == [BLOCKED_EN, COMPLETED_EN]  # newest first
    assert [r.outcome for r in chinese_rows if r.case_reference == reference] == [BLOCKED_ZH, COMPLETED_ZH]
