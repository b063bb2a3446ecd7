"""A child director's contact duty answered in the web inbox (方案 一（二）): the page asks for the day and a note,
and completing it records the contact and opens next month's duty."""
from __future__ import annotations

from datetime import date

from sqlmodel import select

from careflow.registration import register_child
from core.db import session_scope
from careflow.survey.duties import ensure_duties, file_duties, month_period, next_period, today_local
from models.key_care_files import CareContact, FileStatus, KeyCareFile
from models.task import AgencyTask, TaskState
from tests.factories import make_resident_id
from tests.web.conftest import WEB_ID_SPACE


def test_an_officer_completes_a_contact_duty_and_the_next_one_is_due(web_app, world, clients):
    officer = clients["off_vc_a1"]
    today = today_local()
    with session_scope() as session:
        child = register_child(session, resident_id=make_resident_id(*WEB_ID_SPACE["duty"]), full_name="关爱对象",
                               hukou_county="511321", residence_county="350302", residence_area_code="350302001001",
                               arrival_date=date(2023, 8, 20), actor="fixture").child
        session.flush()
        # opened on the 1st: this month's contact is due (a file opened in a month's last week starts next month)
        file = KeyCareFile(child_id=child.id, county_code="350302", area_code="350302001001",
                           criteria=["family_hardship"], status=FileStatus.active.value,
                           opened_on=today.replace(day=1))
        session.add(file)
        session.flush()
        file_id = file.id
        plan = ensure_duties(session, [file_id], today=today)
        contact_id = next(task_id for task_id, key in plan.created if key.startswith("contact:"))

    page = officer.get(f"/tasks/{contact_id}")
    assert page.status_code == 200
    assert 'name="o_contact_on"' in page.text and 'name="o_note"' in page.text
    # whom to contact: the child's name and address (a fresh user, as this officer, could not tell), audited
    assert "关爱对象" in page.text and "龙桥街道凤山社区" in page.text
    # its time limit in the page's language (a fresh user read 「monthly (每月联系)」 on the Chinese page)
    assert "每月联系" in page.text and "monthly" not in page.text
    english = officer.get(f"/tasks/{contact_id}?lang=en").text
    officer.get(f"/tasks/{contact_id}?lang=zh")  # the choice is kept: back to Chinese
    assert "monthly" in english and "monthly (" not in english  # the title stays Chinese (left, see the note)
    with session_scope() as session:
        from models.audit import AuditEvent
        assert session.exec(select(AuditEvent).where(AuditEvent.entity_id == str(contact_id),
                                                     AuditEvent.action == "task.child_facts_viewed")).first()
    response = officer.post(f"/tasks/{contact_id}/complete",
                            data={"csrf_token": officer.csrf, "o_contact_on": "", "o_note": "电话联系，情况稳定"})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/inbox?done=contact_recorded"
    assert "下一次联系或走访任务已生成" in officer.get(response.headers["location"]).text

    with session_scope() as session:
        task = session.get(AgencyTask, contact_id)
        assert (task.state, task.answered_by) == (TaskState.completed, world.person("off_vc_a1").username)
        log = session.exec(select(CareContact).where(CareContact.file_id == file_id)).all()
        assert [(c.kind, c.contact_on, c.note) for c in log] == [("contact", today, "电话联系，情况稳定")]
        open_contacts = [duty.period for _, duty in file_duties(session, file_id) if duty.kind == "contact"]
        assert open_contacts == [next_period(month_period(today))]
