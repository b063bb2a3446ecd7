"""A programme place given back (careflow.programme_seats): the seat goes to the next child on the waiting list, whose
caseworker is told; closing a case gives its places back; what cannot be withdrawn is refused, naming why — on
SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from careflow.cases import close_case
from careflow.programme_reports import programme_figures
from careflow.programme_seats import find_invitation, withdraw_invitation
from careflow.programmes import invite_child
from models.audit import AuditEvent
from models.errors import FieldLookupError, FieldValueError
from models.notification import Notification
from models.programmes import InvitationStatus, Programme, ProgrammeInvitation
from tests.careflow.test_programmes import NOW, _programme, county, refer  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("county")


def _state(session, invitation):
    session.expire_all()
    found = session.get(ProgrammeInvitation, invitation.id)
    return found.programme_id, found.status


def _full_programme_and_two_waiting(session, county, refer):
    code, unit = county
    programme = _programme(session, unit, code, capacity=1)
    seated = invite_child(session, refer(code).id, 18, now=NOW)
    waiting = [invite_child(session, refer(code).id, 18, now=NOW + timedelta(seconds=n)) for n in (1, 2)]
    assert seated.programme_id == programme.id and [w.status for w in waiting] == [InvitationStatus.waiting] * 2
    return programme, seated, waiting


def test_a_withdrawn_place_goes_to_the_first_child_waiting_and_their_caseworker_is_told(session, county, refer):
    programme, seated, (first, second) = _full_programme_and_two_waiting(session, county, refer)
    done = withdraw_invitation(session, seated, actor="test.caseworker", reason="家庭已搬离本县", now=NOW)
    assert (done.seat_freed, done.next_invited) == (True, 1)
    assert _state(session, seated) == (programme.id, InvitationStatus.withdrawn)
    assert _state(session, first) == (programme.id, InvitationStatus.invited)
    assert _state(session, second) == (None, InvitationStatus.waiting)
    assert session.get(Programme, programme.id).invited_count == 1  # the seat changed hands, none was added
    told = session.exec(select(Notification).where(Notification.idempotency_key == f"programme_invited:{first.id}")).all()
    assert len(told) == 1 and "已受邀参加" in told[0].subject
    audit = session.exec(select(AuditEvent).where(AuditEvent.entity_id == str(seated.id),
                                                  AuditEvent.action == "programme.withdrawn")).one()
    assert (audit.actor, audit.reason) == ("test.caseworker", "家庭已搬离本县")


def test_leaving_the_waiting_list_frees_no_seat_and_the_child_is_not_invited_later(session, county, refer):
    programme, _seated, (first, second) = _full_programme_and_two_waiting(session, county, refer)
    done = withdraw_invitation(session, first, actor="test.caseworker", reason="监护人不同意", now=NOW)
    assert (done.seat_freed, done.next_invited) == (False, 0)
    code, unit = county
    _programme(session, unit, code, capacity=5, days=30, title="新春阅读会")
    assert _state(session, first) == (None, InvitationStatus.withdrawn)
    assert _state(session, second)[1] == InvitationStatus.invited
    [figure] = programme_figures(session, code)
    assert (figure.invited, figure.waiting) == (2, 0)  # the withdrawn place is counted nowhere


def test_what_cannot_be_withdrawn_is_refused_naming_why(session, county, refer):
    programme, seated, (first, _second) = _full_programme_and_two_waiting(session, county, refer)
    with pytest.raises(FieldValueError) as missing:
        withdraw_invitation(session, seated, actor="test.caseworker", reason="  ", now=NOW)
    assert missing.value.text("zh") == "退出原因：请填写"
    with pytest.raises(FieldValueError) as begun:
        withdraw_invitation(session, seated, actor="test.caseworker", reason="生病",
                            now=programme.starts_at + timedelta(minutes=1))
    assert "已经开始" in begun.value.text("zh") and "has begun" in begun.value.text("en")
    withdraw_invitation(session, first, actor="test.caseworker", reason="监护人不同意", now=NOW)
    with pytest.raises(FieldValueError) as twice:  # e.g. a second click, or a colleague a moment before
        withdraw_invitation(session, session.get(ProgrammeInvitation, first.id), actor="other", reason="重复",
                            now=NOW)
    assert first.id.hex[:8] in twice.value.text("zh")
    assert session.get(Programme, programme.id).invited_count == 1
    with pytest.raises(FieldLookupError):
        find_invitation(session, seated.case_id, "00000000")
    assert find_invitation(session, seated.case_id, seated.id.hex[:8].upper()).id == seated.id


def test_closing_the_case_gives_its_place_to_the_child_waiting(session, county, refer):
    programme, seated, (first, _second) = _full_programme_and_two_waiting(session, county, refer)
    assert close_case(session, seated.case_id, "已转介至户籍地", actor="test.caseworker", now=NOW)
    assert _state(session, seated) == (programme.id, InvitationStatus.withdrawn)
    assert _state(session, first) == (programme.id, InvitationStatus.invited)
    assert session.get(Programme, programme.id).invited_count == 1


def test_closing_after_the_programme_leaves_its_attendance_alone(session, county, refer):
    programme, seated, _waiting = _full_programme_and_two_waiting(session, county, refer)
    assert close_case(session, seated.case_id, "服务完成", actor="test.caseworker",
                      now=programme.starts_at + timedelta(hours=3))
    assert _state(session, seated) == (programme.id, InvitationStatus.invited)  # the organiser records it
