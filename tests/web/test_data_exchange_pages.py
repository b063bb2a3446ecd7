"""What the caseworker sees of the departments' answers (方案 一（三）), on both databases: the answer on the child's
page with its date and source, the proposal on the page and in 待我处理, and the one-click start of the item."""
from __future__ import annotations

import csv
import uuid
from datetime import date

from sqlmodel import select

from careflow.exchange.answers import import_department_answers
from careflow.registration import register_child
from careflow.survey.duty_calendar import today_local
from careflow.survey.sharing import child_reference
from core.db import session_scope
from models.case import Case, PathwayRun
from models.data_exchange import ReferralProposal
from tests.factories import make_resident_id
from tests.web.chinese import chinese_by_english, leaks

ID_SPACE = ("350823", date(2012, 2, 29))  # a birth date no other web test draws from
AREA = "350302001001"  # 龙桥街道: cw_a1's township


def child_with_answer(tmp_path, value: str) -> tuple[uuid.UUID, str]:
    with session_scope() as session:
        child = register_child(session, resident_id=make_resident_id(*ID_SPACE), full_name="比对" + uuid.uuid4().hex[:4],
                               hukou_county="511321", residence_county="350302", residence_area_code=AREA,
                               arrival_date=date(2023, 8, 20), actor="fixture").child
        child_id, name = child.id, child.full_name
    path = tmp_path / f"医保反馈-{uuid.uuid4().hex[:6]}.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows([["儿童编号", "参保状态", "参保地"], [child_reference(child_id), value, ""]])
    with session_scope() as session:
        import_department_answers(session, "medical_insurance", path, actor="fixture")
    return child_id, path.name


def post(client, url: str, **data):
    return client.post(url, data={**data, "csrf_token": client.csrf})


def test_the_answer_shows_on_the_childs_page_and_the_proposal_starts_in_one_click(clients, world, tmp_path):
    cw = clients["cw_a1"]
    child_id, file_name = child_with_answer(tmp_path, "未参保")
    page = cw.get(f"/children/{child_id}").text
    answers = page[page.index('id="department-answers"'):]
    assert "医疗保障部门" in answers or "医保" in answers
    assert today_local().isoformat() in answers  # received today in Beijing time and f"{file_name} 第2行" in answers and "未参保" in answers
    proposals = page[page.index('id="proposals"'):page.index('id="department-answers"')]
    assert "清单第7项" in proposals and "开始转介（清单第7项）" in proposals and "参保状态为“未参保”" in proposals

    inbox = cw.get("/todo?show=proposals").text
    assert f'data-child="{child_id}"' in inbox and 'id="tab-proposals"' in inbox and "数据比对建议转介" in inbox
    assert leaks(page) == [] and leaks(inbox) == []  # no raw value, no catalogue key (医保 by its name)
    english = cw.get(f"/children/{child_id}?lang=en").text
    cw.get("/account?lang=zh")
    answers = english[english.index('id="department-answers"'):]
    assert chinese_by_english(answers[:answers.index("</section>")]) == []

    response = post(cw, f"/children/{child_id}/proposals/start", item="7")
    assert response.status_code == 303 and response.headers["location"].startswith("/cases/CF-350302-")
    reference = response.headers["location"].split("/")[2].split("?")[0]
    with session_scope() as session:
        case = session.exec(select(Case).where(Case.reference == reference)).one()
        run = session.exec(select(PathwayRun).where(PathwayRun.case_id == case.id)).one()
        assert (case.child_id, run.pathway, run.parameters["item"]) == (child_id, "service_referral", "7")
        assert "参保状态为“未参保”" in run.parameters["note"]
        assert session.exec(select(ReferralProposal.status).where(ReferralProposal.child_id == child_id)).one() \
            == "referred"
    assert f'data-child="{child_id}"' not in cw.get("/todo?show=proposals").text
    assert "开始转介（清单第7项）" not in cw.get(f"/children/{child_id}").text
    again = post(cw, f"/children/{child_id}/proposals/start", item="7")  # a second click: nothing more starts
    assert again.headers["location"] == f"/children/{child_id}?done=no_proposal#proposals"


def test_an_answer_without_a_gap_proposes_nothing_and_reads_in_english(clients, world, tmp_path):
    cw = clients["cw_a1"]
    child_id, _ = child_with_answer(tmp_path, "已参保")
    page = cw.get(f"/children/{child_id}").text
    assert "已参保" in page and "部门答复未发现需要转介的情况" in page and "开始转介" not in page
    english = cw.get(f"/children/{child_id}?lang=en").text
    assert "answers (data exchange)" in english and "Insurance status" in english and "exchange." not in english
    cw.get(f"/children/{child_id}?lang=zh")


def test_other_townships_caseworkers_see_no_proposal(clients, world, tmp_path):
    child_id, _ = child_with_answer(tmp_path, "未参保")
    assert f'data-child="{child_id}"' not in clients["cw_b"].get("/todo?show=proposals").text
    assert post(clients["cw_b"], f"/children/{child_id}/proposals/start", item="7").status_code == 404
