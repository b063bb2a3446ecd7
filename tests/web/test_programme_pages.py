"""Programme pages (items 18-20, 方案 （九）（十）（十一））: a unit of 城厢区 records a city-integration programme and the
child waiting for item 19 there is invited at once; the organiser sees the invited children by invitation code and case
reference only and records attendance after the programme; the caseworker sees the invitation and the attendance on
the case page; the manager sees the figures on the dashboard."""
from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa

from careflow.cases import create_pathway_run, open_case
from careflow.programmes import invite_child
from careflow.registration import register_child
from core.db import session_scope
from models.programmes import InvitationStatus, Programme, ProgrammeInvitation
from tests.factories import make_resident_id
from tests.web.chinese import visible_text
from tests.web.conftest import WEB_ID_SPACE

ITEM = 19  # 城市融入服务: no other test records programmes of this item in 城厢区


def _waiting_child(world) -> tuple[str, str, uuid.UUID]:
    """A child of 龙桥 (A1) referred for item 19 with no programme yet: (name, case reference, invitation id)."""
    name = f"融入{uuid.uuid4().hex[:4]}"
    with session_scope() as session:
        reg = register_child(session, resident_id=make_resident_id(*WEB_ID_SPACE["walk"]), full_name=name,
                             hukou_county="511321", residence_county="350302", residence_area_code="350302001001",
                             arrival_date=date(2023, 8, 20), actor="fixture")
        session.flush()
        case = open_case(session, child_id=reg.child.id, caseworker=world.person("cw_a").username)
        run = create_pathway_run(session, case_id=case.id, pathway="service_referral", actor="fixture",
                                 parameters={"item": ITEM})
        session.flush()
        invitation = invite_child(session, run.id, ITEM)
        assert invitation.status == InvitationStatus.waiting
        return name, case.reference, invitation.id


def test_an_organiser_records_a_programme_and_its_attendance_and_the_caseworker_sees_it(web_app, world, clients):
    name, reference, invitation_id = _waiting_child(world)
    officer, caseworker, manager = clients["off_police_a"], clients["cw_a"], clients["mgr_a"]
    form = officer.get("/programmes/new")
    assert form.status_code == 200 and "登记活动" in form.text and "莆田市城厢区" in form.text

    bad = officer.post("/programmes", data={"csrf_token": officer.csrf, "item": str(ITEM), "title": "新市民子女城市探索日",
                                            "starts_at": "2099-05-01T09:30", "place": "城厢区图书馆",
                                            "county": "350302", "capacity": "0"})
    assert bad.status_code == 400 and "可邀请人数：“0”须为正整数" in bad.text and "字段 capacity" not in bad.text
    typed = {"csrf_token": officer.csrf, "item": str(ITEM), "title": "探索日", "starts_at": "2099-05-01T09:30",
             "place": "城厢区图书馆", "county": "350302", "capacity": "很多"}
    assert "可邀请人数：“很多”不是整数" in visible_text(officer.post("/programmes", data=typed).text)
    try:  # the web's own checks in the page's language
        many = visible_text(officer.post("/programmes?lang=en", data=typed).text)
        when = visible_text(officer.post("/programmes?lang=en", data={**typed, "starts_at": "五一"}).text)
    finally:
        officer.get("/account?lang=zh")
    assert "Seats for invited children: “很多” is not a whole number" in many
    assert "Date and time: “五一” is not a date and time: write it as 2027-01-16 09:30" in when

    done = officer.post("/programmes", data={"csrf_token": officer.csrf, "item": str(ITEM), "title": "新市民子女城市探索日",
                                             "starts_at": "2099-05-01T09:30", "place": "城厢区图书馆",
                                             "county": "350302", "capacity": "40"}, follow_redirects=True)
    assert done.status_code == 200 and "新市民子女城市探索日" in done.text
    programme_id = re.search(r"/programmes/([0-9a-f-]{36})/?", str(done.url)).group(1)
    with session_scope() as session:
        assert session.get(ProgrammeInvitation, invitation_id).programme_id == uuid.UUID(programme_id)
    # the organiser takes attendance by invitation code and case reference: never the child's name
    assert invitation_id.hex[:8] in done.text and reference in done.text and name not in done.text
    assert "2099-05-01 09:30" in done.text and "已邀请 1 / 共 40 人" in done.text

    case_page = caseworker.get(f"/cases/{reference}")
    assert "新市民子女城市探索日" in case_page.text and "已邀请" in case_page.text
    assert invitation_id.hex[:8] in case_page.text

    # attendance only after the programme began
    early = officer.post(f"/programmes/{programme_id}/attendance",
                         data={"csrf_token": officer.csrf, "attended": str(invitation_id), "walk_ins": "3"})
    assert early.status_code == 400 and "活动尚未开始" in early.text
    with session_scope() as session:
        session.execute(sa.update(Programme).where(Programme.id == uuid.UUID(programme_id))
                        .values(starts_at=datetime.now(timezone.utc) - timedelta(hours=2)))
    recorded = officer.post(f"/programmes/{programme_id}/attendance", follow_redirects=True,
                            data={"csrf_token": officer.csrf, "attended": str(invitation_id), "walk_ins": "23"})
    assert recorded.status_code == 200 and "参加情况已登记" in recorded.text
    assert "受邀儿童参加 1 人、未参加 0 人；未经转介参加 23 人" in recorded.text

    assert "已参加" in caseworker.get(f"/cases/{reference}").text
    listing = caseworker.get("/programmes")
    assert "新市民子女城市探索日" in listing.text and name not in listing.text
    dashboard = manager.get("/dashboard")
    assert "关爱服务活动开展情况" in dashboard.text and "城市融入服务" in dashboard.text
    # another county's officer and caseworker do not see it
    assert clients["off_police_b"].get(f"/programmes/{programme_id}").status_code == 404
    assert clients["cw_b"].get(f"/programmes/{programme_id}").status_code == 404


def test_the_api_records_a_programme_and_its_attendance(web_app, world, clients):
    _name, reference, invitation_id = _waiting_child(world)
    officer = world.person("off_police_a")
    client, auth = clients["off_police_a"], {"Authorization": f"Bearer {officer.token}"}
    bad = client.request("POST", "/api/programmes", headers=auth, json={
        "item": 17, "title": "心理讲座", "starts_at": "2099-06-01T09:30:00+08:00", "place": "学校", "county": "350302",
        "capacity": 10})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "服务事项" and "17 不是以活动形式开展" in bad.text
    early = {"item": ITEM, "title": "讲座", "starts_at": "1999-06-01T09:30:00+08:00", "place": "学校", "county": "350302",
             "capacity": 10}
    said = client.request("POST", "/api/programmes", headers=auth, json=early).json()["detail"][0]
    assert (said["field"], said["message"]) == ("活动时间", "应在 2000 年至 2100 年之间"), said
    said = client.request("POST", "/api/programmes?lang=en", headers=auth, json=early).json()["detail"][0]
    client.get("/account?lang=zh")  # ?lang= is remembered, for the API too
    assert said["msg"] == "Date and time: must fall between the years 2000 and 2100", said
    created = client.request("POST", "/api/programmes", headers=auth, json={
        "item": ITEM, "title": "城市融入亲子日", "starts_at": "2099-06-01T09:30:00+08:00", "place": "城厢区文化馆",
        "county": "350302", "capacity": 10})
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["service"], body["county_name"], body["invited_count"]) == ("城市融入服务", "莆田市城厢区", 1)
    assert body["starts_at"].startswith("2099-06-01T01:30:00")
    with session_scope() as session:
        assert str(session.get(ProgrammeInvitation, invitation_id).programme_id) == body["id"]
        session.execute(sa.update(Programme).where(Programme.id == uuid.UUID(body["id"]))
                        .values(starts_at=datetime.now(timezone.utc) - timedelta(hours=1)))
    done = client.request("POST", f"/api/programmes/{body['id']}/attendance", headers=auth,
                          json={"attended": [str(invitation_id)], "walk_ins": 4})
    assert done.status_code == 200 and (done.json()["attended"], done.json()["walk_ins"]) == (1, 4)
    # the caseworker and manager read it; the other county's caseworker does not find it
    for key in ("cw_a", "mgr_a"):
        token = {"Authorization": f"Bearer {world.person(key).token}"}
        assert clients[key].get(f"/api/programmes/{body['id']}", headers=token).json()["attended"] == 1
    other = {"Authorization": f"Bearer {world.person('cw_b').token}"}
    assert clients["cw_b"].get(f"/api/programmes/{body['id']}", headers=other).status_code == 404
    assert reference not in done.text


def test_a_caseworker_gives_a_programme_place_back_on_the_case_page(web_app, world, clients):
    """The case page offers the caseworker to give the place back (no reason: refused beside the form, in Chinese);
    then the place reads 已退出 / Withdrawn and is offered no more; a second try (another tab) is refused."""
    _name, reference, invitation_id = _waiting_child(world)
    caseworker, code = clients["cw_a"], invitation_id.hex[:8]
    page = caseworker.get(f"/cases/{reference}")
    assert f'id="withdraw-{code}"' in page.text and "退出候补名单" in visible_text(page.text)
    refused = caseworker.post(f"/cases/{reference}/invitations/{code}/withdraw",
                              data={"csrf_token": caseworker.csrf, "reason": " "})
    assert refused.status_code == 400 and "退出原因：请填写" in visible_text(refused.text)
    done = caseworker.post(f"/cases/{reference}/invitations/{code}/withdraw",
                           data={"csrf_token": caseworker.csrf, "reason": "家庭已搬回户籍地"}, follow_redirects=True)
    text = visible_text(done.text)
    assert done.status_code == 200 and "已退出活动名额" in text and "已退出" in text
    assert f'id="withdraw-{code}"' not in done.text
    assert "已列入候补名单" not in text  # the waiting list's promise no longer stands
    with session_scope() as session:
        assert session.get(ProgrammeInvitation, invitation_id).status == InvitationStatus.withdrawn
    again = caseworker.post(f"/cases/{reference}/invitations/{code}/withdraw",
                            data={"csrf_token": caseworker.csrf, "reason": "重复提交"})
    assert again.status_code == 409 and f"邀请 {code} 已登记参加情况或已退出" in visible_text(again.text)
    try:
        english = visible_text(caseworker.get(f"/cases/{reference}?lang=en").text)
    finally:
        caseworker.get("/account?lang=zh")
    assert "Withdrawn" in english and "已退出" not in english
    unknown = caseworker.post(f"/cases/{reference}/invitations/00000000/withdraw",
                              data={"csrf_token": caseworker.csrf, "reason": "x"})
    assert unknown.status_code == 400 and "本个案没有邀请码为 00000000 的活动邀请" in visible_text(unknown.text)
