"""Chinese first (issue 12, item 2): every page a role can open reads Chinese, with no raw enumerated value
(``normal``, ``several``, ``completed``, ``True`` …), no untranslated catalogue key and no English validation
message; form errors name the field by its Chinese label, quote the value and mark the field; the printed timeline
is Chinese (English with ``--lang en``); the dashboard export has Chinese headers and values.
"""
from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from careflow.cases import create_pathway_run, open_case

from careflow.registration import register_child
from entry.cli import app as cli_app
from core.db import session_scope
from models.user import WebUser
from core.i18n import catalogue, label
from careflow.step_tasks import open_step_task
from careflow.timeline import CaseTimeline, TimelineRow, format_timeline
from models.case import CaseStatus, PathwayStatus
from models.eligibility import KeyCareCriterion
from models.policy import load_policy
from models.task import AgencyTask, TaskState
from models.user import UserRole
from tests.factories import make_resident_id
from tests.web.conftest import WEB_ID_SPACE
from tests.web.chinese import RAW_VALUES, WORD, any_word, chinese_by_english, leaks, visible_text
from tests.web.test_access import ENDPOINTS, NOTIFIERS, programme_id

PEOPLE = ["cw_a1", "mgr_a", "off_vc_a1", "off_police_a", "admin"]

@pytest.fixture(scope="module")
def answered(world) -> dict:
    """A case in 龙桥 (A1) whose timeline holds answers with choices and yes/no: a court ruling, counselling with a
    risk level, a police reprimand; and an open committee task for the form-error tests."""
    now = datetime.now(timezone.utc)
    with session_scope() as session:
        reg = register_child(session, resident_id=make_resident_id(*WEB_ID_SPACE["world"]),
                             full_name=f"语言{uuid.uuid4().hex[:4]}", hukou_county="511321", residence_county="350302",
                             residence_area_code="350302001001", arrival_date=date(2023, 8, 20), actor="fixture")
        session.flush()
        case = open_case(session, child_id=reg.child.id, caseworker="fixture", summary="语言测试")
        session.flush()
        ids = {}
        for pathway, steps in [("guardianship", {"police_reprimand": {"reprimanded": True, "family_education_ordered":
                                                                       False, "child_unsafe": False},
                                                 "long_term_guardianship": {"ruling": "guardianship_transferred"},
                                                 "committee_admonition": None}),
                               ("psychological_screening", {"counselling": {"started": True,
                                                                            "risk_after": "high_risk"}})]:
            parameters = {"screening_result": "high_risk"} if pathway == "psychological_screening" else None
            run = create_pathway_run(session, case_id=case.id, pathway=pathway, actor="fixture", parameters=parameters)
            run.status = PathwayStatus.cancelled
            session.flush()
            for step, outcome in steps.items():
                task = open_step_task(session, pathway_run_id=run.id, step_key=step)
                session.flush()
                if outcome is not None:
                    task.state, task.outcome, task.answered_at, task.answered_by = (
                        TaskState.completed, outcome, now - timedelta(minutes=5), "fixture")
                ids[step] = task.id
        session.flush()
        return {"reference": case.reference, "child_id": reg.child.id, "tasks": ids}


def _pages(world, answered, key: str) -> list[str]:
    person = world.person(key)
    targets = {"child": f"/children/{answered['child_id']}", "case": f"/cases/{answered['reference']}",
               "task": f"/tasks/{answered['tasks']['committee_admonition'] if person.unit and 'village' in person.unit else answered['tasks']['police_reprimand']}",
               "user": f"/admin/users/{world.person('cw_a1').id}", "unit": "/admin/units/police-350302",
               "programme": f"/programmes/{programme_id(world, 'A1|' + (person.unit or 'police-350302'))}"}
    pages = []
    for e in ENDPOINTS:
        if e.method != "GET" or e.api or "export" in e.path or e.path.endswith(".pdf") \
                or e.path in ("/healthz", "/login", "/invite/{token}") \
                or person.role not in e.roles \
                or (e.target == "notifier" and not (person.unit or "").startswith(NOTIFIERS)):  # police's form
            continue
        path = e.path
        if e.target:
            path = re.sub(r"^(.*?)/\{[a-z_]+\}(.*)$", lambda m: targets[e.target] + m.group(2), path)
        pages.append(path)
    return pages


@pytest.mark.parametrize("key", PEOPLE)
def test_every_page_a_role_opens_reads_chinese(clients, world, answered, key):
    client = clients[key]
    pages = _pages(world, answered, key)
    assert pages
    with session_scope() as session:  # login names are data, shown as typed: a user may be called "admin"
        names = set(session.exec(sa.select(WebUser.username)).scalars())
    mixed = []
    for path in pages:
        response = client.get(path, follow_redirects=True)
        assert response.status_code == 200, (path, response.status_code)
        found = [word for word in leaks(response.text) if word not in names]
        assert found == [], f"{key} {path}: {found}"
        page = client.get(path + ("&" if "?" in path else "?") + "lang=en").text
        client.get("/account?lang=zh")  # the choice is remembered: back to Chinese for the next page
        keys = sorted(set(any_word(tuple(catalogue("en"))).findall(visible_text(page))))
        assert keys == [], f"{key} {path} in English: untranslated {keys}"
        mixed += [(path, where) for where in chinese_by_english(page)]  # ；、（） or 条 beside English words
    assert mixed == [], f"{key} in English: Chinese punctuation or words beside English {mixed}"


def test_answers_read_as_labels_on_the_case_page(clients, answered):
    page = visible_text(clients["mgr_a"].get(f"/cases/{answered['reference']}").text)
    assert "裁判结果：撤销监护人资格并另行指定监护人" in page
    assert "辅导后风险：高风险" in page and "已予以训诫：是" in page and "责令接受家庭教育指导：否" in page
    english = visible_text(clients["mgr_a"].get(f"/cases/{answered['reference']}?lang=en").text)
    clients["mgr_a"].get("/cases?lang=zh")  # the choice is remembered: back to Chinese for the other tests
    assert "Ruling: guardianship transferred" not in page and "Risk after counselling" in english


def test_choices_are_offered_by_their_labels(clients, answered):
    page = clients["cw_a1"].get(f"/cases/{answered['reference']}/pathways/new").text
    for value, shown in [("normal", "正常"), ("at_risk", "有风险"), ("high_risk", "高风险"), ("request", "依申请"),
                         ("discovery", "主动发现")]:
        assert re.search(rf'<option value="{value}"\s*>{shown}</option>', page), value
    assert leaks(page) == []


def _register_form(client, **fields) -> dict:
    base = {"full_name": "错误测试", "resident_id": make_resident_id(*WEB_ID_SPACE["walk"]), "hukou_county": "511321",
            "residence_county": "350302", "residence_area_code": "350302001001", "arrival_date": "2023-08-20",
            "csrf_token": client.csrf}
    base.update(fields)
    return base


def test_registration_errors_name_the_field_quote_the_value_and_mark_it(clients):
    client = clients["cw_a1"]
    response = client.post("/children", data=_register_form(
        client, residence_area_code="12345", guardian_name="王芳", guardian_relation="", hukou_county="火星县"))
    assert response.status_code == 400
    text = visible_text(response.text)
    assert "监护人关系：请填写" in text
    assert "居住地乡镇（街道）/村（居）：「12345」不是有效的区划代码" in text
    assert leaks(response.text) == [], leaks(response.text)
    for name in ("residence_area_code", "guardian_relation"):
        assert re.search(rf'name="{name}" aria-invalid="true" aria-describedby="error-{name}"', response.text), name
        assert f'id="error-{name}"' in response.text
    assert 'value="王芳"' in response.text and 'value="火星县"' in response.text  # what was typed is kept


def test_an_unknown_county_is_named_on_its_own_field(clients):
    client = clients["cw_a1"]
    response = client.post("/children", data=_register_form(client, hukou_county="火星县"))
    assert response.status_code == 400
    text = visible_text(response.text)
    assert "户籍地（县）：「火星县」不是已知的县（市、区）" in text
    assert 'name="hukou_county" aria-invalid="true"' in response.text
    assert 'name="residence_county" aria-invalid' not in response.text
    assert leaks(response.text) == []


def test_errors_are_english_on_request(clients):
    client = clients["cw_a1"]
    response = client.post("/children?lang=en", data=_register_form(client, guardian_name="王芳",
                                                                     guardian_relation=""))
    client.get("/account?lang=zh")  # the choice is remembered: back to Chinese for the other tests
    text = visible_text(response.text)
    assert "Guardian's relation: required" in text and "guardians.0" not in text


def test_an_outcome_error_names_the_step_field(clients, world, answered):
    client = clients["off_vc_a1"]
    task_id = answered["tasks"]["committee_admonition"]
    response = client.post(f"/tasks/{task_id}/complete", data={"o_serious": "maybe", "o_child_in_danger": "no",
                                                              "csrf_token": client.csrf})
    assert response.status_code == 400
    text = visible_text(response.text)
    assert "情节严重：「maybe」不是“是”或“否”" in text, text[-600:]
    assert re.search(r'name="o_serious" aria-invalid="true"', response.text)
    assert "outcome field" not in text


def test_the_printed_timeline_is_chinese_without_codes_or_field_names(world, answered):
    result = CliRunner().invoke(cli_app, ["case", "timeline", answered["reference"]])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"个案 {answered['reference']} 办理时间线（办理中）" in out
    assert "已予以训诫：是" in out and "裁判结果：撤销监护人资格并另行指定监护人" in out
    assert "辅导后风险：高风险" in out and "状态：已办结" in out
    for raw in ("=True", "=False", "reprimanded", "police_reprimand", "police-350302", "completed", "requested",
                "guardianship_transferred", "high_risk", "agency:", "answer:"):
        assert raw not in out, raw
    english = CliRunner().invoke(cli_app, ["case", "timeline", answered["reference"], "--lang", "en"]).output
    assert f"Timeline of case {answered['reference']} (Open)" in english
    assert "Guardian reprimanded: yes" in english and "State: Completed" in english


def test_format_timeline_labels_every_value():
    at = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
    row = TimelineRow(pathway="temporary_assistance", step_key="emergency_help", title="先行救助", attempt=2,
                      unit_code="civil_affairs-350302001", unit_name="龙桥街道社会事务办（民政）", requested_at=at,
                      due_at=at, due_provisional=True, deadline_text="24 hours", state="completed", answered_at=at,
                      answered_by="officer", outcome={"help_given": "several", "amount_yuan": "800"},
                      rejection_reason="", on_time=True,
                      notifications=[("task_requested", "civil_affairs-350302001", "sent")])
    text = format_timeline(CaseTimeline(reference="GS-1", status="closed",
                                        pathways=[("temporary_assistance", "completed", "已先行救助")], rows=[row],
                                        unit_names={"civil_affairs-350302001": "龙桥街道社会事务办（民政）"}))
    assert "救助方式：多种方式" in text and "救助金额（元）：800" in text and "（第2次）" in text
    assert "（24小时）" in text and "（暂定）" in text and "通知：新任务 → 龙桥街道社会事务办（民政）：已发送" in text
    assert "已结案" in text and "临时救助" in text
    assert "several" not in text and "civil_affairs" not in text and "emergency_help" not in text


def test_dashboard_export_has_chinese_headers_and_values(clients, answered):
    body = clients["mgr_a"].get("/dashboard/export.csv").content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][:3] == ["个案编号", "县（市、区）代码", "县（市、区）"]
    states = {r[rows[0].index("状态")] for r in rows[1:]}
    assert states and states <= {label(s, "state") for s in TaskState}
    cells = " ".join(" ".join(r) for r in rows)
    assert not [v for v in RAW_VALUES if re.search(WORD.format(re.escape(v)), cells)]


def test_every_enumerated_value_has_a_chinese_and_an_english_label():
    policy = load_policy()
    kinds = [("state", [s.value for s in TaskState]), ("pathway.status", [s.value for s in PathwayStatus]),
             ("case.status", [s.value for s in CaseStatus]), ("role", [r.value for r in UserRole]),
             ("key_care", [c.value for c in KeyCareCriterion])]
    for p in policy.pathways.values():
        for f in [*p.start_parameters, *(f for s in p.steps for f in s.outcome)]:
            kinds.append((f"option.{f.name}", list(f.options)))
    for kind, values in kinds:
        for value in values:
            for lang in ("zh", "en"):
                assert label(value, kind, lang) != value or lang == "en" and " " not in value and "_" not in value, \
                    (kind, value, lang)
            assert re.search(r"[\u4e00-\u9fff]", label(value, kind, "zh")), (kind, value)


def test_a_page_request_the_route_refuses_is_explained_in_chinese(clients, answered):
    client = clients["off_vc_a1"]
    response = client.get("/tasks/not-a-task")
    assert response.status_code == 422 and "text/html" in response.headers["content-type"]
    assert "任务编号：「not-a-task」填写有误" in visible_text(response.text)
    task_id = answered["tasks"]["committee_admonition"]
    long = client.post(f"/tasks/{task_id}/reject", data={"reason": "太长" * 600, "csrf_token": client.csrf})
    assert long.status_code == 422 and "退回原因：不能超过1000个字（现有1200个字）" in visible_text(long.text)
    assert leaks(long.text) == [] and leaks(response.text) == []


def test_admin_and_account_forms_word_their_errors(clients):
    admin = clients["admin"]
    response = admin.post("/admin/users", data={"username": "x", "role": "caseworker", "jurisdiction_code": "12",
                                                "password": "short-pw", "csrf_token": admin.csrf})
    assert response.status_code == 400
    text = visible_text(response.text)
    assert "用户名：「x」用户名只能用小写字母" in text and "辖区：「12」不是有效的区划代码" in text
    assert "密码（至少10位）：至少10个字" in text and "short-pw" not in response.text  # a password is never echoed
    for name in ("username", "jurisdiction_code", "password"):
        assert f'name="{name}" aria-invalid="true"' in response.text, name
    assert leaks(response.text) == []
    account = clients["mgr_a"].post("/account/password", data={"current_password": "not-mine-at-all",
                                                               "new_password": "whatever-1234",
                                                               "csrf_token": clients["mgr_a"].csrf})
    assert account.status_code == 400 and "当前密码：密码不正确" in visible_text(account.text)
    assert 'name="current_password" aria-invalid="true"' in account.text


@pytest.mark.parametrize("header,lang", [("", "zh"), ("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en-US,en;q=0.9", "en"),
                                         ("en-GB,zh-TW;q=0.5", "zh"), ("fr-FR", "zh")])
def test_a_browser_asking_for_english_and_no_chinese_reads_english(header, lang):
    from web.i18n import accept_language

    assert accept_language(header) == lang


def test_the_language_a_browser_asks_for_is_a_default_only(web_app):
    from fastapi.testclient import TestClient

    client = TestClient(web_app)
    assert "Sign in" in client.get("/login", headers={"Accept-Language": "en-US"}).text
    assert "登录" in client.get("/login", headers={"Accept-Language": "zh-CN,en"}).text
    assert "登录" in client.get("/login?lang=zh", headers={"Accept-Language": "en-US"}).text


def test_a_courts_task_page_reads_chinese_with_its_note(web_app, answered):
    from web.users import create_user
    from tests.web.conftest import PASSWORD, sign_in

    with session_scope() as session:
        officer = create_user(session, username=f"court.{uuid.uuid4().hex[:6]}", password=PASSWORD,
                              role=UserRole.agency_officer, actor="test", unit_code="court-350302")
        name = officer.username
    page = sign_in(web_app, name).get(f"/tasks/{answered['tasks']['long_term_guardianship']}")
    assert page.status_code == 200
    assert leaks(page.text) == [], leaks(page.text)
    assert "此处时限是个案等待法院答复" in visible_text(page.text) and "The court rules" not in page.text


def test_messages_and_the_letter_offer_choices_by_their_labels(answered):
    from notifications.letters import page_text, referral_letter
    from notifications.messages import task_message_context
    from notifications.render import render_message

    with session_scope() as session:
        police = session.get(AgencyTask, answered["tasks"]["police_reprimand"])
        court = session.get(AgencyTask, answered["tasks"]["long_term_guardianship"])
        body = render_message(task_message_context(session, court, "task_requested"), "zh").body
        letter = page_text(referral_letter(session, police, lang="zh"))
        court_letter = page_text(referral_letter(session, court, lang="zh"))
    assert "裁判结果：撤销监护人资格并另行指定监护人／驳回申请／尚未裁判" in body  # a web unit: labels only
    assert "ruling" not in body and "guardianship_transferred" not in body and "careflow task" not in body
    assert "已予以训诫" in letter and "□是　□否" in letter
    assert "□撤销监护人资格并另行指定监护人　□驳回申请　□尚未裁判" in court_letter
    assert "guardianship_transferred" not in court_letter


def test_an_officer_may_type_a_choice_by_its_chinese_label_on_the_command_line():
    from entry.task_cli import _choices_by_label

    typed = {"ruling": "驳回申请", "help_given": "多种方式", "risk_after": "high_risk", "note": "其他",
             "screened_by": "不存在的选项"}
    assert _choices_by_label(typed) == {"ruling": "petition_dismissed", "help_given": "several",
                                        "risk_after": "high_risk", "note": "其他", "screened_by": "不存在的选项"}


def test_start_parameter_errors_name_the_policy_field(clients, answered):
    client = clients["cw_a1"]
    url = f"/cases/{answered['reference']}/pathways"
    missing = client.post(url, data={"pathway": "psychological_screening", "csrf_token": client.csrf})
    assert missing.status_code == 400
    assert "心理健康筛查结果：请填写" in visible_text(missing.text)
    assert re.search(r'name="p_screening_result" aria-invalid="true"', missing.text)
    bad_area = client.post(url, data={"pathway": "temporary_assistance", "p_emergency_area_code": "123",
                                      "csrf_token": client.csrf})
    assert bad_area.status_code == 400
    assert "急难发生地（乡镇、村居）：「123」不是有效的区划代码" in visible_text(bad_area.text)
    assert 'value="123"' in bad_area.text and leaks(bad_area.text) == [] and leaks(missing.text) == []


def test_a_units_task_facts_and_printable_notice_read_chinese_labels(web_app, answered):
    """The need-to-know facts (careflow/facts.py) on the task page and the printable notice: key care grounds, a
    start parameter's choice, an earlier answer's choice and yes/no read by their labels, never their codes."""
    from models.base import utcnow
    from tests.web.conftest import PASSWORD, sign_in
    from web.users import create_user

    with session_scope() as session:
        reg = register_child(session, resident_id=make_resident_id(*WEB_ID_SPACE["world"]),
                             full_name=f"事实{uuid.uuid4().hex[:4]}", sex="女", hukou_county="511321",
                             residence_county="350302", residence_area_code="350302001001",
                             arrival_date=date(2023, 8, 20), actor="fixture",
                             key_care_criteria={KeyCareCriterion.family_hardship})
        session.flush()
        case = open_case(session, child_id=reg.child.id, caseworker="fixture", summary="主动发现儿童独自在外")
        session.flush()
        run = create_pathway_run(session, case_id=case.id, pathway="temporary_assistance", actor="fixture",
                                 parameters={"how_found": "discovery",
                                                                                      "emergency_area_code": "350302001"})
        run.status = PathwayStatus.cancelled
        session.flush()
        answers = {"acknowledgement": {"emergency": False}, "emergency_help": {"help_given": "several"}}
        tasks = {}
        for step in ("acknowledgement", "emergency_help", "ordinary_review", "small_amount_payment"):
            task = open_step_task(session, pathway_run_id=run.id, step_key=step)
            session.flush()
            if step in answers:
                task.state, task.outcome, task.answered_at, task.answered_by = (
                    TaskState.completed, answers[step], utcnow(), "fixture")
            tasks[step] = task
        review, payment = tasks["ordinary_review"], tasks["small_amount_payment"]
        names = {}
        for task in (review, payment):  # the county's civil affairs reviews, the township's pays
            names[task.id] = create_user(session, username=f"mz.{uuid.uuid4().hex[:6]}", password=PASSWORD,
                                         role=UserRole.agency_officer, actor="test", unit_code=task.unit_code).username
        review_id, payment_id = review.id, payment.id
    clients = {task_id: sign_in(web_app, name) for task_id, name in names.items()}
    client = clients[review_id]
    for task_id, path, shown in [
            (review_id, f"/tasks/{review_id}", ["家庭生活困难", "主动发现", "急难型：否", "女"]),
            (review_id, f"/tasks/{review_id}/letter", ["家庭生活困难", "主动发现", "急难型：否"]),
            (payment_id, f"/tasks/{payment_id}", ["救助方式：多种方式"]),
            (payment_id, f"/tasks/{payment_id}/letter", ["救助方式：多种方式"])]:
        response = clients[task_id].get(path)
        assert response.status_code == 200, path
        text = visible_text(response.text)
        for words in shown:
            assert words in text, (path, words)
        assert leaks(response.text) == [], (path, leaks(response.text))
    english = visible_text(client.get(f"/tasks/{review_id}?lang=en").text)
    assert "Family hardship" in english and "discovery" in english and "Emergency (help first): no" in english
    assert "family_hardship" not in english and "家庭生活困难" not in english


def test_a_bad_id_number_is_quoted_as_typed(clients):
    """A new user's trial found 「身份证号应为18位」 without the number typed: every other field quotes its value."""
    client = clients["cw_a1"]
    response = client.post("/children", data=_register_form(client, resident_id="51132120160501123"))
    assert response.status_code == 400
    text = visible_text(response.text)
    assert "「51132120160501123」" in text and "18位" in text, text[text.find("身份证"):][:200]
    assert 'name="resident_id" aria-invalid="true"' in response.text and leaks(response.text) == []


def test_every_wrong_field_of_a_registration_is_reported_at_once(clients):
    """A new user's trial needed three submissions for three mistakes; now one submission names them all."""
    client = clients["cw_a1"]
    future = (date.today() + timedelta(days=40)).isoformat()
    response = client.post("/children", data=_register_form(client, resident_id="51132120160501123",
                                                               hukou_county="火星县", arrival_date=future))
    assert response.status_code == 400
    text = visible_text(response.text)
    assert "「51132120160501123」" in text and "「火星县」不是已知的县（市、区）" in text, text[:1500]
    for name in ("resident_id", "hukou_county"):
        assert f'name="{name}" aria-invalid="true"' in response.text, name
    assert leaks(response.text) == []
    # with a valid ID, the arrival date after today is reported beside the unknown county
    response = client.post("/children", data=_register_form(client, hukou_county="火星县", arrival_date=future))
    text = visible_text(response.text)
    assert "「火星县」" in text and "来到居住地日期：" in text and "晚于今天" in text
    assert 'name="arrival_date" aria-invalid="true"' in response.text and 'name="hukou_county" aria-invalid="true"' \
        in response.text
