"""What fresh users ran into on their first use of the pages, each held here as they saw it.

* A case's whole reference typed in the cases list's search finds it whatever the status filter (the default 办理中
  hid a closed case), with a note that says so and links it.
* The case page keeps the closure history: who asked to close and why, the manager who approved it and their note,
  who reopened it and why; a reopening no longer hides the closure before it.
* A key care duty's page words its title and what to do in the page's language, what to do is not the title again,
  the key care grounds are proper words, and the day of the contact is a date picker (never after today).
* English state labels are proper words (Requested, not requested).
* The language switch of a failed sign-in keeps where the user was going (``next``).
* A caseworker who reloads a task's reroute address is sent to the task on its case's page, not a bare 403.
"""
from __future__ import annotations

import html
import re
import uuid
from datetime import date

from sqlmodel import select

from careflow.key_care import assessments_of, open_key_care
from careflow.registration import register_child
from careflow.survey.duties import file_duties, today_local
from core.db import session_scope
from models.key_care_files import KeyCareFile
from models.user import UserRole
from tests.factories import make_resident_id
from tests.web.chinese import visible_text
from tests.web.conftest import CSRF, PASSWORD, Browser, sign_in
from tests.web.test_closing import make_case, post
from web.users import create_user

#: This module's resident IDs (a birth date no other test draws from).
BIRTH = ("350823", date(2012, 2, 29))
LANG_LINK = re.compile(r'<a href="([^"]*)" class="lang">')


def english(web_app, world, key: str) -> Browser:
    """A new session of ``key``'s person reading English (the shared clients keep reading Chinese)."""
    client = sign_in(web_app, world.person(key).username)
    client.get("/account?lang=en")
    return client


def test_a_whole_case_reference_finds_a_closed_case_under_the_default_filter(web_app, clients, world):
    reference, _run, _tasks = make_case()
    cw = clients["cw_a1"]
    assert post(cw, f"/cases/{reference}/close", reason="已办结").status_code == 303
    for typed in (reference, reference.lower(), f" {reference} "):
        page = cw.get("/cases", params={"q": typed})
        assert page.status_code == 200 and f'data-case="{reference}"' in page.text, typed
        note = re.search(r'<p class="notice" id="found-by-reference">(.*?)</p>', page.text, re.S).group(1)
        assert reference in note and "已结案" in note and f'href="/cases/{reference}"' in note
    # a reference's beginning keeps to the filter: 办理中 lists no closed case
    assert f'data-case="{reference}"' not in cw.get("/cases", params={"q": reference[:-3]}).text
    assert 'id="found-by-reference"' not in cw.get("/cases", params={"q": reference, "status": "closed"}).text
    page = english(web_app, world, "cw_a1").get("/cases", params={"q": reference}).text
    note = visible_text(re.search(r'id="found-by-reference">(.*?)</p>', page, re.S).group(1))
    assert f"Case {reference} was found by its reference (Closed)" in note and "已结案" not in note


def test_the_case_page_keeps_the_closure_history_through_a_reopening(web_app, clients, world):
    reference, _run, _tasks = make_case(steps=("temporary_guardianship",))  # the manager reviews its closure
    cw, manager = clients["cw_a1"], clients["mgr_a"]
    assert post(cw, f"/cases/{reference}/close", reason="已核实儿童返家").status_code == 303
    assert post(manager, f"/cases/{reference}/close/approve", note="同意，已电话核实").status_code == 303

    def history(client) -> list[str]:
        page = client.get(f"/cases/{reference}").text
        found = re.search(r'<ul id="closure-history">(.*?)</ul>', page, re.S)
        return [visible_text(li) for li in re.findall(r"<li[^>]*>(.*?)</li>", found.group(1), re.S)] if found else []

    rows = history(cw)
    assert len(rows) == 2, rows  # the approval's own closing is not a third row
    assert "申请结案" in rows[0] and "结案理由：已核实儿童返家" in rows[0]
    assert "同意结案" in rows[1] and "审核意见：同意，已电话核实" in rows[1]
    assert world.person("mgr_a").username in rows[1] and world.person("cw_a1").username in rows[0]

    assert post(cw, f"/cases/{reference}/reopen", reason="再次接到报告").status_code == 303
    rows = history(manager)
    assert [r.split(" · ")[1] for r in rows] == ["申请结案", "同意结案", "重新开案"]
    assert "重新开案理由：再次接到报告" in rows[2]
    page = visible_text(english(web_app, world, "cw_a1").get(f"/cases/{reference}").text)
    assert "Closure history" in page and "Closure approved" in page and "Manager's note: 同意，已电话核实" in page
    assert "Reopened" in page and "同意结案" not in page


def key_care_child(web_app) -> tuple[uuid.UUID, dict[str, tuple[uuid.UUID, Browser]]]:
    """A child in 上杭 taken into key care (vagrancy): its duties (contact, visit, assessment) → (task id, a
    session of an officer of the duty's unit)."""
    with session_scope() as session:
        child = register_child(session, resident_id=make_resident_id(*BIRTH), full_name="关爱走访",
                               hukou_county="511321", residence_county="350823", residence_area_code="350823100001",
                               arrival_date=date(2023, 8, 20), actor="fixture").child
        session.flush()
        open_key_care(session, child, ["vagrancy"], actor="fixture", reason="登记时列为重点关爱服务对象")
        session.flush()
        file = session.exec(select(KeyCareFile).where(KeyCareFile.child_id == child.id)).one()
        duties = {duty.kind: task for task, duty in file_duties(session, file.id)}
        duties["assessment"] = assessments_of(session, child.id)[0]
        officers = {}
        for kind, task in duties.items():
            officers[kind] = create_user(session, username=f"duty.{kind}.{uuid.uuid4().hex[:6]}", password=PASSWORD,
                                         role=UserRole.agency_officer, actor="fixture",
                                         unit_code=task.unit_code).username
        found = {kind: (task.id, officers[kind]) for kind, task in duties.items()}
        child_id = child.id
    return child_id, {kind: (task_id, sign_in(web_app, name)) for kind, (task_id, name) in found.items()}


def section(page: str, heading_class: str) -> str:
    return visible_text(re.search(rf'<p class="{heading_class}">(.*?)</p>', page, re.S).group(1))


def test_a_key_care_duty_page_reads_in_the_pages_language(web_app, clients, world):
    child_id, duties = key_care_child(web_app)
    contact_id, officer = duties["contact"]
    chinese = officer.get(f"/tasks/{contact_id}").text
    title = visible_text(re.search(r"<h1>(.*?)</h1>", chinese).group(1))
    assert title.startswith("重点关爱儿童每月联系（KF-")
    assert section(chinese, "instructions") != title and "每月与这名重点关爱儿童" in section(chinese, "instructions")
    assert "重点关爱情形" in visible_text(chinese) and "流浪" in visible_text(chinese)
    # the day of the contact: a date picker, never after today (the server checks it again)
    field = re.search(r'<input type="date" name="o_contact_on"[^>]*>', chinese).group(0)
    assert f'max="{today_local().isoformat()}"' in field
    future = officer.post(f"/tasks/{contact_id}/complete", data={"csrf_token": officer.csrf,
                                                                "o_contact_on": "2999-01-01", "o_note": "x"})
    assert future.status_code == 400

    officer.get("/account?lang=en")
    for kind, words in (("contact", "Monthly contact with a key care child (KF-"),
                        ("visit", "Home visit to a key care child (KF-"),
                        ("assessment", "Family guardianship assessment")):
        task_id, client = duties[kind]
        client.get("/account?lang=en")
        page = client.get(f"/tasks/{task_id}").text
        shown = visible_text(page)
        heading = visible_text(re.search(r"<h1>(.*?)</h1>", page).group(1))
        assert heading.startswith(words), (kind, heading)
        assert section(page, "instructions") != heading and not re.search(r"[\u4e00-\u9fff]", section(
            page, "instructions")), (kind, section(page, "instructions"))
        assert "Vagrancy" in shown and "流浪" not in shown, kind
        assert 'id="task-state">Requested<' in page, kind
    cw = english(web_app, world, "cw_b")
    page = cw.get(f"/children/{child_id}").text
    duties_shown = visible_text(page[page.index('id="key-care"'):page.index("</section>", page.index('id="key-care"'))])
    assert "Monthly contact with a key care child" in duties_shown and "Family guardianship assessment" in duties_shown
    assert "重点关爱儿童" not in duties_shown and "困境儿童家庭监护评估" not in duties_shown


def test_english_state_labels_are_proper_words(web_app, world):
    officer = english(web_app, world, "off_vc_a1")
    task_id = world.places["A1"].tasks["village_committee-350302001001"]
    page = officer.get(f"/tasks/{task_id}").text
    state = html.unescape(re.search(r'id="task-state">([^<]*)<', page).group(1))
    assert state in ("Requested", "Acknowledged", "In progress", "Completed", "Rejected", "Cancelled"), state
    inbox = officer.get("/inbox").text
    assert ">requested<" not in inbox and ">acknowledged<" not in inbox


def test_the_language_switch_of_a_failed_sign_in_keeps_where_the_user_was_going(web_app, world):
    client = Browser(web_app, follow_redirects=False)
    wanted = f"/cases/{world.places['A1'].reference}"
    page = client.get("/login", params={"next": wanted})
    failed = client.post("/login", data={"username": world.person("cw_a1").username, "password": "wrong-password",
                                         "next": wanted, "csrf_token": CSRF.search(page.text).group(1)})
    assert failed.status_code == 400
    switch = html.unescape(LANG_LINK.search(failed.text).group(1))
    assert switch.startswith("/login?") and "lang=en" in switch
    english_page = client.get(switch)
    assert english_page.status_code == 200 and f'name="next" value="{wanted}"' in english_page.text
    signed_in = client.post("/login", data={"username": world.person("cw_a1").username, "password": PASSWORD,
                                            "next": wanted, "csrf_token": CSRF.search(english_page.text).group(1)})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == wanted


def test_a_caseworker_reloading_a_reroute_address_lands_on_the_task_in_its_case(web_app, world):
    cw = english(web_app, world, "cw_a1")
    place = world.places["A1"]
    task_id = place.tasks["village_committee-350302001001"]
    reload = cw.get(f"/tasks/{task_id}/reroute?lang=en")
    assert reload.status_code == 303
    landed = cw.get(reload.headers["location"])
    assert landed.status_code == 303, landed.text[:200]  # the task page sends a caseworker to the case page
    assert landed.headers["location"] == f"/cases/{place.reference}?lang=en#task-{task_id}"
    page = cw.get(landed.headers["location"])
    assert page.status_code == 200 and f'id="task-{task_id}"' in page.text
    # a task of a case outside the caseworker's township: not found, in their language
    other = world.places["B"].tasks["police-350823"]
    missing = cw.get(f"/tasks/{other}")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
