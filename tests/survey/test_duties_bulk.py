"""What :func:`careflow.survey.duties.ensure_duties` writes, row by row, for files in every situation (new, contact
this month, overdue visit, open visit duty, cancelled duties, closed, no area, township only, no unit at all): the
tasks, their links to the files, one ``task.requested`` audit event each — in one batch or many — and nothing more
when called again. On SQLite and PostgreSQL (the bulk writes differ)."""
from __future__ import annotations

import datetime
import uuid

import pytest
import sqlalchemy as sa
from sqlmodel import select

from core.db import session_scope
from careflow.survey import duties as duties_module
from careflow.survey.care_files import cancel_duties
from careflow.survey.duties import ensure_duties
from models.audit import AuditEvent
from models.child import Child
from models.key_care_files import KeyCareDuty, KeyCareFile, file_reference
from models.task import AgencyTask
from tests.survey.files import SHANGHAI, rid

D = datetime.date
UTC = datetime.timezone.utc
TODAY = D(2030, 5, 14)
NOW = datetime.datetime(2030, 5, 14, 1, 30, 15, 123456, tzinfo=UTC)  # 09:30 in Shanghai
ACTOR = "survey.test"


def end(day: D) -> datetime.datetime:
    """The end of ``day`` in Shanghai, as stored (UTC)."""
    return datetime.datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=SHANGHAI).astimezone(UTC)


def add_file(session, *, county="350302", area="350302001001", residence_area=None, opened=TODAY,
             last_contact=None, last_visit=None, status="active") -> tuple[int, uuid.UUID]:
    child = Child(resident_id=rid("511321", D(2018, 3, 3)), full_name="测试", birth_date=D(2018, 3, 3),
                  hukou_county_code="511321", residence_county_code=county,
                  residence_area_code=area if residence_area is None else residence_area,
                  arrival_date=D(2024, 1, 1), created_by="test")
    session.add(child)
    session.flush()
    file = KeyCareFile(child_id=child.id, county_code=county, area_code=area, criteria=["family_hardship"],
                       status=status, opened_on=opened, last_contact_on=last_contact, last_visit_on=last_visit)
    session.add(file)
    session.flush()
    return file.id, child.id


def own_audits(session) -> int:
    """Audit events written as :data:`ACTOR` (the session's served runner may audit its flows meanwhile)."""
    return session.exec(select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.actor == ACTOR)).one()


def task_rows(session, file_ids):
    """Every duty of ``file_ids`` with its link and audit events, as plain values."""
    rows = session.exec(select(AgencyTask, KeyCareDuty).join(KeyCareDuty, KeyCareDuty.task_id == AgencyTask.id)
                        .where(KeyCareDuty.file_id.in_(file_ids))).all()
    out = {}
    for task, link in rows:
        audits = session.exec(select(AuditEvent).where(AuditEvent.entity_type == "task",
                                                       AuditEvent.entity_id == str(task.id))).all()
        out[task.duty_key] = dict(
            task=(task.step_key, task.attempt, task.agency_type, task.unit_code, task.jurisdiction_code, task.title,
                  task.state, task.requested_at, task.due_at, task.due_provisional, task.deadline_text,
                  task.escalation_level, task.case_id, task.pathway_run_id, task.ack_due_at, task.acknowledged_at,
                  task.answered_at, task.answered_by, task.outcome, task.rejection_reason),
            link=(link.file_id, link.kind, link.period),
            audits=[(a.at, a.actor, a.action, a.case_id, a.reason, a.detail) for a in audits],
            id=task.id)
    return out


def expected(key, file_id, kind, period, unit, area, due):
    """The task, link and audit event :func:`ensure_duties` must write for one duty."""
    ref = file_reference(file_id)
    agency_type = unit.split("-")[0]
    if kind == "contact":
        step, title, rule = "key_care_contact", f"重点关爱儿童每月联系（{ref}，{period}）", "monthly (每月联系)"
    else:
        step, title, rule = "key_care_visit", f"重点关爱儿童入户走访（{ref}，{period} 前）", "every 3 months (每三个月入户走访)"
    return dict(
        task=(step, 1, agency_type, unit, area, title, "requested", NOW, due, False, rule, 0, None, None, None, None,
              None, "", {}, ""),
        link=(file_id, kind, period),
        audits=[(NOW, ACTOR, "task.requested", None, f"{ref} {key}",
                 {"unit": unit, "due_at": due.isoformat(), "duty_key": key})])


@pytest.mark.parametrize("batch", [None, 2], ids=["one-batch", "batches-of-2"])
def test_ensure_duties_writes_exactly_the_duties_due_and_nothing_the_second_time(database_url, batch, monkeypatch):
    if batch:
        monkeypatch.setattr(duties_module, "BATCH_FILES", batch, raising=False)
    village, township, county = "village_committee-350302001001", "township_station-350302002", "civil_affairs-350302"
    with session_scope() as session:
        # duties already there: an open visit (from an earlier round), and a month's duties cancelled then reopened
        open_visit, open_visit_child = add_file(session, opened=D(2029, 8, 31))
        cancelled, cancelled_child = add_file(session, area="350302002001", opened=D(2030, 5, 2))
        earlier = ensure_duties(session, [open_visit], today=D(2029, 8, 31), now=NOW - datetime.timedelta(days=300),
                                actor=ACTOR)
        # opened on the month's last day: the first contact is September's
        assert sorted(k.split(":")[2] for _, k in earlier.created) == ["2029-09", "2029-11-30"]
        ensure_duties(session, [cancelled], today=TODAY, now=NOW, actor=ACTOR)
        cancel_duties(session, session.get(KeyCareFile, cancelled), "closed, then reopened", now=NOW)
        session.flush()

        new, new_child = add_file(session)
        contacted, contacted_child = add_file(session, opened=D(2029, 10, 1), last_contact=D(2030, 5, 3),
                                              last_visit=D(2030, 2, 28))
        overdue, overdue_child = add_file(session, opened=D(2029, 6, 1), last_contact=D(2030, 4, 30),
                                          last_visit=D(2029, 11, 30))
        no_area, no_area_child = add_file(session, area="", residence_area="")
        township_only, township_child = add_file(session, area="350302002099")
        moved, moved_child = add_file(session, area="350302002099", residence_area="350302001001")
        nowhere, _ = add_file(session, county="440106", area="440106001001")
        closed, _ = add_file(session, status="closed")
    files = [new, contacted, overdue, open_visit, cancelled, no_area, township_only, moved, nowhere, closed]
    previous = {}
    with session_scope() as session:
        previous = task_rows(session, files)
        audit_count = own_audits(session)
        plan = ensure_duties(session, files + [new, 10**9], today=TODAY, now=NOW, actor=ACTOR)  # repeats, unknowns

    want = {
        f"contact:{new_child}:2030-05": expected(f"contact:{new_child}:2030-05", new, "contact", "2030-05", village,
                                                 "350302001001", end(D(2030, 5, 31))),
        f"visit:{new_child}:2030-08-14": expected(f"visit:{new_child}:2030-08-14", new, "visit", "2030-08-14",
                                                  village, "350302001001", end(D(2030, 8, 14))),
        # this month's contact made: next month's; the visit three months after the last (already due)
        f"contact:{contacted_child}:2030-06": expected(f"contact:{contacted_child}:2030-06", contacted, "contact",
                                                       "2030-06", village, "350302001001", end(D(2030, 6, 30))),
        f"visit:{contacted_child}:2030-05-28": expected(f"visit:{contacted_child}:2030-05-28", contacted, "visit",
                                                        "2030-05-28", village, "350302001001", end(D(2030, 5, 28))),
        # last contact last month: this month's; last visit 30 November: due 28 February, overdue
        f"contact:{overdue_child}:2030-05": expected(f"contact:{overdue_child}:2030-05", overdue, "contact",
                                                     "2030-05", village, "350302001001", end(D(2030, 5, 31))),
        f"visit:{overdue_child}:2030-02-28": expected(f"visit:{overdue_child}:2030-02-28", overdue, "visit",
                                                      "2030-02-28", village, "350302001001", end(D(2030, 2, 28))),
        # a visit duty is open: only the contact
        f"contact:{open_visit_child}:2030-05": expected(f"contact:{open_visit_child}:2030-05", open_visit, "contact",
                                                        "2030-05", village, "350302001001", end(D(2030, 5, 31))),
        # the same month's duties were cancelled: opened again under the next free key
        f"contact:{cancelled_child}:2030-05.2": expected(f"contact:{cancelled_child}:2030-05.2", cancelled,
                                                         "contact", "2030-05", village.replace("001001", "002001"),
                                                         "350302002001", end(D(2030, 5, 31))),
        f"visit:{cancelled_child}:2030-08-02.2": expected(f"visit:{cancelled_child}:2030-08-02.2", cancelled,
                                                          "visit", "2030-08-02", village.replace("001001", "002001"),
                                                          "350302002001", end(D(2030, 8, 2))),
        # no area at all: the county civil affairs bureau
        f"contact:{no_area_child}:2030-05": expected(f"contact:{no_area_child}:2030-05", no_area, "contact",
                                                     "2030-05", county, "350302", end(D(2030, 5, 31))),
        f"visit:{no_area_child}:2030-08-14": expected(f"visit:{no_area_child}:2030-08-14", no_area, "visit",
                                                      "2030-08-14", county, "350302", end(D(2030, 8, 14))),
        # a village with no committee in the directory: its township's station
        f"contact:{township_child}:2030-05": expected(f"contact:{township_child}:2030-05", township_only, "contact",
                                                      "2030-05", township, "350302002099", end(D(2030, 5, 31))),
        f"visit:{township_child}:2030-08-14": expected(f"visit:{township_child}:2030-08-14", township_only, "visit",
                                                       "2030-08-14", township, "350302002099", end(D(2030, 8, 14))),
        # the child's residence wins over the file's area
        f"contact:{moved_child}:2030-05": expected(f"contact:{moved_child}:2030-05", moved, "contact", "2030-05",
                                                   village, "350302001001", end(D(2030, 5, 31))),
        f"visit:{moved_child}:2030-08-14": expected(f"visit:{moved_child}:2030-08-14", moved, "visit", "2030-08-14",
                                                    village, "350302001001", end(D(2030, 8, 14))),
    }
    with session_scope() as session:
        now_rows = task_rows(session, files)
        assert own_audits(session) == audit_count + len(want)
    created = {key: row for key, row in now_rows.items() if key not in previous}
    assert {key: row["id"] for key, row in previous.items()} == {key: now_rows[key]["id"] for key in previous}
    ids = {key: row.pop("id") for key, row in created.items()}
    assert sorted(created) == sorted(want)
    for key in want:
        assert created[key] == want[key], key
    assert plan.created_count == len(want) and sorted(plan.created) == sorted((i, k) for k, i in ids.items())
    assert all(i.version == 4 and i.variant == uuid.RFC_4122 for i in ids.values())
    assert plan.unrouted == {"440106001001": 2}

    with session_scope() as session:  # again: nothing new, the unrouted still waiting
        again = ensure_duties(session, files, today=TODAY, now=NOW + datetime.timedelta(hours=1), actor=ACTOR)
        assert (again.created_count, again.created, again.unrouted) == (0, [], {"440106001001": 2})
        assert own_audits(session) == audit_count + len(want)
        assert task_rows(session, files).keys() == now_rows.keys()


def test_ensure_duties_with_no_file_or_only_closed_ones_writes_nothing(database_url):
    with session_scope() as session:
        closed, _ = add_file(session, status="closed")
        assert ensure_duties(session, [], today=TODAY, now=NOW).created_count == 0
        plan = ensure_duties(session, [closed], today=TODAY, now=NOW)
        assert (plan.created_count, plan.created, plan.unrouted) == (0, [], {})
        assert task_rows(session, [closed]) == {}


def test_a_file_opened_in_the_last_days_of_a_month_has_its_first_contact_next_month(database_url):
    """Counties import at the end of the round month: a file opened with fewer than seven days of its month left
    gets September's contact, not a duty due the same evening; seven days left (the 25th of a 31-day month) still
    gets this month's."""
    with session_scope() as session:
        late, _ = add_file(session, opened=D(2031, 8, 26))
        in_time, _ = add_file(session, opened=D(2031, 8, 25))
        created = {}
        for file_id in (late, in_time):
            plan = ensure_duties(session, [file_id], today=D(2031, 8, 31), now=NOW, actor=ACTOR)
            created[file_id] = sorted(k.split(":", 2)[2] for _, k in plan.created)
    assert created == {late: ["2031-09", "2031-11-26"], in_time: ["2031-08", "2031-11-25"]}
