"""The needs list (/needs, /api/needs; issue 13 item 2): a manager or caseworker sees the children of their
jurisdiction who qualify for an item and were never referred, in Chinese, 50 a page with the total; an officer is
refused; a bad item is refused naming the field and the value; a page costs the same statements whatever its
size."""
from __future__ import annotations

import re
import uuid
from datetime import date

import pytest
import sqlalchemy as sa

from careflow.cases import create_pathway_run, open_case
from careflow.child_facts import today
from careflow.registration import register_child
from core.db import get_engine, session_scope
from models.case import PathwayStatus
from models.eligibility import add_months
from models.resident_id import mask_resident_id
from models.user import WebUser
from tests.factories import make_resident_id
from tests.web.chinese import chinese_by_english
from tests.web.conftest import World
from web.list_params import parse_list_params
from web.i18n import Translator
from web.needs_list import NEEDS_SPEC, list_needs

ID_SPACE = "511321"


@pytest.fixture(scope="module")
def needy(database_url, world: World) -> dict:
    """Children named 需求<suffix><key>: A1 and A2 (ten, qualify for item 3), A1 young (three: not of school age),
    A1 referred (ten, referred for item 3), B (ten, in 上杭县)."""
    prefix = "需求" + uuid.uuid4().hex[:5]
    ten, three = add_months(today(), -10 * 12 - 1), add_months(today(), -3 * 12 - 1)
    made = {}
    with session_scope() as session:
        for key, birth, county, area in (("甲", ten, "350302", "350302001001"), ("乙", ten, "350302", "350302002001"),
                                         ("幼", three, "350302", "350302001001"),
                                         ("转", ten, "350302", "350302001001"), ("丙", ten, "350823", "350823100001")):
            rid = make_resident_id(ID_SPACE, birth)
            child = register_child(session, resident_id=rid, full_name=prefix + key, hukou_county="511321",
                                   residence_county=county, residence_area_code=area,
                                   arrival_date=date(2023, 8, 20) if birth < date(2023, 8, 20) else birth,
                                   actor="fixture").child
            session.flush()
            made[key] = (child.id, rid)
        case = open_case(session, child_id=made["转"][0], caseworker="fixture")
        session.flush()
        run = create_pathway_run(session, case_id=case.id, pathway="service_referral", actor="fixture",
                                 parameters={"item": 3})
        run.status = PathwayStatus.cancelled  # no flow run here
    return {"prefix": prefix, **made}


def _names(text: str, prefix: str) -> set[str]:
    return set(re.findall(re.escape(prefix) + r"([甲乙丙幼转])", text))


def test_a_manager_sees_who_qualifies_and_was_never_referred_in_chinese(clients, needy):
    prefix = needy["prefix"]
    page = clients["mgr_a"].get(f"/needs?item=3&q={prefix}")
    assert page.status_code == 200
    text = page.text
    for words in ("符合服务对象条件但尚未转介的儿童", "清单第3项 义务教育服务", "服务对象", "共 2 条，第 1–2 条", "年龄", "10岁",
                  "需求清单", "第11项 残疾儿童康复救助及残疾人两项补贴", "核对的条件（均须符合）：流动儿童；学段：义务教育阶段"):
        assert words in text, words
    assert _names(text, prefix) == {"甲", "乙"}
    child_id, rid = needy["甲"]
    assert f'href="/children/{child_id}"' in text and mask_resident_id(rid) in text and rid not in text
    assert _names(clients["mgr_b"].get(f"/needs?item=3&q={prefix}").text, prefix) == {"丙"}
    assert _names(clients["cw_a1"].get(f"/needs?item=3&q={prefix}").text, prefix) == {"甲"}
    assert _names(clients["mgr_a"].get(f"/needs?item=18&q={prefix}").text, prefix) == {"甲", "乙", "幼", "转"}
    assert 'href="/needs"' in clients["mgr_a"].get("/dashboard").text
    english = clients["mgr_a"].get(f"/needs?item=3&q={prefix}&lang=en").text
    clients["mgr_a"].get("/account?lang=zh")  # the choice is remembered: back to Chinese for the other tests
    assert "Item 3: Compulsory education" in english and "Children who qualify" in english and "needs." not in english
    assert "Migrant children of compulsory-school age" in english  # the target group too
    assert "义务教育服务" not in english and "义务教育阶段流动儿童" not in english
    assert chinese_by_english(english) == []  # the rules joined by "; ", not 「；」


def test_the_list_pages_and_the_api_answers_the_same(clients, needy):
    prefix, manager = needy["prefix"], clients["mgr_a"]
    first = manager.get(f"/needs?item=3&q={prefix}&size=1")
    assert "共 2 条，第 1–1 条" in first.text and len(_names(first.text, prefix)) == 1
    following = re.search(r'href="([^"]+)" rel="next"', first.text).group(1).replace("&amp;", "&")
    second = manager.get(following)
    assert "共 2 条，第 2–2 条" in second.text and 'rel="next"' not in second.text
    assert _names(first.text, prefix) | _names(second.text, prefix) == {"甲", "乙"}
    answer = manager.get(f"/api/needs?item=3&q={prefix}", headers={"X-CSRF-Token": manager.csrf})
    assert answer.status_code == 200
    body = answer.json()
    assert body["total"] == 2 and body["total_exact"] and body["next"] is None
    rows = {row["full_name"]: row for row in body["items"]}
    assert set(rows) == {prefix + "甲", prefix + "乙"}
    assert rows[prefix + "甲"]["age"] == 10
    assert rows[prefix + "甲"]["resident_id_masked"] == mask_resident_id(needy["甲"][1])


def test_from_the_list_a_manager_sees_why_a_child_without_a_case_qualifies(clients, needy):
    """Each row links to the child's check of the item (符合 with its reasons, 未转介): the children on the list
    mostly have no case, so the case's check page cannot be the place; an officer may not read it."""
    prefix, manager = needy["prefix"], clients["mgr_a"]
    child_id, _rid = needy["甲"]
    listed = manager.get(f"/needs?item=3&q={prefix}").text
    link = f'/children/{child_id}/eligibility?item=3'
    assert f'href="{link}"' in listed and "核对条件" in listed
    check = manager.get(link)
    assert check.status_code == 200
    assert f"{prefix}甲" in check.text and 'data-item="3" data-status="met"' in check.text and "未转介" in check.text
    assert "义务教育阶段" in check.text and 'data-item="11"' not in check.text
    whole = manager.get(f"/children/{child_id}/eligibility").text
    assert 'data-item="1"' in whole and 'data-item="20"' in whole
    assert f'href="/children/{child_id}/eligibility"' in manager.get(f"/children/{child_id}").text
    assert clients["off_police_a"].get(link).status_code == 403
    assert clients["mgr_b"].get(link).status_code == 404  # another county's manager does not see the child

def test_officers_are_refused_and_a_bad_item_is_named_in_chinese(clients):
    officer = clients["off_police_a"]
    assert officer.get("/needs?item=3").status_code == 403
    assert officer.get("/api/needs?item=3", headers={"X-CSRF-Token": officer.csrf}).status_code == 403
    manager = clients["mgr_a"]
    for bad in ("99", "abc"):
        page = manager.get(f"/needs?item={bad}")
        assert page.status_code == 400
        assert f"筛选条件「清单项目」（item）的值「{bad}」无效" in page.text
        api = manager.get(f"/api/needs?item={bad}", headers={"X-CSRF-Token": manager.csrf})
        assert api.status_code == 400 and f"「{bad}」无效" in api.json()["detail"]
    missing = manager.get("/api/needs", headers={"X-CSRF-Token": manager.csrf})
    assert missing.status_code == 400 and "「清单项目」（item）必须填写" in missing.json()["detail"]
    picker = manager.get("/needs")
    assert picker.status_code == 200 and "请选择一个清单项目" in picker.text
    assert "第3项 义务教育服务" in picker.text and "第20项" in picker.text


def test_a_page_costs_the_same_statements_whatever_its_size(database_url, world, needy):
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    t = Translator("zh")
    with session_scope() as session:
        user = session.get(WebUser, world.person("mgr_a").id)
        engine = get_engine()
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            costs = {}
            for size in ("1", "50"):
                params = parse_list_params({"item": "18", "size": size}, NEEDS_SPEC, t)
                statements.clear()
                page = list_needs(session, user, params, today())
                costs[size] = (len(page.items) > 0, len(statements))
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
    assert costs["1"] == costs["50"] == (True, 2)  # the page and its bounded count
