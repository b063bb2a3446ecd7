"""Key care from any door on the web (issue 13 item 3): a report recorded with a key care ground opens the file
(一人一档), its contact and visit duties and the family guardianship assessment, which the child's page shows; the
same ground reported again opens nothing twice; the county civil affairs officer answers the assessment with the
guardianship step's fields."""
from __future__ import annotations

import re
import uuid
from datetime import date

from sqlmodel import select

from careflow.key_care import assessments_of
from careflow.registration import register_child
from core.db import session_scope
from models.key_care_files import KeyCareDuty, KeyCareFile
from models.task import TaskState
from models.user import UserRole
from tests.factories import make_resident_id
from tests.web.conftest import PASSWORD, sign_in
from web.users import create_user

#: This module's resident IDs (a pair no other test draws from).
BIRTH = ("350823", date(2014, 6, 17))


def counts(child_id) -> tuple[int, int, int]:
    with session_scope() as session:
        files = session.exec(select(KeyCareFile).where(KeyCareFile.child_id == child_id)).all()
        duties = session.exec(select(KeyCareDuty).where(KeyCareDuty.file_id.in_([f.id for f in files]))).all()
        return len(files), len(duties), len(assessments_of(session, child_id))


def test_a_report_with_a_key_care_ground_opens_the_file_and_the_child_page_shows_it(web_app, clients, world):
    with session_scope() as session:
        child = register_child(session, resident_id=make_resident_id(*BIRTH), full_name="报告关爱" + uuid.uuid4().hex[:4],
                               hukou_county="511321", residence_county="350823", residence_area_code="350823100001",
                               arrival_date=date(2023, 8, 20), actor="fixture").child
        child_id = child.id
    cw = clients["cw_b"]
    page = cw.get(f"/children/{child_id}")
    assert 'id="key-care-none"' in page.text and "尚无家庭监护评估" in page.text
    assert 'name="key_care" value="vagrancy"' in page.text  # the report form asks for the grounds
    for _ in range(2):  # reported twice: opened once
        response = cw.post(f"/children/{child_id}/reports", data={
            "csrf_token": cw.csrf, "summary": "儿童多日在车站附近流浪", "reported_by": "车站派出所", "key_care": "vagrancy"})
        assert response.status_code == 303, response.text
        assert counts(child_id) == (1, 2, 1)

    page = cw.get(f"/children/{child_id}").text
    section = page[page.index('id="key-care"'):page.index('id="eligibility-link"')]
    with session_scope() as session:
        file = session.exec(select(KeyCareFile).where(KeyCareFile.child_id == child_id)).one()
        [assessment] = assessments_of(session, child_id)
        assert file.criteria == ["vagrancy"] and assessment.unit_code == "civil_affairs-350823"
        assessment_id = assessment.id
    assert file.reference in section and "在档" in section and "流浪" in section
    assert len(re.findall(r'data-duty="(contact|visit)"', section)) == 2
    assert "重点关爱儿童每月联系" in section and "重点关爱儿童入户走访" in section
    assessments = section[section.index('id="key-care-assessments"'):]
    assert "困境儿童家庭监护评估" in assessments and "上杭县民政局" in assessments
    assert "待签收" in assessments and "requested" not in assessments

    bad = cw.post(f"/children/{child_id}/reports", data={"csrf_token": cw.csrf, "summary": "再报", "key_care": "nope"})
    assert bad.status_code == 400 and "重点关爱情形" in bad.text and counts(child_id) == (1, 2, 1)

    # the county civil affairs officer sees whom to assess (the step's facts) and answers with the step's fields
    with session_scope() as session:
        create_user(session, username=f"off.ca.b.{world.suffix}", password=PASSWORD, role=UserRole.agency_officer,
                    actor="fixture", unit_code="civil_affairs-350823")
    officer = sign_in(web_app, f"off.ca.b.{world.suffix}")
    task_page = officer.get(f"/tasks/{assessment_id}").text
    assert "困境儿童家庭监护评估" in task_page and "报告关爱" in task_page and "流浪" in task_page
    assert 'name="o_guardianship_missing_or_unsafe"' in task_page

    # the unit that contacts the child each month sees whom to contact and where (it saw no child at all before)
    with session_scope() as session:
        from models.task import AgencyTask
        contact = session.exec(select(AgencyTask).join(KeyCareDuty, KeyCareDuty.task_id == AgencyTask.id)
                               .where(KeyCareDuty.file_id == file.id, KeyCareDuty.kind == "contact")).one()
        contact_id, contact_unit = contact.id, contact.unit_code
        create_user(session, username=f"off.contact.b.{world.suffix}", password=PASSWORD,
                    role=UserRole.agency_officer, actor="fixture", unit_code=contact_unit)
    contact_page = sign_in(web_app, f"off.contact.b.{world.suffix}").get(f"/tasks/{contact_id}").text
    assert "报告关爱" in contact_page and "流浪" in contact_page and "上杭县" in contact_page
    done = officer.post(f"/tasks/{assessment_id}/complete", data={
        "csrf_token": officer.csrf, "o_guardianship_missing_or_unsafe": "no", "o_long_term_guardianship_needed": "no"})
    assert done.status_code == 303, done.text
    with session_scope() as session:
        from models.task import AgencyTask

        assert session.get(AgencyTask, assessment_id).state == TaskState.completed
    assert "已办结" in cw.get(f"/children/{child_id}").text.split('id="key-care-assessments"')[1]
