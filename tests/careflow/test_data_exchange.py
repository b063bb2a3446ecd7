"""Department answers that act (方案 一（三）): each department's answer file, one answer revealing a gap and one not;
what the caseworker then sees (a proposal of the matching item) and that nothing is imported or proposed twice."""
from __future__ import annotations

import csv
import shutil
import uuid
from datetime import date

import pytest
from sqlmodel import select

from careflow.child_facts import latest_facts
from careflow.exchange.answers import import_department_answers
from careflow.exchange.proposals import open_proposals
from careflow.exchange.scheduled import export_lists, import_inbox
from careflow.exchange.start import NoProposal, start_proposed_referral
from careflow.survey.sharing import child_reference, export_for_department
from core.db import session_scope
from models.case import Case, PathwayRun
from models.data_exchange import DepartmentAnswer, ReferralProposal
from models.eligibility import KeyCareCriterion
from models.errors import error_text
from tests.factories import make_resident_id

COUNTY = "350302"


def write_answers(path, header: list[str], rows: list[list[str]]):
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def register(birth: date, *, key_care=None, hukou="511321", facts=None) -> uuid.UUID:
    """A child in 城厢区 born on ``birth`` (migrant unless ``hukou`` is 城厢区), committed; returns the id."""
    from careflow.child_facts import record_child_fact
    from careflow.registration import register_child

    with session_scope() as session:
        child = register_child(
            session, resident_id=make_resident_id(birth=birth), full_name="交换" + uuid.uuid4().hex[:4],
            hukou_county=hukou, residence_county=COUNTY, residence_area_code="350302001001",
            arrival_date=date(2023, 8, 20), actor="test.caseworker", key_care_criteria=key_care).child
        for key, value in (facts or {}).items():
            record_child_fact(session, child_id=child.id, key=key, value=value, source="caseworker",
                              actor="test.caseworker")
        return child.id


def answer(tmp_path, department: str, header: str, value: str, child_id: uuid.UUID):
    path = write_answers(tmp_path / f"{department}-{uuid.uuid4().hex[:6]}.csv", ["儿童编号", header],
                         [[child_reference(child_id), value]])
    with session_scope() as session:
        return import_department_answers(session, department, path, actor="test.civil_affairs")


def proposed_items(child_id) -> list[int]:
    with session_scope() as session:
        return [p.item for p in open_proposals(session, child_id)]


# (department, answer column, the answer revealing a gap, one that does not, the child's birth date, key care,
#  the item proposed)
CASES = [
    ("medical_insurance", "参保状态", "未参保", "已参保", date(2014, 5, 5), None, 7),
    ("education", "就学状态", "未入学", "在读", date(2016, 3, 15), None, 3),
    ("health", "免疫规划接种情况", "未完成", "已完成", date(2023, 6, 1), None, 1),
    ("disabled_federation", "康复救助情况", "未享受", "已享受", date(2018, 4, 4), {KeyCareCriterion.disability}, 11),
]


@pytest.mark.parametrize("department, header, gap, fine, birth, key_care, item", CASES,
                         ids=[c[0] for c in CASES])
def test_an_answer_revealing_a_gap_proposes_the_item_and_one_without_proposes_nothing(
        database_url, tmp_path, department, header, gap, fine, birth, key_care, item):
    with_gap, without = register(birth, key_care=key_care), register(birth, key_care=key_care)
    report = answer(tmp_path, department, header, gap, with_gap)
    assert (report.updated, report.proposed, report.errors) == (1, 1, [])
    assert proposed_items(with_gap) == [item]
    report = answer(tmp_path, department, header, fine, without)
    assert (report.updated, report.proposed) == (1, 0)
    assert proposed_items(without) == []
    with session_scope() as session:  # the answer is kept with its source: department, file, line, date
        stored = session.exec(select(DepartmentAnswer).where(DepartmentAnswer.child_id == with_gap)).one()
        assert (stored.department, stored.line, stored.file_name.startswith(department)) == (department, 2, True)
        view = open_proposals(session, with_gap)[0]
        assert f"{header}为“{gap}”" in view.reason and stored.file_name in view.reason


def test_the_gap_counts_only_inside_the_items_target_group(database_url, tmp_path):
    """Missing immunisation at 10 (item 1 is for 0-6), not enrolled at 17 (beyond compulsory school), no
    rehabilitation for a child recorded without disability: nothing is proposed."""
    ten, seventeen = register(date(2016, 1, 1)), register(date(2009, 10, 10))
    not_disabled = register(date(2018, 4, 4), facts={"disability": "no"})
    assert answer(tmp_path, "health", "免疫规划接种情况", "未完成", ten).proposed == 0
    assert answer(tmp_path, "education", "就学状态", "未入学", seventeen).proposed == 0
    assert answer(tmp_path, "disabled_federation", "康复救助情况", "未享受", not_disabled).proposed == 0
    assert proposed_items(ten) == proposed_items(seventeen) == proposed_items(not_disabled) == []


def test_police_answers_are_kept_and_propose_nothing(database_url, tmp_path):
    child = register(date(2015, 2, 2), key_care={KeyCareCriterion.family_hardship})
    report = answer(tmp_path, "police", "居住证办理情况", "未办理", child)
    assert (report.updated, report.proposed) == (1, 0) and proposed_items(child) == []


def test_not_enrolled_is_recorded_as_the_childs_school_enrolment(database_url, tmp_path):
    child = register(date(2016, 3, 15), facts={"school_enrolment": "compulsory"})
    answer(tmp_path, "education", "就学状态", "辍学", child)
    with session_scope() as session:
        fact = latest_facts(session, child)["school_enrolment"]
    assert (fact.value, fact.source) == ("not_enrolled", "department") and "教育部门" in fact.source_detail
    assert proposed_items(child) == [3]


def test_a_rerun_never_imports_an_answer_twice_nor_proposes_twice(database_url, tmp_path):
    child = register(date(2014, 6, 6))
    path = write_answers(tmp_path / "ins.csv", ["儿童编号", "参保状态"], [[child_reference(child), "未参保"]])
    with session_scope() as session:
        first = import_department_answers(session, "medical_insurance", path, actor="a")
    with session_scope() as session:
        again = import_department_answers(session, "medical_insurance", path, actor="a")
    shutil.copy(path, tmp_path / "ins-copy.csv")
    with session_scope() as session:
        copy = import_department_answers(session, "medical_insurance", tmp_path / "ins-copy.csv", actor="a")
    later = write_answers(tmp_path / "ins-later.csv", ["儿童编号", "参保状态", "参保地"],
                          [[child_reference(child), "未参保", ""]])
    with session_scope() as session:
        same_answer = import_department_answers(session, "medical_insurance", later, actor="a")
    assert (first.updated, first.proposed) == (1, 1)
    assert again.already_imported and copy.already_imported and again.updated == copy.updated == 0
    assert (same_answer.updated, same_answer.unchanged, same_answer.proposed) == (0, 1, 0)
    with session_scope() as session:
        assert len(session.exec(select(DepartmentAnswer).where(DepartmentAnswer.child_id == child)).all()) == 1
        assert len(session.exec(select(ReferralProposal).where(ReferralProposal.child_id == child)).all()) == 1


def test_starting_the_proposed_referral_closes_the_proposal(database_url, tmp_path):
    child = register(date(2014, 7, 7))
    answer(tmp_path, "medical_insurance", "参保状态", "未参保", child)
    with session_scope() as session:
        started = start_proposed_referral(session, child_id=child, item=7, actor="test.caseworker")
        run_id, reference = started.run.id, started.case.reference
        assert started.case_opened and "未参保" in started.case.summary
    with session_scope() as session:
        run = session.get(PathwayRun, run_id)
        assert (run.pathway, run.parameters["item"]) == ("service_referral", "7") and "未参保" in run.parameters["note"]
        proposal = session.exec(select(ReferralProposal).where(ReferralProposal.child_id == child)).one()
        assert (proposal.status, proposal.pathway_run_id) == ("referred", run_id)
        assert session.exec(select(Case).where(Case.reference == reference)).one().child_id == child
    assert proposed_items(child) == []
    with session_scope() as session, pytest.raises(NoProposal) as none_open:
        start_proposed_referral(session, child_id=child, item=7, actor="test.caseworker")
    assert isinstance(none_open.value, LookupError)
    assert error_text(none_open.value, "zh") == "服务事项：该儿童没有第7项的待处理转介建议（可能已经转介）"
    assert error_text(none_open.value, "en") == ("Service item: the child has no open referral proposal of item 7 "
                                                 "(it may have been referred already)")
    # another answer while the referral is open: nothing new is proposed
    assert answer(tmp_path, "medical_insurance", "参保状态", "断保", child).proposed == 0


def test_health_and_insurance_receive_every_migrant_child_not_only_key_care(database_url, tmp_path):
    plain, key_care = register(date(2015, 8, 8)), register(date(2015, 8, 8), key_care={KeyCareCriterion.family_hardship})
    local = register(date(2015, 8, 8), hukou=COUNTY)  # registered in the county it lives in: no migrant child
    on = date.today()
    with session_scope() as session:
        for code in ("health", "medical_insurance", "police"):
            export_for_department(session, code, COUNTY, tmp_path / f"{code}.csv", actor="t", today=on)
    rows = {code: list(csv.reader(open(tmp_path / f"{code}.csv", encoding="utf-8-sig")))
            for code in ("health", "medical_insurance", "police")}
    assert rows["medical_insurance"][0][:5] == ["儿童编号", "档案编号", "姓名", "身份证号", "居住地（县区）"]
    for code in ("health", "medical_insurance"):
        listed = {r[0] for r in rows[code][1:]}
        assert {child_reference(plain), child_reference(key_care)} <= listed
        assert child_reference(local) not in listed
        assert next(r for r in rows[code][1:] if r[0] == child_reference(key_care))[1].startswith("KF-")
    assert not any(child_reference(plain) in cell for r in rows["police"] for cell in r)  # police: key care only


def test_the_scheduled_export_and_import_use_the_folders_once(database_url, tmp_path):
    child = register(date(2013, 9, 9))
    run = export_lists("medical_insurance", outbox=tmp_path / "out")
    county_file = next(path for county, path, _ in run.files if county == COUNTY)
    assert county_file.parent == tmp_path / "out" / COUNTY and county_file.name.startswith("medical_insurance-350302-")
    rows = list(csv.reader(open(county_file, encoding="utf-8-sig")))
    header = rows[0]
    mine = next(r for r in rows[1:] if r[0] == child_reference(child))
    mine[header.index("参保状态")] = "未参保"
    (tmp_path / "in").mkdir()
    write_answers(tmp_path / "in" / "answers.csv", header, [mine])
    first = import_inbox("medical_insurance", inbox=tmp_path / "in")
    second = import_inbox("medical_insurance", inbox=tmp_path / "in")
    assert [(r.updated, r.proposed, r.already_imported) for r in first.reports] == [(1, 1, False)]
    assert [r.already_imported for r in second.reports] == [True]
    assert proposed_items(child) == [7]


def test_a_file_without_a_key_column_is_refused_in_chinese(database_url, tmp_path):
    path = write_answers(tmp_path / "bad.csv", ["姓名", "参保状态"], [["某某", "未参保"]])
    with session_scope() as session, pytest.raises(ValueError) as no_header:
        import_department_answers(session, "medical_insurance", path, actor="a")
    assert error_text(no_header.value, "zh").startswith("文件：bad.csv 没有找到表头行：须有 儿童编号、档案编号 或 身份证号，"
                                                        "以及至少一个答复列（")
    assert error_text(no_header.value, "en").startswith("File: bad.csv has no header row: it needs a column 儿童编号 "
                                                        "(child number), 档案编号 (file number) or 身份证号 (ID number)")
    with session_scope() as session, pytest.raises(ValueError) as refused:
        import_department_answers(session, "tax", path, actor="a")
    assert refused.value.text("zh").startswith("部门：'tax' 不是交换数据的部门（可选：police（公安）、")


def test_the_command_line_imports_a_file_once_and_says_so_in_chinese(database_url, tmp_path):
    from typer.testing import CliRunner

    from entry.cli import app

    child = register(date(2014, 10, 10))
    path = write_answers(tmp_path / "cli.csv", ["儿童编号", "参保状态"], [[child_reference(child), "未参保"]])
    first = CliRunner().invoke(app, ["survey", "import-answers", str(path), "--department", "medical_insurance"])
    again = CliRunner().invoke(app, ["survey", "import-answers", str(path), "--department", "medical_insurance"])
    assert first.exit_code == 0 and "记录答复 1 条" in first.output and "建议转介 1 项" in first.output
    assert again.exit_code == 0 and "已导入过，本次未重复导入" in again.output


def test_a_proposed_referral_never_goes_on_the_polices_confidential_notice_case(database_url, tmp_path):
    """The child's open case the one-click start uses is the caseworker's, not a misconduct notice's case (方案 十一)
    opened later: the referral landed there, out of the caseworker's sight, and 医保's task page named the police's
    notice as the report (a fresh user found it)."""
    from careflow.cases import open_case
    from careflow.misconduct import start_notice
    from models.child import Child

    child = register(date(2014, 7, 7))
    with session_scope() as session:
        own = open_case(session, child_id=child, caseworker="test.caseworker", summary="社工个案")
        own_reference = own.reference
    with session_scope() as session:
        resident_id = session.get(Child, child).resident_id
        notice = start_notice(session, actor="民警陈强", unit_code="police-350302", resident_id=resident_id,
                              conduct_kind="offence", conduct="多次结伙殴打同学", conduct_on="2026-11-20")
        assert notice.case.reference != own_reference
    answer(tmp_path, "medical_insurance", "参保状态", "未参保", child)
    with session_scope() as session:
        started = start_proposed_referral(session, child_id=child, item=7, actor="test.caseworker")
        assert not started.case_opened and started.case.reference == own_reference
