"""Errors raised below the command line read in the reader's language, naming the field and the value: Chinese by
default, English with CAREFLOW_LANG=en. Each of these printed an English line on the Chinese command line before
(an unknown county, an unknown outcome field, a missing city-list file, the department of an export, a bad ID)."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

from tests.careflow.test_cli import invoke, police_task  # noqa: F401  (police_task: a fixture)
from tests.factories import make_resident_id


def english(*args: str) -> subprocess.CompletedProcess:
    """``careflow ARGS`` in a new process with CAREFLOW_LANG=en (the command line's language is read once)."""
    return subprocess.run([sys.executable, "-m", "entry.cli", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "CAREFLOW_LANG": "en"}, timeout=120)


def _register(*, resident_id: str, hukou: str = "511321", residence: str = "350302", name: str = "张三",
              arrived: str = "2023-08-20") -> list[str]:
    return ["child", "register", "--resident-id", resident_id, "--name", name, "--hukou", hukou,
            "--residence", residence, "--arrived", arrived]


def test_an_unknown_county_and_a_bad_id_are_named_in_chinese_and_in_english(database_url):
    unknown = invoke(*_register(resident_id=make_resident_id(), hukou="999999"))
    assert unknown.exit_code == 2
    assert unknown.output.strip() == "错误：户籍地：'999999' 不是已知的县级区划代码（GB/T 2260）"

    good = make_resident_id()
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    several = invoke(*_register(resident_id=bad, residence="莆田市", name=" "))
    assert several.exit_code == 2
    assert several.output.strip() == (
        f"错误：身份证号：'{bad}' 校验位不对，应为 {good[-1]}，请核对是否输错；姓名：请填写；"
        "居住地：'莆田市' 是市，不是县（市、区）；请写明其中之一：城厢区、涵江区、荔城区、秀屿区、仙游县")

    survey = invoke("survey", "changes", "--county", "3503", "--round", "2026-10")
    assert survey.exit_code == 2 and survey.output.strip() == "错误：县（市、区）：'3503' 不是6位县级区划代码（GB/T 2260）"

    en = english(*_register(resident_id=bad, hukou="999999"))
    assert en.returncode == 2
    assert en.stderr.strip() == (f"error: Resident ID number: '{bad}': the check character should be {good[-1]}; "
                                 "Place of household registration: unknown county code '999999': not a GB/T 2260 "
                                 "county code")


def test_an_unknown_outcome_field_is_named_in_chinese_and_in_english(police_task):  # noqa: F811
    ref = police_task.short_ref
    ack = invoke("task", "ack", ref, "--unit", "police-350302", "--as", "民警陈强")
    assert ack.exit_code == 0, ack.output
    unknown = invoke("task", "complete", ref, "--unit", "police-350302", "--as", "民警陈强",
                     "--outcome", "reprimand=yes")
    assert unknown.exit_code == 2
    assert unknown.output.strip() == ("错误：答复：没有 'reprimand' 这一项"
                                      "（可填：reprimanded, family_education_ordered, child_unsafe, note）")
    missing = invoke("task", "complete", ref, "--unit", "police-350302", "--as", "民警陈强",
                     "--outcome", "reprimanded=yes", "--outcome", "family_education_ordered=no")
    assert missing.exit_code == 2 and missing.output.strip().startswith("错误：") and "：请填写" in missing.output

    en = english("task", "complete", ref, "--unit", "police-350302", "--as", "x", "--outcome", "reprimand=yes")
    assert en.returncode == 2
    assert en.stderr.strip() == ("error: Answer: unknown field 'reprimand' "
                                 "(fields: reprimanded, family_education_ordered, child_unsafe, note)")


def test_a_missing_city_list_file_and_an_unknown_department_are_named(database_url, tmp_path):
    missing = tmp_path / "nanping.yaml"
    for command in ("check-city-list", "load-city-list"):
        result = invoke("policy", command, missing)
        assert result.exit_code == 2 and result.output.strip() == f"错误：文件：'{missing}' 不存在", result.output
    folder = invoke("policy", "check-city-list", tmp_path)
    assert folder.exit_code == 2 and folder.output.strip() == f"错误：文件：'{tmp_path}' 是文件夹，不是文件"

    department = invoke("survey", "export", "--department", "polis", "--county", "350302", "--out",
                        tmp_path / "x.csv")
    assert department.exit_code == 2
    assert department.output.strip() == ("错误：部门：'polis' 不是交换数据的部门（可选：police（公安）、education（教育）、"
                                         "health（卫生健康）、medical_insurance（医保）、disabled_federation（残联））")

    en = english("policy", "load-city-list", missing)
    assert en.returncode == 2 and en.stderr.strip() == f"error: File: '{missing}' does not exist"
    en = english("survey", "export", "--department", "polis", "--county", "350302", "--out", tmp_path / "x.csv")
    assert en.returncode == 2 and en.stderr.strip() == (
        "error: Department: 'polis' is not a department careflow shares lists with (one of: police, education, "
        "health, medical_insurance, disabled_federation)")


def test_a_child_id_that_is_not_one_is_named(database_url):
    """``case open --child-id 123`` printed Python's 「badly formed hexadecimal UUID string」."""
    wrong = invoke("case", "open", "--child-id", "123", "--caseworker", "lin.fang")
    assert wrong.exit_code == 2 and wrong.output.strip() == (
        "错误：儿童编号：'123' 不是儿童编号（应为登记时显示的编号，形如 xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx）")
    en = english("case", "open", "--child-id", "123", "--caseworker", "lin.fang")
    assert en.returncode == 2 and en.stderr.strip() == (
        "error: Child: '123' is not a child id (the id shown at registration, like xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")


def test_the_place_of_an_emergency_is_named_and_a_lower_case_reference_finds_the_case(database_url, register,
                                                                                       session):
    """``pathway start`` printed 「错误：pathway 'temporary_assistance' parameters: field 'emergency_area_code' …」.
    The case is typed in lower case: it is found all the same (nothing is started: the place is refused first)."""
    from careflow.cases import open_case

    case = open_case(session, child_id=register().child.id, caseworker="lin.fang")
    session.commit()
    start = ["pathway", "start", "--case", case.reference.lower(), "--pathway", "temporary_assistance"]
    missing = invoke(*start)
    assert missing.exit_code == 2 and missing.output.strip() == (
        "错误：紧急情况发生地：请填写：乡镇（街道）或村（居）的名称，或其9位（乡镇、街道）、12位（村、居）区划代码")
    outside = invoke(*start, "--param", "emergency_area_code=999999001")
    assert outside.exit_code == 2 and outside.output.strip() == "错误：紧急情况发生地：「999999001」不在已知的县（市、区）内"
    en = english(*start, "--param", "emergency_area_code=123")
    assert en.returncode == 2 and en.stderr.strip() == (
        "error: Place of the emergency: '123' is not a township (9 digits) or village (12 digits) area code, nor a "
        "known township or village name")


def test_a_service_list_item_that_is_not_one_is_named_by_its_label(database_url, register, session):
    """A typed start parameter (models.field_values) printed 「错误：字段 item：请从关爱服务清单中选择服务项目」, the same
    Chinese with CAREFLOW_LANG=en, the field by its code and without the value."""
    from careflow.cases import open_case

    case = open_case(session, child_id=register().child.id, caseworker="lin.fang")
    session.commit()
    start = ["pathway", "start", "--case", case.reference, "--pathway", "service_referral", "--param", "item=99"]
    chinese = invoke(*start)
    assert chinese.exit_code == 2 and chinese.output.strip() == "错误：清单服务项目：「99」请从关爱服务清单中选择服务项目"
    en = english(*start)
    assert en.returncode == 2 and en.stderr.strip() == "error: Service-list item: “99”: choose an item of the service list"


def test_a_child_not_in_the_target_group_is_refused_in_chinese_and_in_english(database_url, register, session):
    """A service-list referral for a child recorded without disability: the item and the rule not met, in Chinese
    by default (it was Chinese with CAREFLOW_LANG=en too), in English on request."""
    from careflow.cases import open_case
    from careflow.child_facts import record_child_fact

    child = register().child
    case = open_case(session, child_id=child.id, caseworker="lin.fang")
    record_child_fact(session, child_id=child.id, key="disability", value="no", source="department",
                      source_detail="城厢区残联", established_on=date(2026, 11, 2), actor="lin.fang")
    session.commit()
    start = ["pathway", "start", "--case", case.reference, "--pathway", "service_referral", "--param", "item=11",
             "--param", "eligibility_override=试试"]
    chinese = invoke(*start)
    assert chinese.exit_code == 2
    assert chinese.output.strip().startswith("错误：清单第11项")
    assert chinese.output.strip().endswith(
        "该儿童不符合服务对象条件，不能转介。残疾儿童：不符合。已记录“残疾儿童”：否（部门答复：城厢区残联，2026-11-02）")
    en = english(*start)
    assert en.returncode == 2 and en.stderr.strip().startswith("error: service list item 11, ")
    assert en.stderr.strip().endswith(
        "the child is not in the target group and cannot be referred. Disabled child: not met. recorded "
        "“Disabled child”: no (a department's answer: 城厢区残联, 2026-11-02)")


def test_an_answer_s_own_texts_are_refused_in_chinese_and_in_english(police_task):  # noqa: F811
    """An answer's checks read Chinese only, with CAREFLOW_LANG=en too: 「答复人（actor）必填：请写明由谁答复」,
    「情况说明（note）中不能出现儿童姓名或身份证号…」, 「原因（reason）不能超过1000个字…」."""
    from core.db import session_scope
    from models.case import Case
    from models.child import Child

    ref = police_task.short_ref
    with session_scope() as s:
        name = s.get(Child, s.get(Case, police_task.case_id).child_id).full_name
    nobody = invoke("task", "ack", ref, "--unit", "police-350302")
    assert nobody.exit_code == 2 and nobody.output.strip() == "错误：答复人：请写明由谁答复"
    answer = ["task", "complete", ref, "--unit", "police-350302", "--as", "民警陈强", "--outcome", "reprimanded=yes",
              "--outcome", "family_education_ordered=no", "--outcome", "child_unsafe=no"]
    named = invoke(*answer, "--outcome", f"note=已训诫{name}")
    assert named.exit_code == 2 and named.output.strip() == (
        "错误：情况说明：不能出现儿童姓名或身份证号：答复内容会写入推送给各单位和儿童主任的通知，通知只用个案编号指代儿童，请删去后再提交")
    control = invoke(*answer, "--outcome", "note=已\x01训诫")
    assert control.exit_code == 2 and control.output.strip() == (
        "错误：情况说明：含有不可见的控制字符（U+0001，第2个字），请删去后再提交")
    long = invoke("task", "reject", ref, "--unit", "police-350302", "--as", "民警陈强", "--reason", "长" * 1001)
    assert long.exit_code == 2 and long.output.strip() == "错误：退回原因：最多1000个字（现有1001个）"

    en = english("task", "ack", ref, "--unit", "police-350302")
    assert en.returncode == 2 and en.stderr.strip() == "error: Answered by: say who answers"
    en = english(*answer, "--outcome", f"note=已训诫{name}")
    assert en.returncode == 2 and en.stderr.strip().startswith(
        "error: Note: must not hold the child's name or ID number: the answer goes into the messages")
    en = english("task", "reject", ref, "--unit", "police-350302", "--as", "x", "--reason", "长" * 1001)
    assert en.returncode == 2 and en.stderr.strip() == (
        "error: Reason for rejecting: at most 1000 characters (this has 1001)")


def test_a_survey_file_that_is_no_survey_is_named_in_chinese_and_in_english(database_url, tmp_path):
    """It read Chinese with CAREFLOW_LANG=en too (「bad.csv：缺少必填列：…」)."""
    bad = tmp_path / "bad.csv"
    bad.write_text(f"姓名,身份证号,性别\n张三,{make_resident_id()},男\n", encoding="utf-8")
    args = ["survey", "import", bad, "--county", "350302", "--round", "2026-10"]
    chinese = invoke(*args)
    assert chinese.exit_code == 2 and chinese.output.strip() == (
        "错误：bad.csv：缺少必填列：户籍地、来本地日期、重点关爱情形（文件中的列：姓名、身份证号、性别）")
    en = english(*args)
    assert en.returncode == 2 and en.stderr.strip() == (
        "error: bad.csv: required columns missing: 户籍地, 来本地日期, 重点关爱情形 (the file's columns: 姓名, 身份证号, 性别)")


def test_the_duties_of_an_unknown_unit_are_refused_naming_it(database_url):
    unknown = invoke("survey", "duties", "--unit", "no-such-unit")
    assert unknown.exit_code == 2
    assert unknown.output.strip() == "错误：字段 'unit'：没有承办单位 'no-such-unit'（单位名录见 policy/agency_units.yaml）"
    en = english("survey", "duties", "--unit", "no-such-unit")
    assert en.returncode == 2
    assert en.stderr.strip() == "error: field 'unit': no agency unit 'no-such-unit' (the directory: " \
                                "policy/agency_units.yaml)"
    known = invoke("survey", "duties", "--unit", "civil_affairs-350302")
    assert known.exit_code == 0 and known.output.strip().endswith("共 0 项任务"), known.output
