"""lin.fang's day (龙桥街道's caseworker): the registration form asks for the child's village, a guardianship
pathway for a child registered only down to the township is refused at once in words (nothing is created), and a
pathway that failed anyway shows one state and a worded reason on the case page and the dashboard."""
from __future__ import annotations

import asyncio
import re
import uuid
from datetime import date, timedelta
from types import SimpleNamespace

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import select

import careflow.reconcile as reconcile_module
from careflow.cases import create_pathway_run, open_case
from careflow.registration import register_child
from core.db import session_scope
from models.base import utcnow
from models.case import Case, PathwayRun, PathwayStatus
from tests.factories import make_resident_id

ID_SPACE = ("511321", date(2012, 3, 3))  # a birthplace and date no other test draws from (a 3508 ID would look like
# the access test's 上杭 child once masked)
RAW = ("流程运行已失败（Failed）：Flow run encountered an exception: NoUnitForAgency: 没有在用的村（居）民委员会单位"
       "（village_committee）负责城厢区龙桥街道（350302001）（村（居）级或以上）：请在承办单位名录（agency_units.yaml）中添加")
RAW_PARTS = ("NoUnitForAgency", "Flow run encountered", "village_committee", "agency_units.yaml")


def _post(client, url: str, **data):
    return client.post(url, data={**data, "csrf_token": client.csrf})


def _case(caseworker: str, area: str) -> str:
    with session_scope() as session:
        reg = register_child(session, resident_id=make_resident_id(*ID_SPACE), full_name="路由" + uuid.uuid4().hex[:4],
                             hukou_county="511321", residence_county="350302", residence_area_code=area,
                             arrival_date=date(2023, 8, 20), actor=caseworker)
        session.flush()
        return open_case(session, child_id=reg.child.id, caseworker=caseworker).reference


def _runs(reference: str) -> list[PathwayRun]:
    with session_scope() as session:
        case_id = session.exec(select(Case.id).where(Case.reference == reference)).one()
        return list(session.exec(select(PathwayRun).where(PathwayRun.case_id == case_id)).all())


def test_the_registration_form_asks_for_the_village_and_warns_of_a_township(clients):
    cw = clients["cw_a1"]  # 龙桥街道 (a township)
    page = cw.get("/children/new").text
    field = re.search(r'<input name="residence_area_code"[^>]*>', page).group(0)
    assert 'value=""' in field and "龙桥街道" not in field  # no township prefilled
    assert "请选择儿童居住的村（居）（社区）" in page
    form = {"full_name": "乡镇登记", "resident_id": make_resident_id(*ID_SPACE), "hukou_county": "511321",
            "residence_county": "350302", "residence_area_code": "城厢区龙桥街道", "arrival_date": "2023-08-20"}
    registered = _post(cw, "/children", **form)
    assert registered.status_code == 303, registered.text  # warned, not refused
    child_page = cw.get(registered.headers["location"]).text
    assert "该儿童居住地只登记到城厢区龙桥街道，未到村（居）" in child_page
    village = _post(cw, "/children", **{**form, "resident_id": make_resident_id(*ID_SPACE),
                                        "residence_area_code": "350302001001"})
    assert "未到村（居）" not in cw.get(village.headers["location"]).text


def test_guardianship_for_a_township_child_is_refused_at_once_in_chinese_or_english(web_app, clients, world):
    cw = clients["cw_a1"]
    reference = _case(world.person("cw_a1").username, "350302001")
    refused = _post(cw, f"/cases/{reference}/pathways", pathway="guardianship")
    assert refused.status_code == 409
    assert ("该儿童居住地只登记到城厢区龙桥街道（乡镇（街道）一级）；本路径第一步「劝诫、制止」须由村（居）民委员会办理，"
            "请先补充儿童居住的村（居）后再发起") in refused.text
    assert not any(part in refused.text for part in RAW_PARTS)
    try:
        cw.get(f"/cases/{reference}?lang=en")
        english = _post(cw, f"/cases/{reference}/pathways", pathway="guardianship")
        assert english.status_code == 409
        assert "The child&#39;s residence is recorded only down to 城厢区龙桥街道 (township level)" in english.text \
            or "The child's residence is recorded only down to 城厢区龙桥街道 (township level)" in english.text
    finally:
        cw.get("/todo?lang=zh")
    token = {"Authorization": f"Bearer {world.person('cw_a1').token}"}
    api = TestClient(web_app).post(f"/api/cases/{reference}/pathways",
                                   json={"pathway": "guardianship", "parameters": {}},
                                   headers={**token, "Accept-Language": "en"})
    assert api.status_code == 409 and api.json()["detail"].startswith("The child's residence is recorded only")
    assert _runs(reference) == []  # nothing created, nothing for the sweeper to restart


def test_a_failed_run_shows_one_state_and_a_worded_reason_to_caseworker_and_manager(clients, world, monkeypatch):
    cw, manager = clients["cw_a1"], clients["mgr_a"]
    reference = _case(world.person("cw_a1").username, "350302001001")
    with session_scope() as session:
        case = session.exec(select(Case).where(Case.reference == reference)).one()
        run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="fixture")
        run.flow_run_id, run.status, run.restart_count = uuid.uuid4(), PathwayStatus.running, 2
        session.flush()
        row = SimpleNamespace(id=run.id, flow_run_id=run.flow_run_id, restart_count=2)
    monkeypatch.setattr(reconcile_module, "_send_now", lambda ids: None)
    assert asyncio.run(reconcile_module._restart_or_give_up(None, row, RAW, 2, None)) == "given_up"

    case_page = cw.get(f"/cases/{reference}").text
    assert "承办单位名录中缺少负责该儿童居住地的承办单位" in case_page
    dashboard = manager.get("/dashboard").text
    tr = re.search(rf'<tr data-case="{reference}".*?</tr>', dashboard, re.S).group(0)
    assert 'data-status="failed"' in tr and "受阻" in tr and "承办单位名录中缺少" in tr
    assert "运行中" not in tr and "办理中" not in tr  # one state: stopped, not running
    for text in (case_page, tr):
        assert not any(part in text for part in RAW_PARTS), text
    try:
        english = manager.get("/dashboard?lang=en").text
        tr = re.search(rf'<tr data-case="{reference}".*?</tr>', english, re.S).group(0)
        assert "the agency directory has no unit for the child" in tr.replace("&#39;", "'")
        assert not any(part in tr for part in RAW_PARTS)
    finally:
        manager.get("/dashboard?lang=zh")


def test_the_stalled_list_words_the_engine_reason(clients, world):
    reference = _case(world.person("cw_a1").username, "350302001001")
    with session_scope() as session:
        case = session.exec(select(Case).where(Case.reference == reference)).one()
        run = create_pathway_run(session, case_id=case.id, pathway="guardianship", actor="fixture")
        session.flush()
        session.execute(sa.update(PathwayRun).where(PathwayRun.id == run.id).values(
            status=PathwayStatus.running.value, flow_run_id=uuid.uuid4(), last_failure=RAW,
            down_since=utcnow() - timedelta(hours=1)))
    try:
        page = clients["mgr_a"].get("/dashboard").text
        stalled = re.search(r'<section class="card" id="stalled">.*?</section>', page, re.S).group(0)
        row = re.search(rf'<tr data-case="{reference}">.*?</tr>', stalled, re.S).group(0)
        assert "承办单位名录中缺少负责该儿童居住地的承办单位" in row
        assert not any(part in row for part in RAW_PARTS), row
    finally:
        with session_scope() as session:  # no open run left for a later sweep
            session.execute(sa.update(PathwayRun).where(PathwayRun.id == run.id).values(
                status=PathwayStatus.cancelled.value))
